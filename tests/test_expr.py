"""Tests of the policy-expression language, :mod:`hipcheck.expr`."""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import time

import pytest

from hipcheck.expr import (
    UNKNOWN,
    Array,
    ArrayType,
    DateTime,
    EvalError,
    ExprError,
    Lambda,
    LambdaType,
    ParseError,
    PrimType,
    Span,
    TypeMismatch,
    Value,
    check,
    check_policy,
    evaluate,
    evaluate_policy,
    explain,
    format_value,
    parse,
)


def ev(source: str, value: object = None) -> Value:
    return evaluate(parse(source), value)


def fmt(source: str, value: object = None) -> str:
    return format_value(ev(source, value))


def rendered(exc_type: type[ExprError], source: str, value: object = None) -> str:
    with pytest.raises(exc_type) as info:
        evaluate_policy(source, value)
    return str(info.value)


# --------------------------------------------------------------------------------------------
# Literals


def test_integer_literal_is_int() -> None:
    assert ev("42") == 42
    assert type(ev("42")) is int


def test_negative_integer_literal_is_int_not_float() -> None:
    # The original lexed "-5" as a float.
    assert type(ev("-5")) is int
    assert ev("-5") == -5


def test_float_literal_with_zero_fraction_is_a_float() -> None:
    assert type(ev("2.0")) is float
    assert fmt("2.0") == "2.0"


def test_float_literal_with_zero_fraction_is_not_a_type_error() -> None:
    assert evaluate_policy("(eq (add 2.0 1) 3.0)", None) is True
    assert fmt("(filter (gt 8.0) [1 10])") == "[10]"


def test_float_literal_with_exponent() -> None:
    assert ev("1e3") == 1000.0
    assert ev("-2.5E-1") == -0.25


def test_integer_literal_beyond_64_bits_is_parse_error() -> None:
    with pytest.raises(ParseError, match="does not fit in 64 bits"):
        parse("9223372036854775808")
    assert ev("-9223372036854775808") == -(2**63)


def test_float_literal_too_large_is_parse_error() -> None:
    with pytest.raises(ParseError, match="too large"):
        parse("1e999")


def test_bool_literals() -> None:
    assert ev("#t") is True
    assert ev("#f") is False


def test_invalid_bool_literal_is_parse_error() -> None:
    with pytest.raises(ParseError, match="booleans are written #t and #f"):
        parse("#true")


def test_array_literal() -> None:
    assert ev("[1 2 3]") == Array(PrimType.INT, (1, 2, 3))


def test_array_elements_may_be_separated_by_commas() -> None:
    assert fmt("[0.152, -12.482, 0.09]") == "[0.152 -12.482 0.09]"
    assert fmt("(min [-3.1, -6.6, 7.8])") == "-6.6"


@pytest.mark.parametrize("source", ["[1,]", "[,1]", "[1,,2]", "(add 1, 2)"])
def test_stray_commas_are_parse_errors(source: str) -> None:
    with pytest.raises(ParseError, match="','"):
        parse(source)


def test_array_mixing_ints_and_floats_is_a_float_array() -> None:
    assert ev("[1 2.5]") == Array(PrimType.FLOAT, (1.0, 2.5))


def test_empty_array() -> None:
    assert ev("[]") == Array(None, ())
    assert fmt("[]") == "[]"


def test_array_elements_must_be_literals() -> None:
    with pytest.raises(ParseError, match="array elements must be literal values"):
        parse("[1 (add 1 2)]")


def test_datetime_literal_right_before_closing_bracket() -> None:
    # The original's datetime token swallowed the ']' of "[2024-01-01]".
    assert fmt("[2024-01-01]") == "[2024-01-01T00:00:00Z]"


# --------------------------------------------------------------------------------------------
# Datetimes


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("2024-09-17", "2024-09-17T00:00:00Z"),
        ("2024-09-17T09", "2024-09-17T09:00:00Z"),
        ("2024-09-17T09:00", "2024-09-17T09:00:00Z"),
        ("2024-09-17T09:00:30", "2024-09-17T09:00:30Z"),
        ("2024-09-17T09:00:30.5-05", "2024-09-17T14:00:30.5Z"),
        ("2024-09-17T09:00Z", "2024-09-17T09:00:00Z"),
        ("2024-09-17t09:00z", "2024-09-17T09:00:00Z"),
        ("2024-09-17T09:00+05:30", "2024-09-17T03:30:00Z"),
        ("2024-09-17T09:00-0130", "2024-09-17T10:30:00Z"),
        ("2024-09-17T23:30-05", "2024-09-18T04:30:00Z"),
        ("2024-09-17T09:00:00.123456789Z", "2024-09-17T09:00:00.123456789Z"),
    ],
)
def test_datetime_literal_is_resolved_to_utc(source: str, expected: str) -> None:
    assert fmt(source) == expected


