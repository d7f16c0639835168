"""Property tests of the policy-expression language, :mod:`hipcheck.expr`."""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hipcheck.expr import (
    UNKNOWN,
    Array,
    ArrayType,
    DateTime,
    EvalError,
    ExprError,
    LambdaType,
    ParseError,
    PrimType,
    Span,
    TypeMismatch,
    Value,
    _eval,
    _time,
    check,
    evaluate,
    evaluate_policy,
    explain,
    format_value,
    parse,
)
from hipcheck.expr._stdlib import FUNCTIONS
from hipcheck.expr._values import Prim, type_of

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ints = st.integers(-(2**63), 2**63 - 1)
floats = st.floats(allow_nan=False, allow_infinity=False)
datetimes = st.integers(_time.MIN_DATETIME_NS, _time.MAX_DATETIME_NS).map(DateTime)
spans = st.integers(-_time.MAX_SPAN_NS, _time.MAX_SPAN_NS).map(Span)
SINGLES: dict[PrimType, st.SearchStrategy[Prim]] = {
    PrimType.BOOL: st.booleans(),
    PrimType.INT: ints,
    PrimType.FLOAT: floats,
    PrimType.DATETIME: datetimes,
    PrimType.SPAN: spans,
}
singles = st.one_of(*SINGLES.values())


def arrays_of(t: PrimType) -> st.SearchStrategy[Array]:
    return st.lists(SINGLES[t], max_size=4).map(lambda xs: Array(t, tuple(xs)))


arrays = st.sampled_from(list(SINGLES)).flatmap(arrays_of)
values: st.SearchStrategy[Value] = st.one_of(singles, arrays)

# Small, nearby literals so that generated calls often type-check and reach evaluation.
small_literals = st.one_of(
    st.sampled_from(["#t", "#f", "0", "1", "3", "-2", "0.5", "8.0", "P1w", "PT1h", "-P1d"]),
    st.sampled_from(["2024-01-01", "2024-09-17T09:00-05", "9999-12-31", "0001-01-01"]),
    st.sampled_from(["9223372036854775807", "-9223372036854775808", "1.0e308"]),
)
literal_sources = st.one_of(small_literals, values.map(format_value))
array_sources = st.one_of(
    st.sampled_from(["[]", "[1 2 3]", "[1.5 -2.0]", "[#t #f]", "[P1w PT1h]", "[2024-01-01]"]),
    arrays.map(format_value),
)
pointer_sources = st.sampled_from(["$", "$", "$", "$/a", "$/0", "$/a/b", "$/a~1b"])
names = st.sampled_from(sorted(FUNCTIONS))


def calls(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(names, st.lists(children, max_size=3)).map(
        lambda t: "(" + " ".join([t[0], *t[1]]) + ")"
    )


expr_sources = st.recursive(
    st.one_of(literal_sources, array_sources, pointer_sources),
    calls,
    max_leaves=12,
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(["2024-09-17T09:00:00Z", "2024-01-01", "P1w", "PT13440H", "P1y", "oops"]),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(["a", "b", "0", "a/b"]), children, max_size=3),
    ),
    max_leaves=10,
)

# Shapes real policies have, filled with random operators, thresholds and inputs.
policy_templates = st.tuples(
    st.sampled_from(
        [
            "({op} $ {lit})",
            "({op} (count (filter ({op2} {lit2}) $)) {lit})",
            "({op} (divz (count (filter ({op2} {lit2}) $)) (count $)) {lit})",
            "({q} ({op2} {lit2}) $)",
            "({q} $)",
            "({op} ({red} $) {lit})",
            "({op} ({red} (foreach ({ar} {lit2}) $)) {lit})",
            "({op} (duration $/a $/b) {lit})",
            "({op} ({ar} $/a {lit2}) {lit})",
        ]
    ),
    st.sampled_from(["gt", "lt", "gte", "lte", "eq", "neq"]),
    st.sampled_from(["gt", "lt", "gte", "lte", "eq", "neq"]),
    st.sampled_from(["all", "nall", "some", "none"]),
    st.sampled_from(["max", "min", "avg", "median", "count"]),
    st.sampled_from(["add", "sub", "divz"]),
    small_literals,
    small_literals,
).map(lambda t: t[0].format(op=t[1], op2=t[2], q=t[3], red=t[4], ar=t[5], lit=t[6], lit2=t[7]))
typed_json = st.one_of(
    json_values,
    st.lists(st.booleans(), max_size=6),
    st.lists(st.integers(-10, 10), max_size=6),
    st.lists(st.floats(-10, 10), max_size=6),
    st.lists(st.sampled_from(["P1w", "PT5h", "P2d"]), max_size=4),
    st.fixed_dictionaries({"a": json_scalars, "b": json_scalars}),
    st.integers(-10, 10),
    st.sampled_from(["P80w", "2024-01-01T00:00:00Z"]),
)


def compatible(static: object, value: Value) -> bool:
    """Whether a run-time value fits the type the checker inferred for its expression."""
    actual = type_of(value)
    if static is UNKNOWN:
        return True
    if isinstance(static, ArrayType) and isinstance(actual, ArrayType):
        return static.element is None or actual.element in (None, static.element)
    if isinstance(static, LambdaType):
        return isinstance(actual, LambdaType)
    return static == actual


@FAST
@given(values)
def test_parse_of_formatted_value_gives_the_value_back(value: Value) -> None:
    assert evaluate(parse(format_value(value))) == value


@FAST
@given(expr_sources)
def test_formatted_expression_parses_to_the_same_expression(source: str) -> None:
    expr = parse(source)
    text = str(expr)
    assert parse(text) == expr
    assert str(parse(text)) == text


@FAST
@given(st.text(max_size=40))
def test_parse_raises_only_parse_error_on_any_text(source: str) -> None:
    with contextlib.suppress(ParseError):
        parse(source)


@FAST
@given(
    st.lists(
        st.sampled_from(
            [
                *"()[],$#/~.-+:0123456789tfPTWDHMSZwdhmsyxe \n",
                *("gt", "add", "filter", "2024-01-01", "P1w", "$/a"),
            ]
        ),
        max_size=30,
    ).map("".join)
)
def test_parse_raises_only_parse_error_on_near_miss_text(source: str) -> None:
    try:
        expr = parse(source)
    except ParseError:
        return
    assert parse(str(expr)) == expr


@FAST
@given(expr_sources, json_values)
def test_evaluate_raises_only_expr_errors(source: str, value: object) -> None:
    with contextlib.suppress(ExprError):
        evaluate(parse(source), value)


@FAST
@given(policy_templates, typed_json)
def test_evaluate_policy_raises_only_expr_errors(source: str, value: object) -> None:
    try:
        result = evaluate_policy(source, value)
    except ExprError:
        return
    assert type(result) is bool


@FAST
@given(st.one_of(expr_sources, policy_templates), typed_json)
def test_checked_expressions_never_fail_with_type_errors_at_run_time(
    source: str, value: object
) -> None:
    expr = parse(source)
    try:
        check(expr)
        bound, static = _eval._prepare(expr, value)
    except ExprError:
        return
    try:
        result = _eval._run(expr, bound)
    except EvalError:
        return
    except TypeMismatch as exc:  # pragma: no cover - reported as the failure
        raise AssertionError(f"type error after checking: {exc}") from exc
    assert compatible(static, result)


@FAST
@given(st.one_of(expr_sources, policy_templates), typed_json, st.booleans())
def test_explain_never_raises(source: str, value: object, passed: bool) -> None:
    assert isinstance(explain(source, value, passed, default_message="the value"), str)
