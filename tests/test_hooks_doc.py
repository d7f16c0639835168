"""docs/hooks.md keeps up with the plugin contract: every hookspec and public bridge name."""

from __future__ import annotations

import dataclasses
import inspect
import re
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import hipcheck_bridge
from hipcheck.testing import BridgeClient, Upstream
from hipcheck_bridge import ConfigError, Engine, Hint, Query, hookspecs, protocol
from hipcheck_bridge._api import ConfigErrorKind

DOC = Path(__file__).resolve().parent.parent / "docs" / "hooks.md"
TEXT = DOC.read_text("utf-8")

# pluggy marks a hook specification by setting "<project>_spec" on the function.
SPEC_MARK = f"{hookspecs.hookspec.project_name}_spec"
SPECS: dict[str, Callable[..., Any]] = {
    name: fn for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, SPEC_MARK)
}

HOOK_HEADING = re.compile(r"^## (hipcheck_\w+)\((.*)\)\s*$", re.MULTILINE)
# An API heading names its object in code: "## `Engine`", "## `@hipcheck_bridge.query`".
API_HEADING = re.compile(r"^## `@?(?:hipcheck_bridge\.)?(\w+)", re.MULTILINE)
# A table row's first cell, in code: "| `query(target, key=None)` |" names "query".
ROW_NAME = re.compile(r"^\|\s*`(\w+)", re.MULTILINE)


