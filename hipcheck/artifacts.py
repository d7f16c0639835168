"""The pinned artifacts that make up a plugin's environment.

A plugin env holds the plugin's distribution, the distributions it needs at run time, the
hipcheck bridge and pluggy: each as a wheel whose sha256 is known before anything is installed.
The wheels come from the host env, where the user installed the plugin, so what runs in the
plugin env is exactly what the user installed, verified against each distribution's RECORD.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from hipcheck import __version__
from hipcheck._wheel import BRIDGE_NAME, BRIDGE_REQUIRES, bridge_wheel, wheel_from_installed
from hipcheck.errors import ArtifactError

__all__ = ["Artifact", "ArtifactError", "collect_artifacts"]

# Plugins need no dependency on hipcheck (the bridge is the runtime hipcheck provides), but one
# that declares one anyway is served by the bridge wheel rather than the whole host.
_PROVIDED_BY_BRIDGE = frozenset({"hipcheck", BRIDGE_NAME})


@dataclass(frozen=True)
class Artifact:
    """One wheel to install into a plugin env, pinned by its sha256."""

    name: str  # normalised distribution name
    version: str
    path: Path  # the wheel file
    sha256: str  # hex digest of the wheel file


def collect_artifacts(dist: metadata.Distribution, *, wheelhouse: Path) -> list[Artifact]:
    """The artifacts of plugin `dist`'s env, sorted by name.

    They are the plugin itself, the transitive closure of its run-time requirements (markers
    evaluated for this interpreter, no extras) over the distributions installed beside it, the
    bridge, and pluggy. A distribution installed from a local wheel that is still there with the
    recorded hash is used as is; the others are rebuilt from their installed files into
    `wheelhouse`, once: a rebuilt wheel is keyed by name, version and the sha256 of the RECORD
    it was built from, and later calls reuse it. Raises ArtifactError if a requirement is not
    installed, or installed at a version it excludes, or an installed file fails its RECORD hash.
    """
    plugin = f"{dist.metadata['Name']} {dist.version}"
    # The plugin's own install location first: that is where pip put its dependencies.
    search_path = [str(dist.locate_file("")), *sys.path]
    found = {canonicalize_name(str(dist.metadata["Name"])): dist}
    extras_done: dict[str, set[str]] = {name: {""} for name in found}
    todo = [(_parse(text, "hipcheck-bridge"), "hipcheck-bridge") for text in BRIDGE_REQUIRES]
    todo += [(req, plugin) for req in _runtime_requirements(dist, {""})]
    while todo:
        req, required_by = todo.pop()
        name = canonicalize_name(req.name)
        if name in _PROVIDED_BY_BRIDGE:
            continue
        installed = found.get(name) or _find_installed(name, search_path)
        if installed is None:
            raise ArtifactError(
                f"plugin {plugin} needs {req} (required by {required_by}), which is not "
                f"installed in hipcheck's environment ({sys.prefix}); install it there with pip"
            )
        if not req.specifier.contains(installed.version, prereleases=True):
            raise ArtifactError(
                f"plugin {plugin} needs {req} (required by {required_by}), but "
                f"{installed.version} is installed"
            )
        wanted = {"", *req.extras} - extras_done.setdefault(name, set())
        if wanted:
            found[name] = installed
            extras_done[name] |= wanted
            owner = f"{installed.metadata['Name']} {installed.version}"
            todo += [(sub, owner) for sub in _runtime_requirements(installed, wanted)]

    artifacts = [_artifact(installed, wheelhouse) for installed in found.values()]
    artifacts.append(_bridge_artifact(wheelhouse))
    return sorted(artifacts, key=lambda artifact: artifact.name)


def _parse(text: str, owner: str) -> Requirement:
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise ArtifactError(f"{owner} declares an invalid requirement {text!r}: {exc}") from exc


def _runtime_requirements(dist: metadata.Distribution, extras: set[str]) -> list[Requirement]:
    """`dist`'s requirements whose markers hold here for one of `extras` ("" is none)."""
    owner = f"{dist.metadata['Name']} {dist.version}"
    requirements = [_parse(text, owner) for text in dist.requires or []]
    return [
        req
        for req in requirements
        if req.marker is None or any(req.marker.evaluate({"extra": extra}) for extra in extras)
    ]


def _find_installed(name: str, search_path: list[str]) -> metadata.Distribution | None:
    return next(iter(metadata.distributions(name=name, path=search_path)), None)


def _artifact(dist: metadata.Distribution, wheelhouse: Path) -> Artifact:
    name, version = canonicalize_name(str(dist.metadata["Name"])), dist.version
    original = _original_wheel(dist)
    if original is not None:
        return Artifact(name, version, *original)
    record = (dist.read_text("RECORD") or "").encode()
    slot = wheelhouse / f"{name}-{version}-{hashlib.sha256(record).hexdigest()[:16]}"
    cached = sorted(slot.glob("*.whl"))
    path = cached[0] if cached else wheel_from_installed(dist, slot)
    return Artifact(name, version, path, _sha256(path))


def _original_wheel(dist: metadata.Distribution) -> tuple[Path, str] | None:
    """The local wheel `dist` was installed from (PEP 610), if it is unchanged, and its sha256."""
    try:
        info = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return None  # unreadable: rebuild, and let wheel_from_installed report it
    archive = info.get("archive_info")
    url = urlparse(str(info.get("url", "")))
    if not isinstance(archive, dict) or url.scheme != "file":
        return None
    path = Path(unquote(url.path))
    # "hash" ("sha256=<hex>") is the deprecated spelling of "hashes".
    expected = archive.get("hashes", {}).get("sha256")
    if expected is None and str(archive.get("hash", "")).startswith("sha256="):
        expected = archive["hash"].removeprefix("sha256=")
    if expected is None or path.suffix != ".whl" or not path.is_file():
        return None
    actual = _sha256(path)
    return (path, actual) if actual == expected else None


def _bridge_artifact(wheelhouse: Path) -> Artifact:
    """The bridge wheel, stored under its own hash.

    It is rebuilt on every call because it is small and, in an editable (development) install
    of hipcheck, its files change without a version bump.
    """
    wheelhouse.mkdir(parents=True, exist_ok=True)
    version = str(Version(__version__))
    with tempfile.TemporaryDirectory(dir=wheelhouse) as scratch:
        built = bridge_wheel(Path(scratch))
        digest = _sha256(built)
        slot = wheelhouse / f"{BRIDGE_NAME}-{version}-{digest[:16]}"
        slot.mkdir(exist_ok=True)
        final = slot / built.name
        if not final.exists():
            os.replace(built, final)
    return Artifact(BRIDGE_NAME, version, final, digest)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
