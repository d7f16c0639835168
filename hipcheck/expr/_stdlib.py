"""The standard library: each function's arity, static typing rule and implementation.

Typing rules see :data:`UNKNOWN` for anything not knowable before evaluation and accept it
wherever some concrete type would be accepted; implementations may assume their arguments
passed the typing rule, but still fail with :class:`TypeMismatch` rather than crash if not.
"""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard, cast

from hipcheck.expr import _time
from hipcheck.expr._errors import Site, TypeMismatch
from hipcheck.expr._types import (
    NUMERIC,
    UNKNOWN,
    ArrayType,
    LambdaType,
    PrimType,
    Type,
    describe,
)
from hipcheck.expr._values import (
    Array,
    DateTime,
    Lambda,
    Prim,
    Span,
    Value,
    format_value,
    prim_type,
    type_of,
)

logger = logging.getLogger("hipcheck.expr")

Typer = Callable[[Site, tuple[Type, ...]], Type]
Impl = Callable[[Site, tuple[Value, ...]], Value]

_INT_MIN = -(2**63)
_INT_MAX = 2**63 - 1

INT, FLOAT, BOOL, DATETIME, SPAN = (
    PrimType.INT,
    PrimType.FLOAT,
    PrimType.BOOL,
    PrimType.DATETIME,
    PrimType.SPAN,
)


@dataclass(frozen=True, eq=False)
class FunctionDef:
    """A library function: how many arguments it takes, how to type and run a call."""

    name: str
    english: str
    arities: tuple[int, ...]
    typer: Typer
    impl: Impl

    def arity_text(self) -> str:
        """``1 argument``, ``2 arguments`` or ``1 or 2 arguments``."""
        counts = " or ".join(str(n) for n in self.arities)
        return f"{counts} argument{'' if self.arities == (1,) else 's'}"

    def is_partial(self, site: Site, nargs: int) -> bool:
        """Whether a call with ``nargs`` arguments is a lambda; raises on a wrong count."""
        if nargs in self.arities:
            return False
        if nargs == self.arities[0] - 1:
            return True
        if nargs > self.arities[-1]:
            extra = site.arg_spans[self.arities[-1] :]
            loc = (extra[0][0], extra[-1][1])
            raise TypeMismatch(
                f"'{self.name}' takes {self.arity_text()} but was given {nargs}", site.source, loc
            )
        raise site.type_error(f"'{self.name}' takes {self.arity_text()} but was given {nargs}")


def apply_lambda_type(lam: LambdaType, arg: Type) -> Type:
    """The type a lambda produces when given an argument of type ``arg``."""
    return lam.func.typer(lam.site, (arg, *lam.bound))


# ---------------------------------------------------------------------------------------------
# Checking and converting arguments


def _is_num(x: Value) -> TypeGuard[int | float]:
    return type(x) is int or type(x) is float


def _prim(site: Site, name: str, ts: Sequence[Type], i: int, what: str) -> PrimType | None:
    """Argument ``i`` as a primitive type, ``None`` if unknown; anything else is an error."""
    t = ts[i]
    if isinstance(t, PrimType):
        return t
    if t is UNKNOWN:
        return None
    raise site.type_error(f"'{name}' expects {what}, got {describe(t)}", i)


def _only(
    site: Site, name: str, ts: Sequence[Type], i: int, allowed: frozenset[PrimType], what: str
) -> PrimType | None:
    t = _prim(site, name, ts, i, what)
    if t is not None and t not in allowed:
        raise site.type_error(f"'{name}' expects {what}, got {describe(t)}", i)
    return t


def _array(site: Site, name: str, ts: Sequence[Type], i: int, what: str) -> ArrayType | None:
    """Argument ``i`` as an array type, ``None`` if unknown; anything else is an error."""
    t = ts[i]
    if isinstance(t, ArrayType):
        return t
    if t is UNKNOWN:
        return None
    raise site.type_error(f"'{name}' expects {what}, got {describe(t)}", i)


def _mismatch(site: Site, name: str, args: Sequence[Value]) -> TypeMismatch:
    got = ", ".join(describe(type_of(a)) for a in args)
    return site.type_error(f"'{name}' cannot be applied to {got}")


def _int(site: Site, x: int) -> int:
    if not _INT_MIN <= x <= _INT_MAX:
        raise site.eval_error("integer overflow: the result does not fit in 64 bits")
    return x


def _float(site: Site, x: float) -> float:
    if not math.isfinite(x):
        raise site.eval_error("float overflow: the result is too large")
    return x


