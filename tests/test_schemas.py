"""Plugins are held to the JSON Schemas they declare, at the host's boundary."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from test_discovery import GOOD_MANIFEST, entry_points, install_fake_dist

from hipcheck.discovery import discover
from hipcheck.errors import PluginError
from hipcheck.session import Session
from hipcheck.testing import InProcessLauncher, installed_plugin
from hipcheck_bridge import Engine, hookimpl, query


class Liar:
    """Declares its outputs as lists of strings, then returns what it likes."""

    @hookimpl
    def hipcheck_queries(self) -> list[Any]:
        def names(engine: Engine, key: int) -> list[str]:
            return ["a", "b", 3] if key == 3 else ["a"]  # a lie when asked for 3

        return [query(names, name="names")]


class BadSchema:
    @hookimpl
    def hipcheck_queries(self) -> list[Any]:
        return [
            query(lambda e, k: 1, name="one", output_schema={"type": "integer", "minimum": "x"})
        ]


def ask(obj: object, key: Any) -> Any:
    plugin = installed_plugin(publisher="t", name="p", kind="data")

    async def go() -> Any:
        session = Session({"t/p": plugin}, InProcessLauncher({"t/p": obj}))
        try:
            await session.start(["t/p"], {})
            if "t/p" in session.broken:
                return session.broken["t/p"]
            return (await session.ask("t/p", "names", key)).value
        finally:
            await session.aclose()

    return asyncio.run(go())


def test_an_output_that_fits_its_schema_passes_through() -> None:
    assert ask(Liar(), 1) == ["a"]


def test_an_output_that_breaks_its_schema_is_an_error_with_the_json_path() -> None:
    with pytest.raises(PluginError) as caught:
        ask(Liar(), 3)
    assert str(caught.value) == (
        "plugin t/p query names: the output does not match its schema: $[2] must be string"
    )


def test_a_key_that_breaks_the_schema_is_refused_before_the_plugin_sees_it() -> None:
    with pytest.raises(PluginError, match=r"the key does not match its schema: \$ must be integer"):
        ask(Liar(), "three")


def test_a_schema_that_is_not_a_json_schema_stops_the_plugin_naming_the_query() -> None:
    message = ask(BadSchema(), None)
    assert message.startswith("plugin t/p: query one's output schema is not a valid JSON Schema")


def test_schema_files_named_in_the_manifest_are_read_from_the_installed_files(
    tmp_path: Path,
) -> None:
    manifest = GOOD_MANIFEST.replace(
        'entrypoint = "acme_widgets"',
        'entrypoint = "acme_widgets"\nschemas = { count = "s/count.json" }',
    )
    install_fake_dist(tmp_path, "acme-widgets", "acme_widgets", manifest)
    (tmp_path / "acme_widgets" / "s").mkdir()
    (tmp_path / "acme_widgets" / "s" / "count.json").write_text('{"type": "integer"}')
    record = next(tmp_path.glob("*.dist-info")) / "RECORD"
    record.write_text(record.read_text() + "acme_widgets/s/count.json,,\n")
    found = discover(entry_points(tmp_path))
    assert found.plugins["acme/widgets"].schemas == {"count": {"type": "integer"}}


def test_a_missing_schema_file_is_a_discovery_problem(tmp_path: Path) -> None:
    manifest = GOOD_MANIFEST.replace(
        'entrypoint = "acme_widgets"',
        'entrypoint = "acme_widgets"\nschemas = { count = "no.json" }',
    )
    install_fake_dist(tmp_path, "acme-widgets", "acme_widgets", manifest)
    (problem,) = discover(entry_points(tmp_path)).problems
    assert "schema file no.json for query count: not found" in str(problem)
