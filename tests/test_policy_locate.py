"""Finding the line of a dotted key in TOML text, for policy errors."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hipcheck._toml import tomllib
from hipcheck.policy._locate import KeyPath, dotted, key_lines, line_of


def _line(text: str, *path: str | int) -> int | None:
    return line_of(key_lines(text), path)


def test_a_table_header_with_a_quoted_key_is_found() -> None:
    text = '[plugins]\n\n[analyze.practices."t/a"]\nweight = 2\n'
    assert _line(text, "analyze", "practices", "t/a") == 3
    assert _line(text, "analyze", "practices", "t/a", "weight") == 4


def test_a_literal_quoted_key_is_found() -> None:
    assert _line("a = 1\n['x/y']\nb = 2\n", "x/y", "b") == 3


def test_escapes_in_a_quoted_key_are_decoded() -> None:
    assert _line('a = 1\n["t\\u002Fa"]\nb = 2\n', "t/a", "b") == 3


def test_whitespace_around_the_dots_of_a_header_is_allowed() -> None:
    assert _line('\n[ analyze . "t/a" ]\nweight = 1\n', "analyze", "t/a", "weight") == 3


def test_dotted_keys_are_found_with_their_implied_tables() -> None:
    text = '[analyze]\ninvestigate = "x"\npractices."t/a".weight = 2\n'
    assert _line(text, "analyze", "practices", "t/a", "weight") == 3
    assert _line(text, "analyze", "practices") == 3


def test_keys_of_an_inline_table_are_on_its_line() -> None:
    text = '[analyze.practices]\nweight = 3\n"t/a" = { weight = 2, config = { x = { rel = 1 } } }\n'
    assert _line(text, "analyze", "practices", "t/a", "weight") == 3
    assert _line(text, "analyze", "practices", "t/a", "config", "x", "rel") == 3


def test_elements_of_a_multi_line_array_have_their_own_lines() -> None:
    text = 'hashes = [\n  "a",  # first\n\n  "b",\n]\n'
    assert _line(text, "hashes", 0) == 2
    assert _line(text, "hashes", 1) == 4


def test_tables_in_an_inline_array_are_found() -> None:
    text = "x = 1\nitems = [\n  { a = 1 },\n  { a = 2 },\n]\n"
    assert _line(text, "items", 1, "a") == 4


def test_arrays_of_tables_are_counted() -> None:
    text = "[[rule]]\nname = 'a'\n\n[[rule]]\nname = 'b'\n[rule.detail]\nx = 1\n"
    assert _line(text, "rule", 0, "name") == 2
    assert _line(text, "rule", 1, "name") == 5
    assert _line(text, "rule", 1, "detail", "x") == 7
    assert _line(text, "rule") == 1


def test_a_table_stated_after_its_subtable_is_found_where_stated() -> None:
    text = '[analyze.practices."t/a"]\nweight = 1\n[analyze.practices]\nweight = 3\n'
    assert _line(text, "analyze", "practices") == 3
    assert _line(text, "analyze") == 1  # only ever implied, by the first header


def test_strings_that_look_like_toml_do_not_confuse_it() -> None:
    text = (
        'a = "[not.a.table] # \\" x = 1"\n'
        "b = '''\n[still.not]\ny = 2\n'''\n"
        'c = """\nz = 3 ""\\"\n"""\n'
        "d = 1979-05-27 07:32:00Z # a date with a space\n"
        "e = 4\n"
    )
    lines = key_lines(text)
    assert ("not", "a", "table") not in lines and ("still", "not") not in lines
    assert [lines[(k,)] for k in "abcde"] == [1, 2, 6, 9, 10]


def test_a_missing_key_falls_back_to_the_nearest_enclosing_table() -> None:
    text = '[plugins]\n\n[analyze.practices."t/a"]\nweight = 2\n'
    assert _line(text, "analyze", "practices", "t/a", "policy") == 3
    assert _line(text, "nowhere") is None


def test_crlf_line_endings_count_lines_the_same() -> None:
    assert _line("a = 1\r\n\r\n[b]\r\nc = 2\r\n", "b", "c") == 4


