"""hipcheck/identity: which commits were committed by their own author, a sign of no review."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import hipcheck_bridge
from hipcheck_bridge import ConfigError, Engine, Query, QueryError

__all__ = [
    "hipcheck_configure",
    "hipcheck_data_requirements",
    "hipcheck_default_policy_expr",
    "hipcheck_explain_default_query",
    "hipcheck_queries",
    "identity",
]

DEFAULT_PERCENT_THRESHOLD = 0.2


@hipcheck_bridge.query(default=True)
def identity(engine: Engine, key: Any) -> list[bool]:
    """For each commit on the target's ref, newest first: are its author and committer one?"""
    local = key.get("local") if isinstance(key, dict) else None
    if not isinstance(local, dict):
        raise QueryError(f'the key must be a target with a "local" repository, not {key!r:.200}')
    commits = engine.query("hipcheck/git/commits", local)
    if not isinstance(commits, list):
        raise QueryError(f"hipcheck/git/commits gave {type(commits).__name__}, not a list")
    try:
        return [_same_person(c["author"], c["committer"]) for c in commits]
    except (KeyError, TypeError) as exc:
        raise QueryError(
            f"hipcheck/git/commits gave a commit without author and committer: {exc!r}"
        ) from exc


def _same_person(author: Mapping[str, Any], committer: Mapping[str, Any]) -> bool:
    return bool(author["name"] == committer["name"] and author["email"] == committer["email"])


@hipcheck_bridge.hookimpl
def hipcheck_queries() -> list[Query[Any]]:
    """The plugin's one query, ``identity``, which is its default."""
    return [identity]


@hipcheck_bridge.hookimpl
def hipcheck_configure(config: Mapping[str, Any]) -> dict[str, Any]:
    """Accept ``percent-threshold`` (a fraction from 0 to 1, default 0.2) and nothing else."""
    unknown = sorted(set(config) - {"percent-threshold"})
    if unknown:
        raise ConfigError(
            f"unknown configuration key {unknown[0]!r}; the only key is 'percent-threshold'",
            kind="unrecognized-key",
            key=unknown[0],
        )
    threshold = config.get("percent-threshold", DEFAULT_PERCENT_THRESHOLD)
    # bool is an int in Python, but `percent-threshold = true` is a mistake, not 100%.
    is_number = isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
    if not (is_number and 0 <= threshold <= 1):
        raise ConfigError(
            f"'percent-threshold' must be a fraction from 0 to 1 (0.2 is 20%), not {threshold!r}",
            kind="invalid-value",
            key="percent-threshold",
        )
    # A float always, so `1` and `1.0` configure, and hash, the same.
    return {"percent-threshold": float(threshold)}


@hipcheck_bridge.hookimpl
def hipcheck_default_policy_expr(config: Mapping[str, Any]) -> str:
    """Pass when at most ``percent-threshold`` of commits are committed by their author."""
    # Positional notation: repr() writes small fractions as 1e-05, which policy floats are not.
    threshold = format(Decimal(repr(config["percent-threshold"])), "f")
    return f"(lte (divz (count (filter (eq #t) $)) (count $)) {threshold})"


@hipcheck_bridge.hookimpl
def hipcheck_explain_default_query() -> str:
    """What the default query's value is."""
    return "commits whose author also committed them"


@hipcheck_bridge.hookimpl
def hipcheck_data_requirements(config: Mapping[str, Any]) -> list[str]:
    """The one query this plugin makes of the git plugin, whatever its configuration."""
    return ["hipcheck/git/commits"]
