"""The pinned artifacts that make up a plugin's environment, and where each one comes from.

A plugin env holds the plugin's distribution, the distributions it needs at run time, the
hipcheck bridge and pluggy: each as a wheel whose sha256 is known before anything is installed.

By default the wheels come from the host env, where the user installed the plugin: the local
wheel pip installed a distribution from, if it is still there unchanged, else a wheel rebuilt
from the installed files after checking them against the distribution's RECORD. So what runs in
the plugin env is exactly what the user installed. A policy ``source`` can name another origin
for the plugin's own wheel (:func:`fetch_artifact`): a wheel file, a wheelhouse directory, a
project directory (built with pip), a URL or the package index (downloaded with pip, which
reads the user's pip configuration). Whatever is obtained is kept in the wheelhouse (the cache
dir's ``wheels``) with a note of its origin, so later runs, offline ones included, reuse it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlparse

from packaging.markers import UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, sys_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from hipcheck import __version__
from hipcheck._toml import tomllib
from hipcheck._wheel import (
    BRIDGE_NAME,
    BRIDGE_REQUIRES,
    bridge_wheel,
    normalize_wheel,
    wheel_from_installed,
)
from hipcheck.errors import ArtifactError
from hipcheck.policy._values import source_kind

__all__ = [
    "ORIGIN_FILE",
    "Artifact",
    "ArtifactError",
    "check_pins",
    "collect_artifacts",
    "fetch_artifact",
    "run_pip",
]

# Plugins need no dependency on hipcheck (the bridge is the runtime hipcheck provides), but one
# that declares one anyway is served by the bridge wheel rather than the whole host.
_PROVIDED_BY_BRIDGE = frozenset({"hipcheck", BRIDGE_NAME})
#: Beside a fetched wheel in its wheelhouse slot: the sources it was obtained from, one a line.
ORIGIN_FILE = "ORIGIN"
_PIP_OUTPUT_LINES = 20
# What PEP 518 says a project without [build-system] is built with.
_DEFAULT_BUILD_REQUIRES = ("setuptools>=40.8.0",)


@dataclass(frozen=True)
class Artifact:
    """One wheel to install into a plugin env, pinned by its sha256."""

    name: str  # normalised distribution name
    version: str
    path: Path  # the wheel file
    sha256: str  # hex digest of the wheel file
    # Where the wheel came from: "installed", "hipcheck", "wheel:PATH", "project:DIR",
    # "wheelhouse:DIR", "url:URL" or "index:REQUIREMENT" (docs/lock.md). Not part of the env's
    # identity: the same bytes make the same env wherever they came from.
    source: str = ""


def collect_artifacts(
    dist: metadata.Distribution,
    *,
    wheelhouse: Path,
    source: str | None = None,
    hashes: Sequence[str] = (),
    offline: bool = False,
) -> list[Artifact]:
    """The artifacts of plugin `dist`'s env, sorted by name.

    They are the plugin itself, the transitive closure of its run-time requirements (markers
    evaluated for this interpreter, no extras) over the distributions installed beside it, the
    bridge, and pluggy. A distribution installed from a local wheel that is still there with the
    recorded hash is used as is; the others are rebuilt from their installed files into
    `wheelhouse`, once: a rebuilt wheel is keyed by name, version and the sha256 of the RECORD
    it was built from, and later calls reuse it. Raises ArtifactError if a requirement is not
    installed, or installed at a version it excludes, or an installed file fails its RECORD hash.

    With `source` (a policy's ``source``), the plugin's own wheel comes from there instead, at
    the installed version, chosen and checked with `hashes` ("sha256:<hex>"): see
    :func:`fetch_artifact`. A project directory the plugin was installed from (PEP 610) is
    served by rebuilding the installed files, which needs neither its build backend nor a
    network.
    """
    plugin = f"{dist.metadata['Name']} {dist.version}"
    plugin_name = canonicalize_name(str(dist.metadata["Name"]))
    # The plugin's own install location first: that is where pip put its dependencies.
    search_path = [str(dist.locate_file("")), *sys.path]
    found = {plugin_name: dist}
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

    artifacts = [
        _sourced_artifact(installed, source, wheelhouse, hashes, offline)
        if source is not None and name == plugin_name
        else _artifact(installed, wheelhouse)
        for name, installed in found.items()
    ]
    artifacts.append(_bridge_artifact(wheelhouse))
    return sorted(artifacts, key=lambda artifact: artifact.name)


def check_pins(artifact: Artifact, hashes: Sequence[str], *, owner: str) -> None:
    """Raise ArtifactError unless `artifact`'s sha256 is one of the policy's `hashes`.

    `hashes` are "sha256:<hex>" strings; none means nothing is pinned. `owner` (for example
    "plugin hipcheck/git") starts the message.
    """
    if hashes and f"sha256:{artifact.sha256}" not in hashes:
        raise ArtifactError(
            f"{owner}: artifact {artifact.path.name} has sha256:{artifact.sha256}, "
            f"but the policy pins {', '.join(hashes)}"
        )


def fetch_artifact(
    source: str,
    *,
    wheelhouse: Path,
    name: str | None = None,
    version: str | None = None,
    hashes: Sequence[str] = (),
    offline: bool = False,
) -> Artifact:
    """The wheel `source` names, kept in `wheelhouse` and checked against what is asked of it.

    `source` is read as pip reads one: the path of a wheel file; of a project directory (one
    with pyproject.toml or setup.py), built with ``pip wheel``; of a wheelhouse (any other
    directory), where the best wheel of `name` for this interpreter is taken; a URL of a
    wheel; or a requirement, downloaded from the index pip is configured with (its config
    files and PIP_* variables apply). Source archives and version-control URLs are refused:
    what a hash pins must be the wheel that is installed.

    `name` is the distribution wanted (needed for a wheelhouse), `version` the exact version
    wanted, `hashes` ("sha256:<hex>") the accepted hashes: any mismatch raises ArtifactError
    naming the artifact, the expected and the actual value.

    A wheel fetched before from the same source is reused without running pip when `version`
    is given, or with `offline`, which never lets pip reach an index: an artifact that is not
    in the wheelhouse then raises ArtifactError. A project is built without build isolation
    when its build requirements are installed beside hipcheck (fast, and possible offline),
    else in pip's usual isolated build environment, fetched from the index. Built wheels are
    rewritten deterministically, so rebuilding the same sources gives the same hash.
    """
    kind = source_kind(source)
    _refuse_unbuilt(source, kind)
    specifier = SpecifierSet()
    if kind == "path":
        path = Path(source).expanduser().absolute()
        if path.is_file():
            origin = f"wheel:{path}"
            artifact = _store(path, wheelhouse, origin)
        elif _is_project(path):
            origin = f"project:{path}"
            cached = (
                _cached(wheelhouse, origin, name, version, specifier, hashes) if version else None
            )
            artifact = cached or _build(path, wheelhouse, origin, offline)
        elif path.is_dir():
            if name is None:
                raise ArtifactError(f"source {source}: a wheelhouse needs a distribution name")
            origin = f"wheelhouse:{path}"
            artifact = _store(_from_wheelhouse(path, name, version), wheelhouse, origin)
        else:
            raise ArtifactError(f"source {source}: no such file or directory")
    else:
        target, origin = source, f"url:{source}"
        if kind == "requirement":
            target, specifier = _pinned_target(source, name, version)
            origin = f"index:{source}"
        cached = None
        if version is not None or offline:
            cached = _cached(wheelhouse, origin, name, version, specifier, hashes)
        if cached is None and offline:
            wanted = f"{name or source}{f'=={version}' if version else ''}"
            raise ArtifactError(
                f"source {source}: no wheel of {wanted} from it is in the cache "
                f"({wheelhouse}), and --offline keeps pip from downloading one; run once "
                "without --offline"
            )
        artifact = cached or _download(target, wheelhouse, origin, hashes)
    _check_fetched(artifact, source, name=name, version=version, hashes=hashes)
    return artifact


def _refuse_unbuilt(source: str, kind: str) -> None:
    """Refuse sdists and VCS checkouts: a hash pins what is installed, and the wheel pip would
    build from them has a hash of its own, known only after the build."""
    scheme = source.partition("://")[0] if kind == "url" else ""
    archive = kind == "path" and source.endswith((".tar.gz", ".zip"))
    if "+" in scheme or archive:
        raise ArtifactError(
            f"source {source}: hipcheck installs plugins from wheels, and this is "
            f"{'a version-control URL' if '+' in scheme else 'a source archive'}; point the "
            "source at a wheel (pip wheel --no-deps SOURCE builds one) or a project directory"
        )


def run_pip(args: Sequence[str], *, python: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the host's pip with `args`, reading the user's pip configuration as pip always does.

    `python` is the environment pip works on (``pip --python``); default: hipcheck's own.
    """
    target = [] if python is None else ["--python", str(python)]
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", *target, *args]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def pip_output(result: subprocess.CompletedProcess[str]) -> str:
    """The last lines of what pip printed, to quote in an error."""
    return "\n".join((result.stdout + result.stderr).strip().splitlines()[-_PIP_OUTPUT_LINES:])


def _sourced_artifact(
    dist: metadata.Distribution,
    source: str,
    wheelhouse: Path,
    hashes: Sequence[str],
    offline: bool,
) -> Artifact:
    name = canonicalize_name(str(dist.metadata["Name"]))
    if source_kind(source) == "path":
        directory = Path(source).expanduser().absolute()
        if _is_project(directory) and _installed_from(dist) == directory.resolve():
            # pip built and installed this very directory, so the installed files are that
            # build: rebuilding from them needs no build backend and gives a stable hash.
            return replace(_artifact(dist, wheelhouse), source=f"project:{directory}")
    return fetch_artifact(
        source, wheelhouse=wheelhouse, name=name, version=dist.version, hashes=hashes,
        offline=offline,
    )  # fmt: skip


def _installed_from(dist: metadata.Distribution) -> Path | None:
    """The local directory `dist` was installed from, not in editable mode (PEP 610)."""
    info = _direct_url(dist)
    dir_info = info.get("dir_info")
    url = urlparse(str(info.get("url", "")))
    if not isinstance(dir_info, dict) or dir_info.get("editable") or url.scheme != "file":
        return None
    return Path(unquote(url.path)).resolve()


def _direct_url(dist: metadata.Distribution) -> dict[str, object]:
    try:
        info = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return {}  # unreadable: treat as unknown, and let wheel_from_installed report it
    return info if isinstance(info, dict) else {}


def _check_fetched(
    artifact: Artifact,
    source: str,
    *,
    name: str | None,
    version: str | None,
    hashes: Sequence[str],
) -> None:
    if name is not None and artifact.name != canonicalize_name(name):
        raise ArtifactError(
            f"source {source} gives distribution {artifact.name}, not {canonicalize_name(name)}"
        )
    if version is not None and Version(artifact.version) != Version(version):
        raise ArtifactError(
            f"source {source} gives {artifact.name} {artifact.version}, but {version} is "
            f"installed in hipcheck's environment ({sys.prefix}); install the source's version "
            f"there (hipcheck plugin install {source})"
        )
    if hashes and f"sha256:{artifact.sha256}" not in hashes:
        raise ArtifactError(
            f"source {source}: artifact {artifact.path.name} does not match its pinned hash: "
            f"expected {' or '.join(hashes)}, actual sha256:{artifact.sha256}"
        )


def _pinned_target(source: str, name: str | None, version: str | None) -> tuple[str, SpecifierSet]:
    """What to ask pip for to get `version` of requirement `source`, and what it accepts."""
    req = Requirement(source)  # the policy checked it parses
    if name is not None and canonicalize_name(req.name) != canonicalize_name(name):
        raise ArtifactError(f"source {source} names {req.name}, not {name}")
    if version is None or req.url:
        return source, req.specifier
    if not req.specifier.contains(version, prereleases=True):
        raise ArtifactError(
            f"source {source} excludes version {version}, which is installed in hipcheck's "
            f"environment ({sys.prefix})"
        )
    return f"{req.name}=={version}", req.specifier


def _cached(
    wheelhouse: Path,
    origin: str,
    name: str | None,
    version: str | None,
    specifier: SpecifierSet,
    hashes: Sequence[str],
) -> Artifact | None:
    """The best wheel fetched earlier from `origin` that fits, if any."""
    pattern = f"{canonicalize_name(name)}-*/{ORIGIN_FILE}" if name else f"*/{ORIGIN_FILE}"
    fitting: list[tuple[Version, int, str, Path]] = []
    for note in wheelhouse.glob(pattern):
        if origin not in note.read_text(encoding="utf-8").splitlines():
            continue
        for wheel in note.parent.glob("*.whl"):
            parsed = _wheel_name(wheel)
            if parsed is None:
                continue
            wheel_name, wheel_version, rank = parsed
            if rank is None:
                continue
            if name is not None and wheel_name != canonicalize_name(name):
                continue
            if version is not None and wheel_version != Version(version):
                continue
            if specifier.contains(wheel_version, prereleases=True):
                fitting.append((wheel_version, -rank, wheel_name, wheel))
    for wheel_version, _, wheel_name, wheel in sorted(fitting, reverse=True):
        digest = _sha256(wheel)
        if not hashes or f"sha256:{digest}" in hashes:
            return Artifact(wheel_name, str(wheel_version), wheel, digest, origin)
    return None


def _from_wheelhouse(directory: Path, name: str, version: str | None) -> Path:
    """The wheel of `name` (at `version`, else the highest) in `directory` best for here."""
    fitting: list[tuple[Version, int, Path]] = []
    for wheel in directory.glob("*.whl"):
        parsed = _wheel_name(wheel)
        if parsed is None or parsed[0] != canonicalize_name(name) or parsed[2] is None:
            continue
        if version is None or parsed[1] == Version(version):
            fitting.append((parsed[1], -parsed[2], wheel))
    if not fitting:
        wanted = f"{name}=={version}" if version else name
        raise ArtifactError(
            f"source {directory}: the wheelhouse has no wheel of {wanted} for this interpreter"
        )
    return max(fitting)[2]


def _wheel_name(wheel: Path) -> tuple[str, Version, int | None] | None:
    """A wheel file's distribution name, version, and rank for this interpreter (lower is
    better; None: not installable here), or None if the file name is not a wheel's."""
    try:
        name, version, _, tags = parse_wheel_filename(wheel.name)
    except (InvalidWheelFilename, InvalidVersion):
        return None
    ranks = [_tag_ranks().get(tag) for tag in tags]
    found = [rank for rank in ranks if rank is not None]
    return str(name), version, min(found) if found else None


@functools.cache
def _tag_ranks() -> dict[Tag, int]:
    # sys_tags() lists the tags this interpreter installs, best first.
    return {tag: rank for rank, tag in enumerate(sys_tags())}


def _store(wheel: Path, wheelhouse: Path, origin: str) -> Artifact:
    """Keep `wheel` in `wheelhouse` under its hash, noting `origin`; the kept artifact."""
    parsed = _wheel_name(wheel)
    if parsed is None:
        raise ArtifactError(f"{wheel}: not a wheel (name-version-tags.whl)")
    if parsed[2] is None:
        raise ArtifactError(f"{wheel.name}: this wheel is not for this interpreter")
    name, version, _ = parsed
    digest = _sha256(wheel)
    slot = wheelhouse / f"{name}-{version}-{digest[:16]}"
    slot.mkdir(parents=True, exist_ok=True)
    final = slot / wheel.name
    if not final.exists():
        _write_atomically(final, wheel)
    note = slot / ORIGIN_FILE
    origins = set(note.read_text(encoding="utf-8").splitlines()) if note.exists() else set()
    if origin not in origins:
        _write_atomically(note, "".join(f"{o}\n" for o in sorted({*origins, origin})).encode())
    return Artifact(name, str(version), final, digest, origin)


def _write_atomically(target: Path, content: bytes | Path) -> None:
    """Write `content` (bytes, or a file to copy) to `target` so no reader sees it half done."""
    fd, partial = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(content, Path):
                with content.open("rb") as src:
                    shutil.copyfileobj(src, fh, 1 << 20)
            else:
                fh.write(content)
        os.replace(partial, target)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise


def _download(target: str, wheelhouse: Path, origin: str, hashes: Sequence[str]) -> Artifact:
    """Download the wheel of requirement or URL `target` with pip, hash-checked if pinned."""
    wheelhouse.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=wheelhouse, prefix=".download-") as scratch:
        dest = Path(scratch) / "dest"
        args = ["download", "--no-deps", "--only-binary", ":all:", "--progress-bar", "off",
                "--dest", str(dest)]  # fmt: skip
        if hashes:
            # Hashes can only be given in a requirements file; they put pip in hash-checking
            # mode, which refuses a download that matches none of them.
            requirements = Path(scratch) / "requirements.txt"
            pins = " ".join(f"--hash={h}" for h in hashes)
            requirements.write_text(f"{target} {pins}\n", encoding="utf-8")
            args += ["--require-hashes", "-r", str(requirements)]
        else:
            args.append(target)
        result = run_pip(args)
        if result.returncode != 0:
            raise ArtifactError(
                f"could not download {target}: pip download failed:\n" + pip_output(result)
            )
        wheels = sorted(dest.glob("*.whl"))
        if len(wheels) != 1:
            raise ArtifactError(f"could not download {target}: pip gave {len(wheels)} wheels")
        return _store(wheels[0], wheelhouse, origin)