def _datetime(site: Site, ns: int) -> DateTime:
    if not _time.MIN_DATETIME_NS <= ns <= _time.MAX_DATETIME_NS:
        raise site.eval_error("the resulting datetime is outside years 0001 to 9999")
    return DateTime(ns)


def _span(site: Site, ns: int) -> Span:
    if abs(ns) > _time.MAX_SPAN_NS:
        raise site.eval_error("the resulting span is too long")
    return Span(ns)


def make_array(site: Site, values: Sequence[Value]) -> Array:
    """An array of ``values``, ints promoted to floats if mixed with floats."""
    types = {prim_type(v) for v in values}
    if not types:
        return Array(None, ())
    if None in types:
        raise site.type_error("arrays can hold only single values, not arrays or lambdas")
    if types == {INT, FLOAT}:
        return Array(FLOAT, tuple(float(cast("int | float", v)) for v in values))
    if len(types) > 1:
        found = " and ".join(sorted(str(t) for t in types if t is not None))
        raise site.type_error(f"array elements must all have one type, found {found}")
    (t,) = types
    return Array(t, tuple(cast("Sequence[Prim]", values)))


# ---------------------------------------------------------------------------------------------
# Comparison


def _ty_compare(name: str) -> Typer:
    def typer(site: Site, ts: tuple[Type, ...]) -> Type:
        a = _prim(site, name, ts, 0, "single values to compare")
        b = _prim(site, name, ts, 1, "single values to compare")
        if a is not None and b is not None and a != b and not (a in NUMERIC and b in NUMERIC):
            raise site.type_error(f"'{name}' cannot compare {describe(a)} with {describe(b)}")
        return BOOL

    return typer


_SINGLE = (bool, int, float, DateTime, Span)


def _compare(name: str, op: Callable[[Any, Any], Any]) -> Impl:
    def impl(site: Site, args: tuple[Value, ...]) -> Value:
        a, b = args
        ta, tb = type(a), type(b)
        if ta is not tb:
            # Ints are promoted to floats when compared with floats.
            if _is_num(a) and _is_num(b):
                a, b = float(a), float(b)
            else:
                raise _mismatch(site, name, args)
        elif ta not in _SINGLE:
            raise _mismatch(site, name, args)
        return bool(op(a, b))

    return impl


# ---------------------------------------------------------------------------------------------
# Arithmetic


_ADDABLE = frozenset({INT, FLOAT, DATETIME, SPAN})
_ADDABLE_TEXT = "numbers, datetimes or spans"


def _ty_add(site: Site, ts: tuple[Type, ...]) -> Type:
    a = _only(site, "add", ts, 0, _ADDABLE, _ADDABLE_TEXT)
    b = _only(site, "add", ts, 1, _ADDABLE, _ADDABLE_TEXT)
    if a is None or b is None:
        known = a if a is not None else b
        # Adding to a float gives a float and a datetime can only be added to a span, so
        # those are certain even with the other side unknown.
        if known is FLOAT or known is DATETIME:
            return known
        return UNKNOWN
    if a in NUMERIC and b in NUMERIC:
        return INT if a is INT and b is INT else FLOAT
    if {a, b} == {DATETIME, SPAN}:
        return DATETIME
    if a is SPAN and b is SPAN:
        return SPAN
    raise site.type_error(f"'add' cannot add {describe(a)} and {describe(b)}")


def _add(site: Site, args: tuple[Value, ...]) -> Value:
    a, b = args
    if type(a) is int and type(b) is int:
        return _int(site, a + b)
    if _is_num(a) and _is_num(b):
        return _float(site, float(a) + float(b))
    if isinstance(a, DateTime) and isinstance(b, Span):
        return _datetime(site, a.ns + b.ns)
    if isinstance(a, Span) and isinstance(b, DateTime):
        return _datetime(site, a.ns + b.ns)
    if isinstance(a, Span) and isinstance(b, Span):
        return _span(site, a.ns + b.ns)
    raise _mismatch(site, "add", args)


def _ty_sub(site: Site, ts: tuple[Type, ...]) -> Type:
    a = _only(site, "sub", ts, 0, _ADDABLE, _ADDABLE_TEXT)
    b = _only(site, "sub", ts, 1, _ADDABLE, _ADDABLE_TEXT)
    if b is DATETIME:
        hint = (
            "; use (duration a b) for the span between two datetimes"
            if a in (None, DATETIME)
            else ""
        )
        raise site.type_error(f"'sub' cannot subtract a datetime{hint}", 1)
    if a is None:
        return FLOAT if b is FLOAT else UNKNOWN
    if b is None:
        return a if a is not INT else UNKNOWN
    if a in NUMERIC and b in NUMERIC:
        return INT if a is INT and b is INT else FLOAT
    if a in (DATETIME, SPAN) and b is SPAN:
        return a
    raise site.type_error(f"'sub' cannot subtract {describe(b)} from {describe(a)}")


