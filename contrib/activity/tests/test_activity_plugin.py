"""The activity plugin, answered by canned upstream data, directly and through the real bridge."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any

import hipcheck_plugin_activity
import pytest
from hipcheck_plugin_activity import (
    format_span,
    hipcheck_configure,
    hipcheck_default_policy_expr,
    hipcheck_explain_default_query,
)

from hipcheck.manifest import Manifest
from hipcheck.testing import BridgeClient, Upstream, make_engine
from hipcheck_bridge import ConfigError, QueryError, UpstreamError, protocol

LOCAL = {"path": "/repos/demo", "git_ref": "0123456789abcdef0123456789abcdef01234567"}
TARGET = {"specifier": "demo", "local": LOCAL, "remote": None, "package": None}
LAST_COMMIT = datetime(2024, 1, 1, tzinfo=timezone.utc)


CONFIG = hipcheck_configure({})


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Set the plugin's idea of now."""
    return lambda now: monkeypatch.setattr(hipcheck_plugin_activity, "_now", lambda: now)


# -- the query -------------------------------------------------------------------------------


def test_activity_is_the_time_since_the_last_commit_in_weeks_at_most(
    clock: Callable[[datetime], None],
) -> None:
    upstream = Upstream({"hipcheck/git/last_commit_date": "2024-01-01T00:00:00Z"})
    clock(LAST_COMMIT + timedelta(weeks=80, days=3, hours=4, minutes=5, seconds=6.9))

    value = hipcheck_plugin_activity.activity(make_engine(CONFIG, upstream), TARGET)

    assert value == "P80w3dT4h5m6s"
    assert upstream.calls == [("hipcheck/git/last_commit_date", LOCAL)]


def test_activity_reads_a_last_commit_date_with_an_offset(
    clock: Callable[[datetime], None],
) -> None:
    upstream = Upstream({"hipcheck/git/last_commit_date": "2024-01-01T01:30:00+01:00"})
    clock(LAST_COMMIT + timedelta(hours=1))

    assert hipcheck_plugin_activity.activity(make_engine(CONFIG, upstream), TARGET) == "PT30m"


def test_a_last_commit_in_the_future_counts_as_no_time_and_raises_a_concern(
    clock: Callable[[datetime], None],
) -> None:
    upstream = Upstream({"hipcheck/git/last_commit_date": "2024-01-01T00:00:00Z"})
    engine = make_engine(CONFIG, upstream)
    clock(LAST_COMMIT - timedelta(days=2))

    assert hipcheck_plugin_activity.activity(engine, TARGET) == "PT0s"
    assert engine.concerns == [
        "the last commit is dated 2024-01-01T00:00:00Z, in the future; counting no time since"
    ]


@pytest.mark.parametrize("date", ["yesterday", "2024-01-01T00:00:00", 1704067200, None])
def test_a_last_commit_date_that_is_not_an_rfc3339_datetime_is_a_query_error(date: Any) -> None:
    upstream = Upstream({"hipcheck/git/last_commit_date": date})

    with pytest.raises(QueryError, match="not an RFC 3339 datetime"):
        hipcheck_plugin_activity.activity(make_engine(CONFIG, upstream), TARGET)


def test_a_failure_of_the_git_plugin_fails_the_query() -> None:
    upstream = Upstream({"hipcheck/git/last_commit_date": UpstreamError("no commits")})

    with pytest.raises(UpstreamError, match="no commits"):
        hipcheck_plugin_activity.activity(make_engine(CONFIG, upstream), TARGET)


@pytest.mark.parametrize("key", [None, LOCAL, {"local": None}])
def test_a_key_that_is_not_a_target_is_a_query_error(key: Any) -> None:
    with pytest.raises(QueryError, match='target with a "local" repository'):
        hipcheck_plugin_activity.activity(make_engine(CONFIG), key)


@pytest.mark.parametrize(
    ("seconds", "span"),
    [
        (0, "PT0s"),
        (59, "PT59s"),
        (60, "PT1m"),
        (3600, "PT1h"),
        (86400, "P1d"),
        (7 * 86400, "P1w"),
        (7 * 86400 + 5, "P1wT5s"),
        (8 * 86400 + 3661, "P1w1dT1h1m1s"),
        (71 * 7 * 86400 + 86399, "P71wT23h59m59s"),
    ],
)
def test_format_span_uses_weeks_to_seconds_and_leaves_out_zeros(seconds: int, span: str) -> None:
    assert format_span(seconds) == span


