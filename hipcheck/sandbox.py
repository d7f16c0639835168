"""The host's side of the plugin sandbox: what each plugin may do, and what was in force.

Every plugin process starts with ``hipcheck_bridge/_sandbox.py`` (the bootstrap), run from
hipcheck's own installation with hipcheck's own interpreter; it applies the spec built here before
any of the plugin's code or packages load, reports what it applied on the first line of the
protocol stream, and only then activates the plugin's env. docs/sandbox.md describes each
protection. The spec, passed as JSON on the bootstrap's command line::

    {
      "env": "/cache/envs/git-0123",          # the plugin's env, activated last (null: a probe)
      "network": false,                        # true only if the manifest asks and policy allows
      "limits": {"memory_mb": 2048, "cpu_seconds": 600, "file_size_mb": 1024, "processes": 64},
      "cgroup": "/sys/fs/cgroup/pids/...",     # a pids cgroup to join, or null
      "filesystem": {                          # Landlock rules; paths that exist, deduplicated
        "read": [...],                         # read-only: the target, declared inputs, /etc bits
        "execute": [...],                      # read and run: the env, the interpreter, libs, git
        "write": [...]                         # read-write: the scratch dir and /dev/null
      },
      "host": [{"name": ..., "detail": ...}]   # what the host arranged, echoed in the report
    }

The report (``SubprocessTransport.sandbox``) is ``{"applied": [{"name", "detail"}], "missing":
[...]}``; :class:`Protections` is its reading, :func:`in_force` gives it for every plugin of a
session.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hipcheck_bridge
from hipcheck.discovery import InstalledPlugin
from hipcheck.policy import PluginEntry, Policy
from hipcheck.transport import SubprocessTransport, Transport

if TYPE_CHECKING:
    from hipcheck.session import Session

log = logging.getLogger(__name__)

#: The bootstrap every plugin process runs first (a file of hipcheck's own installation).
BOOTSTRAP = Path(hipcheck_bridge.__file__).with_name("_sandbox.py")

# Read-only for every plugin: what the dynamic loader, time zones, locales and os.cpu_count read.
# /proc/self is opened by the bootstrap, so it is the plugin's own process, no other.
_SYSTEM_READ = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/usr/share/zoneinfo",
    "/usr/share/locale",
    "/sys/devices/system/cpu",
    "/proc/self",
    "/dev/urandom",
    "/dev/random",
    "/dev/zero",
)
# Read and run: shared libraries (the dynamic loader is "run" when a program starts).
_SYSTEM_EXECUTE = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
# What name resolution and TLS read, for plugins allowed the network.
_NETWORK_READ = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/ssl",
    "/etc/pki",
    "/etc/ca-certificates",
    "/usr/share/ca-certificates",
    "/usr/local/share/ca-certificates",
    "/run/systemd/resolve",
)
# Programs plugins may run: git (the git plugin's whole job) and a shell (subprocess's shell=True).
_TOOLS = ("git", "sh")


@dataclass(frozen=True)
class Grants:
    """What the policy and the plugin's manifest allow one plugin beyond the sandbox's defaults."""

    #: The network: only when the manifest asks for it and the policy allows it.
    network: bool = False
    #: Environment variables its process receives besides the allow-list.
    env: tuple[str, ...] = ()
    #: setrlimit/cgroup limits, as the bootstrap reads them (memory_mb, cpu_seconds, ...).
    limits: Mapping[str, int] = field(default_factory=lambda: PluginEntry().limits.model_dump())
    #: Files and directories named in its configuration, readable by it.
    inputs: tuple[str, ...] = ()


def grants_for(plugin: InstalledPlugin, policy: Policy | None) -> Grants:
    """What ``plugin`` may have under ``policy`` (none: the defaults)."""
    name = plugin.identity
    entry = (policy.plugins.get(name) if policy is not None else None) or PluginEntry()
    asks = plugin.manifest.network
    if asks and not entry.allow_network:
        log.warning(
            "plugin %s asks for the network (network = true in its manifest), which the policy "
            'does not allow: it runs without. To allow it: allow-network = true in [plugins."%s"]',
            name,
            name,
        )
    return Grants(
        network=asks and entry.allow_network,
        env=entry.env,
        limits=entry.limits.model_dump(),
        inputs=declared_inputs(policy, name) if policy is not None else (),
    )


def declared_inputs(policy: Policy, plugin: str) -> tuple[str, ...]:
    """Existing absolute paths in the configuration the policy writes for ``plugin``.

    ``{ rel = ... }`` values are absolute by now; the policy's author names these files for
    the plugin to read, so the plugin may read them. Values from ``{ env = ... }`` are not
    looked at: they are secrets, not paths.
    """
    configs = [a.config for a in policy.analyses() if a.plugin == plugin]
    entry = policy.plugins.get(plugin)
    if entry is not None:
        configs.append(entry.config)
    found = {s for config in configs for s in _strings(config)}
    return tuple(sorted(s for s in found if os.path.isabs(s) and os.path.exists(s)))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


# -- the spec ----------------------------------------------------------------------------------


def interpreter() -> Path:
    """The Python every plugin runs on: the host's own base interpreter.

    Plugin envs are built from it (their key records it), so their packages run on it; running
    it directly, rather than ``<env>/bin/python``, means nothing in the env (a replaced
    ``bin/python``, its ``pyvenv.cfg``) decides what starts before the sandbox.
    """
    return Path(os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable))


@functools.cache
def _interpreter_paths() -> tuple[list[str], list[str]]:
    """(read, execute) paths of the interpreter's installation: stdlib, libpython, executable."""
    base = {
        "base": sys.base_prefix,
        "platbase": sys.base_exec_prefix,
        "installed_base": sys.base_prefix,
        "installed_platbase": sys.base_exec_prefix,
    }
    paths = sysconfig.get_paths(vars=base)
    read = [paths["stdlib"], paths["platstdlib"]]
    libdir = sysconfig.get_config_var("LIBDIR")
    for name in ("INSTSONAME", "LDLIBRARY"):
        library = sysconfig.get_config_var(name)
        if libdir and library:
            read.append(os.path.join(libdir, library))
    return read, [str(interpreter())]