def _sections() -> dict[str, str]:
    """Each level-2 heading's line, mapped to the text under it up to the next one."""
    parts = re.split(r"^(## .*)$", TEXT, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _section(name: str) -> str:
    """The text under the heading that documents hook or object ``name``."""
    for heading, body in _sections().items():
        if re.match(rf"## `?@?(?:hipcheck_bridge\.)?{name}\b", heading):
            return body
    raise AssertionError(f"docs/hooks.md has no section for {name}")


def _signature(fn: Callable[..., Any]) -> str:
    """``name(param: type, ...) -> type``, written as the hookspec module spells its hints."""
    sig = inspect.signature(fn)  # annotations stay strings: the module defers them
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{fn.__name__}({params}) -> {sig.return_annotation}"


def test_the_hookspecs_are_found() -> None:
    # Guards the marker lookup itself: finding no specs would make the tests below vacuous.
    assert {"hipcheck_queries", "hipcheck_configure"} <= set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hookspec_has_a_heading_with_its_parameter_names(name: str) -> None:
    documented = {hook: params for hook, params in HOOK_HEADING.findall(TEXT)}
    expected = list(inspect.signature(SPECS[name]).parameters)

    assert name in documented, f"docs/hooks.md has no '## {name}(...)' heading"
    assert [p.strip() for p in documented[name].split(",") if p.strip()] == expected


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hookspec_section_gives_its_full_signature(name: str) -> None:
    assert f"- **Signature:** `{_signature(SPECS[name])}`" in _section(name)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_hookspec_section_says_whether_it_is_firstresult(name: str) -> None:
    firstresult = getattr(SPECS[name], SPEC_MARK)["firstresult"]

    assert f"- **firstresult:** {'yes' if firstresult else 'no'}." in _section(name)


def test_every_documented_hook_is_a_hookspec() -> None:
    documented = [hook for hook, _ in HOOK_HEADING.findall(TEXT)]

    assert sorted(set(documented) - set(SPECS)) == []
    assert len(documented) == len(set(documented)), "a hook is documented twice"


@pytest.mark.parametrize("name", sorted(hipcheck_bridge.__all__))
def test_every_public_bridge_name_is_in_a_heading_or_a_table_row(name: str) -> None:
    mention = re.compile(rf"`@?(?:hipcheck_bridge\.)?{re.escape(name)}[`(\[]")
    lines = [line for line in TEXT.splitlines() if line.startswith(("#", "|"))]

    assert any(mention.search(line) for line in lines), f"{name} is not in docs/hooks.md"


def test_every_documented_api_object_is_public() -> None:
    assert sorted(set(API_HEADING.findall(TEXT)) - set(hipcheck_bridge.__all__)) == []


def _public(cls: type) -> set[str]:
    fields = {f.name for f in dataclasses.fields(cls)}
    return {n for n in fields | set(vars(cls)) if not n.startswith("_")}


@pytest.mark.parametrize("cls", [Engine, Hint, Query], ids=lambda cls: cls.__name__)
def test_the_table_of_each_api_class_lists_exactly_its_public_fields_and_methods(
    cls: type,
) -> None:
    assert set(ROW_NAME.findall(_section(cls.__name__))) == _public(cls)


def test_the_query_decorator_table_lists_exactly_its_options() -> None:
    parameters = inspect.signature(hipcheck_bridge.query).parameters.values()
    options = {p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY}

    assert set(ROW_NAME.findall(_section("query"))) == options


def test_the_config_error_section_lists_exactly_its_kinds_and_attributes() -> None:
    section = _section("ConfigError")
    kinds = re.findall(r'^\|\s*`"([\w-]+)"`', section, flags=re.MULTILINE)
    error = ConfigError("x", key="k")

    assert kinds == list(typing.get_args(ConfigErrorKind))
    assert set(ROW_NAME.findall(section)) == {n for n in vars(error) if not n.startswith("_")}


# -- the example plugin --------------------------------------------------------------------------

TARGET = {
    "specifier": "demo",
    "local": {"path": "/repos/demo", "git_ref": "HEAD"},
    "remote": None,
    "package": None,
}


def _commit(hash_: str, email: str) -> dict[str, Any]:
    person = {"name": email.partition("@")[0], "email": email}
    return {"hash": hash_, "author": person, "committer": person}


@pytest.fixture
def example_plugin() -> types.ModuleType:
    """Every Python block of docs/hooks.md, in order, run as one module."""
    blocks = re.findall(r"^```python\n(.*?)^```$", TEXT, flags=re.MULTILINE | re.DOTALL)
    module = types.ModuleType("hooks_doc_example")
    exec(compile("\n".join(blocks), str(DOC), "exec"), module.__dict__)
    return module


def test_the_examples_make_a_plugin_that_serves_its_queries(
    example_plugin: types.ModuleType,
) -> None:
    commits = [_commit("a1", "ann@example.org"), _commit("b2", ""), _commit("c3", "bo@example.org")]
    upstream = Upstream({"hipcheck/git/commits": commits})

    with BridgeClient(example_plugin, "example/commit-count", upstream) as bridge:
        hello = bridge.handshake()
        configured = bridge.configure({"min-commits": 5})
        count = bridge.query(None, TARGET)
        authors = bridge.query("authors", TARGET["local"])

    assert [(q["name"], q["default"]) for q in hello["queries"]] == [
        ("commit_count", True),
        ("authors", False),
    ]
    assert configured["config"] == {"min-commits": 5}
    assert configured["default_policy_expr"] == "(gte $ 5)"
    assert configured["explanation"] == "number of commits in the repository"
    assert configured["data_requirements"] == ["hipcheck/git/commits"]
    assert count["value"] == 3
    assert count["concerns"] == ["only 3 commits, fewer than 5"]
    assert authors["value"] == ["ann@example.org", "bo@example.org"]
    assert authors["hints"] == [{"message": "a commit has no author email", "commit": "b2"}]


def test_the_example_configure_hook_rejects_an_unknown_key(
    example_plugin: types.ModuleType,
) -> None:
    with BridgeClient(example_plugin, "example/commit-count") as bridge:
        bridge.handshake()
        refused = bridge.call("configure", {"config": {"min-comits": 5}})["error"]

    assert refused["code"] == protocol.CONFIG_ERROR
    assert refused["data"]["kind"] == "unrecognized-key"
    assert refused["data"]["key"] == "min-comits"
