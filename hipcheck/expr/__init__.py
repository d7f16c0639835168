"""Hipcheck's policy-expression language.

A policy expression reduces the JSON value an analysis produced to a pass/fail bool::

    (lte $ P71w)
    (lte (divz (count (filter (eq #t) $)) (count $)) 0.2)

Values are 64-bit ints, floats (never NaN), bools ``#t``/``#f``, datetimes
(``2024-09-17``, ``2024-09-17T09:00-05``; held in UTC), spans (``P1w2dT3h4m5.6s``; days
are 24 hours, weeks 7 days), arrays of one of those (``[1 2 3]``), and lambdas.
``$`` is the input value and ``$/a/0`` a JSON pointer into it. ``(fn arg ...)`` calls a
library function; given one argument fewer than it takes, it makes a lambda whose missing
argument comes *first*: ``(gt 8.0)`` applied to ``x`` is ``(gt x 8.0)``.

Typical use::

    evaluate_policy("(lte $ P71w)", "P80w")          # False
    expr = parse("(filter (gt 3) $)")
    check(expr)                                      # static type check, raises TypeMismatch
    format_value(evaluate(expr, [1, 5, 7]))          # "[5 7]"

Every error is an :class:`ExprError` whose ``str()`` shows the message and the expression
with carets under the offending part.
"""

from __future__ import annotations

from hipcheck.expr._ast import Expr
from hipcheck.expr._check import check, check_policy
from hipcheck.expr._errors import EvalError, ExprError, ParseError, TypeMismatch
from hipcheck.expr._eval import evaluate, evaluate_policy
from hipcheck.expr._explain import explain
from hipcheck.expr._parse import parse
from hipcheck.expr._types import UNKNOWN, ArrayType, LambdaType, PrimType, Type, UnknownType
from hipcheck.expr._values import Array, DateTime, Lambda, Span, Value, format_value

__all__ = [
    "UNKNOWN",
    "Array",
    "ArrayType",
    "DateTime",
    "EvalError",
    "Expr",
    "ExprError",
    "Lambda",
    "LambdaType",
    "ParseError",
    "PrimType",
    "Span",
    "Type",
    "TypeMismatch",
    "UnknownType",
    "Value",
    "check",
    "check_policy",
    "evaluate",
    "evaluate_policy",
    "explain",
    "format_value",
    "parse",
]
