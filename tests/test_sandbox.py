"""Plugins are untrusted: the sandbox refuses what hostile plugins try, and says what held.

The hostile plugins (tests/hostile/) run as real plugin processes started by EnvLauncher's own
code (``EnvLauncher.launch``: the same argv, environment, spec and cgroup as every plugin), from
a small env holding the bridge, pluggy and the plugins, like a provisioned one.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy
import pytest
from gitrepos import Commit, make_repo

import hipcheck_bridge
from hipcheck.check import run_check
from hipcheck.discovery import InstalledPlugin
from hipcheck.errors import PolicyError
from hipcheck.launcher import EnvLauncher, plugin_environ, probe
from hipcheck.policy import parse, policy_json_schema
from hipcheck.readiness import Readiness
from hipcheck.report import Report
from hipcheck.sandbox import (
    BOOTSTRAP,
    UNSANDBOXED,
    Grants,
    Protections,
    bootstrap_argv,
    declared_inputs,
    grants_for,
    protections_of,
    spec,
)
from hipcheck.target import resolve
from hipcheck.testing import installed_plugin
from hipcheck.transport import SubprocessTransport

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux's")

HOSTILE = Path(__file__).parent / "hostile"
CANARY = "canary-7f3a9c: the user's private key"
TOKEN = "token-5e1d: a secret the policy does not grant"
MACHINE = probe()  # what this machine enforces
IN_FORCE = {p.name for p in MACHINE.in_force}
CGROUP = "pids cgroup" in MACHINE.to_json()["details"].get("process limit", "")


def needs(*protections: str) -> pytest.MarkDecorator:
    """Skip where this machine cannot enforce ``protections`` (test_this_machine_... says so)."""
    missing = sorted(set(protections) - IN_FORCE)
    return pytest.mark.skipif(bool(missing), reason=f"not in force here: {', '.join(missing)}")


class HostileLauncher(EnvLauncher):
    """EnvLauncher, with every plugin taken from one ready-made env instead of its own."""

    def __init__(self, env: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.env = env
        self.transports: dict[str, SubprocessTransport] = {}

    def transport_for(self, plugin: InstalledPlugin) -> SubprocessTransport:
        transport = self.launch(plugin, self.env)
        self.transports[plugin.identity] = transport
        return transport


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv holding the bridge, pluggy and the hostile plugins, as a provisioned env."""
    env = tmp_path_factory.mktemp("env")
    venv.create(env, symlinks=True, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env), "platbase": str(env)}))
    skip = shutil.ignore_patterns("__pycache__")
    for package in (hipcheck_bridge, pluggy):
        source = Path(str(package.__file__)).parent
        shutil.copytree(source, site / source.name, ignore=skip)
    for module in HOSTILE.glob("hostile_*.py"):
        shutil.copy(module, site)
    return env


@pytest.fixture(scope="module")
def listeners() -> Iterator[dict[str, socket.socket]]:
    """TCP listeners on 127.0.0.1: one a plugin may reach, and two they must not."""
    opened = {}
    for name in ("denied", "asked", "allowed"):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        opened[name] = sock
    yield opened
    for sock in opened.values():
        sock.close()


@dataclass
class Run:
    report: Report
    launcher: HostileLauncher
    repo: Path
    elapsed: float

    def analysis(self, name: str) -> tuple[Any, list[str]]:
        for a in [*self.report.passing, *self.report.failing]:
            if a.name == name:
                return a.value, a.concerns
        errors = {e.name: e.error.msg for e in self.report.errored}
        raise AssertionError(f"{name} has no result: {errors.get(name)}")

    def protections(self, name: str) -> dict[str, Any]:
        return protections_of(self.launcher.transports[name]).to_json()


# Only where processes are limited: elsewhere it would be a fork bomb let loose. Its children
# leave its process group where a cgroup will find them all the same.
FORK_BOMB = f"""
[plugins."t/forkbomb"]
limits = {{ processes = 32 }}
config = {{ setsid = {"true" if CGROUP else "false"} }}
[analyze."t/forkbomb"]
policy = "(eq $ 0)"
"""


