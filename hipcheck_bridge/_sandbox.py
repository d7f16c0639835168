"""The sandbox bootstrap: the first code in every plugin process, before any of the plugin's.

The host runs it from hipcheck's own installation, not from the plugin's env::

    <interpreter> -I -S -B .../hipcheck_bridge/_sandbox.py --spec JSON -- BRIDGE ARGS

``-S`` matters: with ``site`` off, nothing in the plugin's env (a ``.pth`` file, a replaced
pluggy or bridge module) runs before the sandbox is in place. The bootstrap applies the spec the
host computed (see ``hipcheck.sandbox``), in this order, each step only as far as this kernel and
user allow:

1. be in the plugin's pids cgroup (a process limit root cannot escape);
2. resource limits (``setrlimit``: address space, CPU seconds, file size, no core files);
3. namespaces: a new network namespace unless the plugin may use the network, inside a new user
   namespace when not root (where it also makes ``RLIMIT_NPROC`` count the plugin's only);
4. the process limit through ``RLIMIT_NPROC`` when no cgroup holds it (root is exempt);
5. no new privileges (``PR_SET_NO_NEW_PRIVS``: setuid binaries and file capabilities stop working);
6. a seccomp filter refusing Unix-domain sockets (Landlock does not cover ``connect()`` to a
   named socket such as ``/var/run/docker.sock``);
7. Landlock: read-only access to the listed paths, read-write only to the scratch dir; TCP bind
   and connect refused without the network; signals and abstract sockets scoped to the plugin;
8. every capability dropped (bounding, ambient, permitted, effective, inheritable).

Then it writes one protocol line, ``{"jsonrpc": "2.0", "method": "sandbox", "params": {"applied":
[...], "missing": [...]}}``, each entry ``{"name", "detail"}``: the host reads it before any
plugin code can write to the stream, so a plugin cannot forge it. Last, it activates the plugin's
env (its ``site-packages`` and ``.pth`` files, now inside the sandbox) and hands over to
``hipcheck_bridge.__main__``. With ``--probe`` instead of bridge arguments it stops after the
report line: ``hipcheck ready`` uses that to show what this machine enforces.

Standard library only (ctypes for the Linux calls): it runs before the env is on ``sys.path``.
A step this kernel or user cannot take is reported as missing, never pretended; anything else
going wrong stops the process before plugin code runs.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import stat
import sys
import time
from collections.abc import Sequence
from typing import Any

# The names the report uses; hipcheck.sandbox shows them to users.
LIMITS = "resource limits"
PROCESSES = "process limit"
NAMESPACE = "network namespace"
TCP = "TCP refused (Landlock)"
NO_NEW_PRIVS = "no new privileges"
UNIX_SOCKETS = "unix sockets refused (seccomp)"
FS_READ = "filesystem read confinement (Landlock)"
FS_WRITE = "filesystem write confinement (Landlock)"
SCOPE = "signal and abstract-socket scoping (Landlock)"
CAPABILITIES = "capabilities dropped"
_LINUX_ONLY = (NAMESPACE, TCP, NO_NEW_PRIVS, UNIX_SOCKETS, FS_READ, FS_WRITE, SCOPE, CAPABILITIES)

_MIB = 1024 * 1024

# Linux constants: <linux/sched.h>, <linux/prctl.h>, <linux/capability.h>, <linux/landlock.h>,
# <linux/seccomp.h>, <linux/filter.h>. The Landlock syscall numbers are the same on every arch.
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_SECCOMP_MODE_FILTER = 2
_CAPABILITY_VERSION_3 = 0x20080522
_LANDLOCK_CREATE_RULESET = 444
_LANDLOCK_ADD_RULE = 445
_LANDLOCK_RESTRICT_SELF = 446
_LANDLOCK_CREATE_RULESET_VERSION = 1
_LANDLOCK_RULE_PATH_BENEATH = 1

_FS_EXECUTE = 1 << 0
_FS_WRITE_FILE = 1 << 1
_FS_READ_FILE = 1 << 2
_FS_READ_DIR = 1 << 3
_FS_TRUNCATE = 1 << 14
_FS_IOCTL_DEV = 1 << 15
# Every filesystem right a ruleset of each ABI knows (2 adds REFER, 3 TRUNCATE, 5 IOCTL_DEV).
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
# The rights that apply to a file; a rule on a file with any other right is refused (EINVAL).
_FS_FILE_RIGHTS = _FS_EXECUTE | _FS_WRITE_FILE | _FS_READ_FILE | _FS_TRUNCATE | _FS_IOCTL_DEV
_NET_BIND_TCP = 1 << 0
_NET_CONNECT_TCP = 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
_SCOPE_SIGNAL = 1 << 1

# seccomp: (AUDIT_ARCH_*, the socket() syscall number) for the arches the filter knows.
_SECCOMP_ARCHES = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}
_X32_SYSCALL_BIT = 0x40000000
_AF_UNIX = 1


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # packed in the kernel's header: 12 bytes
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


class _SockFilter(ctypes.Structure):
    _fields_ = (
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    )


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter)))


class Report:
    """What the bootstrap applied, and what it could not and why."""

    def __init__(self) -> None:
        self.applied: list[dict[str, str]] = []
        self.missing: list[dict[str, str]] = []

    def add(self, name: str, detail: str) -> None:
        self.applied.append({"name": name, "detail": detail})

    def miss(self, name: str, detail: str) -> None:
        self.missing.append({"name": name, "detail": detail})

    def to_json(self) -> dict[str, Any]:
        return {"applied": self.applied, "missing": self.missing}


class _Libc:
    """The few libc calls the sandbox needs, raising OSError with errno like ``os`` does."""

    def __init__(self) -> None:
        # The interpreter's own symbols, libc's among them; find_library would run ldconfig.
        self._lib = ctypes.CDLL(None, use_errno=True)
        self._lib.syscall.restype = ctypes.c_long

    def _check(self, result: int, what: str) -> int:
        if result < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")
        return result

    def prctl(self, option: int, arg2: int = 0, arg3: Any = 0) -> int:
        result = self._lib.prctl(
            ctypes.c_int(option), ctypes.c_ulong(arg2), arg3, ctypes.c_ulong(0), ctypes.c_ulong(0)
        )
        return self._check(int(result), f"prctl({option})")

    def unshare(self, flags: int) -> None:
        self._check(int(self._lib.unshare(ctypes.c_int(flags))), "unshare")

    def syscall(self, number: int, *args: Any) -> int:
        # syscall(2) reads every argument as a long: pass integers at that width.
        wide = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
        return self._check(
            int(self._lib.syscall(ctypes.c_long(number), *wide)), f"syscall {number}"
        )

    def capset(self, header: _CapHeader, data: ctypes.Array[_CapData]) -> None:
        self._check(int(self._lib.capset(ctypes.byref(header), data)), "capset")

    def capget(self, header: _CapHeader, data: ctypes.Array[_CapData]) -> None:
        self._check(int(self._lib.capget(ctypes.byref(header), data)), "capget")


def apply(spec: dict[str, Any]) -> Report:
    """Apply ``spec`` to this process, as far as the kernel and user allow; say what held."""
    report = Report()
    for item in spec.get("host") or []:  # what the host arranged before starting us
        report.add(str(item["name"]), str(item["detail"]))
    limits: dict[str, int] = spec.get("limits") or {}
    network = bool(spec.get("network"))
    joined, why_not = _join_cgroup(spec.get("cgroup"), limits.get("processes"), report)
    _set_limits(limits, report)
    if sys.platform != "linux":
        why = f"not available on {sys.platform}"
        for name in _LINUX_ONLY:
            report.miss(name, why)
        if not joined:
            report.miss(PROCESSES, why)
        return report
    libc = _Libc()
    root = os.geteuid() == 0 and _initial_user_namespace()
    # Not for root: a user namespace mapping root to root keeps it exempt from RLIMIT_NPROC.
    own_userns = _namespaces(
        libc, network=network, need_userns=not (joined or root), root=root, report=report
    )
    if not joined:
        _limit_processes(
            limits.get("processes"),
            own_userns=own_userns,
            root=root,
            why_not=why_not,
            report=report,
        )
    try:
        libc.prctl(_PR_SET_NO_NEW_PRIVS, 1)
        report.add(NO_NEW_PRIVS, "setuid programs and file capabilities grant nothing")
    except OSError as exc:
        report.miss(NO_NEW_PRIVS, str(exc))
    _refuse_unix_sockets(libc, report)
    _landlock(libc, spec.get("filesystem") or {}, network=network, report=report)
    _drop_capabilities(libc, report)
    return report


# -- processes and resources -------------------------------------------------------------------


def _join_cgroup(path: str | None, processes: int | None, report: Report) -> tuple[bool, str]:
    """Be in the pids cgroup the host made for the plugin; (joined, why not).

    The host moves the process in while it starts up (a move waits out an RCU grace period,
    up to tens of milliseconds, better spent beside the interpreter's start than after it);
    should that not have happened within a second, the process moves itself.
    """
    if not path:
        return False, "the host found no pids cgroup it could make"
    procs = os.path.join(path, "cgroup.procs")
    pid = str(os.getpid())
    try:
        for _ in range(1000):
            with open(procs) as f:
                if pid in f.read().split():
                    break
            time.sleep(0.001)
        else:
            with open(procs, "w") as f:
                f.write(pid)
    except OSError as exc:
        return False, f"cannot join the pids cgroup {path} ({exc.strerror})"
    report.add(PROCESSES, f"at most {processes} processes and threads (pids cgroup {path})")
    return True, ""


def _set_limits(limits: dict[str, int], report: Report) -> None:
    try:
        import resource
    except ImportError:  # not a POSIX system
        report.miss(LIMITS, "setrlimit is not available on this platform")
        return
    wanted = [
        (resource.RLIMIT_AS, limits.get("memory_mb"), _MIB, "MB of address space"),
        (resource.RLIMIT_CPU, limits.get("cpu_seconds"), 1, "CPU seconds"),
        (resource.RLIMIT_FSIZE, limits.get("file_size_mb"), _MIB, "MB per file"),
        # No core files: they would land in the scratch dir, as large as the plugin's memory.
        (resource.RLIMIT_CORE, 0, 1, "core files"),
    ]
    done, failed = [], []
    for which, amount, unit, text in wanted:
        if amount is None:
            continue
        value = amount * unit
        hard = resource.getrlimit(which)[1]
        if hard != resource.RLIM_INFINITY and hard < value:
            value = hard  # already lower: a limit is only ever lowered
        # CPU: SIGXCPU at the limit ends the plugin and tells the host why; SIGKILL a second
        # later, should the plugin catch SIGXCPU. At equal limits only SIGKILL would come.
        ceiling = value + 1 if which == resource.RLIMIT_CPU else value
        if hard != resource.RLIM_INFINITY:
            ceiling = min(ceiling, hard)
        try:
            resource.setrlimit(which, (value, ceiling))
        except (OSError, ValueError) as exc:
            failed.append(f"{text}: {exc}")
            continue
        done.append(f"{value // unit} {text}" if value else f"no {text}")
    if done:
        detail = ", ".join(done) + (f" (could not set {'; '.join(failed)})" if failed else "")
        report.add(LIMITS, detail)
    elif failed:
        report.miss(LIMITS, "; ".join(failed))


def _initial_user_namespace() -> bool:
    """Whether this process is in the initial user namespace (real root, not a container's)."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return True


def _namespaces(
    libc: _Libc, *, network: bool, need_userns: bool, root: bool, report: Report
) -> bool:
    """Unshare the network namespace, and a user namespace where needed; True if in a new one.

    Root needs no user namespace; anyone else needs one for a network namespace, and takes one
    anyway when RLIMIT_NPROC must limit its processes (it then counts only the plugin's).
    """
    if network:
        report.miss(NAMESPACE, "the network is allowed (by the plugin's manifest and the policy)")
    newnet = 0 if network else _CLONE_NEWNET
    flags = newnet | (_CLONE_NEWUSER if need_userns or (newnet and not root) else 0)
    if not flags:
        return False
    uid, gid = os.geteuid(), os.getegid()
    try:
        libc.unshare(flags)
    except OSError as exc:
        if newnet:
            why = f"unshare failed ({exc.strerror})"
            if not root:
                why += "; unprivileged user namespaces may be disabled on this system"
            report.miss(NAMESPACE, why)
        return False
    if flags & _CLONE_NEWUSER:
        # The same ids inside as outside, so file owners and git's ownership checks agree;
        # unmapped, they would read as nobody, which changes no access the kernel grants.
        for name, text in (
            ("uid_map", f"{uid} {uid} 1"),
            ("setgroups", "deny"),
            ("gid_map", f"{gid} {gid} 1"),
        ):
            with contextlib.suppress(OSError), open(f"/proc/self/{name}", "w") as f:
                f.write(text)
    if newnet:
        report.add(NAMESPACE, "a network namespace of its own: no interfaces, no loopback")
    return bool(flags & _CLONE_NEWUSER)


def _limit_processes(
    processes: int | None, *, own_userns: bool, root: bool, why_not: str, report: Report
) -> None:
    """Limit processes with RLIMIT_NPROC when no cgroup does it."""
    if processes is None:
        return
    import resource

    if own_userns:
        # Counted per user and user namespace: in its own, the plugin counts only its own
        # processes and threads.
        limit, detail = processes, f"at most {processes} processes and threads (RLIMIT_NPROC)"
    elif root:
        report.miss(PROCESSES, f"{why_not}; and root is exempt from RLIMIT_NPROC")
        return
    else:
        # Counted over all of this user's processes: allow what runs now, plus the plugin's.
        running = _user_tasks(os.getuid())
        limit = running + processes
        detail = (
            f"at most {processes} more processes and threads (RLIMIT_NPROC {limit}, counted "
            f"over all of this user's, {running} now)"
        )
    try:
        resource.setrlimit(resource.RLIMIT_NPROC, (limit, limit))
    except (OSError, ValueError) as exc:
        report.miss(PROCESSES, f"{why_not}; setrlimit(RLIMIT_NPROC) failed: {exc}")
        return
    report.add(PROCESSES, detail)


def _user_tasks(uid: int) -> int:
    """How many tasks (threads included, as RLIMIT_NPROC counts them) ``uid`` runs now."""
    count = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:  # gone meanwhile
            continue
        if fields.get("Uid", "").split()[:1] == [str(uid)]:
            count += int(fields.get("Threads", "1"))
    return count


# -- seccomp -----------------------------------------------------------------------------------


def _refuse_unix_sockets(libc: _Libc, report: Report) -> None:
    """Refuse socket(AF_UNIX, ...): a named socket (docker's, systemd's) is a way out.

    socketpair() stays allowed (asyncio and multiprocessing use it), as do all other families;
    syscalls of another ABI (32-bit calls from a 64-bit process) are refused outright, since
    the filter cannot read their numbers.
    """
    arch = _SECCOMP_ARCHES.get(os.uname().machine)
    if arch is None:
        report.miss(UNIX_SOCKETS, f"the seccomp filter does not know {os.uname().machine}")
        return
    audit_arch, socket_nr = arch
    args0 = 16 if sys.byteorder == "little" else 20  # low word of seccomp_data.args[0]
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, deny = 0x7FFF0000, 0x00050000 | 13  # SECCOMP_RET_ALLOW, SECCOMP_RET_ERRNO | EACCES
    program = [
        (ld, 0, 0, 4),  # arch
        (jeq, 0, 6, audit_arch),
        (ld, 0, 0, 0),  # syscall number
        (jge, 4, 0, _X32_SYSCALL_BIT),
        (jeq, 0, 2, socket_nr),
        (ld, 0, 0, args0),  # the address family
        (jeq, 1, 0, _AF_UNIX),
        (ret, 0, 0, allow),
        (ret, 0, 0, deny),
    ]
    filters = (_SockFilter * len(program))(*(_SockFilter(*op) for op in program))
    prog = _SockFprog(len(program), filters)
    try:
        libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog))
    except OSError as exc:
        report.miss(UNIX_SOCKETS, f"seccomp failed ({exc.strerror})")
        return
    report.add(UNIX_SOCKETS, "socket(AF_UNIX) fails with EACCES; socketpair() still works")


