"""Launching real plugin processes: provision each plugin's env, then run its bridge there."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from packaging.utils import canonicalize_name

from hipcheck.artifacts import collect_artifacts
from hipcheck.discovery import InstalledPlugin
from hipcheck.envs import PluginEnv, cache_dir, ensure_env
from hipcheck.errors import ArtifactError
from hipcheck.transport import SubprocessTransport

# Only these reach a plugin; everything else (tokens, credentials, proxies) stays with the host.
ENV_ALLOW_LIST = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT")


def plugin_environ(scratch: Path, source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The scrubbed environment a plugin process gets."""
    source = os.environ if source is None else source
    env = {k: source[k] for k in ENV_ALLOW_LIST if k in source}
    # HOME points at the scratch dir so tools like git read no user configuration.
    env.update(HOME=str(scratch), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    return env


def provision(
    plugin: InstalledPlugin, *, root: Path | None = None, pins: Sequence[str] = ()
) -> PluginEnv:
    """Build (or reuse) the plugin's own virtualenv from hash-pinned artifacts.

    ``pins`` are the ``sha256:<hex>`` hashes the policy allows for the plugin's own artifact;
    any other artifact halts before an env is built or plugin code runs.
    """
    base = root or cache_dir()
    artifacts = collect_artifacts(plugin.dist, wheelhouse=base / "wheels")
    if pins:
        own = next(a for a in artifacts if a.name == canonicalize_name(plugin.dist_name))
        if f"sha256:{own.sha256}" not in pins:
            raise ArtifactError(
                f"plugin {plugin.identity}: artifact {own.path.name} has sha256:{own.sha256}, "
                f"but the policy pins {', '.join(pins)}"
            )
    return ensure_env(plugin.identity, artifacts, root=base)


class EnvLauncher:
    """Runs every plugin as ``<its env>/bin/python -m hipcheck_bridge`` in a private scratch dir."""

    def __init__(
        self,
        *,
        root: Path | None = None,
        pins: Mapping[str, Sequence[str]] | None = None,
        log_level: str = "WARNING",
        progress: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self._root = root
        self._pins = pins or {}
        self._log_level = log_level
        self._progress = progress
        self._scratch = tempfile.TemporaryDirectory(prefix="hipcheck-run-")
        self.envs: dict[str, PluginEnv] = {}

    def transport_for(self, plugin: InstalledPlugin) -> SubprocessTransport:
        env = provision(plugin, root=self._root, pins=self._pins.get(plugin.identity, ()))
        self.envs[plugin.identity] = env
        if env.created:
            self._progress(f"provisioned {plugin.identity} in {env.path}")
        scratch = Path(self._scratch.name) / plugin.identity.replace("/", "--")
        scratch.mkdir(parents=True, exist_ok=True)
        argv = [
            str(env.python),
            "-I",  # isolated: no user site, no PYTHON* variables, no cwd on sys.path
            "-B",  # never write bytecode into the env
            "-m",
            "hipcheck_bridge",
            "--entrypoint",
            plugin.entry_point.value,
            "--log-level",
            self._log_level,
        ]
        return SubprocessTransport(plugin.identity, argv, env=plugin_environ(scratch), cwd=scratch)

    def cleanup(self) -> None:
        self._scratch.cleanup()