def _is_project(path: Path) -> bool:
    return (path / "pyproject.toml").is_file() or (path / "setup.py").is_file()


def _build(directory: Path, wheelhouse: Path, origin: str, offline: bool) -> Artifact:
    """Build a wheel of project `directory` with pip, rewritten deterministically."""
    requires = _build_requirements(directory)
    attempts: list[list[str]] = []
    if all(_installed_here(text) for text in requires):
        # The static requirements are here; pip checks the backend's dynamic ones (setuptools
        # may want "wheel") and fails fast if one is missing.
        attempts.append(["--no-build-isolation", "--check-build-dependencies"])
    if not offline:
        attempts.append([])  # pip's isolated build, fetching the build requirements
    if not attempts:
        raise ArtifactError(
            f"source {directory}: building it needs {', '.join(requires)}, which is not all "
            f"installed in hipcheck's environment ({sys.prefix}), and --offline keeps pip from "
            "fetching it; install the build requirements there, or build without --offline"
        )
    wheelhouse.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=wheelhouse, prefix=".build-") as scratch:
        out = Path(scratch) / "out"
        base = ["wheel", "--no-deps", "--wheel-dir", str(out), *(["--no-index"] if offline else [])]
        for extra in attempts:
            result = run_pip([*base, *extra, str(directory)])
            if result.returncode == 0:
                break
        else:
            raise ArtifactError(
                f"could not build a wheel of {directory}: pip wheel failed:\n" + pip_output(result)
            )
        wheels = sorted(out.glob("*.whl"))
        if len(wheels) != 1:
            raise ArtifactError(f"building {directory} gave {len(wheels)} wheels, not one")
        return _store(normalize_wheel(wheels[0], Path(scratch) / "normal"), wheelhouse, origin)


