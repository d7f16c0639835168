"""The session's plugin lifecycle and query routing, over the real protocol in-process."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from hipcheck.errors import PluginError
from hipcheck.session import Session, required_plugins
from hipcheck.testing import InProcessLauncher, installed_plugin
from hipcheck_bridge import ConfigError, Engine, hookimpl, query


class Numbers:
    """A data plugin that counts how often it computes each answer."""

    def __init__(self) -> None:
        self.calls: dict[int, int] = {}
        self.lock = threading.Lock()

    def _square(self, engine: Engine, key: int) -> int:
        with self.lock:
            self.calls[key] = self.calls.get(key, 0) + 1
        time.sleep(0.05)  # long enough for concurrent askers to overlap
        return key * key

    @hookimpl
    def hipcheck_queries(self) -> list[Any]:
        return [query(self._square, name="square")]


class SumOfSquares:
    """An analysis plugin whose default query asks the data plugin for each element."""

    @hookimpl
    def hipcheck_queries(self) -> list[Any]:
        def total(engine: Engine, key: list[int]) -> int:
            engine.concern(f"summed {len(key)} squares")
            return sum(engine.query("test/numbers/square", k) for k in key)

        return [query(total, default=True)]

    @hookimpl
    def hipcheck_configure(self, config: dict[str, Any]) -> dict[str, Any]:
        unknown = set(config) - {"limit"}
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f"unknown key {key}", kind="unrecognized-key", key=key)
        return {"limit": 10, **config}

    @hookimpl
    def hipcheck_default_policy_expr(self, config: dict[str, Any]) -> str:
        return f"(lte $ {config['limit']})"


NUMBERS = installed_plugin(publisher="test", name="numbers", kind="data")
SUM = installed_plugin(
    publisher="test",
    name="sum",
    dependencies=[{"publisher": "test", "name": "numbers"}],
)


def _session(numbers: Numbers) -> tuple[Session, InProcessLauncher]:
    launcher = InProcessLauncher({"test/numbers": numbers, "test/sum": SumOfSquares()})
    session = Session({"test/numbers": NUMBERS, "test/sum": SUM}, launcher)
    return session, launcher


def test_plugin_queries_are_routed_through_the_host_and_memoised() -> None:
    numbers = Numbers()

    async def go() -> Any:
        session, _ = _session(numbers)
        try:
            await session.start(["test/numbers", "test/sum"], {})
            return await session.ask("test/sum", None, [1, 2, 2, 3, 3, 3])
        finally:
            await session.aclose()

    result = asyncio.run(go())
    assert result.value == 1 + 4 + 4 + 9 + 9 + 9
    assert result.concerns == ["summed 6 squares"]
    assert numbers.calls == {1: 1, 2: 1, 3: 1}


def test_concurrent_askers_share_one_computation() -> None:
    numbers = Numbers()

    async def go() -> list[Any]:
        session, _ = _session(numbers)
        try:
            await session.start(["test/numbers"], {})
            return await asyncio.gather(
                *(session.ask("test/numbers", "square", 7) for _ in range(5))
            )
        finally:
            await session.aclose()

    results = asyncio.run(go())
    assert [r.value for r in results] == [49] * 5
    assert numbers.calls == {7: 1}


def test_configuration_is_validated_and_hashed_by_the_plugin() -> None:
    async def go() -> Session:
        session, _ = _session(Numbers())
        await session.start(["test/sum"], {"test/sum": {"limit": 3}})
        await session.aclose()
        return session

    session = asyncio.run(go())
    configured = session.clients["test/sum"].configured
    assert configured["config"] == {"limit": 3}
    assert configured["default_policy_expr"] == "(lte $ 3)"
    assert len(configured["config_hash"]) == 64


def test_a_rejected_configuration_names_the_plugin_kind_and_key() -> None:
    async def go() -> Session:
        session, _ = _session(Numbers())
        await session.start(["test/sum"], {"test/sum": {"limt": 3}})
        await session.aclose()
        return session

    session = asyncio.run(go())
    assert "test/sum" not in session.clients
    assert session.broken["test/sum"] == (
        "plugin test/sum rejected its configuration (unrecognized-key key 'limt'): unknown key limt"
    )


def test_a_plugin_without_configure_hook_refuses_any_configuration() -> None:
    async def go() -> Session:
        session, _ = _session(Numbers())
        await session.start(["test/numbers"], {"test/numbers": {"x": 1}})
        await session.aclose()
        return session

    assert "takes no configuration" in asyncio.run(go()).broken["test/numbers"]


def test_asking_an_unknown_query_is_an_error_naming_it() -> None:
    async def go() -> None:
        session, _ = _session(Numbers())
        try:
            await session.start(["test/numbers"], {})
            await session.ask("test/numbers", "cube", 2)
        finally:
            await session.aclose()

    with pytest.raises(PluginError, match="plugin test/numbers has no query 'cube'"):
        asyncio.run(go())


def test_required_plugins_orders_dependencies_first() -> None:
    resolution = required_plugins({"test/sum": "*"}, {"test/numbers": NUMBERS, "test/sum": SUM})
    order, problems = resolution.order, resolution.problems
    assert order == ["test/numbers", "test/sum"]
    assert problems == {}


def test_required_plugins_reports_a_missing_dependency_for_its_dependant() -> None:
    resolution = required_plugins({"test/sum": "*"}, {"test/sum": SUM})
    order, problems = resolution.order, resolution.problems
    assert order == []
    assert problems == {
        "test/numbers": "plugin test/numbers is not installed",
        "test/sum": "plugin test/numbers is not installed (needed by test/sum)",
    }


def test_required_plugins_reports_a_cycle() -> None:
    a = installed_plugin(publisher="t", name="a", dependencies=[{"publisher": "t", "name": "b"}])
    b = installed_plugin(publisher="t", name="b", dependencies=[{"publisher": "t", "name": "a"}])
    problems = required_plugins({"t/a": "*"}, {"t/a": a, "t/b": b}).problems
    assert problems["t/a"] == "plugin dependency cycle: t/a -> t/b -> t/a"


def test_required_plugins_checks_version_requirements() -> None:
    problems = required_plugins(
        {"test/sum": "^0.2"}, {"test/numbers": NUMBERS, "test/sum": SUM}
    ).problems
    assert problems == {"test/sum": "plugin test/sum 0.1.0 does not satisfy ^0.2 (policy)"}
    picky = installed_plugin(
        publisher="test",
        name="picky",
        dependencies=[{"publisher": "test", "name": "numbers", "version": ">=1"}],
    )
    problems = required_plugins(
        {"test/picky": "*"}, {"test/numbers": NUMBERS, "test/picky": picky}
    ).problems
    assert problems["test/picky"] == (
        "plugin test/numbers 0.1.0 does not satisfy >=1 (needed by test/picky)"
    )


class Tokened:
    """A plugin configured with a secret it must see, which must not come back out."""

    def __init__(self) -> None:
        self.seen: dict[str, Any] = {}

    @hookimpl
    def hipcheck_queries(self) -> list[Any]:
        return [query(lambda engine, key: dict(engine.config), name="config", default=True)]

    @hookimpl
    def hipcheck_configure(self, config: dict[str, Any]) -> dict[str, Any]:
        self.seen = dict(config)
        return {"retries": 3, **config}


def test_secrets_reach_the_plugin_but_not_its_returned_config_or_hash() -> None:
    plugin = installed_plugin(publisher="test", name="tokened")
    secret = [(("auth", "token"), "T_TOKEN")]

    tokened = Tokened()

    async def configured(token: str) -> dict[str, Any]:
        session = Session({"test/tokened": plugin}, InProcessLauncher({"test/tokened": tokened}))
        await session.start(
            ["test/tokened"],
            {"test/tokened": {"auth": {"token": token}}},
            secrets={"test/tokened": secret},
        )
        await session.aclose()
        return session.clients["test/tokened"].configured

    first, second = asyncio.run(configured("s3cret")), asyncio.run(configured("rotated"))
    assert tokened.seen == {"auth": {"token": "rotated"}}
    assert first["config"] == {"retries": 3, "auth": {"token": {"env": "T_TOKEN"}}}
    assert "s3cret" not in json.dumps(first)
    assert first["config_hash"] == second["config_hash"]


def test_required_plugins_refuses_an_unknown_plugin_interface_version() -> None:
    future = installed_plugin(publisher="t", name="future", plugin_interface_version="2")
    problems = required_plugins({"t/future": "*"}, {"t/future": future}).problems
    assert problems["t/future"] == (
        "plugin t/future 0.1.0 is written for plugin interface version 2; this hipcheck speaks 1"
    )


def test_required_plugins_says_why_an_excluded_dependency_is_missing() -> None:
    problems = required_plugins(
        {"test/sum": "*"}, {"test/sum": SUM}, {"test/numbers": "plugin test/numbers is blocked"}
    ).problems
    assert problems["test/sum"] == "plugin test/numbers is blocked (needed by test/sum)"


class Needy:
    """An analysis that declares the data it will need, per its configuration."""

    @hookimpl
    def hipcheck_queries(self) -> list[Any]:
        return [query(lambda engine, key: 0, name="n", default=True)]

    @hookimpl
    def hipcheck_configure(self, config: dict[str, Any]) -> dict[str, Any]:
        return {"source": "test/numbers/square", **config}

    @hookimpl
    def hipcheck_data_requirements(self, config: dict[str, Any]) -> list[str]:
        return [config["source"]]


def _needy_session(config: dict[str, Any], *, with_numbers: bool) -> Session:
    needy = installed_plugin(publisher="test", name="needy")
    objects: dict[str, object] = {"test/needy": Needy(), "test/numbers": Numbers()}
    session = Session({"test/needy": needy, "test/numbers": NUMBERS}, InProcessLauncher(objects))

    async def go() -> None:
        names = ["test/numbers", "test/needy"] if with_numbers else ["test/needy"]
        await session.start(names, {"test/needy": config})
        await session.aclose()

    asyncio.run(go())
    return session


def test_declared_data_requirements_that_are_offered_pass_the_data_source_check() -> None:
    session = _needy_session({}, with_numbers=True)
    assert "test/needy" in session.clients
    assert session.clients["test/needy"].configured["data_requirements"] == ["test/numbers/square"]


def test_a_data_requirement_no_plugin_offers_is_reported_before_analyses_run() -> None:
    session = _needy_session({"source": "test/numbers/cube"}, with_numbers=True)
    assert session.broken["test/needy"] == (
        "plugin test/needy needs test/numbers/cube: test/numbers has no such query"
    )
    absent = _needy_session({}, with_numbers=False)
    assert absent.broken["test/needy"].startswith(
        "plugin test/needy needs test/numbers/square: no plugin in this run provides it"
    )


def _version(number: str) -> Any:
    return installed_plugin(publisher="test", name="numbers", kind="data", version=number)


def test_the_highest_installed_version_that_satisfies_the_requirement_wins() -> None:
    picky = installed_plugin(
        publisher="test",
        name="picky",
        dependencies=[{"publisher": "test", "name": "numbers", "version": "^0.2"}],
    )
    versions = [_version("0.3.0"), _version("0.2.5"), _version("0.2.1")]
    resolution = required_plugins(
        {"test/picky": "*"}, {"test/numbers": versions, "test/picky": picky}
    )
    assert resolution.problems == {}
    assert resolution.chosen["test/numbers"].version == "0.2.5"


def test_two_requirements_no_version_satisfies_name_who_needs_what() -> None:
    old = installed_plugin(
        publisher="test",
        name="old",
        dependencies=[{"publisher": "test", "name": "numbers", "version": "^0.2"}],
    )
    new = installed_plugin(
        publisher="test",
        name="new",
        dependencies=[{"publisher": "test", "name": "numbers", "version": "^0.3"}],
    )
    resolution = required_plugins(
        {"test/old": "*", "test/new": "*"},
        {"test/numbers": [_version("0.3.0"), _version("0.2.5")], "test/old": old, "test/new": new},
    )
    assert resolution.problems == {
        "test/new": "plugin test/numbers: ^0.3 (needed by test/new) conflicts with "
        "^0.2 (needed by test/old), which chose 0.2.5"
    }


def test_required_plugins_refuses_an_interface_it_cannot_launch() -> None:
    grpc = installed_plugin(publisher="t", name="grpc", interface="hipcheck-grpc")
    problems = required_plugins({"t/grpc": "*"}, {"t/grpc": grpc}).problems
    assert problems["t/grpc"] == (
        "plugin t/grpc 0.1.0 declares interface 'hipcheck-grpc'; this hipcheck runs python plugins"
    )