@pytest.mark.parametrize(
    "source",
    [
        "2024-13-01",
        "2024-02-30",
        "2024-9-17",
        "2024-09-17T25:00",
        "2024-09-17T09:60",
        "2024-09-17T09:00+26",
        "2024-09-17T09.5",
        "0000-01-01",
        "2024-09-17Z",
    ],
)
def test_invalid_datetime_literal_is_parse_error(source: str) -> None:
    with pytest.raises(ParseError, match="datetime"):
        parse(source)


def test_datetime_converts_to_and_from_python_datetime() -> None:
    moment = dt.datetime(2024, 9, 17, 14, 0, 30, 500000, tzinfo=dt.timezone.utc)
    assert ev("2024-09-17T09:00:30.5-05") == DateTime.from_datetime(moment)
    assert DateTime.parse("2024-09-17T09:00:30.5-05").to_datetime() == moment


# --------------------------------------------------------------------------------------------
# Spans


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("P52w", "P52w"),
        ("P1w2dT3h4m5.6s", "P1w2dT3h4m5.6s"),
        ("p1W2D", "P1w2d"),
        ("P2W4DT1H30.5M", "P2w4dT1h30m30s"),
        ("PT1.5h", "PT1h30m"),
        ("PT36h", "P1dT12h"),
        ("P14d", "P2w"),
        ("PT0s", "PT0s"),
        ("P0d", "PT0s"),
        ("PT0.000000001s", "PT0.000000001s"),
        ("-P1d", "-P1d"),
    ],
)
def test_span_literal_is_normalised(source: str, expected: str) -> None:
    assert fmt(source) == expected


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("P1y", "years and months"),
        ("P1m", "years and months"),
        ("P1.5w", "cannot have a decimal fraction"),
        ("P1.5d", "cannot have a decimal fraction"),
        ("PT1.5h30m", "only the smallest unit"),
        ("PT1m1h", "from largest to smallest"),
        ("P1d1w", "from largest to smallest"),
        ("PT1h1h", "from largest to smallest"),
        ("P1dT", "must be followed by"),
        ("P1x", "unknown unit"),
        ("PT1w", "unknown unit"),
        ("PT1.0000000001s", "at most 9 decimal places"),
        ("P99999999999w", "too long"),
    ],
)
def test_invalid_span_literal_is_parse_error(source: str, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse(source)


def test_span_days_are_24_hours_and_weeks_7_days() -> None:
    assert evaluate_policy("(eq P1w PT168h)", None) is True
    assert evaluate_policy("(eq P1d PT1440m)", None) is True


def test_words_starting_with_p_are_names_not_spans() -> None:
    # "Philip" and "PTBarnum" must not be read as spans, as in the original.
    with pytest.raises(ParseError, match="unexpected name 'Philip'"):
        parse("(add Philip 1)")
    with pytest.raises(ParseError, match="unknown function 'PTBarnum'"):
        parse("(PTBarnum 1)")


def test_span_converts_to_and_from_timedelta() -> None:
    assert Span.parse("P1dT1h").to_timedelta() == dt.timedelta(days=1, hours=1)
    assert Span.from_timedelta(dt.timedelta(hours=36)) == ev("P1dT12h")


# --------------------------------------------------------------------------------------------
# Comparison


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("(gt 2 1)", True),
        ("(gt 1 1)", False),
        ("(lt 1 2)", True),
        ("(lt 2 2)", False),
        ("(gte 2 2)", True),
        ("(gte 1 2)", False),
        ("(lte 2 2)", True),
        ("(lte 3 2)", False),
        ("(eq 2 2)", True),
        ("(eq 2 3)", False),
        ("(neq 2 3)", True),
        ("(neq 2 2)", False),
        ("(gt 2.5 2.4)", True),
        ("(eq #t #t)", True),
        ("(gt #t #f)", True),
        ("(lt 2024-01-01 2024-01-02)", True),
        ("(gt P1w P6d)", True),
    ],
)
def test_comparison(source: str, expected: bool) -> None:
    assert evaluate_policy(source, None) is expected


@pytest.mark.parametrize("source", ["(lte 3 3.0)", "(eq 3.0 3)", "(gt 3.5 3)", "(lt 3 3.5)"])
def test_comparison_upcasts_int_to_float(source: str) -> None:
    assert evaluate_policy(source, None) is True


def test_comparison_of_different_types_is_type_error() -> None:
    with pytest.raises(TypeMismatch, match="cannot compare a span with an int"):
        check(parse("(lt P1w 3)"))


def test_comparison_of_arrays_is_type_error() -> None:
    with pytest.raises(TypeMismatch, match="expects single values to compare, got an array"):
        check(parse("(eq [1] [1])"))