def _build_requirements(directory: Path) -> list[str]:
    pyproject = directory / "pyproject.toml"
    if not pyproject.is_file():
        return list(_DEFAULT_BUILD_REQUIRES)
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ArtifactError(f"source {directory}: cannot read pyproject.toml: {exc}") from exc
    system = data.get("build-system")
    if not isinstance(system, dict) or "requires" not in system:
        return list(_DEFAULT_BUILD_REQUIRES)
    requires = system["requires"]
    if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
        raise ArtifactError(f"source {directory}: [build-system] requires is not a list of strings")
    return requires


def _installed_here(text: str) -> bool:
    """Whether requirement `text` is met by a distribution installed beside hipcheck."""
    try:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate():
            return True
        installed = metadata.version(req.name)
    except (InvalidRequirement, UndefinedEnvironmentName, metadata.PackageNotFoundError):
        return False
    return req.specifier.contains(installed, prereleases=True)


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
        return original
    record = (dist.read_text("RECORD") or "").encode()
    slot = wheelhouse / f"{name}-{version}-{hashlib.sha256(record).hexdigest()[:16]}"
    cached = sorted(slot.glob("*.whl"))
    path = cached[0] if cached else wheel_from_installed(dist, slot)
    # PEP 610 says where pip got it when that was not an index: a directory, a VCS, a URL.
    url = _direct_url(dist).get("url")
    source = f"installed:{url}" if isinstance(url, str) and url else "installed"
    return Artifact(name, version, path, _sha256(path), source)


