"""English explanations of a policy's outcome, for reports.

Only the common shape is recognised: a comparison of some quantity derived from the input
with a literal threshold, such as ``(lte $ P71w)`` or
``(lte (divz (count (filter (eq #t) $)) (count $)) 0.2)``. Anything else falls back to the
plugin's own explanation of its default query.
"""

from __future__ import annotations

from hipcheck.expr._ast import Call, Expr, Literal, Pointer
from hipcheck.expr._errors import ExprError
from hipcheck.expr._eval import evaluate
from hipcheck.expr._parse import parse
from hipcheck.expr._time import english_span
from hipcheck.expr._types import PrimType
from hipcheck.expr._values import Array, DateTime, Lambda, Span, Value, format_float

# Each comparison's wording, and the comparison meaning the same with its operands swapped.
_COMPARISONS = {
    "gt": ("greater than", "lt"),
    "lt": ("less than", "gt"),
    "gte": ("at least", "lte"),
    "lte": ("at most", "gte"),
    "eq": ("equal to", "eq"),
    "neq": ("different from", "neq"),
}
_REDUCTIONS = {"max", "min", "avg", "median"}
_ARITHMETIC = {"add", "sub", "divz", "duration"}


def explain(source: str, value: object, passed: bool, *, default_message: str) -> str:
    """A sentence saying what a policy required of ``value`` and what it found.

    ``default_message`` is the plugin's description of its default query (such as "span of
    time that has elapsed since last activity in repo"); it names the input in the sentence
    and is returned unchanged when the policy's shape is not recognised.
    """
    try:
        sentence = _explain(parse(source), value, passed, default_message)
    except ExprError:
        sentence = None
    return default_message if sentence is None else sentence


def _explain(expr: Expr, value: object, passed: bool, message: str) -> str | None:
    if not isinstance(expr, Call) or expr.name not in _COMPARISONS or len(expr.args) != 2:
        return None
    left, right = expr.args
    name = expr.name
    if isinstance(right, Literal) and not isinstance(left, Literal):
        quantity, threshold = left, right
    elif isinstance(left, Literal) and not isinstance(right, Literal):
        # (gt 3 $) means $ is less than 3: swap the operands and the comparison with them.
        quantity, threshold, name = right, left, _COMPARISONS[name][1]
    else:
        return None
    if threshold.type is PrimType.BOOL:
        # "was true, which was required to be equal to true" tells nothing the plugin's own
        # description does not.
        return None
    described = _describe(quantity, message)
    if described is None:
        return None
    subject, percent = described
    requirement = f"required to be {_COMPARISONS[name][0]} {_english(threshold.value, percent)}"
    try:
        found = _english(evaluate(quantity, value), percent)
    except ExprError:
        found = None
    if found is None:
        return f"{subject} was {requirement}, {'and it was' if passed else 'but it was not'}"
    return f"{subject} was {found}, which was {requirement}"


def _the(message: str) -> str:
    if message.lower().startswith(("the ", "a ", "an ")):
        return message
    return f"the {message}"


def _describe(expr: Expr, message: str) -> tuple[str, bool] | None:
    """A noun phrase for a quantity, and whether it is a fraction best shown as a percent."""
    if isinstance(expr, Pointer):
        return _the(message), False
    if not isinstance(expr, Call):
        return None
    args = expr.args
    if expr.name == "dbg" and len(args) == 1:
        return _describe(args[0], message)
    if expr.name == "count" and len(args) == 1:
        counted = _counted(args[0], message)
        return None if counted is None else (f"the number of {counted}", False)
    if expr.name == "divz" and len(args) == 2:
        num, den = args
        if (
            isinstance(num, Call)
            and num.name == "count"
            and len(num.args) == 1
            and isinstance(den, Call)
            and den.name == "count"
            and len(den.args) == 1
            and isinstance(den.args[0], Pointer)
        ):
            counted = _counted(num.args[0], message)
            return None if counted is None else (f"the percent of {counted}", True)
    if expr.name in _REDUCTIONS and len(args) == 1:
        inner = _describe(args[0], message)
        return None if inner is None else (f"{expr.func.english} {inner[0]}", False)
    if expr.name in _ARITHMETIC and len(args) == 2 and isinstance(args[1], Literal):
        inner = _describe(args[0], message)
        if inner is None:
            return None
        return f"{inner[0]} {expr.func.english} {_english(args[1].value, False)}", False
    return None


def _counted(expr: Expr, message: str) -> str | None:
    """What ``(count expr)`` counts: the input, or those of its elements a filter keeps."""
    if isinstance(expr, Pointer):
        return message
    if not (
        isinstance(expr, Call)
        and expr.name == "filter"
        and len(expr.args) == 2
        and isinstance(expr.args[1], Pointer)
    ):
        return None
    test = expr.args[0]
    if not (
        isinstance(test, Call)
        and test.name in _COMPARISONS
        and len(test.args) == 1
        and isinstance(test.args[0], Literal)
    ):
        return None
    bound = test.args[0]
    if test.name == "eq" and bound.value is True and bound.type is PrimType.BOOL:
        # The usual "(filter (eq #t) $)": the message already names what is flagged.
        return message
    return f"{message} {_COMPARISONS[test.name][0]} {_english(bound.value, False)}"


def _english(value: Value, percent: bool) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if percent:
            return f"{value * 100:.1f}%"
        return str(value) if isinstance(value, int) else format_float(value)
    if isinstance(value, Span):
        return english_span(value.ns)
    if isinstance(value, DateTime):
        return str(value)
    if isinstance(value, Array):
        shown = [_english(v, percent) or "" for v in value.items[:5]]
        more = ", ..." if len(value.items) > 5 else ""
        return f"the array [{', '.join(shown)}{more}]"
    if isinstance(value, Lambda):
        return None
    return None