def test_span_compares_with_duration_in_hours() -> None:
    # duration yields hours, the threshold is in weeks: spans compare by length.
    assert evaluate_policy("(lt (duration 2024-03-01 2024-01-01) P9w)", None) is True
    assert evaluate_policy("(gt (duration 2024-03-01 2024-01-01) P8w)", None) is True
    assert evaluate_policy("(eq (duration 2024-01-08 2024-01-01) P1w)", None) is True


# --------------------------------------------------------------------------------------------
# Arithmetic


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("(add 1 2)", "3"),
        ("(add 1.5 2.25)", "3.75"),
        ("(add 3 5.5)", "8.5"),
        ("(add 2.0 1)", "3.0"),
        ("(sub 1 3)", "-2"),
        ("(sub 5.5 3)", "2.5"),
        ("(sub 5 0.5)", "4.5"),
    ],
)
def test_numeric_arithmetic_upcasts(source: str, expected: str) -> None:
    assert fmt(source) == expected


def test_int_arithmetic_stays_int() -> None:
    assert type(ev("(add 1 2)")) is int


def test_add_span_to_datetime_either_way_round() -> None:
    assert fmt("(add 2024-09-26 P1w)") == "2024-10-03T00:00:00Z"
    assert fmt("(add P1w 2024-09-26)") == "2024-10-03T00:00:00Z"


def test_add_spans_gives_span() -> None:
    # The original typed span + span as a datetime.
    assert fmt("(add P1d PT12h)") == "P1dT12h"
    assert check(parse("(add P1d PT12h)")) is PrimType.SPAN


def test_sub_span_from_datetime() -> None:
    assert fmt("(sub 2024-03-01 P1d)") == "2024-02-29T00:00:00Z"


def test_sub_spans_can_go_negative() -> None:
    assert fmt("(sub P1d P2d)") == "-P1d"


def test_sub_datetimes_is_type_error_pointing_to_duration() -> None:
    assert rendered(TypeMismatch, "(eq (sub 2024-01-02 2024-01-01) P1d)") == (
        "'sub' cannot subtract a datetime; use (duration a b) for the span between two "
        "datetimes\n"
        "  (eq (sub 2024-01-02 2024-01-01) P1d)\n"
        "                      ^^^^^^^^^^"
    )


def test_add_datetimes_is_type_error() -> None:
    with pytest.raises(TypeMismatch, match="cannot add a datetime and a datetime"):
        check(parse("(add 2024-01-01 2024-01-01)"))


def test_add_bool_is_type_error_with_caret() -> None:
    assert rendered(TypeMismatch, "(eq (add 1 #t) 2)") == (
        "'add' expects numbers, datetimes or spans, got a bool\n"
        "  (eq (add 1 #t) 2)\n"
        "             ^^"
    )


def test_integer_overflow_is_eval_error() -> None:
    with pytest.raises(EvalError, match="integer overflow"):
        ev("(add 9223372036854775807 1)")


def test_float_overflow_is_eval_error() -> None:
    with pytest.raises(EvalError, match="float overflow"):
        ev("(add 1.0e308 1.0e308)")


def test_datetime_arithmetic_out_of_range_is_eval_error() -> None:
    with pytest.raises(EvalError, match="outside years 0001 to 9999"):
        ev("(add 9999-12-31 P1d)")


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("(divz 1 2)", 0.5),
        ("(divz 1.0 4)", 0.25),
        ("(divz 3 0)", 0.0),
        ("(divz 3.0 0.0)", 0.0),
        ("(divz 0 0)", 0.0),
    ],
)
def test_divz_divides_or_gives_zero(source: str, expected: float) -> None:
    result = ev(source)
    assert type(result) is float
    assert result == expected


def test_duration_between_datetimes_is_a_span() -> None:
    assert fmt("(duration 2024-09-17T10:30-05 2024-09-17T09:00-05)") == "PT1h30m"
    assert evaluate_policy("(eq (duration 2024-09-17T10:30-05 2024-09-17T09:00-05) PT1H30M)", None)


def test_duration_can_be_negative() -> None:
    assert fmt("(duration 2024-01-01 2024-01-02)") == "-P1d"


def test_duration_of_non_datetimes_is_type_error() -> None:
    with pytest.raises(TypeMismatch, match="'duration' expects datetimes, got a span"):
        check(parse("(duration 2024-01-01 P1d)"))


# --------------------------------------------------------------------------------------------
# Logic


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("(and #t #t)", True),
        ("(and #t #f)", False),
        ("(or #f #t)", True),
        ("(or #f #f)", False),
        ("(not #f)", True),
        ("(not #t)", False),
    ],
)
def test_logic(source: str, expected: bool) -> None:
    assert evaluate_policy(source, None) is expected


def test_logic_on_non_bools_is_type_error() -> None:
    with pytest.raises(TypeMismatch, match="'and' expects bools, got an int"):
        check(parse("(and #t 1)"))