def _policy(listeners: dict[str, socket.socket]) -> str:
    port = {name: sock.getsockname()[1] for name, sock in listeners.items()}
    return f"""
[plugins."t/canary"]
env = ["HOSTILE_CANARY"]
[plugins."t/writer"]
[plugins."t/net"]
config = {{ port = {port["denied"]} }}
[plugins."t/net-asks"]
config = {{ port = {port["asked"]} }}
[plugins."t/net-allowed"]
allow-network = true
config = {{ port = {port["allowed"]} }}
[plugins."t/escalate"]
limits = {{ memory-mb = 1024, cpu-seconds = 120, file-size-mb = 8 }}
[plugins."t/spin"]
limits = {{ cpu-seconds = 1 }}

[analyze]
"t/canary" = {{ policy = "(eq $ 0)" }}
"t/writer" = {{ policy = "(eq $ 0)" }}
"t/net" = {{ policy = "(eq $ 0)" }}
"t/net-asks" = {{ policy = "(eq $ 0)" }}
"t/net-allowed" = {{ policy = "(eq $ 1)" }}
"t/escalate" = {{ policy = "(eq $ 0)" }}
"t/spin" = {{ policy = "(eq $ 0)" }}
""" + (FORK_BOMB if "process limit" in IN_FORCE else "")


def _installed() -> dict[str, InstalledPlugin]:
    plugins = {
        "canary": ("hostile_canary", False),
        "writer": ("hostile_writer", False),
        "net": ("hostile_net", False),
        "net-asks": ("hostile_net", True),
        "net-allowed": ("hostile_net", True),
        "forkbomb": ("hostile_forkbomb", False),
        "escalate": ("hostile_escalate", False),
        "spin": ("hostile_spin", False),
    }
    return {
        f"t/{name}": installed_plugin(publisher="t", name=name, entrypoint=module, network=asks)
        for name, (module, asks) in plugins.items()
    }