@functools.cache
def _tool_paths() -> tuple[str, ...]:
    """Where the programs plugins may run live: git with its helpers and data, and sh."""
    found = [os.path.realpath(p) for p in map(shutil.which, _TOOLS) if p]
    git = shutil.which("git")
    if git:
        done = subprocess.run(
            [git, "--exec-path"], capture_output=True, text=True, check=False, timeout=30
        )
        if done.returncode == 0 and done.stdout.strip():
            found.append(done.stdout.strip())
        found.append("/usr/share/git-core")
    return tuple(found)


def repository_paths(repo: Path) -> list[str]:
    """What reading the git repository at ``repo`` takes: its tree, its git dir, and beyond.

    A worktree's git dir and the objects it shares live in the main repository, and a clone
    made with ``--reference`` or ``--shared`` borrows objects through ``alternates``.
    """
    found = [str(repo)]
    done = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--absolute-git-dir", "--git-common-dir"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if done.returncode != 0:
        return found
    dirs = [str((repo / line).resolve()) for line in done.stdout.splitlines() if line]
    found += dirs
    for git_dir in dirs:
        objects = Path(git_dir) / "objects"
        with contextlib.suppress(OSError):
            for line in (objects / "info" / "alternates").read_text().splitlines():
                if line.strip() and not line.startswith("#"):
                    found.append(str((objects / line.strip()).resolve()))
    return list(dict.fromkeys(found))