# --------------------------------------------------------------------------------------------
# Reductions


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("(max [1 4 6 10 2 3 0])", "10"),
        ("(min [1 4 6 10 2 3 0])", "0"),
        ("(max [1.5 -2.0])", "1.5"),
        ("(min [1.5 -2.0])", "-2.0"),
        ("(max [2024-01-01 2025-06-01 2023-01-01])", "2025-06-01T00:00:00Z"),
        ("(min [P1w P1d PT1h])", "PT1h"),
    ],
)
def test_max_and_min(source: str, expected: str) -> None:
    # The original refused datetimes and spans although its documentation allowed them.
    assert fmt(source) == expected


def test_max_of_empty_array_is_eval_error() -> None:
    assert rendered(EvalError, "(gt (max $) 3)", []) == (
        "'max' of an empty array has no value\n  (gt (max $) 3)\n      ^^^^^^^"
    )


def test_max_of_bools_is_type_error() -> None:
    with pytest.raises(TypeMismatch, match="'max' expects an array of numbers"):
        check(parse("(max [#t #f])"))


def test_avg() -> None:
    assert ev("(avg [1 2])") == 1.5
    assert ev("(avg [1.0 2.0 4.5])") == 2.5


def test_avg_of_large_floats_does_not_overflow() -> None:
    assert ev("(avg [1.0e308 1.0e308])") == 1.0e308


def test_avg_of_empty_array_is_eval_error() -> None:
    with pytest.raises(EvalError, match="'avg' of an empty array"):
        ev("(avg [])")


def test_median_of_odd_length_is_middle_element() -> None:
    assert ev("(median [5 1 3])") == 3.0


def test_median_of_even_length_averages_middle_pair() -> None:
    # The original took the upper middle element.
    assert ev("(median [4 1 3 2])") == 2.5
    assert ev("(median [1.0e308 1.0e308])") == 1.0e308


def test_count() -> None:
    assert ev("(count [1 4 6 10 2 3 0])") == 7
    assert ev("(count [])") == 0
    assert ev("(count [#t #f])") == 2


def test_count_of_single_value_is_type_error() -> None:
    with pytest.raises(TypeMismatch, match="'count' expects an array, got an int"):
        check(parse("(count 3)"))


# --------------------------------------------------------------------------------------------
# Quantifiers: both (q [bools]) and (q lambda array) forms


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("(all [#t #t])", True),
        ("(all [#t #f])", False),
        ("(nall [#t #f])", True),
        ("(nall [#t #t])", False),
        ("(some [#f #t])", True),
        ("(some [#f #f])", False),
        ("(none [#f #f])", True),
        ("(none [#f #t])", False),
    ],
)
def test_quantifier_over_array_of_bools(source: str, expected: bool) -> None:
    assert evaluate_policy(source, None) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("(all (gt 3) [4 5])", True),
        ("(all (gt 3) [4 2])", False),
        ("(nall (gt 3) [4 2])", True),
        ("(nall (gt 3) [4 5])", False),
        ("(some (gt 3) [1 5])", True),
        ("(some (gt 3) [1 2])", False),
        ("(none (gt 3) [1 2])", True),
        ("(none (gt 3) [1 5])", False),
    ],
)
def test_quantifier_with_lambda_and_array(source: str, expected: bool) -> None:
    # The original accepted only one of the two forms.
    assert evaluate_policy(source, None) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [("(all [])", True), ("(nall [])", False), ("(some [])", False), ("(none [])", True)],
)
def test_quantifier_over_empty_array(source: str, expected: bool) -> None:
    assert evaluate_policy(source, None) is expected
    lambda_form = source.replace("[]", "(gt 3) []")
    assert evaluate_policy(lambda_form, None) is expected


def test_quantifier_over_non_bools_is_type_error() -> None:
    with pytest.raises(TypeMismatch, match="'all' expects an array of bools"):
        check(parse("(all [1 2])"))


def test_quantifier_with_lambda_but_no_array_is_type_error() -> None:
    with pytest.raises(TypeMismatch, match=r"also needs the array .* \(all \(gt 3\) \$\)"):
        check(parse("(all (gt 3))"))


def test_quantifier_lambda_must_produce_bools() -> None:
    with pytest.raises(TypeMismatch, match="must produce a bool, but produces an int"):
        check(parse("(some (add 1) [1 2])"))


# --------------------------------------------------------------------------------------------
# Higher-order functions and partial application


def test_partial_application_makes_a_lambda() -> None:
    value = ev("(gt 3)")
    assert isinstance(value, Lambda)
    assert format_value(value) == "(gt 3)"


