"""Operators, typed comparison and expression validation."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from core.risk.expressions import (
    UNAVAILABLE,
    Expression,
    ExpressionError,
    Indicator,
    IndicatorType,
    Operator,
    ValueTypeError,
    coerce_value,
    compile_expression,
)

NUM = Indicator("n", IndicatorType.NUMBER)
STR = Indicator("s", IndicatorType.STRING)
BOOL = Indicator("b", IndicatorType.BOOL)
DATE = Indicator("d", IndicatorType.DATE)
CAT = {i.name: i for i in (NUM, STR, BOOL, DATE)}


def hit(indicator: str, op: str, expected: Any, actual: Any) -> bool | None:
    return compile_expression(Expression(indicator, op, expected), CAT).evaluate(actual).hit


@pytest.mark.parametrize(
    ("op", "expected", "actual", "result"),
    [
        ("==", "10", 10, True),
        ("==", 10, Decimal("10.00"), True),  # Decimal equality ignores trailing zeros
        ("==", "0.1", 0.1, True),  # a source's float is read through repr, not its binary value
        ("!=", "10", 11, True),
        ("!=", "10", "10", False),  # "10" from a source is read as a number too
        (">", "18", 18, False),
        (">", "18", "18.01", True),
        (">=", "18", 18, True),
        ("<", "-1", Decimal("-1.5"), True),
        ("<=", "1e3", 1000, True),
        ("in", ["1", 2, "3.0"], 3, True),
        ("in", ["1", 2], 4, False),
        ("not_in", ["1", 2], 4, True),
        ("between", ["18", "60"], 18, True),  # inclusive low
        ("between", ["18", "60"], 60, True),  # inclusive high
        ("between", ["18", "60"], "60.0001", False),
        ("between", ["18", "60"], 17, False),
    ],
)
def test_number_operators(op: str, expected: Any, actual: Any, result: bool) -> None:
    assert hit("n", op, expected, actual) is result


def test_numbers_are_decimal_not_float() -> None:
    compiled = compile_expression(Expression("n", "==", "0.3"), CAT)
    outcome = compiled.evaluate(Decimal("0.1") + Decimal("0.2"))
    assert outcome.hit is True
    assert isinstance(compiled.expected, Decimal)
    assert isinstance(compile_expression(Expression("n", ">", 1), CAT).evaluate(0.5).actual, Decimal)


@pytest.mark.parametrize(
    ("op", "expected", "actual", "result"),
    [
        ("==", "Shanghai", "Shanghai", True),
        ("==", "Shanghai", "shanghai", False),  # case-sensitive
        ("!=", "Shanghai", "Beijing", True),
        ("in", ["Beijing", "Shanghai"], "Shanghai", True),
        ("not_in", ["Beijing", "Shanghai"], "Shenzhen", True),
        ("contains", "赌", "某某赌场", True),
        ("contains", "casino", "Grand Hotel", False),
    ],
)
def test_string_operators(op: str, expected: Any, actual: Any, result: bool) -> None:
    assert hit("s", op, expected, actual) is result


@pytest.mark.parametrize(
    ("op", "expected", "actual", "result"),
    [("==", True, True, True), ("==", True, False, False), ("!=", False, True, True),
     ("in", [True], True, True), ("not_in", [True], False, True)],
)
def test_bool_operators(op: str, expected: Any, actual: Any, result: bool) -> None:
    assert hit("b", op, expected, actual) is result


@pytest.mark.parametrize(
    ("op", "expected", "actual", "result"),
    [
        ("==", "2024-01-31", date(2024, 1, 31), True),
        ("<", "2024-01-31", "2024-01-30", True),
        (">=", date(2024, 1, 31), "2024-01-31", True),
        ("between", ["2024-01-01", "2024-12-31"], "2024-12-31", True),
        ("between", ["2024-01-01", "2024-12-31"], "2025-01-01", False),
        ("in", ["2024-01-01"], date(2024, 1, 1), True),
    ],
)
def test_date_operators(op: str, expected: Any, actual: Any, result: bool) -> None:
    assert hit("d", op, expected, actual) is result


@pytest.mark.parametrize("indicator", ["n", "s", "b", "d"])
def test_null_tests_see_missing_values(indicator: str) -> None:
    assert hit(indicator, "is_null", None, None) is True
    assert hit(indicator, "not_null", None, None) is False
    present = {"n": 1, "s": "x", "b": False, "d": "2024-01-01"}[indicator]
    assert hit(indicator, "is_null", None, present) is False
    assert hit(indicator, "not_null", None, present) is True


def test_null_test_is_unknown_when_source_failed() -> None:
    """A failed source does not prove the value is null."""
    assert hit("n", "is_null", None, UNAVAILABLE) is None


@pytest.mark.parametrize("actual", [None, UNAVAILABLE])
def test_missing_value_is_unknown_not_false(actual: Any) -> None:
    outcome = compile_expression(Expression("n", ">", "1"), CAT).evaluate(actual)
    assert outcome.hit is None
    assert outcome.note in {"missing value", "source unavailable"}


@pytest.mark.parametrize(("indicator", "actual"), [("n", "abc"), ("n", True), ("s", 5), ("b", "true"),
                                                   ("d", "31/01/2024"), ("d", datetime(2024, 1, 1)),
                                                   ("n", "NaN"), ("n", float("inf"))])
def test_unreadable_source_value_is_unknown_with_a_note(indicator: str, actual: Any) -> None:
    op, expected = {"n": ("==", "1"), "s": ("==", "x"), "b": ("==", True), "d": ("==", "2024-01-01")}[indicator]
    outcome = compile_expression(Expression(indicator, op, expected), CAT).evaluate(actual)
    assert outcome.hit is None
    assert outcome.note is not None and outcome.note.startswith("unreadable value")


@pytest.mark.parametrize(
    ("expr", "field", "fragment"),
    [
        (Expression("nope", "==", 1), "indicator", "unknown indicator 'nope'"),
        (Expression("n", "=~", 1), "operator", "unknown operator '=~'"),
        (Expression("s", ">", "a"), "operator", "does not apply to string"),
        (Expression("b", "between", [False, True]), "operator", "does not apply to bool"),
        (Expression("n", "contains", "1"), "operator", "does not apply to number"),
        (Expression("n", "==", 0.1), "value", "floats are not allowed"),
        (Expression("n", "==", True), "value", "got bool"),
        (Expression("n", "==", "ten"), "value", "'ten' is not a number"),
        (Expression("n", "==", None), "value", "needs a value"),
        (Expression("s", "==", 5), "value", "expected a string"),
        (Expression("b", "==", "yes"), "value", "expected a bool"),
        (Expression("d", "==", "2024-13-01"), "value", "not an ISO date"),
        (Expression("d", "==", datetime(2024, 1, 1, 12)), "value", "got a datetime"),
        (Expression("n", "in", "1,2"), "value", "needs a list"),
        (Expression("n", "in", []), "value", "non-empty list"),
        (Expression("n", "in", ["1", "x"]), "value[1]", "'x' is not a number"),
        (Expression("n", "between", ["1"]), "value", "exactly two values"),
        (Expression("n", "between", ["9", "1"]), "value", "greater than high"),
        (Expression("n", "is_null", 0), "value", "takes no value"),
        (Expression("s", "contains", ""), "value", "matches everything"),
    ],
)
def test_compile_errors_name_the_field(expr: Expression, field: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(expr, CAT)
    assert info.value.field == field
    assert fragment in info.value.message


def test_operator_accepts_enum_or_string() -> None:
    assert compile_expression(Expression("n", Operator.GE, "1"), CAT).operator is Operator.GE
    assert compile_expression(Expression("n", ">=", "1"), CAT).operator is Operator.GE


def test_coerce_value_rules() -> None:
    assert coerce_value(" 12.50 ", IndicatorType.NUMBER) == Decimal("12.5")
    assert coerce_value(0.1, IndicatorType.NUMBER, allow_float=True) == Decimal("0.1")
    with pytest.raises(ValueTypeError):
        coerce_value(0.1, IndicatorType.NUMBER)
    assert coerce_value("2024-02-29", IndicatorType.DATE) == date(2024, 2, 29)


def test_indicator_checks_its_own_fields() -> None:
    assert Indicator("x", "number").type is IndicatorType.NUMBER  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cost"):
        Indicator("x", IndicatorType.NUMBER, cost=Decimal("-1"))
    with pytest.raises(ValueError, match="cost"):
        Indicator("x", IndicatorType.NUMBER, cost=0.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Indicator("x", "decimal")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name"):
        Indicator("", IndicatorType.NUMBER)