def _sub(site: Site, args: tuple[Value, ...]) -> Value:
    a, b = args
    if type(a) is int and type(b) is int:
        return _int(site, a - b)
    if _is_num(a) and _is_num(b):
        return _float(site, float(a) - float(b))
    if isinstance(a, DateTime) and isinstance(b, Span):
        return _datetime(site, a.ns - b.ns)
    if isinstance(a, Span) and isinstance(b, Span):
        return _span(site, a.ns - b.ns)
    raise _mismatch(site, "sub", args)


def _ty_divz(site: Site, ts: tuple[Type, ...]) -> Type:
    _only(site, "divz", ts, 0, NUMERIC, "numbers")
    _only(site, "divz", ts, 1, NUMERIC, "numbers")
    return FLOAT


def _divz(site: Site, args: tuple[Value, ...]) -> Value:
    a, b = args
    if _is_num(a) and _is_num(b):
        # Division by zero gives zero: a ratio over an empty set counts as none.
        if b == 0:
            return 0.0
        return _float(site, float(a) / float(b))
    raise _mismatch(site, "divz", args)


def _ty_duration(site: Site, ts: tuple[Type, ...]) -> Type:
    _only(site, "duration", ts, 0, frozenset({DATETIME}), "datetimes")
    _only(site, "duration", ts, 1, frozenset({DATETIME}), "datetimes")
    return SPAN


def _duration(site: Site, args: tuple[Value, ...]) -> Value:
    a, b = args
    if isinstance(a, DateTime) and isinstance(b, DateTime):
        return Span(a.ns - b.ns)
    raise _mismatch(site, "duration", args)


# ---------------------------------------------------------------------------------------------
# Logic


_BOOLS = frozenset({BOOL})


def _ty_logic(name: str) -> Typer:
    def typer(site: Site, ts: tuple[Type, ...]) -> Type:
        for i in range(len(ts)):
            _only(site, name, ts, i, _BOOLS, "bools")
        return BOOL

    return typer


def _and(site: Site, args: tuple[Value, ...]) -> Value:
    a, b = args
    if type(a) is bool and type(b) is bool:
        return a and b
    raise _mismatch(site, "and", args)


def _or(site: Site, args: tuple[Value, ...]) -> Value:
    a, b = args
    if type(a) is bool and type(b) is bool:
        return a or b
    raise _mismatch(site, "or", args)


def _not(site: Site, args: tuple[Value, ...]) -> Value:
    (a,) = args
    if type(a) is bool:
        return not a
    raise _mismatch(site, "not", args)


# ---------------------------------------------------------------------------------------------
# Reductions over arrays


_ORDERED = frozenset({INT, FLOAT, DATETIME, SPAN})


def _ty_reduce(name: str, allowed: frozenset[PrimType], what: str, result: Type | None) -> Typer:
    """Typing rule for a function of one array; ``result`` ``None`` means the element type."""

    def typer(site: Site, ts: tuple[Type, ...]) -> Type:
        arr = _array(site, name, ts, 0, what)
        elem = None if arr is None else arr.element
        if elem is not None and elem not in allowed:
            raise site.type_error(f"'{name}' expects {what}, got {describe(ArrayType(elem))}", 0)
        if result is not None:
            return result
        return UNKNOWN if elem is None else elem

    return typer


def _array_arg(
    site: Site, name: str, args: tuple[Value, ...], allowed: frozenset[PrimType]
) -> Array:
    arr = args[-1]
    if not isinstance(arr, Array) or (
        arr.element_type is not None and arr.element_type not in allowed
    ):
        raise _mismatch(site, name, args)
    return arr


def _nonempty(
    site: Site, name: str, args: tuple[Value, ...], allowed: frozenset[PrimType]
) -> Array:
    arr = _array_arg(site, name, args, allowed)
    if not arr.items:
        raise site.eval_error(f"'{name}' of an empty array has no value")
    return arr


def _max(site: Site, args: tuple[Value, ...]) -> Value:
    return max(_nonempty(site, "max", args, _ORDERED).items)