def test_lambda_fills_the_missing_operand_first() -> None:
    # (lt 3) applied to x is (lt x 3), so it keeps the elements below 3.
    assert fmt("(filter (lt 3) [1 5 2 4])") == "[1 2]"
    assert fmt("(foreach (sub 1) [10 20])") == "[9 19]"
    assert fmt("(foreach (divz 2) [1 4])") == "[0.5 2.0]"


def test_filter() -> None:
    assert fmt("(filter (eq 0) [1 0 1 0 0 1 2])") == "[0 0 0]"
    assert evaluate_policy("(eq 3 (count (filter (gt 8.0) [1.0 2.0 10.0 20.0 30.0])))", None)


def test_filter_keeps_element_type_when_nothing_passes() -> None:
    assert ev("(filter (gt 100) [1 2])") == Array(None, ())
    assert check(parse("(filter (gt 100) [1 2])")) == ArrayType(PrimType.INT)


def test_foreach() -> None:
    source = "(eq 3 (count (filter (gt 8.0) (foreach (sub 1.0) [1.0 2.0 10.0 20.0 30.0]))))"
    assert evaluate_policy(source, None) is True


def test_foreach_can_change_element_type() -> None:
    assert fmt("(foreach (gt 3) [1 5])") == "[#f #t]"
    assert check(parse("(foreach (gt 3) [1 5])")) == ArrayType(PrimType.BOOL)


def test_unary_function_without_arguments_is_a_lambda() -> None:
    assert fmt("(foreach (not) [#t #f])") == "[#f #t]"


def test_lambda_value_formats_with_its_bound_values_evaluated() -> None:
    assert fmt("(gt (add 1 2))") == "(gt 3)"
    assert fmt("(not)") == "(not)"


def test_lambda_applied_to_wrong_element_type_is_type_error_at_lambda() -> None:
    assert rendered(TypeMismatch, "(all (gt #t) [1 2])") == (
        "'gt' cannot compare an int with a bool\n  (all (gt #t) [1 2])\n       ^^^^^^^"
    )


def test_partial_application_with_impossible_bound_argument_is_type_error() -> None:
    with pytest.raises(TypeMismatch, match="expects single values to compare, got an array"):
        check(parse("(gt [1 2])"))


def test_lambda_outside_higher_order_function_is_type_error() -> None:
    with pytest.raises(TypeMismatch, match="'add' expects numbers, datetimes or spans, got a"):
        check(parse("(add (gt 3) 1)"))


def test_filter_needs_a_lambda_first() -> None:
    with pytest.raises(TypeMismatch, match="expects a lambda such as \\(gt 3\\)"):
        check(parse("(filter [1] [1])"))


def test_foreach_lambda_not_applicable_to_elements_is_type_error() -> None:
    with pytest.raises(TypeMismatch, match="'count' expects an array, got an int"):
        check(parse("(foreach (count) [1 2])"))


def test_dbg_returns_its_argument_and_logs_it(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="hipcheck.expr"):
        assert ev("(dbg (add 1 2))") == 3
    assert "(add 1 2) = 3" in caplog.text


# --------------------------------------------------------------------------------------------
# Arity


def test_too_many_arguments_is_type_error_under_the_extra_ones() -> None:
    assert rendered(TypeMismatch, "(not #t #f #t)") == (
        "'not' takes 1 argument but was given 3\n  (not #t #f #t)\n          ^^^^^"
    )


def test_too_few_arguments_is_type_error() -> None:
    with pytest.raises(TypeMismatch, match="'filter' takes 2 arguments but was given 0"):
        check(parse("(filter)"))


def test_quantifier_arity_message_lists_both_forms() -> None:
    with pytest.raises(TypeMismatch, match="'all' takes 1 or 2 arguments but was given 3"):
        check(parse("(all (gt 1) [1] [2])"))


# --------------------------------------------------------------------------------------------
# JSON input


def test_dollar_is_the_whole_input() -> None:
    assert evaluate_policy("$", True) is True
    assert ev("$", 3) == 3


def test_json_integer_stays_an_int() -> None:
    # The original turned every JSON number into a float.
    assert type(ev("$", 3)) is int
    assert type(ev("$", 3.0)) is float


def test_json_pointer_into_objects_and_arrays() -> None:
    data = {"a": {"b": [10, 20, 30]}, "c": True}
    assert ev("$/a/b/1", data) == 20
    assert ev("$/c", data) is True
    assert evaluate_policy("(eq (count $/a/b) 3)", data)


def test_json_pointer_unescapes_tilde_sequences() -> None:
    data = {"a/b": 1, "m~n": 2}
    assert ev("$/a~1b", data) == 1
    assert ev("$/m~0n", data) == 2


def test_json_pointer_to_missing_key_is_eval_error() -> None:
    assert rendered(EvalError, "(gt $/alpa 1)", {"alpha": 4.5}) == (
        "JSON pointer '$/alpa' does not resolve: '$' has no key 'alpa'\n"
        "  (gt $/alpa 1)\n"
        "      ^^^^^^"
    )


