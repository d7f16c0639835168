"""Real git repositories with fixed dates and identities, for tests."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ALICE = ("Alice Author", "alice@example.com")
BOB = ("Bob Maintainer", "bob@example.com")


@dataclass(frozen=True)
class Commit:
    """One commit to make: when, by whom (author) and through whom (committer)."""

    when: str  # ISO 8601 with offset, e.g. "2020-01-01T12:00:00+00:00"
    author: tuple[str, str] = ALICE
    committer: tuple[str, str] | None = None  # None: same as author
    message: str = "change"


def git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    base = {
        "PATH": os.environ["PATH"],
        "HOME": str(repo),
        "GIT_CONFIG_NOSYSTEM": "1",
        "LC_ALL": "C",
    }
    out = subprocess.run(
        ["git", "-C", str(repo), *args],
        env={**base, **(env or {})},
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def make_repo(path: Path, commits: Sequence[Commit]) -> Path:
    """Create a git repository at ``path`` with ``commits``, oldest first, each touching a file."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    for i, c in enumerate(commits):
        committer = c.committer or c.author
        (path / "file.txt").write_text(f"{i}\n")
        git(path, "add", "file.txt")
        git(
            path,
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "-m",
            c.message,
            env={
                "GIT_AUTHOR_NAME": c.author[0],
                "GIT_AUTHOR_EMAIL": c.author[1],
                "GIT_AUTHOR_DATE": c.when,
                "GIT_COMMITTER_NAME": committer[0],
                "GIT_COMMITTER_EMAIL": committer[1],
                "GIT_COMMITTER_DATE": c.when,
            },
        )
    return path