# -- Landlock ----------------------------------------------------------------------------------


def landlock_abi(libc: _Libc | None = None) -> int:
    """The Landlock ABI version this kernel offers; 0 without Landlock."""
    if sys.platform != "linux":
        return 0
    try:
        return (libc or _Libc()).syscall(
            _LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION
        )
    except OSError:
        return 0


def _landlock(libc: _Libc, fs: dict[str, list[str]], *, network: bool, report: Report) -> None:
    abi = landlock_abi(libc)
    if abi == 0:
        why = (
            "Landlock is not available: a kernel older than 5.13, or one booted without "
            "landlock in its lsm= list"
        )
        for name in (FS_READ, FS_WRITE, SCOPE, TCP):
            report.miss(name, why)
        return
    handled_fs = _FS_BY_ABI[max(v for v in _FS_BY_ABI if v <= abi)]
    attr = _RulesetAttr(handled_access_fs=handled_fs)
    size = 8  # only handled_access_fs: all that ABIs 1 to 3 read
    if abi >= 4:
        size = 16
        if not network:
            # No net rules: every TCP bind and connect is refused. Beside a network namespace
            # this changes nothing; without one, it is what keeps TCP out.
            attr.handled_access_net = _NET_BIND_TCP | _NET_CONNECT_TCP
    if abi >= 6:
        size = 24
        attr.scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL
    read = _FS_READ_FILE | _FS_READ_DIR
    grants = [
        *((path, read) for path in fs.get("read", [])),
        *((path, read | _FS_EXECUTE) for path in fs.get("execute", [])),
        # Everything but running programs from it.
        *((path, handled_fs & ~_FS_EXECUTE) for path in fs.get("write", [])),
    ]
    try:
        ruleset = libc.syscall(_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), size, 0)
        try:
            added = [path for path, access in grants if _add_rule(libc, ruleset, path, access)]
            libc.syscall(_LANDLOCK_RESTRICT_SELF, ruleset, 0)
        finally:
            os.close(ruleset)
    except OSError as exc:  # an ABI this code misreads: say so rather than stop every plugin
        for name in (FS_READ, FS_WRITE, SCOPE, TCP):
            report.miss(name, f"Landlock ABI {abi} refused the ruleset: {exc.strerror}")
        return
    writable = [path for path in fs.get("write", []) if path in added]
    report.add(FS_WRITE, f"Landlock ABI {abi}: writes only to {', '.join(writable) or 'nothing'}")
    if "/" in added:
        report.miss(FS_READ, "reads allowed everywhere: the host named no target to confine to")
    else:
        report.add(FS_READ, f"reads only beneath {len(added)} paths: {', '.join(added)}")
    if abi >= 6:
        report.add(SCOPE, "no signals to, no abstract-socket connections with, other processes")
    else:
        report.miss(SCOPE, f"needs Landlock ABI 6; this kernel has {abi}")
    if network:
        report.miss(TCP, "the network is allowed (by the plugin's manifest and the policy)")
    elif abi >= 4:
        report.add(TCP, "every TCP bind and connect fails with EACCES")
    else:
        report.miss(TCP, f"needs Landlock ABI 4; this kernel has {abi}")