def test_json_pointer_index_out_of_range_is_eval_error() -> None:
    with pytest.raises(EvalError, match="'\\$/a' has no index '2' \\(length 2\\)"):
        ev("$/a/2", {"a": [1, 2]})


def test_json_pointer_with_leading_zero_index_does_not_resolve() -> None:
    with pytest.raises(EvalError, match="has no index '01'"):
        ev("$/01", [1, 2])


def test_json_pointer_into_a_number_is_eval_error() -> None:
    with pytest.raises(EvalError, match="'\\$/a' is a number, which cannot be looked into"):
        ev("$/a/b", {"a": 1})


def test_json_pointer_must_start_with_slash() -> None:
    with pytest.raises(ParseError, match="must start with '/'"):
        parse("$alpha")


def test_json_pointer_with_bad_escape_is_parse_error() -> None:
    with pytest.raises(ParseError, match="'~' must be followed by 0 or 1"):
        parse("$/a~2")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ({"a": 1}, "is an object; point into it"),
        (None, "is null"),
        ("hello", "neither a datetime nor a span"),
        ([[1]], "arrays may hold only single values"),
        ([1, True], "mixing bool and int"),
        (float("nan"), "NaN"),
        (float("inf"), "infinite"),
        ("P1y", "not a valid span"),
        ("2024-02-30", "not a valid datetime"),
        ({1, 2}, "not a JSON value"),
    ],
)
def test_unrepresentable_json_is_eval_error(value: object, reason: str) -> None:
    with pytest.raises(EvalError, match=reason):
        ev("$", value)


def test_json_strings_become_datetimes_and_spans() -> None:
    assert ev("$", "2001-02-03T04:05:06+00:00") == ev("2001-02-03T04:05:06Z")
    assert ev("$", "P2dT3h4m") == ev("P2dT3h4m")
    expected = Array(PrimType.SPAN, (Span.parse("P1w"), Span.parse("P80w")))
    assert ev("$", ["P1w", "PT13440H"]) == expected


def test_json_datetime_string_may_separate_date_and_time_with_a_space() -> None:
    assert ev("$", "2024-09-17 09:00:00+02:00") == ev("2024-09-17T07:00Z")


def test_json_array_mixing_ints_and_floats_is_a_float_array() -> None:
    assert ev("$", [1, 2.5]) == Array(PrimType.FLOAT, (1.0, 2.5))


def test_json_integer_beyond_64_bits_becomes_a_float() -> None:
    assert ev("$", 2**70) == float(2**70)


def test_json_values_are_converted_once_per_pointer() -> None:
    assert evaluate_policy("(eq (count $) (count (filter (eq #t) $)))", [True, True])


def test_json_datetime_input_with_duration() -> None:
    data = {"now": "2024-09-17T12:00:00Z", "then": "2024-09-10T12:00:00Z"}
    assert evaluate_policy("(lte (duration $/now $/then) P1w)", data) is True
    assert evaluate_policy("(lt (duration $/now $/then) P1w)", data) is False


def test_json_span_compares_with_weeks() -> None:
    assert evaluate_policy("(lte $ P71w)", "P80w") is False
    assert evaluate_policy("(lte $ P71w)", "PT13440h") is False
    assert evaluate_policy("(lte $ P71w)", "P70w6d") is True


def test_evaluate_accepts_value_objects_as_input() -> None:
    assert evaluate_policy("(gt $ 2024-01-01)", DateTime.parse("2024-06-01")) is True


def test_large_boolean_input_is_fast() -> None:
    flags = [i % 3 == 0 for i in range(100_000)]
    start = time.perf_counter()
    policy = "(lte (divz (count (filter (eq #t) $)) (count $)) 0.2)"
    assert evaluate_policy(policy, flags) is False
    assert evaluate_policy("(some (eq #t) $)", flags) is True
    assert time.perf_counter() - start < 2.0


# --------------------------------------------------------------------------------------------
# Static checking


def test_check_allows_unknown_input() -> None:
    assert check(parse("(gt $ 3)")) is PrimType.BOOL
    assert check(parse("$")) is UNKNOWN


def test_check_uses_the_given_input_type() -> None:
    with pytest.raises(TypeMismatch, match="expects single values to compare, got an array of int"):
        check(parse("(gt $ 3)"), input_type=ArrayType(PrimType.INT))
    assert check(parse("(max $)"), input_type=ArrayType(PrimType.FLOAT)) is PrimType.FLOAT


def test_check_infers_types() -> None:
    assert check(parse("(divz 1 2)")) is PrimType.FLOAT
    assert check(parse("(add $ 1.5)")) is PrimType.FLOAT
    assert check(parse("(add $ 2024-01-01)")) is PrimType.DATETIME
    assert check(parse("(count $)")) is PrimType.INT
    assert check(parse("(filter (gt 3) $)")) == ArrayType(None)
    assert isinstance(check(parse("(gt 3)")), LambdaType)


