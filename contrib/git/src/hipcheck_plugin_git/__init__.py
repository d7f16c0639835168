"""hipcheck/git: commit history of a local git repository, for other plugins to query.

Every query takes the target's ``local`` object, ``{"path": str, "git_ref": str}``, and reads
the history reachable from ``git_ref`` with one ``git log``.
"""

from __future__ import annotations

from typing import Any

import hipcheck_bridge
from hipcheck_bridge import Engine, Query, QueryError
from hipcheck_plugin_git._log import Commit, Contributor, read_commits
from hipcheck_plugin_git._memo import Memo

__all__ = ["commits", "contributors", "hipcheck_queries", "last_commit_date"]

_LOCAL_REPO: dict[str, Any] = {
    "type": "object",
    "properties": {"path": {"type": "string"}, "git_ref": {"type": "string"}},
    "required": ["path", "git_ref"],
}
_CONTRIBUTOR: dict[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "email": {"type": "string"}},
    "required": ["name", "email"],
}
_DATE: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
_COMMIT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "hash": {"type": "string"},
        "author": _CONTRIBUTOR,
        "committer": _CONTRIBUTOR,
        "written_on": _DATE,
        "committed_on": _DATE,
    },
    "required": ["hash", "author", "committer", "written_on", "committed_on"],
}

# A run analyses one target, and each history holds a few hundred bytes per commit, so a
# handful of entries serves every plugin that asks without growing without bound.
_HISTORIES: Memo[tuple[str, str], list[Commit]] = Memo(size=4)


@hipcheck_bridge.query(key_schema=_LOCAL_REPO, output_schema={"type": "array", "items": _COMMIT})
def commits(engine: Engine, key: Any) -> list[Commit]:
    """Every commit reachable from ``git_ref``, newest first, in ``git log``'s order."""
    path, git_ref = _local_repo(key)
    return _HISTORIES.get((path, git_ref), lambda: read_commits(path, git_ref))


@hipcheck_bridge.query(
    key_schema=_LOCAL_REPO, output_schema={"type": "string", "format": "date-time"}
)
def last_commit_date(engine: Engine, key: Any) -> str:
    """When the newest commit reachable from ``git_ref`` was written (author date, UTC)."""
    path, git_ref = _local_repo(key)
    # Reuse a full history another query has read; otherwise one commit is all this needs.
    history = _HISTORIES.peek((path, git_ref)) or read_commits(path, git_ref, max_count=1)
    if not history:
        raise QueryError(f"no commits are reachable from {git_ref}")
    newest = history[0]
    if newest["written_on"] is None:
        raise QueryError(f"commit {newest['hash']} has no readable author date")
    return newest["written_on"]


@hipcheck_bridge.query(
    key_schema=_LOCAL_REPO, output_schema={"type": "array", "items": _CONTRIBUTOR}
)
def contributors(engine: Engine, key: Any) -> list[Contributor]:
    """Everyone who authored or committed a commit reachable from ``git_ref``, sorted."""
    unique = {
        (person["name"], person["email"])
        for commit in commits(engine, key)
        for person in (commit["author"], commit["committer"])
    }
    return [{"name": name, "email": email} for name, email in sorted(unique)]


@hipcheck_bridge.hookimpl
def hipcheck_queries() -> list[Query[Any]]:
    """This plugin's queries; it is a data plugin, so none is the default."""
    return [commits, last_commit_date, contributors]


def _local_repo(key: Any) -> tuple[str, str]:
    if isinstance(key, dict):
        path, git_ref = key.get("path"), key.get("git_ref")
        if isinstance(path, str) and isinstance(git_ref, str):
            return path, git_ref
    raise QueryError(f'the key must be {{"path": str, "git_ref": str}}, not {key!r:.200}')
