"""Administering plugins: provisioning envs under the policy and its lock, and the logic behind
``hipcheck lock`` and ``hipcheck plugin install | remove | prune | verify``.

A plugin is installed in hipcheck's own environment (the *host*), where discovery finds it,
and runs from its own env under the cache dir. :func:`provision` turns an installed plugin
into its env: artifacts collected (from the policy's ``source`` if it gives one), the plugin's
own checked against the policy's ``hashes``, all of them against the lock if there is one,
and only then the env built. :func:`install` and :func:`remove` change the host with pip, as
the user would, then provision or delete the plugin's envs. The host is the running
interpreter's environment unless ``python`` names another (tests use a throwaway venv).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

from hipcheck import discovery
from hipcheck._wheel import read_dist_info
from hipcheck.artifacts import (
    Artifact,
    check_pins,
    collect_artifacts,
    fetch_artifact,
    pip_output,
    run_pip,
)
from hipcheck.discovery import ENTRY_POINT_GROUP, InstalledPlugin
from hipcheck.envs import (
    Drift,
    PluginEnv,
    cache_dir,
    delete_env,
    ensure_env,
    env_key,
    list_envs,
    verify_env,
)
from hipcheck.errors import ArtifactError, DiscoveryError, UsageError
from hipcheck.lock import Lock, LockedPlugin, lock_path, write_lock
from hipcheck.policy import Policy
from hipcheck.session import Installed, required_plugins

__all__ = [
    "InstallResult",
    "RemoveResult",
    "install",
    "keys_in_use",
    "lock_plugins",
    "lock_policy",
    "plugin_artifacts",
    "provision",
    "prune",
    "remove",
    "verify",
]


@dataclass(frozen=True)
class InstallResult:
    """What :func:`install` installed: the distribution, its wheel, and each plugin's env."""

    distribution: str
    version: str
    artifact: Artifact
    envs: dict[str, PluginEnv]  # by plugin identity


@dataclass(frozen=True)
class RemoveResult:
    """What :func:`remove` removed: the distribution and the envs built for its plugins."""

    distribution: str
    version: str
    envs: list[Path]


def plugin_artifacts(
    plugin: InstalledPlugin,
    *,
    source: str | None = None,
    hashes: Sequence[str] = (),
    root: Path | None = None,
    offline: bool = False,
) -> list[Artifact]:
    """The artifacts of `plugin`'s env, its own checked against the policy's `hashes`.

    `source` and `hashes` are the plugin's policy entry's (``PluginEntry.source``, ``.hashes``).
    """
    wheelhouse = (root or cache_dir()) / "wheels"
    artifacts = collect_artifacts(
        plugin.dist, wheelhouse=wheelhouse, source=source, hashes=hashes, offline=offline
    )
    own = next(a for a in artifacts if a.name == canonicalize_name(plugin.dist_name))
    check_pins(own, hashes, owner=f"plugin {plugin.identity}")
    return artifacts


def provision(
    plugin: InstalledPlugin,
    *,
    source: str | None = None,
    hashes: Sequence[str] = (),
    lock: Lock | None = None,
    root: Path | None = None,
    offline: bool = False,
) -> PluginEnv:
    """Build (or reuse) `plugin`'s env, after every check that can refuse it.

    In order: the artifacts are collected (:func:`plugin_artifacts`), the plugin's own is
    checked against `hashes`, all of them against `lock`, and only then is anything installed.
    Any refusal is an ArtifactError raised before plugin code runs.
    """
    base = root or cache_dir()
    artifacts = plugin_artifacts(plugin, source=source, hashes=hashes, root=base, offline=offline)
    if lock is not None:
        lock.check(plugin.identity, artifacts)
    return ensure_env(plugin.identity, artifacts, root=base)