@pytest.fixture(scope="module")
def hostile_run(
    plugin_env: Path,
    listeners: dict[str, socket.socket],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Run]:
    base = tmp_path_factory.mktemp("hostile")
    home = base / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text(CANARY)
    repo = make_repo(base / "repo", [Commit("2024-01-01T00:00:00+00:00")])
    policy = parse(_policy(listeners), source="p.toml")
    launcher = HostileLauncher(plugin_env, policy=policy, targets=[repo])
    saved = dict(os.environ)
    os.environ.update(HOSTILE_CANARY=str(home / ".ssh" / "id_ed25519"), HOSTILE_TOKEN=TOKEN)
    start = time.monotonic()
    try:
        report = asyncio.run(
            run_check(policy, resolve(str(repo)), _installed(), launcher, query_timeout=15)
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
        launcher.cleanup()
    yield Run(report, launcher, repo, time.monotonic() - start)


# -- what the hostile plugins tried -------------------------------------------------------------


def test_every_hostile_plugin_ran_and_none_got_what_it_wanted(hostile_run: Run) -> None:
    assert [e.name for e in hostile_run.report.errored] == ["t/spin"]  # ended at its CPU limit
    assert [a.name for a in hostile_run.report.failing] == []
    assert hostile_run.elapsed < 15


@needs("filesystem read confinement (Landlock)")
def test_a_secret_outside_the_allowed_paths_cannot_be_read(hostile_run: Run) -> None:
    value, concerns = hostile_run.analysis("t/canary")
    assert value == 0
    assert concerns == [
        "read: refused (PermissionError, Permission denied)",
        "read through /proc/self/root: refused (PermissionError, Permission denied)",
        "list its directory: refused (PermissionError, Permission denied)",
    ]


@needs("filesystem read confinement (Landlock)")
def test_the_secrets_content_never_reaches_the_host(hostile_run: Run) -> None:
    everything = hostile_run.report.to_json()
    assert CANARY not in everything
    assert TOKEN not in everything
    assert "id_ed25519" not in everything  # not even the directory listing


def test_only_granted_environment_variables_reach_the_plugin(hostile_run: Run) -> None:
    _, concerns = hostile_run.analysis("t/canary")
    assert not any("HOSTILE_TOKEN" in c for c in concerns)  # the canary's path did arrive
    details = hostile_run.protections("t/canary")["details"]
    assert "granted by the policy: HOSTILE_CANARY" in details["scrubbed environment"]


@needs("filesystem write confinement (Landlock)")
def test_writes_outside_the_scratch_dir_are_refused(hostile_run: Run) -> None:
    value, concerns = hostile_run.analysis("t/writer")
    assert value == 0
    assert concerns[0].startswith("scratch: wrote ")
    assert [c.rsplit(": ", 1)[1] for c in concerns[1:]] == 3 * [
        "refused (PermissionError, Permission denied)"
    ]
    assert not (hostile_run.repo.parent / "pwned.txt").exists()
    assert not (hostile_run.repo / ".git" / "hooks" / "post-checkout").exists()
    assert not list(Path("/tmp").glob("hipcheck-pwned-*"))


@needs("network namespace")
def test_the_network_is_refused_without_both_manifest_and_policy(
    hostile_run: Run, listeners: dict[str, socket.socket]
) -> None:
    for name, listener in (("t/net", "denied"), ("t/net-asks", "asked")):
        value, concerns = hostile_run.analysis(name)
        assert value == 0, concerns
        assert concerns[0].startswith("connect: refused ("), concerns
        with pytest.raises(BlockingIOError):  # no connection ever reached the listener
            listeners[listener].accept()


def test_a_plugin_allowed_the_network_reaches_the_listener(
    hostile_run: Run, listeners: dict[str, socket.socket]
) -> None:
    value, concerns = hostile_run.analysis("t/net-allowed")
    assert (value, concerns) == (1, ["connect: connected"])
    connection, _ = listeners["allowed"].accept()
    connection.close()


@needs("process limit")
def test_a_fork_bomb_is_contained_and_nothing_outlives_the_run(hostile_run: Run) -> None:
    value, concerns = hostile_run.analysis("t/forkbomb")
    assert value == 0
    assert concerns[0].startswith("fork refused after "), concerns
    assert int(concerns[0].split()[3]) < 32
    detail = hostile_run.protections("t/forkbomb")["details"]["process limit"]
    assert detail.startswith("at most 32 processes and threads")
    scratch = hostile_run.protections("t/forkbomb")["details"]["private scratch directory"]
    marker = scratch.split(":")[0]  # in the command line of every process it started
    assert _processes_mentioning(marker) == []


@needs(
    "capabilities dropped",
    "no new privileges",
    "unix sockets refused (seccomp)",
    "signal and abstract-socket scoping (Landlock)",
)
def test_privileges_cannot_be_held_or_regained(hostile_run: Run) -> None:
    value, concerns = hostile_run.analysis("t/escalate")
    assert value == 0, concerns
    facts = dict(c.split(": ", 1) for c in concerns)
    for field in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
        assert int(facts[field], 16) == 0, field
    assert facts["NoNewPrivs"] == "1"
    assert facts["limits"] == f"AS={1024 * 2**20}, CPU=120, FSIZE={8 * 2**20}, CORE=0"
    for attempt in (
        "raise the memory limit",
        "allocate 2 GB",
        "write a 9 MB file",
        "join the host's network namespace",
        "open a Unix socket",
        "signal the host",
        "read /etc/shadow",
    ):
        assert facts[attempt].startswith("refused ("), (attempt, facts[attempt])
    assert "PermissionError" in facts["open a Unix socket"]  # seccomp, not a missing socket
    assert "File too large" in facts["write a 9 MB file"]


def test_a_plugin_out_of_cpu_time_errors_its_analysis_saying_so(hostile_run: Run) -> None:
    (errored,) = hostile_run.report.errored
    assert errored.error.msg == (
        "plugin t/spin exited, killed by SIGXCPU: it used up its CPU time (its limits.cpu-seconds)"
    )


# -- what the run says was in force -------------------------------------------------------------


def test_each_plugin_reports_the_protections_it_ran_under(hostile_run: Run) -> None:
    # A plugin run with the default grants gets what the probe says this machine enforces.
    confined = hostile_run.protections("t/net")
    assert set(confined["in_force"]) == IN_FORCE | {"own virtualenv"}
    assert confined["not_in_force"] == MACHINE.to_json()["not_in_force"]
    assert confined["details"]["own virtualenv"].startswith(str(hostile_run.launcher.env))


def test_a_plugin_allowed_the_network_is_reported_without_isolation(hostile_run: Run) -> None:
    allowed = hostile_run.protections("t/net-allowed")
    assert set(allowed["not_in_force"]) == {"network namespace", "TCP refused (Landlock)"}
    assert "allowed" in allowed["details"]["network namespace"]


def test_a_plugin_started_without_the_bootstrap_says_so() -> None:
    transport = SubprocessTransport("t/x", ["true"], env={}, cwd=Path("/"))
    assert protections_of(transport) == UNSANDBOXED


def _processes_mentioning(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


# -- where the machine allows less --------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="the whole sandbox needs root")
def test_this_machine_enforces_the_whole_sandbox() -> None:
    # CI runs as root on a kernel with Landlock ABI 6 or later and a writable pids cgroup: there
    # every protection holds, so the tests above that skip elsewhere all run.
    assert MACHINE.not_in_force == ()


def test_hipcheck_ready_shows_what_the_probe_found() -> None:
    shown = Readiness().to_json()["sandbox"]
    assert shown == MACHINE.to_json()
    assert "resource limits" in shown["in_force"]


def _probe(
    argv_prefix: list[str], python: str, scratch: Path, *, copy_bootstrap: bool = False
) -> dict[str, Any]:
    """Run the bootstrap's probe with no pids cgroup, and read what it reports.

    With ``copy_bootstrap``, the probe runs a copy in ``scratch``: another user may not be able
    to enter the directories hipcheck is installed in (a tox env, root's home).
    """
    sandbox = spec(env=None, scratch=scratch, grants=Grants(), targets=(), cgroup=None)
    command = bootstrap_argv(sandbox, ["--probe"])[1:]
    if copy_bootstrap:
        copy = scratch / "bootstrap.py"
        shutil.copyfile(BOOTSTRAP, copy)
        copy.chmod(0o644)
        command = [str(copy) if part == str(BOOTSTRAP) else part for part in command]
    argv = [*argv_prefix, python, *command]
    done = subprocess.run(
        argv, capture_output=True, env=plugin_environ(scratch), cwd=scratch, timeout=30
    )
    assert done.stdout, done.stderr
    report: dict[str, Any] = Protections.from_report(json.loads(done.stdout)["params"]).to_json()
    return report


@pytest.mark.skipif(os.geteuid() != 0, reason="root's case")
def test_root_without_a_pids_cgroup_has_no_process_limit_and_says_why(tmp_path: Path) -> None:
    found = _probe([], sys.executable, tmp_path)
    assert found["not_in_force"] == ["process limit"]
    assert found["details"]["process limit"] == (
        "the host found no pids cgroup it could make; and root is exempt from RLIMIT_NPROC"
    )


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None or not os.path.exists("/usr/bin/python3"),
    reason="needs root, setpriv and a system Python to run the bootstrap as another user",
)
def test_an_ordinary_user_gets_the_sandbox_through_a_user_namespace() -> None:
    # Not tmp_path: pytest makes its base temp dir private to root, and nobody must enter this.
    scratch = Path(tempfile.mkdtemp(prefix="hipcheck-nobody-"))
    try:
        scratch.chmod(0o777)
        # The system Python: hipcheck's own may live in root's home, which nobody may enter.
        found = _probe(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"],
            "/usr/bin/python3",
            scratch,
            copy_bootstrap=True,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if "unprivileged user namespaces may be disabled" in str(found["details"]):
        pytest.skip("this kernel keeps user namespaces from ordinary users")
    assert found["not_in_force"] == []
    details = found["details"]
    assert details["process limit"] == "at most 64 processes and threads (RLIMIT_NPROC)"
    assert details["network namespace"].startswith("a network namespace of its own")
    assert details["capabilities dropped"].startswith("all of them")  # its user namespace's


# -- the policy's sandbox keys -----------------------------------------------------------------


def test_a_plugin_entry_grants_network_env_and_limits() -> None:
    policy = parse(
        '[plugins."t/a"]\nallow-network = true\nenv = ["API_TOKEN"]\n'
        "limits = { memory-mb = 512, processes = 20 }\n"
        '[analyze."t/a"]\n',
        source="p.toml",
    )
    entry = policy.plugins["t/a"]
    assert (entry.allow_network, entry.env) == (True, ("API_TOKEN",))
    assert entry.limits.model_dump() == {
        "memory_mb": 512,
        "cpu_seconds": 600,
        "file_size_mb": 1024,
        "processes": 20,
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('env = ["HOME"]', "env[0]: HOME is set by hipcheck for every plugin"),
        ('env = ["1X"]', "env[0]: expected an environment variable name"),
        ("limits = { memroy-mb = 1 }", "limits.memroy-mb: unknown key 'memroy-mb'"),
        ("limits = { processes = 2 }", "limits.processes: expected a whole number >= 16, got 2"),
        ('allow-network = "yes"', 'allow-network: expected true or false, got "yes"'),
    ],
)
def test_bad_sandbox_keys_are_reported_with_file_line_and_key(line: str, message: str) -> None:
    with pytest.raises(PolicyError, match=r"policy p\.toml:2: ") as caught:
        parse(f'[plugins."t/a"]\n{line}\n[analyze."t/a"]\n', source="p.toml")
    assert message in str(caught.value)


def test_the_json_schema_knows_the_sandbox_keys() -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(policy_json_schema())
    good = {"allow-network": True, "env": ["T"], "limits": {"cpu-seconds": 5}}
    assert validator.is_valid({"plugins": {"t/a": good}, "analyze": {"t/a": {}}})
    for bad in ({"env": ["HOME"]}, {"limits": {"processes": 2}}, {"limits": {"x": 1}}):
        assert not validator.is_valid({"plugins": {"t/a": bad}, "analyze": {"t/a": {}}})


def test_the_network_needs_the_manifest_and_the_policy() -> None:
    allows = parse('[plugins."t/a"]\nallow-network = true\n[analyze."t/a"]\n', source="p.toml")
    silent = parse('[plugins."t/a"]\n[analyze."t/a"]\n', source="p.toml")
    asks = installed_plugin(publisher="t", name="a", network=True)
    quiet = installed_plugin(publisher="t", name="a")
    assert grants_for(asks, allows).network is True
    assert grants_for(asks, silent).network is False
    assert grants_for(quiet, allows).network is False


def test_paths_in_a_plugins_config_are_its_declared_inputs(tmp_path: Path) -> None:
    (tmp_path / "allow.txt").write_text("x")
    policy = parse(
        '[plugins."t/a"]\nconfig = { list = { rel = "allow.txt" }, gone = { rel = "nope" }, '
        'token = { env = "T" }, n = 1 }\n[analyze."t/a"]\n',
        source="p.toml",
        base_dir=tmp_path,
    )
    assert declared_inputs(policy, "t/a") == (str(tmp_path / "allow.txt"),)


def test_the_plugin_environment_holds_the_allow_list_and_the_grants(tmp_path: Path) -> None:
    source = {"PATH": "/bin", "API_TOKEN": "t", "AWS_SECRET_ACCESS_KEY": "s", "HOME": "/root"}
    env = plugin_environ(tmp_path, source, grant=["API_TOKEN", "UNSET"])
    assert env == {
        "PATH": "/bin",
        "API_TOKEN": "t",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
    }