def test_check_finds_type_error_inside_lambda_before_running() -> None:
    with pytest.raises(TypeMismatch, match="'lt' cannot compare a datetime with an int"):
        check(parse("(filter (lt 10) [2024-01-01])"))


def test_mixed_array_literal_is_type_error_at_offending_element() -> None:
    with pytest.raises(TypeMismatch) as info:
        check(parse("[#t 2]"))
    assert str(info.value) == (
        "array elements must all have one type: this array starts with a bool but also "
        "holds an int\n  [#t 2]\n      ^"
    )


def test_type_errors_are_found_before_evaluation_errors() -> None:
    # (max []) would fail when run; the ill-typed (add 1 #t) is reported first.
    with pytest.raises(TypeMismatch):
        evaluate_policy("(and (gt (max []) 1) (gt (add 1 #t) 1))", None)


def test_type_error_against_bound_input_is_found_before_running() -> None:
    with pytest.raises(TypeMismatch, match="'lt' cannot compare a datetime with an int"):
        evaluate_policy("(some (lt 10) $)", ["2024-01-01"])


def test_check_policy_requires_a_bool() -> None:
    with pytest.raises(
        TypeMismatch, match="a policy must produce a bool, but this produces an int"
    ):
        check_policy(parse("(add 1 2)"))
    check_policy(parse("$"))


def test_policy_producing_non_bool_from_input_is_type_error() -> None:
    assert rendered(TypeMismatch, "$", 3) == (
        "a policy must produce a bool, but this produces an int\n  $\n  ^"
    )


def test_policy_producing_a_lambda_is_type_error() -> None:
    with pytest.raises(TypeMismatch, match="produces a lambda"):
        evaluate_policy("(gt 3)", None)


# --------------------------------------------------------------------------------------------
# Errors and their rendering


def test_unknown_function_render() -> None:
    with pytest.raises(ParseError) as info:
        parse("(gtx $ 3)")
    assert str(info.value) == "unknown function 'gtx'\n  (gtx $ 3)\n   ^^^"
    assert info.value.render() == str(info.value)
    assert info.value.span == (1, 4)
    assert info.value.source == "(gtx $ 3)"
    assert info.value.message == "unknown function 'gtx'"


def test_unclosed_paren_points_at_it() -> None:
    with pytest.raises(ParseError) as info:
        parse("(eq (add 1 2) 3")
    assert str(info.value) == "this '(' is never closed\n  (eq (add 1 2) 3\n  ^"


def test_extra_close_paren_is_parse_error() -> None:
    with pytest.raises(ParseError) as info:
        parse("(add 1 2))")
    assert str(info.value) == (
        "unexpected ')' after the end of the expression\n  (add 1 2))\n           ^"
    )


def test_empty_expression_is_parse_error() -> None:
    with pytest.raises(ParseError, match="the expression is empty"):
        parse("   ")


def test_empty_call_is_parse_error() -> None:
    with pytest.raises(ParseError, match="empty call"):
        parse("()")


def test_call_needs_a_name() -> None:
    with pytest.raises(ParseError, match="expected a function name after '\\(', found '1'"):
        parse("(1 2)")


def test_bare_name_suggests_bool_syntax() -> None:
    with pytest.raises(ParseError, match="unexpected name 'true'; booleans are written #t"):
        parse("(and true #f)")


def test_unrecognised_token_is_parse_error() -> None:
    with pytest.raises(ParseError) as info:
        parse("(add 12abc 1)")
    assert str(info.value) == "unrecognised token '12abc'\n  (add 12abc 1)\n       ^^^^^"


def test_deep_nesting_is_parse_error() -> None:
    with pytest.raises(ParseError, match="nested more than"):
        parse("(not " * 200 + "#t" + ")" * 200)


def test_multi_line_expression_renders_on_one_line() -> None:
    source = "(lte\n\t(add $ 1)\n\tP1w)"
    with pytest.raises(TypeMismatch) as info:
        evaluate_policy(source, 3)
    assert str(info.value) == (
        "'lte' cannot compare an int with a span\n  (lte  (add $ 1)  P1w)\n  ^^^^^^^^^^^^^^^^^^^^^"
    )


def test_error_hierarchy() -> None:
    for cls in (ParseError, TypeMismatch, EvalError):
        assert issubclass(cls, ExprError)
    assert issubclass(ExprError, Exception)


def test_errors_survive_pickling() -> None:
    with pytest.raises(ParseError) as info:
        parse("(gtx 1)")
    copy = pickle.loads(pickle.dumps(info.value))
    assert str(copy) == str(info.value)
    assert copy.span == info.value.span