def test_format_span_refuses_a_negative_span() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_span(-1)


# -- configuration and policy ----------------------------------------------------------------


def test_configure_fills_in_the_default_of_71_weeks() -> None:
    assert hipcheck_configure({}) == {"weeks": 71}
    assert hipcheck_configure({"weeks": 12}) == {"weeks": 12}


@pytest.mark.parametrize("weeks", [0, -3, 1.5, "12", True, None])
def test_configure_refuses_weeks_that_are_not_a_positive_integer(weeks: Any) -> None:
    with pytest.raises(ConfigError, match="positive whole number") as caught:
        hipcheck_configure({"weeks": weeks})

    assert (caught.value.kind, caught.value.key) == ("invalid-value", "weeks")


def test_configure_refuses_an_unknown_key() -> None:
    with pytest.raises(ConfigError, match="'days'") as caught:
        hipcheck_configure({"weeks": 3, "days": 4})

    assert (caught.value.kind, caught.value.key) == ("unrecognized-key", "days")


def test_the_default_policy_reflects_the_configured_weeks() -> None:
    assert hipcheck_default_policy_expr(hipcheck_configure({})) == "(lte $ P71w)"
    assert hipcheck_default_policy_expr(hipcheck_configure({"weeks": 4})) == "(lte $ P4w)"


def test_the_explanation_is_a_noun_phrase() -> None:
    assert hipcheck_explain_default_query() == "time elapsed since the most recent commit"


def test_the_manifest_ships_in_the_package_and_names_the_git_plugin() -> None:
    toml = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    text = (resources.files("hipcheck_plugin_activity") / "hipcheck-plugin.toml").read_text()

    manifest = Manifest.model_validate({**toml.loads(text), "version": "0.1.0"})

    assert (manifest.identity, manifest.kind) == ("hipcheck/activity", "analysis")
    assert manifest.entrypoint == "hipcheck_plugin_activity"
    assert [(d.identity, d.version) for d in manifest.dependencies] == [("hipcheck/git", "^0.1")]


# -- through the bridge ----------------------------------------------------------------------


@pytest.fixture
def upstream() -> Upstream:
    return Upstream({"hipcheck/git/last_commit_date": "2024-01-01T00:00:00Z"})


@pytest.fixture
def bridge(upstream: Upstream) -> Iterator[BridgeClient]:
    with BridgeClient(hipcheck_plugin_activity, "hipcheck/activity", upstream) as served:
        yield served


def test_the_bridge_serves_the_plugin_and_relays_its_git_query(
    bridge: BridgeClient, upstream: Upstream, clock: Callable[[datetime], None]
) -> None:
    clock(LAST_COMMIT + timedelta(weeks=3, seconds=1))

    hello = bridge.handshake()
    configured = bridge.configure({"weeks": 10})
    answer = bridge.query(None, TARGET)

    assert [(q["name"], q["default"]) for q in hello["queries"]] == [("activity", True)]
    assert configured["config"] == {"weeks": 10}
    assert configured["default_policy_expr"] == "(lte $ P10w)"
    assert configured["explanation"] == "time elapsed since the most recent commit"
    assert answer == {"value": "P3wT1s", "concerns": [], "hints": []}
    assert upstream.calls == [("hipcheck/git/last_commit_date", LOCAL)]


def test_the_bridge_reports_bad_configuration_and_upstream_failures(
    bridge: BridgeClient, upstream: Upstream
) -> None:
    upstream.answers["hipcheck/git/last_commit_date"] = QueryError("fatal: bad revision 'x'")
    bridge.handshake()

    refused = bridge.call("configure", {"config": {"weeks": "many"}})["error"]
    errored = bridge.call("query", {"query": "activity", "key": TARGET})["error"]

    assert refused["code"] == protocol.CONFIG_ERROR
    assert refused["data"] == {
        "kind": "invalid-value",
        "key": "weeks",
        "message": "'weeks' must be a positive whole number of weeks, not 'many'",
    }
    assert errored["code"] == protocol.UPSTREAM_FAILED
    assert "fatal: bad revision 'x'" in errored["message"]


def test_it_declares_the_git_query_it_makes() -> None:
    from hipcheck_plugin_activity import hipcheck_data_requirements

    assert hipcheck_data_requirements(hipcheck_configure({})) == ["hipcheck/git/last_commit_date"]