def _min(site: Site, args: tuple[Value, ...]) -> Value:
    return min(_nonempty(site, "min", args, _ORDERED).items)


def _avg(site: Site, args: tuple[Value, ...]) -> Value:
    items = cast("tuple[int | float, ...]", _nonempty(site, "avg", args, NUMERIC).items)
    n = len(items)
    try:
        return _float(site, math.fsum(items) / n)
    except OverflowError:
        # The sum overflowed although the mean cannot; divide first instead.
        return _float(site, math.fsum(x / n for x in items))


def _median(site: Site, args: tuple[Value, ...]) -> Value:
    numbers = cast("tuple[int | float, ...]", _nonempty(site, "median", args, NUMERIC).items)
    items = sorted(numbers)
    mid = len(items) // 2
    if len(items) % 2:
        return float(items[mid])
    lo, hi = items[mid - 1], items[mid]
    if type(lo) is int and type(hi) is int:
        return (lo + hi) / 2
    # Halving first keeps the sum of two large floats from overflowing.
    return lo / 2 + hi / 2


def _count(site: Site, args: tuple[Value, ...]) -> Value:
    return len(_array_arg(site, "count", args, frozenset(PrimType)))


# ---------------------------------------------------------------------------------------------
# Higher-order functions


def _ty_lambda_array(site: Site, name: str, ts: tuple[Type, ...]) -> tuple[Type, PrimType | None]:
    """Check a ``(lambda, array)`` pair; the lambda's result type and the element type."""
    lam = ts[0]
    if not (lam is UNKNOWN or isinstance(lam, LambdaType)):
        raise site.type_error(
            f"'{name}' expects a lambda such as (gt 3) as its first argument, got {describe(lam)}",
            0,
        )
    arr = _array(site, name, ts, 1, "an array as its second argument")
    elem = None if arr is None else arr.element
    if not isinstance(lam, LambdaType):
        return UNKNOWN, elem
    return apply_lambda_type(lam, UNKNOWN if elem is None else elem), elem


def _ty_predicate_result(site: Site, name: str, result: Type) -> None:
    if result is not UNKNOWN and result is not BOOL:
        raise site.type_error(
            f"the lambda given to '{name}' must produce a bool, but produces {describe(result)}", 0
        )


def _ty_quantifier(name: str) -> Typer:
    def typer(site: Site, ts: tuple[Type, ...]) -> Type:
        if len(ts) == 1:
            if isinstance(ts[0], LambdaType):
                raise site.type_error(
                    f"'{name}' with a lambda also needs the array to apply it to, "
                    f"as in ({name} (gt 3) $)",
                    0,
                )
            what = "an array of bools, or a lambda and an array"
            arr = _array(site, name, ts, 0, what)
            if arr is not None and arr.element not in (None, BOOL):
                raise site.type_error(f"'{name}' expects {what}, got {describe(arr)}", 0)
            return BOOL
        result, _ = _ty_lambda_array(site, name, ts)
        _ty_predicate_result(site, name, result)
        return BOOL

    return typer


def _tested(lam: Lambda, items: Sequence[Prim], name: str) -> Iterator[bool]:
    """The lambda applied to each item, lazily, so that all/any can stop early."""
    apply = lam.apply
    for x in items:
        result = apply(x)
        if type(result) is not bool:
            raise lam.site.type_error(f"the lambda given to '{name}' must produce a bool")
        yield result


def _quantifier(name: str, test: Callable[[Iterable[bool]], bool]) -> Impl:
    def impl(site: Site, args: tuple[Value, ...]) -> Value:
        arr = _array_arg(site, name, args, _BOOLS if len(args) == 1 else frozenset(PrimType))
        if len(args) == 1:
            return test(cast("tuple[bool, ...]", arr.items))
        lam = args[0]
        if not isinstance(lam, Lambda):
            raise _mismatch(site, name, args)
        # Predicates cannot fail at run time (they compare, or combine bools), so stopping
        # at the first decisive element changes nothing but the time taken.
        return test(_tested(lam, arr.items, name))

    return impl


def _ty_filter(site: Site, ts: tuple[Type, ...]) -> Type:
    result, elem = _ty_lambda_array(site, "filter", ts)
    _ty_predicate_result(site, "filter", result)
    return ArrayType(elem)


def _filter(site: Site, args: tuple[Value, ...]) -> Value:
    lam, arr = args
    if not isinstance(lam, Lambda) or not isinstance(arr, Array):
        raise _mismatch(site, "filter", args)
    apply = lam.apply
    kept: list[Prim] = []
    for x in arr.items:
        keep = apply(x)
        if type(keep) is not bool:
            raise lam.site.type_error("the lambda given to 'filter' must produce a bool")
        if keep:
            kept.append(x)
    return Array(arr.element_type, tuple(kept))


