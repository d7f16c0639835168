"""Benchmark the git plugin's history extraction against the ``git log`` it runs.

    python contrib/git/bench_git.py --make-repo DIR N   # build a repository of N commits
    python contrib/git/bench_git.py REPO [--rounds R]   # time git log vs the `commits` query

The budget is extraction at most 1.5x one ``git log`` with the same format over the same
repository. Each is timed end to end (process start, reading the pipe, and for the plugin
parsing into commit objects); rounds interleave them so cache warmth favours none.
"""

from __future__ import annotations

import argparse
import random
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from hipcheck_plugin_git._log import git_environment, git_log_command, read_commits

# A pool of people with a few non-ASCII names, so decoding does real work.
_PEOPLE = [(f"Developer {i}", f"dev{i}@example.org") for i in range(40)] + [
    ("Zoë Ångström", "zoe@example.org"),
    ("José Núñez", "jose@example.org"),
    ("李小龍", "li@example.org"),
]
_FILES = [f"src/module_{i}.py" for i in range(60)]


def _fast_import_stream(commits: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    when = 1_250_000_000  # 2009: sixteen thousand commits later it is still the past
    for n in range(commits):
        when += rng.randint(60, 40_000)
        author = rng.choice(_PEOPLE)
        # Most commits are committed by their author, as in most real projects.
        committer = author if rng.random() < 0.7 else rng.choice(_PEOPLE)
        committed = when + rng.randint(0, 3600)
        body = f"line {n}\n".encode() * rng.randint(1, 20)
        message = f"Change {n}\n".encode()
        lines = [
            b"commit refs/heads/main",
            f"mark :{n + 1}".encode(),
            f"author {author[0]} <{author[1]}> {when} +0000".encode(),
            f"committer {committer[0]} <{committer[1]}> {committed} +0000".encode(),
            b"data %d" % len(message),
            message,
        ]
        if n:
            lines.append(f"from :{n}".encode())
        lines.append(f"M 100644 inline {rng.choice(_FILES)}".encode())
        lines.append(b"data %d" % len(body))
        yield b"\n".join(lines) + b"\n" + body + b"\n"


def make_repo(directory: Path, commits: int, *, seed: int = 16) -> None:
    """Create a repository at ``directory`` with ``commits`` linear commits on ``main``."""
    env = git_environment()
    subprocess.run(["git", "init", "-q", "-b", "main", str(directory)], check=True, env=env)
    importer = subprocess.Popen(
        ["git", "-C", str(directory), "fast-import", "--quiet"], stdin=subprocess.PIPE, env=env
    )
    assert importer.stdin is not None
    for chunk in _fast_import_stream(commits, seed):
        importer.stdin.write(chunk)
    importer.stdin.close()
    if importer.wait() != 0:
        sys.exit("git fast-import failed")
    subprocess.run(["git", "-C", str(directory), "reset", "-q", "--hard"], check=True, env=env)


def _time(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench(repo: Path, rounds: int) -> None:
    """Time ``git log`` and the plugin's extraction over ``repo`` and print the figures."""
    env = git_environment()
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    command = git_log_command(str(repo), head)
    # The design's yardstick for the whole data plugin: the same log with per-file line counts.
    after_log = command.index("log") + 1
    numstat = [*command[:after_log], "--numstat", *command[after_log:]]

    def run(argv: list[str]) -> Callable[[], object]:
        return lambda: subprocess.run(argv, capture_output=True, env=env, check=True).stdout

    history = read_commits(str(repo), head)  # also warms the page cache before any timing
    actions = {
        "git log": run(command),
        "plugin commits": lambda: read_commits(str(repo), head),
        "git log --numstat": run(numstat),
    }
    timed: dict[str, list[float]] = {label: [] for label in actions}
    for _ in range(rounds):
        for label, action in actions.items():
            timed[label].append(_time(action))
    median = {label: statistics.median(times) for label, times in timed.items()}
    print(f"repository         {repo} ({len(history)} commits, HEAD {head[:12]})")
    print(f"command            {shlex.join(command)}")
    for label, times in timed.items():
        print(
            f"{label:<18} median {median[label] * 1000:7.1f} ms   min {min(times) * 1000:7.1f} ms"
        )
    ratio = median["plugin commits"] / median["git log"]
    print(f"ratio              {ratio:.2f}x the same git log (budget 1.5x), {rounds} rounds")
    vs_numstat = median["plugin commits"] / median["git log --numstat"]
    print(f"                   {vs_numstat:.2f}x git log --numstat")


def main(argv: list[str] | None = None) -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("repo", nargs="?", type=Path, help="repository to benchmark")
    parser.add_argument("--make-repo", nargs=2, metavar=("DIR", "N"), help="build a repository")
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (default 15)")
    args = parser.parse_args(argv)
    if args.make_repo:
        directory, count = Path(args.make_repo[0]), int(args.make_repo[1])
        make_repo(directory, count)
        print(f"built {directory} with {count} commits")
    elif args.repo:
        bench(args.repo, args.rounds)
    else:
        parser.error("give a REPO to benchmark or --make-repo DIR N")


if __name__ == "__main__":
    main()
