"""Splitting expression text into tokens.

The text is first cut into brackets, commas and *words* (maximal runs of anything else that
is not whitespace); each word is then classified as a whole. Classifying whole words means a
malformed literal such as ``12abc`` is reported as one bad token instead of silently being
read as ``12`` followed by ``abc``.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass

from hipcheck.expr import _time
from hipcheck.expr._errors import ParseError
from hipcheck.expr._values import DateTime, Prim, Span


class Kind(enum.Enum):
    """What a token is."""

    LPAREN = "'('"
    RPAREN = "')'"
    LBRACKET = "'['"
    RBRACKET = "']'"
    COMMA = "','"
    LITERAL = "a value"
    IDENT = "a name"
    POINTER = "a JSON pointer"
    END = "the end of the expression"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its text, where it is, and the value of a literal."""

    kind: Kind
    text: str
    start: int
    end: int
    value: Prim | None = None


_PIECES = re.compile(r"\s+|[()\[\],]|[^\s()\[\],]+")
_PUNCT = {
    "(": Kind.LPAREN,
    ")": Kind.RPAREN,
    "[": Kind.LBRACKET,
    "]": Kind.RBRACKET,
    ",": Kind.COMMA,
}
_IDENT = re.compile(r"[A-Za-z]+")
_INT = re.compile(r"-?[0-9]+")
_FLOAT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_POINTER = re.compile(r"\$(?:/(?:[^~/]|~[01])*)*")

_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1


def tokenize(source: str) -> list[Token]:
    """All tokens of ``source``, ending with an ``END`` token; raises :class:`ParseError`."""
    tokens: list[Token] = []
    for m in _PIECES.finditer(source):
        text = m.group()
        if text[0].isspace():
            continue
        kind = _PUNCT.get(text)
        if kind is not None:
            tokens.append(Token(kind, text, m.start(), m.end()))
        else:
            tokens.append(_word(source, text, m.start(), m.end()))
    tokens.append(Token(Kind.END, "", len(source), len(source)))
    return tokens


def _word(source: str, text: str, start: int, end: int) -> Token:
    def fail(message: str) -> ParseError:
        return ParseError(message, source, (start, end))

    first = text[0]
    if first == "$":
        if _POINTER.fullmatch(text) is None:
            if len(text) > 1 and text[1] != "/":
                raise fail(
                    f"invalid JSON pointer '{text}'; after '$' a pointer must start with '/'"
                )
            raise fail(f"invalid JSON pointer '{text}'; '~' must be followed by 0 or 1")
        return Token(Kind.POINTER, text, start, end)
    if first == "#":
        if text in ("#t", "#f"):
            return Token(Kind.LITERAL, text, start, end, text == "#t")
        raise fail(f"invalid boolean '{text}'; booleans are written #t and #f")
    if _IDENT.fullmatch(text):
        return Token(Kind.IDENT, text, start, end)
    if _time.looks_like_span(text):
        try:
            return Token(Kind.LITERAL, text, start, end, Span.parse(text))
        except _time.TimeSyntaxError as exc:
            raise fail(str(exc)) from None
    if _time.looks_like_datetime(text):
        try:
            return Token(Kind.LITERAL, text, start, end, DateTime.parse(text))
        except _time.TimeSyntaxError as exc:
            raise fail(str(exc)) from None
    if _INT.fullmatch(text):
        # Bounding the digit count first keeps int() cheap and within Python's digit limit.
        if len(text) > 20 or not _INT_MIN <= int(text) <= _INT_MAX:
            raise fail(f"integer '{text}' does not fit in 64 bits")
        return Token(Kind.LITERAL, text, start, end, int(text))
    if _FLOAT.fullmatch(text):
        value = float(text)
        if not math.isfinite(value):
            raise fail(f"float '{text}' is too large")
        return Token(Kind.LITERAL, text, start, end, value)
    raise fail(f"unrecognised token '{text}'")