def lock_plugins(
    policy: Policy,
    installed: Installed,
    excluded: Mapping[str, str] | None = None,
    *,
    root: Path | None = None,
    offline: bool = False,
) -> list[LockedPlugin]:
    """The lock entries of every plugin `policy` needs, dependencies included.

    Resolved as ``hipcheck check`` resolves them, from the `installed` plugins the run may use
    (`excluded` says why others may not). Raises ArtifactError listing every plugin that cannot
    be resolved, and any error collecting or checking an artifact.
    """
    resolution = required_plugins(_roots(policy), installed, excluded)
    if resolution.problems:
        problems = "; ".join(why for _, why in sorted(resolution.problems.items()))
        raise ArtifactError(f"cannot lock the plugins of {policy.source}: {problems}")
    locked = []
    for name in resolution.order:
        plugin = resolution.chosen[name]
        entry = policy.plugins.get(name)
        artifacts = plugin_artifacts(
            plugin,
            source=entry.source if entry else None,
            hashes=entry.hashes if entry else (),
            root=root,
            offline=offline,
        )
        locked.append(LockedPlugin.of(name, plugin.dist_name, plugin.version, artifacts))
    return locked


def lock_policy(
    policy: Policy,
    installed: Installed,
    excluded: Mapping[str, str] | None = None,
    *,
    root: Path | None = None,
    offline: bool = False,
) -> Path:
    """Write the lock of `policy` beside it (:func:`hipcheck.lock.lock_path`); its path."""
    plugins = lock_plugins(policy, installed, excluded, root=root, offline=offline)
    return write_lock(lock_path(policy), plugins)


def keys_in_use(
    policy: Policy,
    installed: Installed,
    excluded: Mapping[str, str] | None = None,
    *,
    root: Path | None = None,
    offline: bool = False,
) -> set[str]:
    """The keys of the envs `policy` uses (for :func:`prune`); unresolvable plugins have none."""
    resolution = required_plugins(_roots(policy), installed, excluded)
    keys = set()
    for name in resolution.order:
        entry = policy.plugins.get(name)
        artifacts = plugin_artifacts(
            resolution.chosen[name],
            source=entry.source if entry else None,
            hashes=entry.hashes if entry else (),
            root=root,
            offline=offline,
        )
        keys.add(env_key(artifacts))
    return keys


def install(
    spec: str,
    *,
    hashes: Sequence[str] = (),
    python: Path | None = None,
    root: Path | None = None,
    offline: bool = False,
) -> InstallResult:
    """Install the plugin distribution `spec` names into the host, then provision its env.

    `spec` is what a policy's ``source`` may be: a requirement (from the configured index), a
    URL, a wheel file, a wheelhouse directory or a project directory. Its wheel is obtained
    first (:func:`hipcheck.artifacts.fetch_artifact`) and checked against `hashes`; a wheel
    with no ``hipcheck.plugins`` entry point is refused; then pip installs that very wheel
    into the host (its dependencies as pip resolves them, from pip's configured index, or
    with `offline` only from its configured find-links), so the plugin's env is later built
    from the wheel that was checked. Raises ArtifactError, or DiscoveryError for a plugin
    discovery cannot use.
    """
    base = root or cache_dir()
    artifact = fetch_artifact(spec, wheelhouse=base / "wheels", hashes=hashes, offline=offline)
    entry_points = read_dist_info(artifact.path, "entry_points.txt") or ""
    if f"[{ENTRY_POINT_GROUP}]" not in entry_points:
        raise ArtifactError(
            f"{spec}: {artifact.path.name} is not a hipcheck plugin: it declares no "
            f"{ENTRY_POINT_GROUP} entry point; nothing was installed"
        )
    offline_args = ["--no-index"] if offline else []
    _pip(python, "install", [*offline_args, str(artifact.path)], spec)
    dist = _distribution(artifact.name, python)
    if dist is None or not _installed_from(dist, artifact):
        # The same version was already installed from elsewhere, and pip kept it.
        _pip(python, "install", [*offline_args, "--force-reinstall", "--no-deps",
                                  str(artifact.path)], spec)  # fmt: skip
        dist = _distribution(artifact.name, python)
    if dist is None:  # pragma: no cover - pip said it installed it
        raise ArtifactError(f"{spec}: pip installed {artifact.name}, but it cannot be found")
    envs = {
        plugin.identity: provision(plugin, hashes=hashes, root=base, offline=offline)
        for plugin in _plugins_of(dist)
    }
    return InstallResult(artifact.name, artifact.version, artifact, envs)


