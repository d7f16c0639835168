"""Measure hipcheck against the performance budget in DESIGN.md and print the figures.

    python benchmarks/bench.py [--repo REPO | --commits N] [--runs R]

Needs hipcheck and the first-party plugins installed in the running interpreter's environment
(``pip install . contrib/*/``). Without --repo it builds a repository of N commits (default
16,000) with contrib/git/bench_git.py. Every figure is a median over R runs unless it says
otherwise; nothing here asserts a budget, it only reports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from hipcheck import discovery
from hipcheck.launcher import EnvLauncher, provision
from hipcheck_bridge import protocol

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def median_time(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def tree_rss_kb(root_pid: int) -> int:
    """Sum of the resident memory of a process and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        pid, ppid = int(entry), int(fields.get("PPid", "0").strip())
        children.setdefault(ppid, []).append(pid)
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total


def run_sampled(argv: Sequence[str], env: dict[str, str]) -> tuple[float, int]:
    """Run a command; return its wall time and the peak summed RSS of its process tree (KiB)."""
    peak = 0
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kb(proc.pid))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    sampler.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.decode()[-500:]}")
    return elapsed, peak


async def protocol_figures(runs: int) -> tuple[float, float]:
    """Median spawn+handshake time of the git plugin, and the mean small round trip."""
    plugin = discovery.discover().plugins["hipcheck/git"]
    provision(plugin)
    launcher = EnvLauncher()

    async def no_requests(method: str, params: object) -> object:
        raise RuntimeError("not expected")

    spawns = []
    for _ in range(runs):
        transport = launcher.transport_for(plugin)
        start = time.perf_counter()
        channel = await transport.open(no_requests)
        await channel.request("handshake", {"protocol": protocol.PROTOCOL_VERSION})
        spawns.append(time.perf_counter() - start)
        await transport.aclose()
    transport = launcher.transport_for(plugin)
    channel = await transport.open(no_requests)
    await channel.request("handshake", {"protocol": protocol.PROTOCOL_VERSION})
    await channel.request("configure", {"config": {}})
    n = 2000
    start = time.perf_counter()
    for _ in range(n):
        # A query the plugin answers without work: pure protocol cost, both directions.
        with contextlib.suppress(Exception):
            await channel.request("query", {"query": "no-such-query", "key": None})
    round_trip = (time.perf_counter() - start) / n
    await transport.aclose()
    launcher.cleanup()
    return statistics.median(spawns), round_trip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, help="benchmark this repository")
    parser.add_argument("--commits", type=int, default=16_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    hipcheck = shutil.which("hipcheck", path=str(Path(sys.executable).parent))
    if not hipcheck:
        raise SystemExit("hipcheck is not installed next to this interpreter")

    with tempfile.TemporaryDirectory(prefix="hipcheck-bench-") as tmp:
        repo = args.repo
        if repo is None:
            repo = Path(tmp) / "repo"
            subprocess.run(
                [sys.executable, str(ROOT / "contrib/git/bench_git.py"), "--make-repo", str(repo),
                 str(args.commits)],
                check=True, capture_output=True,
            )  # fmt: skip
        commits = subprocess.run(
            ["git", "-C", str(repo), "rev-list", "--count", "HEAD"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        env = {**os.environ, "HIPCHECK_CACHE_DIR": str(Path(tmp) / "cache")}
        check = [hipcheck, "check", str(repo), "--format", "json"]

        cold, _ = run_sampled(check, env)
        warm_runs = [run_sampled(check, env) for _ in range(args.runs)]
        warm = statistics.median(t for t, _ in warm_runs)
        peak = max(p for _, p in warm_runs)
        git_log = median_time(
            lambda: subprocess.run(
                ["git", "-C", str(repo), "log", "-p", "--numstat"],
                stdout=subprocess.DEVNULL, check=True,
            ),
            args.runs,
        )  # fmt: skip
        os.environ["HIPCHECK_CACHE_DIR"] = env["HIPCHECK_CACHE_DIR"]
        spawn, round_trip = asyncio.run(protocol_figures(args.runs))

    print(f"repository: {repo} ({commits} commits)")
    print(f"warm hipcheck check (median of {args.runs}): {warm:.3f} s")
    print(f"git log -p --numstat (median of {args.runs}): {git_log:.3f} s")
    print(f"  ratio: {warm / git_log:.2f}x (budget 2x)")
    print(f"cold hipcheck check (no plugin envs): {cold:.3f} s")
    print(f"  cold - warm: {cold - warm:.3f} s (budget 15 s)")
    print(f"peak RSS of the process tree, warm: {peak / 1024:.0f} MiB (budget 1024 MiB)")
    print(f"spawn + handshake, git plugin (median of {args.runs}): {spawn * 1000:.1f} ms")
    print(f"small request round trip (mean of 2000): {round_trip * 1e6:.0f} us (budget 100 us)")


if __name__ == "__main__":
    main()
