"""Evaluation: binding JSON pointers, checking types against what they bound, running."""

from __future__ import annotations

from typing import cast

from hipcheck.expr._ast import ArrayLiteral, Call, Expr, Literal, Pointer
from hipcheck.expr._check import array_element_type, check_policy, infer, require_bool
from hipcheck.expr._errors import TypeMismatch
from hipcheck.expr._json import bind
from hipcheck.expr._parse import parse
from hipcheck.expr._types import PrimType, Type
from hipcheck.expr._values import Array, Lambda, Value, format_value, type_of


def _pointers(expr: Expr) -> list[Pointer]:
    found: list[Pointer] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Pointer):
            found.append(node)
        stack.extend(reversed(node.children()))
    return found


def _bind_all(expr: Expr, value: object) -> dict[str, Value]:
    bound: dict[str, Value] = {}
    for pointer in _pointers(expr):
        # Each distinct pointer is looked up and converted once, however often it occurs.
        if pointer.pointer not in bound:
            bound[pointer.pointer] = bind(pointer, value)
    return bound


def _run(expr: Expr, bound: dict[str, Value]) -> Value:
    if isinstance(expr, Literal):
        return expr.value
    if isinstance(expr, Pointer):
        return bound[expr.pointer]
    if isinstance(expr, Call):
        args = tuple(_run(a, bound) for a in expr.args)
        if expr.func.is_partial(expr.site, len(args)):
            return Lambda(expr.func, args, expr.lambda_site)
        return expr.func.impl(expr.site, args)
    if isinstance(expr, ArrayLiteral):
        element = array_element_type(expr)
        if element is PrimType.FLOAT:
            # Ints written among floats are promoted, as in arithmetic.
            return Array(element, tuple(float(cast("int | float", e.value)) for e in expr.elements))
        return Array(element, tuple(e.value for e in expr.elements))
    raise TypeError(f"not an expression: {expr!r}")


def _prepare(expr: Expr, value: object) -> tuple[dict[str, Value], Type]:
    bound = _bind_all(expr, value)
    t = infer(expr, lambda p: type_of(bound[p.pointer]))
    return bound, t


def evaluate(expr: Expr, value: object = None) -> Value:
    """Evaluate ``expr`` with ``$`` bound to ``value``, a decoded JSON value.

    Every JSON pointer is looked up and converted first, then the whole expression is
    type-checked against what they found, and only then run. Raises :class:`EvalError`
    (a pointer does not resolve, an empty array has no maximum, an overflow) or
    :class:`TypeMismatch`.
    """
    bound, _ = _prepare(expr, value)
    return _run(expr, bound)


def evaluate_policy(source: str, value: object) -> bool:
    """Parse, check and evaluate a policy, which must produce a bool.

    Raises :class:`ParseError`, :class:`TypeMismatch` (also when the result is not a bool)
    or :class:`EvalError`.
    """
    expr = parse(source)
    check_policy(expr)
    bound, t = _prepare(expr, value)
    require_bool(expr, t)
    result = _run(expr, bound)
    if type(result) is not bool:
        # Only reachable when the checker and the library disagree; fail as a type error.
        raise TypeMismatch(
            f"a policy must produce a bool, but this produced {format_value(result)}",
            expr.source,
            expr.loc,
        )
    return result