def filesystem(
    *,
    env: Path | None,
    scratch: Path,
    targets: Sequence[str] | None,
    grants: Grants,
) -> dict[str, list[str]]:
    """The Landlock rules: what the plugin may read, read and run, and write.

    ``targets`` are what it may read of the repositories it analyses (see
    :func:`repository_paths`); None when the launcher was not told, and then it may read
    everything (the report says so), only writes being confined.
    """
    interp_read, interp_execute = _interpreter_paths()
    read = [
        *_SYSTEM_READ,
        *interp_read,
        *(_NETWORK_READ if grants.network else ()),
        *(["/"] if targets is None else targets),
        *grants.inputs,
    ]
    execute = [*_SYSTEM_EXECUTE, *interp_execute, *_tool_paths(), *([str(env)] if env else [])]
    write = [str(scratch), "/dev/null"]
    return {"read": _existing(read), "execute": _existing(execute), "write": _existing(write)}


def _existing(paths: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(p for p in paths if os.path.exists(p)))


@dataclass(frozen=True)
class Protection:
    """One protection: its name (see docs/sandbox.md) and what it amounts to, or why not."""

    name: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "detail": self.detail}


def spec(
    *,
    env: Path | None,
    scratch: Path,
    grants: Grants,
    targets: Sequence[str] | None,
    cgroup: Path | None,
    host: Sequence[Protection] = (),
) -> dict[str, Any]:
    """The sandbox spec the bootstrap applies (see the module docstring)."""
    return {
        "env": str(env) if env is not None else None,
        "network": grants.network,
        "limits": dict(grants.limits),
        "cgroup": str(cgroup) if cgroup is not None else None,
        "filesystem": filesystem(env=env, scratch=scratch, targets=targets, grants=grants),
        "host": [p.to_json() for p in host],
    }


def bootstrap_argv(sandbox: Mapping[str, Any], then: Sequence[str]) -> list[str]:
    """The command that applies ``sandbox`` and then runs ``then`` (bridge args, or --probe)."""
    return [
        str(interpreter()),
        "-I",  # isolated: no user site, no PYTHON* variables, no script dir on sys.path
        "-S",  # no site: the env's .pth files run only once the sandbox is in place
        "-B",  # never write bytecode into the env
        str(BOOTSTRAP),
        "--spec",
        json.dumps(sandbox, separators=(",", ":")),
        *then,
    ]


# -- the pids cgroup ---------------------------------------------------------------------------


class PidsCgroups:
    """One pids cgroup per plugin process, under a directory of this host process's own.

    A cgroup caps processes for root too (root ignores RLIMIT_NPROC), and lists every process
    a plugin started, so even one that left its process group (setsid) is killed at the end.
    Only where the pids controller is mounted and writable: usually, for root.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._base: Path | None = None
        self._probed = False
        self._count = 0

    def create(self, label: str, limit: int) -> Path | None:
        """A new cgroup holding at most ``limit`` tasks; None where none can be made."""
        with self._lock:
            base = self._ensure_base()
            if base is None:
                return None
            self._count += 1
            path = base / f"{label}-{self._count}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(limit))
        except OSError as exc:
            log.debug("no pids cgroup for %s: %s", label, exc)
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return path

    def _ensure_base(self) -> Path | None:
        if self._probed:
            return self._base
        self._probed = True
        parent = _pids_hierarchy()
        if parent is None:
            return None
        _remove_stale(parent)
        base = parent / f"hipcheck-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            base.mkdir()
        except OSError as exc:
            log.debug("cannot create a pids cgroup under %s: %s", parent, exc)
            return None
        if not (base / "pids.max").exists():  # cgroup v2 without pids delegated here
            with contextlib.suppress(OSError):
                base.rmdir()
            return None
        self._base = base
        return base

    @staticmethod
    def attach(path: Path, pid: int) -> None:
        """Move process ``pid`` into the cgroup ``path`` (its bootstrap waits for this)."""
        try:
            (path / "cgroup.procs").write_text(str(pid))
        except OSError as exc:  # the bootstrap tries itself, then reports
            log.debug("cannot move %d into %s: %s", pid, path, exc)

    def destroy(self, path: Path) -> None:
        """Kill every process left in ``path``, then remove it."""
        kill_all(path)
        for _ in range(50):  # the killed are reaped by their parents, at once or nearly
            try:
                path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)
        log.debug("could not remove the cgroup %s", path)

    def close(self) -> None:
        """Destroy every cgroup made here, and the directory holding them."""
        if self._base is None:
            return
        for child in self._base.iterdir():
            if child.is_dir():
                self.destroy(child)
        with contextlib.suppress(OSError):
            self._base.rmdir()


def kill_all(cgroup: Path) -> None:
    """SIGKILL every process in ``cgroup`` until none is left (a fork bomb included)."""
    kill = cgroup / "cgroup.kill"  # cgroup v2, Linux 5.14+: the kernel does it in one go
    if kill.exists():
        with contextlib.suppress(OSError):
            kill.write_text("1")
    for _ in range(200):
        try:
            pids = [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def _pids_hierarchy() -> Path | None:
    """This process's own cgroup in a hierarchy with the pids controller, if writable."""
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
        own = [line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines()]
    except OSError:
        return None
    for line in mounts:
        fields = line.split()
        sep = fields.index("-")  # optional fields end here; then type, source, options
        fstype, options = fields[sep + 1], fields[sep + 3].split(",")
        if fstype == "cgroup" and "pids" in options:  # v1: "N:pids:/path" in /proc/self/cgroup
            paths = [path for _, controllers, path in own if "pids" in controllers.split(",")]
        elif fstype == "cgroup2":  # v2: "0::/path"; in a hybrid setup, often without pids
            paths = [path for _, controllers, path in own if not controllers]
        else:
            continue
        for path in paths:
            directory = Path(fields[4]) / path.lstrip("/")
            if os.access(directory, os.W_OK) and (fstype == "cgroup" or _delegates_pids(directory)):
                return directory
    return None


