"""The identity plugin, answered by canned upstream data, directly and through the real bridge."""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Iterator
from importlib import resources
from typing import Any

import hipcheck_plugin_identity
import pytest
from hipcheck_plugin_identity import (
    hipcheck_configure,
    hipcheck_default_policy_expr,
    hipcheck_explain_default_query,
)

from hipcheck.manifest import Manifest
from hipcheck.testing import BridgeClient, Upstream, make_engine
from hipcheck_bridge import ConfigError, QueryError, UpstreamError, protocol

LOCAL = {"path": "/repos/demo", "git_ref": "0123456789abcdef0123456789abcdef01234567"}
TARGET = {"specifier": "demo", "local": LOCAL, "remote": None, "package": None}
ALICE = {"name": "Alice", "email": "alice@example.org"}
BOB = {"name": "Bob", "email": "bob@example.org"}


def _commit(n: int, author: dict[str, str], committer: dict[str, str]) -> dict[str, Any]:
    return {
        "hash": f"{n:040x}",
        "author": author,
        "committer": committer,
        "written_on": "2024-01-01T00:00:00Z",
        "committed_on": "2024-01-02T00:00:00Z",
    }


HISTORY = [
    _commit(4, ALICE, ALICE),
    _commit(3, ALICE, BOB),
    _commit(2, ALICE, {**ALICE, "email": "alice@elsewhere.example"}),
    _commit(1, ALICE, {**ALICE, "name": "alice"}),
    _commit(0, BOB, BOB),
]


CONFIG = hipcheck_configure({})


# -- the query -------------------------------------------------------------------------------


def test_identity_marks_commits_whose_author_committed_them_in_commit_order() -> None:
    upstream = Upstream({"hipcheck/git/commits": HISTORY})

    value = hipcheck_plugin_identity.identity(make_engine(CONFIG, upstream), TARGET)

    # Same name and e-mail, exactly: a different e-mail or a name's case makes another person.
    assert value == [True, False, False, False, True]
    assert upstream.calls == [("hipcheck/git/commits", LOCAL)]


def test_identity_of_an_empty_history_is_empty() -> None:
    upstream = Upstream({"hipcheck/git/commits": []})

    assert hipcheck_plugin_identity.identity(make_engine(CONFIG, upstream), TARGET) == []


@pytest.mark.parametrize(
    "commits", [{"commits": HISTORY}, [{"hash": "0" * 40}], [{"author": ALICE, "committer": 1}]]
)
def test_a_malformed_history_is_a_query_error(commits: Any) -> None:
    upstream = Upstream({"hipcheck/git/commits": commits})

    with pytest.raises(QueryError, match="hipcheck/git/commits gave"):
        hipcheck_plugin_identity.identity(make_engine(CONFIG, upstream), TARGET)


def test_a_failure_of_the_git_plugin_fails_the_query() -> None:
    upstream = Upstream({"hipcheck/git/commits": UpstreamError("not a git repository")})

    with pytest.raises(UpstreamError, match="not a git repository"):
        hipcheck_plugin_identity.identity(make_engine(CONFIG, upstream), TARGET)


@pytest.mark.parametrize("key", [None, LOCAL, {"local": "/repos/demo"}])
def test_a_key_that_is_not_a_target_is_a_query_error(key: Any) -> None:
    with pytest.raises(QueryError, match='target with a "local" repository'):
        hipcheck_plugin_identity.identity(make_engine(CONFIG), key)


# -- configuration and policy ----------------------------------------------------------------


def test_configure_fills_in_the_default_threshold_of_a_fifth() -> None:
    assert hipcheck_configure({}) == {"percent-threshold": 0.2}
    assert hipcheck_configure({"percent-threshold": 0.35}) == {"percent-threshold": 0.35}


def test_configure_makes_whole_numbers_floats_so_equal_configurations_hash_alike() -> None:
    configured = [hipcheck_configure({"percent-threshold": n})["percent-threshold"] for n in (0, 1)]

    assert configured == [0.0, 1.0]
    assert all(isinstance(threshold, float) for threshold in configured)