def remove(name: str, *, python: Path | None = None, root: Path | None = None) -> RemoveResult:
    """Uninstall plugin `name` (identity or distribution name) from the host with pip, and
    delete every env built for its plugins. Its dependencies stay installed, as with pip."""
    found = _discover(python)
    wanted = str(canonicalize_name(name))
    matches = [
        plugin
        for versions in found.candidates.values()
        for plugin in versions
        if name == plugin.identity or wanted == canonicalize_name(plugin.dist_name)
    ]
    if not matches:
        known = ", ".join(sorted(found.candidates)) or "none"
        raise UsageError(f"no installed plugin {name}; installed: {known}")
    # Read before pip uninstalls it: a Distribution reads its metadata lazily, from the files.
    distribution, version = matches[0].dist_name, matches[0].dist.version
    identities = {
        plugin.identity
        for versions in found.candidates.values()
        for plugin in versions
        if plugin.dist_name == distribution
    }
    _pip(python, "uninstall", ["--yes", distribution], name)
    removed = [
        env.path
        for env in list_envs(root=root)
        if env.label in identities and delete_env(env.path, wait=True)
    ]
    return RemoveResult(distribution, version, removed)


def prune(keep: set[str], *, root: Path | None = None) -> list[Path]:
    """Delete every env under `root` whose key is not in `keep`, and every leftover of a
    crashed build; the deleted paths. An env being built right now is left alone."""
    removed = [
        env.path for env in list_envs(root=root) if env.key not in keep and delete_env(env.path)
    ]
    envs_dir = (root or cache_dir()).resolve() / "envs"
    for leftover in sorted(envs_dir.glob(".*.tmp-*")):
        if leftover.is_dir() and delete_env(leftover):
            removed.append(leftover)
    return removed


def verify(*, root: Path | None = None, repair: bool = False) -> list[Drift]:
    """Re-hash every env under `root` (default: cache_dir()): all drift found, env by env.

    With `repair`, each env that drifted is then deleted, so the next run that needs it builds
    it afresh (one being built right now is left alone).
    """
    drifts = []
    for env in list_envs(root=root):
        found = verify_env(env)
        if found and repair:
            delete_env(env.path)
        drifts += found
    return drifts


def _roots(policy: Policy) -> dict[str, str]:
    # As hipcheck check does: the analyses' plugins, at the versions the policy asks for.
    return {a.plugin: policy.plugins[a.plugin].version for a in policy.analyses()}


def _pip(python: Path | None, command: str, args: list[str], spec: str) -> None:
    result = run_pip([command, *args], python=python)
    if result.returncode != 0:
        host = python or sys.executable
        raise ArtifactError(
            f"{spec}: pip {command} failed in hipcheck's environment ({host}):\n"
            + pip_output(result)
        )


def _sys_path(python: Path | None) -> list[str]:
    """Where the host's distributions are: its interpreter's sys.path."""
    if python is None:
        return sys.path
    result = subprocess.run(
        [str(python), "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
        capture_output=True,
        text=True,
        check=True,
    )
    paths: list[str] = json.loads(result.stdout)
    return paths


def _distribution(name: str, python: Path | None) -> metadata.Distribution | None:
    importlib.invalidate_caches()  # pip just changed what is installed
    return next(iter(metadata.distributions(name=name, path=_sys_path(python))), None)


def _installed_from(dist: metadata.Distribution, artifact: Artifact) -> bool:
    try:
        info = json.loads(dist.read_text("direct_url.json") or "{}")
    except ValueError:
        return False
    return bool(info.get("url") == artifact.path.as_uri())


def _plugins_of(dist: metadata.Distribution) -> list[InstalledPlugin]:
    entry_points = [ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP]
    found = discovery.discover(entry_points)
    if found.problems:
        raise found.problems[0]
    if not found.plugins:  # pragma: no cover - install() checked the entry point
        raise DiscoveryError(f"{dist.metadata['Name']} declares no hipcheck plugin")
    return list(found.plugins.values())


def _discover(python: Path | None) -> discovery.Discovered:
    if python is None:
        return discovery.discover()
    importlib.invalidate_caches()
    entry_points = [
        ep
        for dist in metadata.distributions(path=_sys_path(python))
        for ep in dist.entry_points
        if ep.group == ENTRY_POINT_GROUP
    ]
    return discovery.discover(entry_points)
