"""Where a key sits in TOML text, so that policy errors can name the line.

``tomllib`` returns plain dicts and forgets positions. This is a small scanner for TOML that
``tomllib`` has already accepted: it walks table headers (``[a."b/c"]``, ``[[a]]``), dotted
keys, inline tables and arrays, and records the line on which each key path is defined. A path
is a tuple of keys and array indices, as in ``("analyze", "practices", "t/a", "weight")`` or
``("plugins", "t/a", "hashes", 1)``.
"""

from __future__ import annotations

import bisect
import re

from hipcheck._toml import tomllib

KeyPath = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_BLANK = " \t\r"


def key_lines(text: str) -> dict[KeyPath, int]:
    """The 1-based line on which each key path of ``text`` is defined."""
    return _Scanner(text).scan()


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, else of its nearest enclosing key that has one."""
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


def dotted(path: KeyPath) -> str:
    """Spell a key path as TOML does: ``analyze.practices."t/a".weight``, ``hashes[1]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        key = part if _BARE_KEY.fullmatch(part) else _quote(part)
        out += f".{key}" if out else key
    return out


def _quote(key: str) -> str:
    escaped = key.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'


class _Scanner:
    """One pass over the text. It trusts the text to be valid TOML and never raises on it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._newlines = [i for i, c in enumerate(text) if c == "\n"]
        # A key stated on its own line or header wins over a table that a longer key or header
        # only implies (``[a.b]`` implies ``a``); a later ``[a]`` is where ``a`` really is.
        self.stated: dict[KeyPath, int] = {}
        self.implied: dict[KeyPath, int] = {}
        self.tables_in_arrays: dict[KeyPath, int] = {}

    def scan(self) -> dict[KeyPath, int]:
        table: KeyPath = ()
        while True:
            self._skip_blank(newlines=True)
            if self._at_end():
                break
            line = self._line()
            if self.text.startswith("[[", self.pos):
                self.pos += 2
                key = self._key()
                array = (*self._resolve(key[:-1]), key[-1])
                count = self.tables_in_arrays.get(array, 0)
                self.tables_in_arrays[array] = count + 1
                table = (*array, count)
                self._imply(table, line)
                self.stated[table] = line
                self._expect("]]")
            elif self._peek() == "[":
                self.pos += 1
                table = self._resolve(self._key())
                self._imply(table, line)
                self.stated[table] = line
                self._expect("]")
            else:
                self._key_value(table)
        return {**self.implied, **self.stated}

    # -- keys and values -------------------------------------------------------------------------

    def _key_value(self, table: KeyPath) -> None:
        line = self._line()
        path = (*table, *self._key())
        self._imply(path, line)
        self.stated[path] = line
        self._skip_blank()
        self._expect("=")
        self._skip_blank()
        self._value(path)

    def _key(self) -> tuple[str, ...]:
        parts: list[str] = []
        while True:
            self._skip_blank()
            parts.append(self._simple_key())
            self._skip_blank()
            if self._peek() != ".":
                return tuple(parts)
            self.pos += 1

    def _simple_key(self) -> str:
        start = self.pos
        quote = self._peek()
        if quote == '"':
            self._skip_basic_string()
            # tomllib decodes the escapes, so a key spelled "t\u002Fa" is still found as t/a.
            return str(tomllib.loads(f"k = {self.text[start : self.pos]}")["k"])
        if quote == "'":
            end = self._find("'", start + 1)
            self.pos = end + 1
            return self.text[start + 1 : end]
        match = _BARE_KEY.match(self.text, self.pos)
        if match is None:  # not valid TOML: give up on the rest rather than loop
            self.pos = len(self.text)
            return ""
        self.pos = match.end()
        return match.group()

    def _value(self, path: KeyPath) -> None:
        c = self._peek()
        if c == "{":
            self._inline_table(path)
        elif c == "[":
            self._array(path)
        elif self.text.startswith('"""', self.pos) or self.text.startswith("'''", self.pos):
            self._skip_multiline_string()
        elif c == '"':
            self._skip_basic_string()
        elif c == "'":
            self.pos = self._find("'", self.pos + 1) + 1
        else:
            # Numbers, booleans and dates (which may hold a space) run to a delimiter.
            while not self._at_end() and self._peek() not in ",]}#\n":
                self.pos += 1

    def _inline_table(self, path: KeyPath) -> None:
        self.pos += 1
        while True:
            # Newlines are skipped too, for TOML 1.1's multi-line inline tables.
            self._skip_blank(newlines=True)
            if self._at_end() or self._peek() == "}":
                self.pos += 1
                return
            self._key_value(path)
            self._skip_blank(newlines=True)
            if self._peek() == ",":
                self.pos += 1

    def _array(self, path: KeyPath) -> None:
        self.pos += 1
        index = 0
        while True:
            self._skip_blank(newlines=True)
            if self._at_end() or self._peek() == "]":
                self.pos += 1
                return
            element = (*path, index)
            self.stated[element] = self._line()
            self._value(element)
            self._skip_blank(newlines=True)
            if self._peek() == ",":
                self.pos += 1
            index += 1

    # -- strings ---------------------------------------------------------------------------------

    def _skip_basic_string(self) -> None:
        i = self.pos + 1
        while i < len(self.text) and self.text[i] != '"':
            i += 2 if self.text[i] == "\\" else 1
        self.pos = i + 1

    def _skip_multiline_string(self) -> None:
        delimiter = self.text[self.pos : self.pos + 3]
        i = self.pos + 3
        while i < len(self.text):
            if delimiter == '"""' and self.text[i] == "\\":
                i += 2
            elif self.text.startswith(delimiter, i):
                # Up to two quotes may end the content just before the closing delimiter.
                end = i + 3
                while end < len(self.text) and end - i < 5 and self.text[end] == delimiter[0]:
                    end += 1
                self.pos = end
                return
            else:
                i += 1
        self.pos = len(self.text)

    # -- tables ----------------------------------------------------------------------------------

    def _resolve(self, key: tuple[str, ...]) -> KeyPath:
        """A header's key as a path: a table inside an array of tables is in its last element."""
        path: KeyPath = ()
        for part in key:
            path = (*path, part)
            count = self.tables_in_arrays.get(path)
            if count is not None:
                path = (*path, count - 1)
        return path

    def _imply(self, path: KeyPath, line: int) -> None:
        for end in range(1, len(path)):
            self.implied.setdefault(path[:end], line)

    # -- characters ------------------------------------------------------------------------------

    def _line(self) -> int:
        return bisect.bisect_left(self._newlines, self.pos) + 1

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _find(self, char: str, start: int) -> int:
        end = self.text.find(char, start)
        return len(self.text) if end < 0 else end

    def _expect(self, token: str) -> None:
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
        else:  # not valid TOML: stop here rather than misread the rest
            self.pos = len(self.text)

    def _skip_blank(self, *, newlines: bool = False) -> None:
        blank = _BLANK + "\n" if newlines else _BLANK
        while not self._at_end():
            c = self._peek()
            if c in blank:
                self.pos += 1
            elif c == "#":
                self.pos = self._find("\n", self.pos)
            else:
                return
