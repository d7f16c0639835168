"""hipcheck.testing's tools for plugin authors, and the example of them in docs/plugins.md."""

from __future__ import annotations

import gc
import re
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from hipcheck.testing import BridgeClient, RemoteError, Upstream, make_engine
from hipcheck_bridge import (
    ConfigError,
    Engine,
    QueryError,
    UpstreamError,
    hookimpl,
    protocol,
    query,
)
from hipcheck_bridge._server import PluginLoadError

DOCS = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


class Doubler:
    """A plugin whose default query doubles what another plugin answers for its key."""

    @hookimpl
    def hipcheck_queries(self) -> list[Any]:
        def doubled(engine: Engine, key: str) -> int:
            engine.concern(f"factor {engine.config['factor']}")
            return int(engine.query("test/numbers/value", key)) * int(engine.config["factor"])

        return [query(default=True)(doubled)]

    @hookimpl
    def hipcheck_configure(self, config: dict[str, Any]) -> dict[str, Any]:
        if set(config) - {"factor"}:
            raise ConfigError("only 'factor'", kind="unrecognized-key", key=sorted(config)[0])
        return {"factor": 2, **config}


# -- Upstream and make_engine --------------------------------------------------------------------


def test_upstream_answers_values_and_functions_of_the_key_and_records_each_call() -> None:
    upstream = Upstream({"a/b/c": [1, 2], "a/d": lambda key: key.upper()})
    engine = make_engine({"x": 1}, upstream)

    assert engine.query("a/b/c", {"k": 1}) == [1, 2]
    assert engine.query("a/d", "key") == "KEY"  # a plugin's default query: "publisher/name"
    assert engine.config == {"x": 1}
    assert upstream.calls == [("a/b/c", {"k": 1}), ("a/d", "key")]


def test_upstream_fails_a_query_it_has_no_answer_for_naming_it() -> None:
    upstream = Upstream({"a/b/c": 1})

    with pytest.raises(UpstreamError, match=r"no canned answer for a/b/missing \(.*a/b/c"):
        make_engine(upstream=upstream).query("a/b/missing", 3)

    assert upstream.calls == [("a/b/missing", 3)]


def test_make_engine_without_upstream_fails_every_upstream_query() -> None:
    engine = make_engine()

    with pytest.raises(UpstreamError, match="no canned answer for a/b/c"):
        engine.query("a/b/c")
    assert engine.config == {}


def test_upstream_raises_a_canned_failure_as_an_upstream_error() -> None:
    def refuse(key: Any) -> Any:
        raise QueryError(f"no data for {key}")

    upstream = Upstream(
        {"a/b/query": QueryError("bad revision"), "a/b/up": UpstreamError("gone"), "a/b/fn": refuse}
    )
    engine = make_engine(upstream=upstream)

    with pytest.raises(UpstreamError, match=r"^bad revision$") as caught:
        engine.query("a/b/query")
    assert isinstance(caught.value.__cause__, QueryError)
    with pytest.raises(UpstreamError, match=r"^gone$"):
        engine.query("a/b/up")
    with pytest.raises(UpstreamError, match=r"^no data for 7$"):
        engine.query("a/b/fn", 7)


# -- BridgeClient --------------------------------------------------------------------------------


def test_bridge_client_round_trips_a_session_answering_the_plugins_upstream_query() -> None:
    upstream = Upstream({"test/numbers/value": lambda key: len(key)})

    with BridgeClient(Doubler(), "test/doubler", upstream) as bridge:
        hello = bridge.handshake()
        configured = bridge.configure({"factor": 3})
        answer = bridge.query(None, "four")
        raw = bridge.call("query", {"query": "doubled", "key": "xy"})

    assert [(q["name"], q["default"]) for q in hello["queries"]] == [("doubled", True)]
    assert configured["config"] == {"factor": 3}
    assert answer == {"value": 12, "concerns": ["factor 3"], "hints": []}
    assert raw == {"jsonrpc": "2.0", "id": 4, "result": {**answer, "value": 6}}
    assert upstream.calls == [("test/numbers/value", "four"), ("test/numbers/value", "xy")]


def test_bridge_client_reports_errors_raw_or_raised() -> None:
    upstream = Upstream({"test/numbers/value": QueryError("numbers are down")})

    with BridgeClient(Doubler(), "test/doubler", upstream) as bridge:
        bridge.handshake()
        bridge.configure()
        refused = bridge.call("configure", {"config": {"divisor": 2}})["error"]
        with pytest.raises(RemoteError, match="numbers are down") as failed:
            bridge.query(None, "x")

    assert (refused["code"], refused["data"]["key"]) == (protocol.CONFIG_ERROR, "divisor")
    assert failed.value.code == protocol.UPSTREAM_FAILED


def test_bridge_client_raises_a_test_failure_in_an_upstream_answer_and_stays_in_step() -> None:
    def broken(key: Any) -> Any:
        raise AssertionError(f"unexpected key {key!r}")

    upstream = Upstream({"test/numbers/value": broken})

    with BridgeClient(Doubler(), "test/doubler", upstream) as bridge:
        bridge.handshake()
        bridge.configure()
        with pytest.raises(AssertionError, match="unexpected key 'x'"):
            bridge.query(None, "x")
        upstream.answers["test/numbers/value"] = 5

        assert bridge.query(None, "y")["value"] == 10


def test_bridge_client_refuses_an_object_that_is_not_a_plugin() -> None:
    class Misnamed:
        @hookimpl
        def hipcheck_querys(self) -> list[Any]:
            return []

    with pytest.raises(PluginLoadError, match="test/misnamed"):
        BridgeClient(Misnamed(), "test/misnamed")


def test_close_leaves_no_thread_alive_and_no_pipe_open() -> None:
    before = set(threading.enumerate())
    bridge = BridgeClient(Doubler(), "test/doubler", Upstream({"test/numbers/value": 1}))
    bridge.handshake()
    bridge.configure()
    bridge.query(None, "x")  # starts the bridge's query workers too

    bridge.close()
    bridge.close()  # a second close does nothing

    assert not bridge.running
    with pytest.raises(ValueError, match="closed"):
        bridge.call("handshake")
    # The bridge's own thread is joined by close; its idle query workers end right after it.
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(threading.enumerate()) - before == set()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del bridge
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


# -- the documentation ---------------------------------------------------------------------------


def test_the_testing_example_in_the_plugin_guide_runs() -> None:
    guide = DOCS.read_text("utf-8")
    section = guide[guide.index("\n## Testing\n") :]
    (example,) = re.findall(r"^```python\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
    namespace: dict[str, Any] = {"__name__": "plugin_guide_example"}

    exec(compile(example, f"{DOCS}:Testing", "exec"), namespace)

    tests = [value for name, value in namespace.items() if name.startswith("test_")]
    assert len(tests) >= 2
    for test in tests:
        test()
