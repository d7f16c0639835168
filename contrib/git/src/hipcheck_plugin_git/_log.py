"""Reading a repository's commit history with a single ``git log``."""

from __future__ import annotations

import os
import subprocess
from typing import TypedDict

from hipcheck_bridge import QueryError


class Contributor(TypedDict):
    """Who wrote or committed a commit, exactly as the commit records it (no mailmap)."""

    name: str
    email: str


class Commit(TypedDict):
    """One commit; dates are RFC 3339 in UTC, or None when the commit's date is unreadable."""

    hash: str
    author: Contributor
    committer: Contributor
    written_on: str | None
    committed_on: str | None


# Every field ends in a NUL. Git prints an identity holding a NUL as empty (it is malformed), but
# passes any other control byte through, so a unit separator in a crafted author name would shift
# fields; NUL is the one byte that can split the output without ambiguity.
_FIELDS = ("%H", "%an", "%ae", "%ad", "%cn", "%ce", "%cd")
LOG_FORMAT = "%x00".join(_FIELDS)
# Git formats the dates (in UTC, see git_environment): in C that costs a tenth of what the same
# conversion costs in Python, and it is the largest part of parsing. A malformed identity's date
# comes out empty, and one past year 9999 longer than RFC 3339 allows.
_DATE_FORMAT = "format-local:%Y-%m-%dT%H:%M:%SZ"
_DATE_LENGTH = len("2024-01-31T12:00:00Z")

# Settings that could make `git log` run a program or change what it prints, pinned on the
# command line so neither the target repository's config nor the user's can override them.
_CONFIG = ("core.quotepath=off", "core.fsmonitor=false", "log.showSignature=false")


def git_log_command(path: str, git_ref: str, *, max_count: int | None = None) -> list[str]:
    """The ``git log`` argv that lists the history of ``git_ref`` in ``LOG_FORMAT``."""
    command = ["git", "--no-pager", "-C", path]
    for setting in _CONFIG:
        command += ["-c", setting]
    # Names are re-encoded to UTF-8 by git when a commit declares another encoding.
    command += ["log", "-z", f"--format={LOG_FORMAT}", f"--date={_DATE_FORMAT}", "--encoding=UTF-8"]
    if max_count is not None:
        command.append(f"--max-count={max_count}")
    # --end-of-options: a ref that starts with "-" must not be read as an option.
    command += ["--end-of-options", git_ref, "--"]
    return command


def git_environment() -> dict[str, str]:
    """The environment git runs in: UTC, no inherited GIT_* redirections, no system config."""
    # An inherited GIT_DIR, GIT_INDEX_FILE or GIT_CONFIG_* would make git read another
    # repository or configuration than the one named in the key.
    env = {name: value for name, value in os.environ.items() if not name.startswith("GIT_")}
    env.update(
        TZ="UTC",
        LC_ALL="C",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",
    )
    return env


def read_commits(path: str, git_ref: str, *, max_count: int | None = None) -> list[Commit]:
    """Every commit reachable from ``git_ref`` (at most ``max_count``), newest first.

    Raises :class:`hipcheck_bridge.QueryError` with git's own complaint when git fails.
    """
    command = git_log_command(path, git_ref, max_count=max_count)
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=git_environment(),
            check=False,
        )
    except FileNotFoundError as exc:
        raise QueryError("git is not installed or not on PATH") from exc
    if done.returncode != 0:
        raise QueryError(_last_line(done.stderr) or f"git log exited with {done.returncode}")
    return parse_log(done.stdout)


def parse_log(output: bytes) -> list[Commit]:
    """Turn ``git log -z --format=LOG_FORMAT`` output into commits."""
    # One decode of the whole output is far cheaper than one per field; "replace" keeps a
    # commit whose name is not UTF-8, and it never swallows a NUL, so the split stays aligned.
    fields = output.decode("utf-8", "replace").split("\0")
    # -z ends every record with a NUL, so whole records leave exactly one empty tail.
    if fields.pop() != "" or len(fields) % len(_FIELDS):
        raise QueryError("git log printed output in an unexpected layout")
    # Contributors repeat across commits: one shared object per person keeps a large history's
    # memory down.
    people = _People()
    commits: list[Commit] = []
    fields_iter = iter(fields)
    for hash_, a_name, a_email, a_date, c_name, c_email, c_date in zip(
        *([fields_iter] * len(_FIELDS)), strict=True
    ):
        commits.append(
            {
                "hash": hash_,
                "author": people[a_name, a_email],
                "committer": people[c_name, c_email],
                "written_on": a_date if len(a_date) == _DATE_LENGTH else None,
                "committed_on": c_date if len(c_date) == _DATE_LENGTH else None,
            }
        )
    return commits


class _People(dict[tuple[str, str], Contributor]):
    def __missing__(self, key: tuple[str, str]) -> Contributor:
        person = self[key] = {"name": key[0], "email": key[1]}
        return person


def _last_line(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else ""
