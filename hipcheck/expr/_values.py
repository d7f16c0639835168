"""Run-time values of the expression language, and their text form."""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from hipcheck.expr import _time
from hipcheck.expr._types import ArrayType, LambdaType, PrimType, Type

if TYPE_CHECKING:
    from hipcheck.expr._errors import Site
    from hipcheck.expr._stdlib import FunctionDef


@dataclass(frozen=True, slots=True, order=True)
class DateTime:
    """An instant, as whole nanoseconds since 1970-01-01T00:00:00Z."""

    ns: int

    @classmethod
    def parse(cls, text: str) -> DateTime:
        """Read ``2024-09-17``, ``2024-09-17T09:00-05`` and the like; raises ``ValueError``."""
        return cls(_time.parse_datetime(text))

    @classmethod
    def from_datetime(cls, value: _dt.datetime) -> DateTime:
        """Convert a :class:`datetime.datetime`; a naive one is taken to be in UTC."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        delta = value - _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        return cls(Span.from_timedelta(delta).ns)

    def to_datetime(self) -> _dt.datetime:
        """An aware UTC :class:`datetime.datetime`, truncated to microseconds."""
        epoch = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        return epoch + _dt.timedelta(microseconds=self.ns // 1000)

    def __str__(self) -> str:
        return _time.format_datetime(self.ns)

    def __repr__(self) -> str:
        return f"DateTime('{self}')"


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A length of time, as whole nanoseconds (days are 24 hours, weeks 7 days)."""

    ns: int

    @classmethod
    def parse(cls, text: str) -> Span:
        """Read ``P1w2dT3h4m5.6s`` and the like; raises ``ValueError``."""
        return cls(_time.parse_span(text))

    @classmethod
    def from_timedelta(cls, value: _dt.timedelta) -> Span:
        """Convert a :class:`datetime.timedelta`."""
        micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        return cls(micros * 1000)

    def to_timedelta(self) -> _dt.timedelta:
        """A :class:`datetime.timedelta`, truncated to microseconds."""
        return _dt.timedelta(microseconds=self.ns // 1000)

    def __str__(self) -> str:
        return _time.format_span(self.ns)

    def __repr__(self) -> str:
        return f"Span('{self}')"


#: A value that can be an array element.
Prim: TypeAlias = bool | int | float | DateTime | Span


@dataclass(frozen=True, slots=True)
class Array:
    """A homogeneous sequence of single values; ``element_type`` is ``None`` exactly when empty."""

    element_type: PrimType | None
    items: tuple[Prim, ...]

    def __post_init__(self) -> None:
        # An empty array has no element type, so that all empty arrays are equal and fit
        # wherever an array of any type is expected.
        if not self.items and self.element_type is not None:
            object.__setattr__(self, "element_type", None)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Prim]:
        return iter(self.items)

    def __str__(self) -> str:
        return format_value(self)


class Lambda:
    """A partial application such as ``(gt 3)``; the missing argument goes first."""

    __slots__ = ("bound", "func", "site")

    def __init__(self, func: FunctionDef, bound: tuple[Value, ...], site: Site) -> None:
        self.func = func
        self.bound = bound
        self.site = site

    def apply(self, arg: Value) -> Value:
        """Call the function with ``arg`` as its first argument."""
        return self.func.impl(self.site, (arg, *self.bound))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Lambda):
            return NotImplemented
        return self.func.name == other.func.name and self.bound == other.bound

    def __hash__(self) -> int:
        return hash((self.func.name, self.bound))

    def __str__(self) -> str:
        return format_value(self)

    def __repr__(self) -> str:
        return f"Lambda('{self}')"


#: Any value an expression can produce.
Value: TypeAlias = bool | int | float | DateTime | Span | Array | Lambda


def format_float(x: float) -> str:
    """Shortest round-tripping text, always with a decimal point (``3.0``, ``1.0e+20``)."""
    text = repr(x)
    if not math.isfinite(x):
        # Unreachable for values the language produces; kept readable for debugging.
        return text
    mantissa, e, exponent = text.partition("e")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + e + exponent


def format_value(value: Value) -> str:
    """A value in expression syntax: ``#t``, ``3``, ``2.5``, ``[1 2]``, ``P1w``, ``(gt 3)``."""
    if isinstance(value, bool):
        return "#t" if value else "#f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, Array):
        return "[" + " ".join(format_value(v) for v in value.items) + "]"
    if isinstance(value, Lambda):
        return "(" + " ".join([value.func.name, *(format_value(b) for b in value.bound)]) + ")"
    return str(value)


def prim_type(value: object) -> PrimType | None:
    """The type of a single value, or ``None`` if it is not one."""
    t = type(value)
    if t is bool:
        return PrimType.BOOL
    if t is int:
        return PrimType.INT
    if t is float:
        return PrimType.FLOAT
    if t is DateTime:
        return PrimType.DATETIME
    if t is Span:
        return PrimType.SPAN
    return None


def type_of(value: Value) -> Type:
    """The static type a run-time value has."""
    if isinstance(value, Array):
        return ArrayType(value.element_type)
    if isinstance(value, Lambda):
        return LambdaType(value.func, tuple(type_of(b) for b in value.bound), value.site)
    t = prim_type(value)
    if t is None:
        raise TypeError(f"not an expression value: {value!r}")
    return t
