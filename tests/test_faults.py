"""A plugin that crashes, hangs or leaves processes behind errors its analysis and nothing else.

Each plugin here is a real bridge process (the host's interpreter, with the plugin module on
PYTHONPATH), driven by the real session through run_check.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from gitrepos import Commit

import hipcheck_bridge
from hipcheck.check import run_check
from hipcheck.discovery import InstalledPlugin
from hipcheck.policy import parse
from hipcheck.report import Report
from hipcheck.target import resolve
from hipcheck.testing import installed_plugin
from hipcheck.transport import SubprocessTransport

RepoFactory = Callable[[str, Sequence[Commit]], Path]

PLUGINS = {
    "good": """
import hipcheck_bridge as hb

@hb.query(default=True)
def good(engine, target):
    return 1

@hb.hookimpl
def hipcheck_queries():
    return [good]
""",
    "crash": """
import os, sys
import hipcheck_bridge as hb

@hb.query(default=True)
def crash(engine, target):
    print("crash plugin: giving up on", target["local"]["git_ref"][:7], file=sys.stderr, flush=True)
    os._exit(3)

@hb.hookimpl
def hipcheck_queries():
    return [crash]
""",
    "hang": """
import os, subprocess, time
import hipcheck_bridge as hb

@hb.query(default=True)
def hang(engine, target):
    child = subprocess.Popen(["sleep", "300"])
    with open(os.path.join(os.environ["PIDFILE_DIR"], "child.pid"), "w") as f:
        f.write(str(child.pid))
    time.sleep(300)

@hb.hookimpl
def hipcheck_queries():
    return [hang]
""",
}

PLUGINS["garbage"] = """
import fcntl, os, stat
import hipcheck_bridge as hb

def _protocol_out():
    # The bridge keeps the real stdout on a duplicate above 2: the only writable pipe there.
    for fd in range(3, 64):
        try:
            if stat.S_ISFIFO(os.fstat(fd).st_mode) and fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_WRONLY:
                return fd
        except OSError:
            continue
    raise RuntimeError("no protocol fd")

@hb.query(default=True)
def garbage(engine, target):
    os.write(_protocol_out(), b"this is not JSON-RPC\\n")
    return 1

@hb.hookimpl
def hipcheck_queries():
    return [garbage]
"""

PLUGINS["oversized"] = """
import hipcheck_bridge as hb

@hb.query(default=True)
def oversized(engine, target):
    return "x" * 2_000_000  # over the 1 MB the test host accepts in one message

@hb.hookimpl
def hipcheck_queries():
    return [oversized]
"""

POLICY = """
[plugins."t/good"]
[plugins."t/crash"]
[plugins."t/hang"]
[plugins."t/garbage"]
[plugins."t/oversized"]
[analyze]
"t/good" = { policy = "(eq $ 1)" }
"t/crash" = { policy = "(eq $ 1)" }
"t/hang" = { policy = "(eq $ 1)" }
"t/garbage" = { policy = "(eq $ 1)" }
"t/oversized" = { policy = "(eq $ 1)" }
"""


class ProcessLauncher:
    """Runs each test plugin module as a real bridge process."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.transports: list[SubprocessTransport] = []

    def transport_for(self, plugin: InstalledPlugin) -> SubprocessTransport:
        bridge_root = Path(hipcheck_bridge.__file__).parent.parent
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": f"{self.directory}{os.pathsep}{bridge_root}",
            "PIDFILE_DIR": str(self.directory),
        }
        argv = [sys.executable, "-m", "hipcheck_bridge", "--entrypoint", plugin.manifest.name]
        transport = SubprocessTransport(
            plugin.identity, argv, env=env, cwd=self.directory, max_message_bytes=1_000_000
        )
        self.transports.append(transport)
        return transport


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has exited all the same.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, ProcessLauncher, float]:
    directory = tmp_path_factory.mktemp("faulty")
    for name, source in PLUGINS.items():
        (directory / f"{name}.py").write_text(source)
    from gitrepos import make_repo

    repo = make_repo(directory / "repo", [Commit("2024-01-01T00:00:00+00:00")])
    installed = {
        f"t/{name}": installed_plugin(publisher="t", name=name, entrypoint=name) for name in PLUGINS
    }
    launcher = ProcessLauncher(directory)
    start = time.monotonic()
    report = asyncio.run(
        run_check(
            parse(POLICY, source="p.toml"),
            resolve(str(repo)),
            installed,
            launcher,
            query_timeout=2.0,
        )
    )
    return report, launcher, time.monotonic() - start


def _errors(report: Report) -> dict[str, str]:
    return {e.name: e.error.msg for e in report.errored}


def test_the_healthy_analysis_completes_beside_faulty_ones(faulty_run: Any) -> None:
    report, _, _ = faulty_run
    assert [a.name for a in report.passing] == ["t/good"]
    assert sorted(_errors(report)) == ["t/crash", "t/garbage", "t/hang", "t/oversized"]


def test_a_crash_mid_query_is_reported_with_the_tail_of_its_stderr(faulty_run: Any) -> None:
    report, _, _ = faulty_run
    message = _errors(report)["t/crash"]
    assert message.startswith("plugin t/crash exited")
    assert "crash plugin: giving up on" in message


def test_a_hanging_query_times_out(faulty_run: Any) -> None:
    report, _, elapsed = faulty_run
    assert _errors(report)["t/hang"] == "plugin t/hang: no answer to query within 2s"
    assert elapsed < 60  # the run did not wait for the 300 s sleep


def test_no_plugin_process_or_child_outlives_the_run(faulty_run: Any) -> None:
    _, launcher, _ = faulty_run
    pids = [t.pid for t in launcher.transports]
    child = int((launcher.directory / "child.pid").read_text())
    assert [pid for pid in [*pids, child] if pid is not None and _alive(pid)] == []


def test_garbage_on_the_protocol_stream_errors_only_that_plugin(faulty_run: Any) -> None:
    report, _, _ = faulty_run
    assert _errors(report)["t/garbage"].startswith(
        "plugin t/garbage wrote something that is not the protocol: b'this is not JSON-RPC\\n'"
    )


def test_an_oversized_message_errors_only_that_plugin(faulty_run: Any) -> None:
    report, _, _ = faulty_run
    assert _errors(report)["t/oversized"].startswith(
        "plugin t/oversized sent a message over 1000000 bytes"
    )


def test_errored_analyses_count_as_failed_in_the_score(faulty_run: Any) -> None:
    report, _, _ = faulty_run
    assert report.recommendation.risk_score == round(4 / 5, 2)
    assert report.recommendation.kind == "Investigate"