def _ty_foreach(site: Site, ts: tuple[Type, ...]) -> Type:
    result, _ = _ty_lambda_array(site, "foreach", ts)
    if result is UNKNOWN:
        return ArrayType(None)
    if isinstance(result, PrimType):
        return ArrayType(result)
    raise site.type_error(
        "the lambda given to 'foreach' must produce single values, "
        f"but produces {describe(result)}",
        0,
    )


def _foreach(site: Site, args: tuple[Value, ...]) -> Value:
    lam, arr = args
    if not isinstance(lam, Lambda) or not isinstance(arr, Array):
        raise _mismatch(site, "foreach", args)
    apply = lam.apply
    return make_array(lam.site, [apply(x) for x in arr.items])


# ---------------------------------------------------------------------------------------------
# Debugging


def _ty_dbg(site: Site, ts: tuple[Type, ...]) -> Type:
    return ts[0]


def _dbg(site: Site, args: tuple[Value, ...]) -> Value:
    (value,) = args
    start, end = site.arg_spans[0]
    logger.debug("%s = %s", site.source[start:end], format_value(value))
    return value


def _not_all(results: Iterable[bool]) -> bool:
    return not all(results)


def _not_any(results: Iterable[bool]) -> bool:
    return not any(results)


# ---------------------------------------------------------------------------------------------
# The table


def _fn(name: str, english: str, arities: tuple[int, ...], typer: Typer, impl: Impl) -> FunctionDef:
    return FunctionDef(name, english, arities, typer, impl)


_NUMBERS_ARRAY = "an array of numbers"
_ORDERED_ARRAY = "an array of numbers, datetimes or spans"

FUNCTIONS: dict[str, FunctionDef] = {
    f.name: f
    for f in (
        _fn("gt", "greater than", (2,), _ty_compare("gt"), _compare("gt", operator.gt)),
        _fn("lt", "less than", (2,), _ty_compare("lt"), _compare("lt", operator.lt)),
        _fn("gte", "at least", (2,), _ty_compare("gte"), _compare("gte", operator.ge)),
        _fn("lte", "at most", (2,), _ty_compare("lte"), _compare("lte", operator.le)),
        _fn("eq", "equal to", (2,), _ty_compare("eq"), _compare("eq", operator.eq)),
        _fn("neq", "different from", (2,), _ty_compare("neq"), _compare("neq", operator.ne)),
        _fn("add", "plus", (2,), _ty_add, _add),
        _fn("sub", "minus", (2,), _ty_sub, _sub),
        _fn("divz", "divided by", (2,), _ty_divz, _divz),
        _fn("duration", "minus", (2,), _ty_duration, _duration),
        _fn("and", "and", (2,), _ty_logic("and"), _and),
        _fn("or", "or", (2,), _ty_logic("or"), _or),
        _fn("not", "not", (1,), _ty_logic("not"), _not),
        _fn("max", "the maximum of", (1,), _ty_reduce("max", _ORDERED, _ORDERED_ARRAY, None), _max),
        _fn("min", "the minimum of", (1,), _ty_reduce("min", _ORDERED, _ORDERED_ARRAY, None), _min),
        _fn("avg", "the mean of", (1,), _ty_reduce("avg", NUMERIC, _NUMBERS_ARRAY, FLOAT), _avg),
        _fn(
            "median",
            "the median of",
            (1,),
            _ty_reduce("median", NUMERIC, _NUMBERS_ARRAY, FLOAT),
            _median,
        ),
        _fn(
            "count",
            "the number of",
            (1,),
            _ty_reduce("count", frozenset(PrimType), "an array", INT),
            _count,
        ),
        _fn("all", "all of", (1, 2), _ty_quantifier("all"), _quantifier("all", all)),
        _fn("nall", "not all of", (1, 2), _ty_quantifier("nall"), _quantifier("nall", _not_all)),
        _fn("some", "some of", (1, 2), _ty_quantifier("some"), _quantifier("some", any)),
        _fn("none", "none of", (1, 2), _ty_quantifier("none"), _quantifier("none", _not_any)),
        _fn("filter", "filtered on", (2,), _ty_filter, _filter),
        _fn("foreach", "each to be", (2,), _ty_foreach, _foreach),
        _fn("dbg", "", (1,), _ty_dbg, _dbg),
    )
}
