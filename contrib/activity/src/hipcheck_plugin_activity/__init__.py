"""hipcheck/activity: how long it has been since the last commit to the target repository."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import hipcheck_bridge
from hipcheck_bridge import ConfigError, Engine, Query, QueryError

__all__ = [
    "activity",
    "format_span",
    "hipcheck_configure",
    "hipcheck_data_requirements",
    "hipcheck_default_policy_expr",
    "hipcheck_explain_default_query",
    "hipcheck_queries",
]

DEFAULT_WEEKS = 71

_UNITS = (("w", 7 * 24 * 3600), ("d", 24 * 3600), ("h", 3600), ("m", 60), ("s", 1))


@hipcheck_bridge.query(default=True)
def activity(engine: Engine, key: Any) -> str:
    """Time since the newest commit on the target's ref, as an ISO 8601 span in weeks at most."""
    local = key.get("local") if isinstance(key, dict) else None
    if not isinstance(local, dict):
        raise QueryError(f'the key must be a target with a "local" repository, not {key!r:.200}')
    value = engine.query("hipcheck/git/last_commit_date", local)
    last_commit = _parse_datetime(value)
    seconds = int((_now() - last_commit).total_seconds())
    if seconds < 0:
        engine.concern(f"the last commit is dated {value}, in the future; counting no time since")
        seconds = 0
    return format_span(seconds)


def format_span(seconds: int) -> str:
    """Spell a non-negative number of seconds as ``P<w>w<d>dT<h>h<m>m<s>s``, leaving out zeros."""
    if seconds < 0:
        raise ValueError(f"a span cannot be negative: {seconds}")
    counts = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        counts.append(f"{count}{unit}" if count else "")
    date, time = "".join(counts[:2]), "".join(counts[2:])
    if not (date or time):
        return "PT0s"
    return f"P{date}T{time}" if time else f"P{date}"


@hipcheck_bridge.hookimpl
def hipcheck_queries() -> list[Query[Any]]:
    """The plugin's one query, ``activity``, which is its default."""
    return [activity]


@hipcheck_bridge.hookimpl
def hipcheck_configure(config: Mapping[str, Any]) -> dict[str, Any]:
    """Accept ``weeks`` (a positive integer, default 71) and nothing else."""
    unknown = sorted(set(config) - {"weeks"})
    if unknown:
        raise ConfigError(
            f"unknown configuration key {unknown[0]!r}; the only key is 'weeks'",
            kind="unrecognized-key",
            key=unknown[0],
        )
    weeks = config.get("weeks", DEFAULT_WEEKS)
    # bool is an int in Python, but `weeks = true` is a mistake, not one week.
    if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
        raise ConfigError(
            f"'weeks' must be a positive whole number of weeks, not {weeks!r}",
            kind="invalid-value",
            key="weeks",
        )
    return {"weeks": weeks}


@hipcheck_bridge.hookimpl
def hipcheck_default_policy_expr(config: Mapping[str, Any]) -> str:
    """Pass when the last commit is at most ``weeks`` weeks old."""
    return f"(lte $ P{config['weeks']}w)"


@hipcheck_bridge.hookimpl
def hipcheck_explain_default_query() -> str:
    """What the default query's value is."""
    return "time elapsed since the most recent commit"


@hipcheck_bridge.hookimpl
def hipcheck_data_requirements(config: Mapping[str, Any]) -> list[str]:
    """The one query this plugin makes of the git plugin, whatever its configuration."""
    return ["hipcheck/git/last_commit_date"]


def _now() -> datetime:
    # A module-level function, looked up at each query, so tests can set the clock.
    return datetime.now(timezone.utc)


def _parse_datetime(value: Any) -> datetime:
    moment: datetime | None = None
    if isinstance(value, str):
        # Python before 3.11 cannot read the "Z" suffix that hipcheck/git writes.
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        with contextlib.suppress(ValueError):
            moment = datetime.fromisoformat(text)
    if moment is None or moment.tzinfo is None:
        raise QueryError(
            f"hipcheck/git/last_commit_date gave {value!r:.100}, not an RFC 3339 datetime"
        )
    return moment
