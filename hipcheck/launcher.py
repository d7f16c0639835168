"""Launching real plugin processes: provision each plugin's env, then run its bridge, sandboxed."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hipcheck.discovery import InstalledPlugin
from hipcheck.envs import PluginEnv
from hipcheck.lock import Lock
from hipcheck.plugin_admin import provision as provision  # re-exported: the CLI imports it here
from hipcheck.policy import Policy
from hipcheck.sandbox import (
    Grants,
    PidsCgroups,
    Protection,
    Protections,
    bootstrap_argv,
    grants_for,
    repository_paths,
    spec,
)
from hipcheck.transport import SubprocessTransport

# Only these reach a plugin; everything else (tokens, credentials, proxies) stays with the host,
# unless the policy grants a plugin a variable by name (its entry's env = [...]).
ENV_ALLOW_LIST = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SYSTEMROOT")


def plugin_environ(
    scratch: Path, source: Mapping[str, str] | None = None, *, grant: Sequence[str] = ()
) -> dict[str, str]:
    """The scrubbed environment a plugin process gets: the allow-list plus ``grant``."""
    source = os.environ if source is None else source
    env = {k: source[k] for k in (*ENV_ALLOW_LIST, *grant) if k in source}
    # HOME and TMPDIR are the scratch dir (the only place it may write), so tools like git
    # read no user configuration. The policy cannot grant these (RESERVED_ENV).
    env.update(
        HOME=str(scratch), TMPDIR=str(scratch), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0"
    )
    return env


class EnvLauncher:
    """Runs every plugin from its own env, sandboxed, in a private scratch dir.

    ``policy`` gives each plugin's ``source`` and ``hashes`` (checked, with ``lock``, before
    its env is built: :func:`hipcheck.plugin_admin.provision`) and what it may have beyond the
    sandbox's defaults (the network, environment variables, limits, the files its configuration
    names). ``targets`` are the repositories the plugins analyse, which they may read;
    ``targets=None`` means the caller does not know them: plugins may then read the whole
    filesystem (writes stay confined), and their sandbox report says so.
    """

    def __init__(
        self,
        *,
        root: Path | None = None,
        policy: Policy | None = None,
        lock: Lock | None = None,
        offline: bool = False,
        targets: Sequence[Path] | None = None,
        log_level: str = "WARNING",
        progress: Callable[[str], None] = lambda _msg: None,
    ) -> None:
        self._root = root
        self._policy = policy
        self._lock = lock
        self._offline = offline
        self._targets = (
            None if targets is None else [p for t in targets for p in repository_paths(t)]
        )
        self._log_level = log_level
        self._progress = progress
        self._scratch = tempfile.TemporaryDirectory(prefix="hipcheck-run-")
        self._cgroups = PidsCgroups()
        self.envs: dict[str, PluginEnv] = {}

    def transport_for(self, plugin: InstalledPlugin) -> SubprocessTransport:
        entry = self._policy.plugins.get(plugin.identity) if self._policy else None
        env = provision(
            plugin,
            source=entry.source if entry else None,
            hashes=entry.hashes if entry else (),
            lock=self._lock,
            root=self._root,
            offline=self._offline,
        )
        self.envs[plugin.identity] = env
        if env.created:
            self._progress(f"provisioned {plugin.identity} in {env.path}")
        return self.launch(plugin, env.path)

    def launch(self, plugin: InstalledPlugin, env: Path) -> SubprocessTransport:
        """The transport that runs ``plugin`` from the env at ``env``, inside its sandbox."""
        label = plugin.identity.replace("/", "--")
        scratch = Path(self._scratch.name) / label
        scratch.mkdir(parents=True, exist_ok=True)
        grants = grants_for(plugin, self._policy)
        sandbox, cgroup = _sandbox(
            label,
            env=env,
            scratch=scratch,
            grants=grants,
            targets=self._targets,
            cgroups=self._cgroups,
        )
        bridge_args = [
            "--",
            "--entrypoint",
            plugin.entry_point.value,
            "--log-level",
            self._log_level,
        ]
        return SubprocessTransport(
            plugin.identity,
            bootstrap_argv(sandbox, bridge_args),
            env=plugin_environ(scratch, grant=grants.env),
            cwd=scratch,
            sandboxed=True,
            on_start=None if cgroup is None else functools.partial(PidsCgroups.attach, cgroup),
            on_close=None if cgroup is None else functools.partial(self._cgroups.destroy, cgroup),
        )

    def cleanup(self) -> None:
        self._cgroups.close()
        self._scratch.cleanup()


def _sandbox(
    label: str,
    *,
    env: Path | None,
    scratch: Path,
    grants: Grants,
    targets: Sequence[str] | None,
    cgroups: PidsCgroups,
) -> tuple[dict[str, Any], Path | None]:
    """The spec of one plugin process's sandbox, and the pids cgroup made for it (if any)."""
    cgroup = cgroups.create(label, grants.limits["processes"])
    sandbox = spec(
        env=env,
        scratch=scratch,
        grants=grants,
        targets=targets,
        cgroup=cgroup,
        host=host_protections(scratch, grants, env=env),
    )
    return sandbox, cgroup


def host_protections(scratch: Path, grants: Grants, *, env: Path | None) -> list[Protection]:
    """What the host itself arranges for a plugin process, for the sandbox report."""
    granted = f"; granted by the policy: {', '.join(grants.env)}" if grants.env else ""
    found = [
        Protection(
            "scrubbed environment",
            f"only {', '.join(ENV_ALLOW_LIST)}{granted}; HOME and TMPDIR are the scratch dir",
        ),
        Protection("private scratch directory", f"{scratch}: its working, home and temp dir"),
        Protection("own process group", "it and all it starts are killed at the end of the run"),
        Protection(
            "isolated interpreter",
            "hipcheck's own Python with -I -S -B; the env's packages load inside the sandbox",
        ),
    ]
    if env is not None:
        found.append(Protection("own virtualenv", f"{env}, built from hash-checked artifacts"))
    return found


@functools.cache
def probe() -> Protections:
    """What a plugin process gets on this machine with the default grants, as its bootstrap says.

    Starts the bootstrap with ``--probe`` (no plugin, no env) in a throwaway scratch dir, once
    per process: ``hipcheck ready`` shows the answer.
    """
    cgroups = PidsCgroups()
    with tempfile.TemporaryDirectory(prefix="hipcheck-probe-") as directory:
        scratch = Path(directory)
        sandbox, cgroup = _sandbox(
            "probe", env=None, scratch=scratch, grants=Grants(), targets=(), cgroups=cgroups
        )
        out, err = b"", b"did not run"
        try:
            with subprocess.Popen(
                bootstrap_argv(sandbox, ["--probe"]),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=plugin_environ(scratch),
                cwd=scratch,
                start_new_session=True,
            ) as proc:
                if cgroup is not None:
                    PidsCgroups.attach(cgroup, proc.pid)
                try:
                    out, err = proc.communicate(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    out, err = proc.communicate()
        except OSError as exc:
            err = str(exc).encode()
        finally:
            cgroups.close()
    try:
        params = json.loads(out.splitlines()[0])["params"]
        return Protections.from_report(params)
    except (IndexError, KeyError, TypeError, ValueError):
        why = err.decode(errors="replace").strip()[-300:]
        return Protections((), (Protection("sandbox", f"the sandbox probe failed: {why}"),))