# --------------------------------------------------------------------------------------------
# Formatting


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "#t"),
        (False, "#f"),
        (3, "3"),
        (-3, "-3"),
        (2.5, "2.5"),
        (3.0, "3.0"),
        (1e20, "1.0e+20"),
        (1.5e-7, "1.5e-07"),
        (Array(PrimType.INT, (0, 0, 0)), "[0 0 0]"),
        (Array(None, ()), "[]"),
        (DateTime.parse("2024-09-17T09:00-05"), "2024-09-17T14:00:00Z"),
        (Span.parse("P1w2dT3h4m5.5s"), "P1w2dT3h4m5.5s"),
        (Span(0), "PT0s"),
    ],
)
def test_format_value(value: Value, expected: str) -> None:
    assert format_value(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        True,
        -(2**63),
        0.1,
        -0.0,
        1e300,
        5e-324,
        DateTime.parse("0001-01-01"),
        DateTime.parse("9999-12-31T23:59:59.999999999Z"),
        Span.parse("-P3wT0.5s"),
        Array(PrimType.FLOAT, (1.0, -2.5)),
        Array(PrimType.SPAN, (Span.parse("P1d"),)),
    ],
)
def test_format_value_round_trips_through_parse(value: Value) -> None:
    assert ev(format_value(value)) == value


def test_expression_formats_canonically() -> None:
    expr = parse("( filter  (gt 8)\n $/a~1b )")
    assert str(expr) == "(filter (gt 8) $/a~1b)"
    assert parse(str(expr)) == expr


def test_expression_equality_ignores_position_but_not_type() -> None:
    assert parse("(add 1 2)") == parse(" (add  1 2)")
    assert parse("1") != parse("1.0")
    assert parse("P1w") == parse("P7d")


# --------------------------------------------------------------------------------------------
# English explanations


ACTIVITY = "span of time that has elapsed since last activity in repo"
IDENTITY = "commits in the repo authored and commited by the same person"


def test_explain_span_threshold() -> None:
    assert explain("(lte $ P71w)", "P80w", False, default_message=ACTIVITY) == (
        "the span of time that has elapsed since last activity in repo was 80 weeks, "
        "which was required to be at most 71 weeks"
    )


def test_explain_rounds_long_spans_to_days() -> None:
    text = explain("(lte $ P71w)", "P10wT13h5m", True, default_message=ACTIVITY)
    assert "was 10 weeks 1 day," in text


def test_explain_percent() -> None:
    flags = [True] * 31 + [False] * 69
    policy = "(lte (divz (count (filter (eq #t) $)) (count $)) 0.2)"
    assert explain(policy, flags, False, default_message=IDENTITY) == (
        "the percent of commits in the repo authored and commited by the same person was "
        "31.0%, which was required to be at most 20.0%"
    )


def test_explain_filtered_count() -> None:
    message = "the repository's dependencies flagged as typos"
    assert explain(
        "(lte (count (filter (eq #t) $)) 0)", [True, True], False, default_message=message
    ) == (
        "the number of the repository's dependencies flagged as typos was 2, "
        "which was required to be at most 0"
    )


def test_explain_filtered_count_with_comparison() -> None:
    assert explain(
        "(lt (count (filter (gt 3.5) $)) 2)", [1, 5], True, default_message="churn frequencies"
    ) == (
        "the number of churn frequencies greater than 3.5 was 1, "
        "which was required to be less than 2"
    )


def test_explain_keeps_a_leading_article() -> None:
    message = "the number of detected binary files in a repo"
    assert explain("(lte $ 0)", 3, False, default_message=message) == (
        "the number of detected binary files in a repo was 3, which was required to be at most 0"
    )


def test_explain_swapped_operands_flip_the_comparison() -> None:
    # The original swapped the operands but kept "greater than".
    assert explain("(gt 3 $)", 5, False, default_message="score") == (
        "the score was 5, which was required to be less than 3"
    )


def test_explain_reduction() -> None:
    assert explain("(lte (max $) 3.5)", [1, 5], False, default_message="churn values") == (
        "the maximum of the churn values was 5, which was required to be at most 3.5"
    )


def test_explain_without_a_usable_value_says_whether_it_held() -> None:
    assert explain("(lte $ 2)", None, False, default_message="score") == (
        "the score was required to be at most 2, but it was not"
    )
    assert explain("(lte $ 2)", None, True, default_message="score") == (
        "the score was required to be at most 2, and it was"
    )


@pytest.mark.parametrize(
    "policy",
    ["(eq $ #t)", "$", "(and $ #t)", "(gt $ $)", "(gtx $ 1)", "(all (gt 3) $)", "(eq 1 2)"],
)
def test_explain_falls_back_to_default_message(policy: str) -> None:
    assert explain(policy, True, True, default_message="the default") == "the default"
