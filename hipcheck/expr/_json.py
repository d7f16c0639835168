"""Binding JSON pointers: looking them up in the input and converting what they find.

JSON numbers become ints (when integral and within 64 bits) or floats, booleans become
bools, strings that read as a datetime or span become those, and arrays of such values
become arrays (ints mixed with floats are promoted to floats). Objects can only be pointed
into; ``null``, other strings and nested arrays cannot be represented.
"""

from __future__ import annotations

import math
import re
from typing import cast

from hipcheck.expr import _time
from hipcheck.expr._ast import Pointer
from hipcheck.expr._errors import EvalError
from hipcheck.expr._types import PrimType
from hipcheck.expr._values import Array, DateTime, Prim, Span, Value, prim_type

_INDEX = re.compile(r"0|[1-9][0-9]*")
_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1


class _Unrepresentable(ValueError):
    """A JSON value has no counterpart in the language; the message says why."""


def bind(pointer: Pointer, document: object) -> Value:
    """The value ``pointer`` designates in ``document``; raises :class:`EvalError`."""
    where = "the input value" if not pointer.pointer else f"the value at '{pointer}'"
    node = document
    for depth, part in enumerate(pointer.parts):
        if isinstance(node, dict):
            if part not in node:
                raise _fail(pointer, f"'{_prefix(pointer, depth)}' has no key '{part}'")
            node = node[part]
        elif isinstance(node, (list, tuple)):
            if not _INDEX.fullmatch(part) or int(part) >= len(node):
                raise _fail(
                    pointer,
                    f"'{_prefix(pointer, depth)}' has no index '{part}' (length {len(node)})",
                )
            node = node[int(part)]
        else:
            raise _fail(
                pointer,
                f"'{_prefix(pointer, depth)}' is {_kind(node)}, which cannot be looked into",
            )
    try:
        return from_json(node)
    except _Unrepresentable as exc:
        raise _fail(pointer, f"{where} {exc}", prefixed=False) from None


def _prefix(pointer: Pointer, depth: int) -> str:
    return "$" + "".join("/" + p for p in pointer.pointer[1:].split("/")[:depth])


def _fail(pointer: Pointer, message: str, *, prefixed: bool = True) -> EvalError:
    if prefixed:
        message = f"JSON pointer '{pointer}' does not resolve: {message}"
    return EvalError(message, pointer.source, pointer.loc)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def from_json(value: object) -> Value:
    """Convert one decoded JSON value; raises ``_Unrepresentable``."""
    if isinstance(value, (list, tuple)):
        return _array(value)
    if isinstance(value, dict):
        raise _Unrepresentable("is an object; point into it with $/key")
    return _single(value)


def _single(value: object) -> Prim:
    if type(value) is bool or type(value) is DateTime or type(value) is Span:
        return value
    if type(value) is int:
        return _int(value)
    if type(value) is float:
        return _float(value)
    if type(value) is str:
        return _string(value)
    if value is None:
        raise _Unrepresentable("is null")
    if isinstance(value, (list, tuple, dict)):
        raise _Unrepresentable(f"contains {_kind(value)}; arrays may hold only single values")
    raise _Unrepresentable(f"is {_kind(value)}, which is not a JSON value")


def _int(value: int) -> int | float:
    if _INT_MIN <= value <= _INT_MAX:
        return value
    # Like the original, which read every JSON number as a float, keep huge integers
    # usable as (approximate) floats rather than refusing them.
    try:
        return float(value)
    except OverflowError:
        raise _Unrepresentable(f"is the number {value}, which is too large") from None


def _float(value: float) -> float:
    if math.isnan(value):
        raise _Unrepresentable("is NaN, which is not allowed")
    if math.isinf(value):
        raise _Unrepresentable("is an infinite number, which is not allowed")
    return value


def _string(value: str) -> DateTime | Span:
    if _time.looks_like_datetime(value):
        try:
            return DateTime.parse(value)
        except _time.TimeSyntaxError as exc:
            raise _Unrepresentable(
                f"is the string {value!r}, not a valid datetime: {exc}"
            ) from None
    if _time.looks_like_span(value):
        try:
            return Span.parse(value)
        except _time.TimeSyntaxError as exc:
            raise _Unrepresentable(f"is the string {value!r}, not a valid span: {exc}") from None
    shown = value if len(value) <= 40 else value[:37] + "..."
    raise _Unrepresentable(f"is the string {shown!r}, which is neither a datetime nor a span")


def _array(items: list[object] | tuple[object, ...]) -> Array:
    if not items:
        return Array(None, ())
    # One pass over the element types lets the common homogeneous cases skip per-item work,
    # which matters for inputs with one entry per commit.
    types = set(map(type, items))
    if types == {bool}:
        return Array(PrimType.BOOL, tuple(cast("list[bool] | tuple[bool, ...]", items)))
    if types == {int}:
        ints = cast("list[int] | tuple[int, ...]", items)
        if min(ints) >= _INT_MIN and max(ints) <= _INT_MAX:
            return Array(PrimType.INT, tuple(ints))
    values = [_single(v) for v in items]
    kinds = {prim_type(v) for v in values}
    if kinds <= {PrimType.INT, PrimType.FLOAT}:
        if PrimType.FLOAT in kinds:
            numbers = cast("list[int | float]", values)
            return Array(PrimType.FLOAT, tuple(float(v) for v in numbers))
        return Array(PrimType.INT, tuple(values))
    if len(kinds) > 1:
        found = " and ".join(sorted(str(k) for k in kinds))
        raise _Unrepresentable(f"is an array mixing {found}; arrays must be of one type")
    (kind,) = kinds
    return Array(kind, tuple(values))