def _delegates_pids(directory: Path) -> bool:
    """Whether cgroup v2 ``directory`` gives the pids controller to the cgroups made in it."""
    try:
        return "pids" in (directory / "cgroup.subtree_control").read_text().split()
    except OSError:
        return False


def _remove_stale(parent: Path) -> None:
    """Remove cgroups left by hipcheck processes that are gone (and those are empty by now)."""
    for directory in parent.glob("hipcheck-*-*"):
        pid = directory.name.split("-")[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            for child in directory.iterdir():
                if child.is_dir():
                    with contextlib.suppress(OSError):
                        child.rmdir()
            with contextlib.suppress(OSError):
                directory.rmdir()


# -- what was in force -------------------------------------------------------------------------


@dataclass(frozen=True)
class Protections:
    """The protections one plugin process ran under, and those it did not, with why."""

    in_force: tuple[Protection, ...]
    not_in_force: tuple[Protection, ...]

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> Protections:
        """Read the bootstrap's report (``{"applied": [...], "missing": [...]}``)."""

        def entries(key: str) -> tuple[Protection, ...]:
            items = report.get(key) or []
            return tuple(Protection(str(i.get("name")), str(i.get("detail", ""))) for i in items)

        return cls(entries("applied"), entries("missing"))

    def to_json(self) -> dict[str, Any]:
        """``{"in_force": [name], "not_in_force": [name], "details": {name: detail}}``."""
        details: dict[str, str] = {}
        for p in (*self.in_force, *self.not_in_force):
            details[p.name] = f"{details[p.name]}; {p.detail}" if p.name in details else p.detail
        return {
            "in_force": list(dict.fromkeys(p.name for p in self.in_force)),
            "not_in_force": list(dict.fromkeys(p.name for p in self.not_in_force)),
            "details": details,
        }


UNSANDBOXED = Protections(
    (),
    (
        Protection(
            "sandbox",
            "the plugin was started without hipcheck's sandbox (in-process, or by a launcher "
            "that does not apply it)",
        ),
    ),
)


def protections_of(transport: Transport) -> Protections:
    """What the plugin behind ``transport`` ran under, as its bootstrap reported it."""
    report = transport.sandbox if isinstance(transport, SubprocessTransport) else None
    return UNSANDBOXED if report is None else Protections.from_report(report)


def in_force(session: Session) -> dict[str, Protections]:
    """The protections of every plugin a session started, by identity."""
    return {name: protections_of(c.transport) for name, c in sorted(session.clients.items())}