def _original_wheel(dist: metadata.Distribution) -> Artifact | None:
    """The local wheel `dist` was installed from (PEP 610), if it is unchanged."""
    info = _direct_url(dist)
    archive = info.get("archive_info")
    url = urlparse(str(info.get("url", "")))
    if not isinstance(archive, dict) or url.scheme != "file":
        return None
    path = Path(unquote(url.path))
    # "hash" ("sha256=<hex>") is the deprecated spelling of "hashes".
    hashes = archive.get("hashes")
    expected = hashes.get("sha256") if isinstance(hashes, dict) else None
    if expected is None and str(archive.get("hash", "")).startswith("sha256="):
        expected = str(archive["hash"]).removeprefix("sha256=")
    if expected is None or path.suffix != ".whl" or not path.is_file():
        return None
    actual = _sha256(path)
    if actual != expected:
        return None
    # A wheel hipcheck fetched (hipcheck plugin install) remembers where it came from.
    note = path.parent / ORIGIN_FILE
    origins = note.read_text(encoding="utf-8").splitlines() if note.is_file() else []
    name = canonicalize_name(str(dist.metadata["Name"]))
    return Artifact(name, dist.version, path, actual, origins[0] if origins else f"wheel:{path}")


def _bridge_artifact(wheelhouse: Path) -> Artifact:
    """The bridge wheel, stored under its own hash.

    Built once per process and wheelhouse (a run provisions every plugin with it), not once per
    version: in an editable (development) install of hipcheck, its files change without a
    version bump.
    """
    built = _bridge_built.get(wheelhouse)
    if built is not None and built.path.is_file():
        return built
    wheelhouse.mkdir(parents=True, exist_ok=True)
    version = str(Version(__version__))
    with tempfile.TemporaryDirectory(dir=wheelhouse) as scratch:
        wheel = bridge_wheel(Path(scratch))
        digest = _sha256(wheel)
        slot = wheelhouse / f"{BRIDGE_NAME}-{version}-{digest[:16]}"
        slot.mkdir(exist_ok=True)
        final = slot / wheel.name
        if not final.exists():
            os.replace(wheel, final)
    _bridge_built[wheelhouse] = Artifact(BRIDGE_NAME, version, final, digest, "hipcheck")
    return _bridge_built[wheelhouse]


# The bridge wheel built by this process, by wheelhouse: its files do not change under a run.
_bridge_built: dict[Path, Artifact] = {}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