@pytest.mark.parametrize("threshold", [-0.01, 1.5, math.nan, math.inf, "0.2", True, None])
def test_configure_refuses_a_threshold_outside_zero_to_one(threshold: Any) -> None:
    with pytest.raises(ConfigError, match="fraction from 0 to 1") as caught:
        hipcheck_configure({"percent-threshold": threshold})

    assert (caught.value.kind, caught.value.key) == ("invalid-value", "percent-threshold")


def test_configure_refuses_an_unknown_key() -> None:
    with pytest.raises(ConfigError, match="'threshold'") as caught:
        hipcheck_configure({"threshold": 0.5})

    assert (caught.value.kind, caught.value.key) == ("unrecognized-key", "threshold")


@pytest.mark.parametrize(
    ("config", "threshold"),
    [({}, "0.2"), ({"percent-threshold": 1}, "1.0"), ({"percent-threshold": 0.00001}, "0.00001")],
)
def test_the_default_policy_reflects_the_configured_threshold(
    config: dict[str, Any], threshold: str
) -> None:
    expression = hipcheck_default_policy_expr(hipcheck_configure(config))

    assert expression == f"(lte (divz (count (filter (eq #t) $)) (count $)) {threshold})"


def test_the_explanation_is_a_noun_phrase() -> None:
    assert hipcheck_explain_default_query() == "commits whose author also committed them"


def test_the_manifest_ships_in_the_package_and_names_the_git_plugin() -> None:
    toml = importlib.import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")
    text = (resources.files("hipcheck_plugin_identity") / "hipcheck-plugin.toml").read_text()

    manifest = Manifest.model_validate({**toml.loads(text), "version": "0.1.0"})

    assert (manifest.identity, manifest.kind) == ("hipcheck/identity", "analysis")
    assert manifest.entrypoint == "hipcheck_plugin_identity"
    assert [(d.identity, d.version) for d in manifest.dependencies] == [("hipcheck/git", "^0.1")]


# -- through the bridge ----------------------------------------------------------------------


@pytest.fixture
def upstream() -> Upstream:
    return Upstream({"hipcheck/git/commits": HISTORY})


@pytest.fixture
def bridge(upstream: Upstream) -> Iterator[BridgeClient]:
    with BridgeClient(hipcheck_plugin_identity, "hipcheck/identity", upstream) as served:
        yield served


def test_the_bridge_serves_the_plugin_and_relays_its_git_query(
    bridge: BridgeClient, upstream: Upstream
) -> None:
    hello = bridge.handshake()
    configured = bridge.configure({"percent-threshold": 0.5})
    answer = bridge.query(None, TARGET)

    assert [(q["name"], q["default"]) for q in hello["queries"]] == [("identity", True)]
    assert hello["queries"][0]["output_schema"] == {"type": "array", "items": {"type": "boolean"}}
    assert configured["config"] == {"percent-threshold": 0.5}
    assert configured["default_policy_expr"] == (
        "(lte (divz (count (filter (eq #t) $)) (count $)) 0.5)"
    )
    assert configured["explanation"] == "commits whose author also committed them"
    assert answer == {"value": [True, False, False, False, True], "concerns": [], "hints": []}
    assert upstream.calls == [("hipcheck/git/commits", LOCAL)]


def test_the_bridge_reports_bad_configuration_and_upstream_failures(
    bridge: BridgeClient, upstream: Upstream
) -> None:
    upstream.answers["hipcheck/git/commits"] = QueryError("fatal: not a git repository")
    bridge.handshake()

    refused = bridge.call("configure", {"config": {"percent-threshold": 20}})["error"]
    errored = bridge.call("query", {"query": "identity", "key": TARGET})["error"]

    assert refused["code"] == protocol.CONFIG_ERROR
    assert (refused["data"]["kind"], refused["data"]["key"]) == (
        "invalid-value",
        "percent-threshold",
    )
    assert errored["code"] == protocol.UPSTREAM_FAILED
    assert "fatal: not a git repository" in errored["message"]


def test_it_declares_the_git_query_it_makes() -> None:
    from hipcheck_plugin_identity import hipcheck_data_requirements

    assert hipcheck_data_requirements(hipcheck_configure({})) == ["hipcheck/git/commits"]