def _add_rule(libc: _Libc, ruleset: int, path: str, access: int) -> bool:
    """Allow ``access`` beneath ``path``; False if it is missing or cannot be opened."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            access &= _FS_FILE_RIGHTS
        rule = _PathBeneathAttr(allowed_access=access, parent_fd=fd)
        libc.syscall(
            _LANDLOCK_ADD_RULE, ruleset, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0
        )
        return True
    finally:
        os.close(fd)


# -- capabilities ------------------------------------------------------------------------------


def _drop_capabilities(libc: _Libc, report: Report) -> None:
    """Drop every capability, for good: root without them cannot undo any step above."""
    header = _CapHeader(_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    try:
        libc.capget(header, data)
        held = any(d.effective or d.permitted for d in data)
        dropped, kept = 0, []
        for cap in range(64):
            try:
                libc.prctl(_PR_CAPBSET_DROP, cap)
                dropped += 1
            except OSError as exc:
                if exc.errno == 22:  # EINVAL: past the last capability this kernel knows
                    break
                if not held:  # EPERM without capabilities: not root, nothing to drop
                    break
                kept.append(cap)
        with contextlib.suppress(OSError):  # kernels before 4.3 have no ambient set
            libc.prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL)
        libc.capset(header, (_CapData * 2)())
        libc.capget(header, data)
    except OSError as exc:
        report.miss(CAPABILITIES, f"capget/capset failed ({exc.strerror})")
        return
    if any(d.effective or d.permitted or d.inheritable for d in data):
        report.miss(CAPABILITIES, "capabilities remain after capset")
    elif kept:
        report.miss(CAPABILITIES, f"none held, but {kept} stay in the bounding set")
    elif held:
        report.add(CAPABILITIES, f"all of them, and {dropped} removed from the bounding set")
    else:
        report.add(CAPABILITIES, "none held; no new privileges keeps it so")


# -- the bootstrap -----------------------------------------------------------------------------


def _report_line(report: Report) -> bytes:
    message = {"jsonrpc": "2.0", "method": "sandbox", "params": report.to_json()}
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]


def _activate(env: str) -> None:
    """Do what ``<env>/bin/python`` with ``site`` would: put the env's packages on sys.path.

    Its ``.pth`` files and any ``sitecustomize`` run here, inside the sandbox.
    """
    sys.executable = os.path.join(env, "bin", "python")
    import site

    site.main()


def _split(argv: Sequence[str]) -> tuple[dict[str, Any], bool, list[str]]:
    if len(argv) < 2 or argv[0] != "--spec":
        raise SystemExit("usage: _sandbox.py --spec JSON (--probe | -- BRIDGE ARGS...)")
    spec: dict[str, Any] = json.loads(argv[1])
    rest = list(argv[2:])
    probe = rest[:1] == ["--probe"]
    return spec, probe, rest[1:] if rest[:1] in (["--"], ["--probe"]) else rest


def main(argv: Sequence[str] | None = None) -> int:
    """Apply the sandbox, report it on stdout, then serve the plugin (or stop, with --probe)."""
    spec, probe, bridge_args = _split(sys.argv[1:] if argv is None else argv)
    try:
        report = apply(spec)
    except Exception as exc:  # fail closed: no plugin code runs in a half-made sandbox
        print(f"hipcheck sandbox: cannot apply the sandbox: {exc!r}", file=sys.stderr)
        return 78
    _write_all(1, _report_line(report))
    if probe:
        return 0
    _activate(spec["env"])
    from hipcheck_bridge.__main__ import main as serve

    sys.argv = ["hipcheck_bridge", *bridge_args]
    return serve(bridge_args)


if __name__ == "__main__":
    sys.exit(main())
