"""Finding installed plugins through entry points, without importing any of their code."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import PurePosixPath
from typing import Any

import semver
from packaging.utils import canonicalize_name
from pydantic import ValidationError

from hipcheck._toml import tomllib
from hipcheck.errors import DiscoveryError
from hipcheck.manifest import Manifest
from hipcheck.schemas import manifest_schemas

ENTRY_POINT_GROUP = "hipcheck.plugins"
MANIFEST_FILE = "hipcheck-plugin.toml"


@dataclass(frozen=True)
class InstalledPlugin:
    """A plugin distribution installed beside hipcheck, with its manifest."""

    manifest: Manifest
    dist: metadata.Distribution
    entry_point: metadata.EntryPoint
    #: Output schemas from the manifest's ``schemas`` files, by query.
    schemas: Mapping[str, Any] = field(default_factory=dict)

    @property
    def identity(self) -> str:
        return self.manifest.identity

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def dist_name(self) -> str:
        return str(self.dist.metadata["Name"])


@dataclass(frozen=True)
class Discovered:
    """What discovery found, and the problems with what it could not use.

    ``candidates`` holds every installed version of each plugin, highest first (two
    distributions may provide one identity); ``plugins`` the highest of each.
    """

    candidates: dict[str, list[InstalledPlugin]]
    problems: tuple[DiscoveryError, ...]

    @property
    def plugins(self) -> dict[str, InstalledPlugin]:
        return {name: versions[0] for name, versions in self.candidates.items()}


def discover(entry_points: Iterable[metadata.EntryPoint] | None = None) -> Discovered:
    """Read every ``hipcheck.plugins`` entry point's distribution and manifest."""
    if entry_points is None:
        entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
    candidates: dict[str, list[InstalledPlugin]] = {}
    problems: list[DiscoveryError] = []
    for ep in entry_points:
        try:
            plugin = _load(ep)
        except DiscoveryError as exc:
            problems.append(exc)
            continue
        versions = candidates.setdefault(plugin.identity, [])
        twin = next((p for p in versions if p.version == plugin.version), None)
        if twin is not None:
            problems.append(
                DiscoveryError(
                    f"plugin {plugin.identity} {plugin.version} is provided by both "
                    f"{twin.dist_name} and {plugin.dist_name}; uninstall one"
                )
            )
            continue
        versions.append(plugin)
    for versions in candidates.values():
        versions.sort(key=lambda p: _semver(p.version), reverse=True)
    return Discovered(candidates, tuple(problems))


def _semver(version: str) -> semver.Version:
    return semver.Version.parse(version, optional_minor_and_patch=True)


def _load(ep: metadata.EntryPoint) -> InstalledPlugin:
    dist = ep.dist
    where = f"entry point {ep.name} = {ep.value}"
    if dist is None:
        raise DiscoveryError(f"{where}: no distribution owns it")
    where = f"plugin distribution {dist.metadata['Name']} ({where})"
    text, manifest_path = _read_manifest(dist, ep.module, where)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DiscoveryError(f"{where}: {MANIFEST_FILE} is not valid TOML: {exc}") from exc
    raw.setdefault("version", dist.version)
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise DiscoveryError(f"{where}: {MANIFEST_FILE}: {loc}: {first['msg']}") from exc
    if manifest.version != dist.version:
        raise DiscoveryError(
            f"{where}: manifest version {manifest.version} differs from the distribution's "
            f"{dist.version}"
        )
    if manifest.interface == "python" and manifest.entrypoint != ep.value:
        raise DiscoveryError(
            f"{where}: manifest entrypoint {manifest.entrypoint!r} differs from the entry "
            f"point's {ep.value!r}"
        )
    files = {PurePosixPath(f.as_posix()): f for f in dist.files or ()}

    def read(relative: str) -> str:
        path = PurePosixPath(posixpath.normpath(str(manifest_path.parent / relative)))
        return files[path].read_text(encoding="utf-8")

    schemas = manifest_schemas(manifest.schemas, read, where)
    return InstalledPlugin(manifest, dist, ep, schemas)


def _read_manifest(
    dist: metadata.Distribution, module: str, where: str
) -> tuple[str, PurePosixPath]:
    # The manifest sits in the entry point's package, or beside its top-level module.
    parts = module.split(".")
    wanted = {PurePosixPath(*parts, MANIFEST_FILE), PurePosixPath(*parts[:-1], MANIFEST_FILE)}
    for file in dist.files or ():
        path = PurePosixPath(file.as_posix())
        if path in wanted:
            return file.read_text(encoding="utf-8"), path
    if _is_editable(dist):
        raise DiscoveryError(
            f"{where}: installed in editable mode, which hipcheck cannot build an isolated env "
            "from; install it with 'pip install DIR' instead of 'pip install -e DIR'"
        )
    raise DiscoveryError(f"{where}: no {MANIFEST_FILE} in package {module}")


def _is_editable(dist: metadata.Distribution) -> bool:
    # PEP 610: pip records where a distribution came from, and whether it was editable.
    text = dist.read_text("direct_url.json")
    if not text:
        return False
    try:
        return bool(json.loads(text).get("dir_info", {}).get("editable"))
    except (ValueError, AttributeError):
        return False


AUTOLOAD_ENV = "HIPCHECK_DISABLE_PLUGIN_AUTOLOAD"


def select(
    found: Discovered,
    *,
    named: Iterable[str],
    enable: Iterable[str] = (),
    block: Iterable[str] = (),
    autoload: bool = True,
) -> tuple[dict[str, list[InstalledPlugin]], dict[str, str]]:
    """Which installed plugins a run may use (every usable version), and why others may not.

    pytest's conventions: every installed plugin is usable unless blocked with ``-p no:NAME``;
    with autoload off (``HIPCHECK_DISABLE_PLUGIN_AUTOLOAD``), only those the policy ``named``
    and those enabled with ``-p NAME``. A NAME is a plugin identity or its distribution name.
    """
    blocked = set(block)
    wanted = set(named) | set(enable)
    usable: dict[str, list[InstalledPlugin]] = {}
    excluded: dict[str, str] = {}
    for identity, versions in found.candidates.items():
        for plugin in versions:
            names = {identity, plugin.dist_name, str(canonicalize_name(plugin.dist_name))}
            if names & blocked:
                excluded[identity] = (
                    f"plugin {identity} is blocked (-p no:{(names & blocked).pop()})"
                )
            elif autoload or names & wanted:
                usable.setdefault(identity, []).append(plugin)
            else:
                excluded[identity] = (
                    f"plugin {identity} is not loaded: plugin autoload is off ({AUTOLOAD_ENV}); "
                    f"name it in the policy's [plugins] or pass -p {identity}"
                )
    return usable, {k: v for k, v in excluded.items() if k not in usable}