def test_text_that_is_not_toml_does_not_hang_or_raise() -> None:
    assert isinstance(key_lines('[a.\nb = {\n"x'), dict)


@pytest.mark.parametrize(
    ("path", "spelled"),
    [
        (("analyze", "practices", "t/a", "weight"), 'analyze.practices."t/a".weight'),
        (("plugins", "t/a", "hashes", 1), 'plugins."t/a".hashes[1]'),
        (("analyze", "investigate-if-fail", 0), "analyze.investigate-if-fail[0]"),
        (("a b", 'q"uote'), '"a b"."q\\"uote"'),
        ((), ""),
    ],
)
def test_paths_are_spelled_as_toml_keys(path: KeyPath, spelled: str) -> None:
    assert dotted(path) == spelled


# -- a property: any nested tables, written in any of TOML's styles, map back to their lines ------

_KEYS = st.sampled_from(["a", "weight", "x-1", "t/a", "pub/ns/name", "a.b", "with space", "é"])
_LEAVES = st.one_of(st.integers(-5, 5), st.lists(st.integers(0, 9), max_size=3))
_TREES = st.recursive(
    st.dictionaries(_KEYS, _LEAVES, max_size=3),
    lambda children: st.dictionaries(_KEYS, st.one_of(_LEAVES, children), max_size=3),
    max_leaves=12,
)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


class _Writer:
    """Writes a tree as TOML in a drawn mix of styles, noting the line of every key it writes."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.lines: list[str] = []
        self.expected: dict[KeyPath, int] = {}

    def emit(self, line: str) -> int:
        self.lines.append(line)
        number = len(self.lines)
        if self.draw(st.booleans()):
            self.lines.append(self.draw(st.sampled_from(["", "# a comment", "   "])))
        return number

    def table(self, path: KeyPath, tree: dict[str, Any]) -> None:
        headed: list[tuple[str, dict[str, Any]]] = []
        for key, value in tree.items():
            if isinstance(value, dict) and value and self.draw(st.booleans()):
                headed.append((key, value))  # after this table's own keys, as TOML requires
            else:
                self.key_value(path, (key,), value)
        for key, value in headed:
            header = ".".join(_key(str(k)) for k in (*path, key))
            sub_path = (*path, key)
            self.expected[sub_path] = self.emit(f"[{header}]")
            self.table(sub_path, value)

    def key_value(self, table: KeyPath, keys: tuple[str, ...], value: Any) -> None:
        path = (*table, *keys)
        if isinstance(value, dict) and value and self.draw(st.booleans()):
            for key, sub in value.items():  # dotted keys: a.b = 1, a.c = 2
                self.key_value(table, (*keys, key), sub)
            return
        spelled = ".".join(_key(k) for k in keys)
        if isinstance(value, list) and value and self.draw(st.booleans()):
            line = self.emit(f"{spelled} = [")
            for i, item in enumerate(value):
                element = (*path, i)
                self.expected[element] = self.emit(f"  {item},")
            self.emit("]")
        else:
            line = self.emit(f"{spelled} = {_inline(value)}")
            self._inline_lines(path, value, line)
        for end in range(len(table) + 1, len(path) + 1):
            self.expected.setdefault(path[:end], line)

    def _inline_lines(self, path: KeyPath, value: Any, line: int) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                sub_path = (*path, key)
                self.expected[sub_path] = line
                self._inline_lines(sub_path, sub, line)
        elif isinstance(value, list):
            self.expected.update({(*path, i): line for i in range(len(value))})


def _inline(value: Any) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


@st.composite
def _documents(draw: st.DrawFn) -> tuple[str, dict[str, Any], dict[KeyPath, int]]:
    tree = draw(_TREES)
    writer = _Writer(draw)
    writer.table((), tree)
    return "\n".join(writer.lines) + "\n", tree, writer.expected


@settings(max_examples=300, deadline=None)
@given(_documents())
def test_every_written_key_maps_back_to_its_line(
    document: tuple[str, dict[str, Any], dict[KeyPath, int]],
) -> None:
    text, tree, expected = document
    assert tomllib.loads(text) == tree  # the writer wrote what it meant to
    lines = key_lines(text)
    assert {path: lines.get(path) for path in expected} == expected
