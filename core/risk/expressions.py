"""Indicators and typed expressions for the risk engine (F-RISK-1).

An expression is ``(indicator, operator, value)``. Rule authors write the expected value in
configuration (often JSON), data sources return actual values; both are coerced to the
indicator's declared type before comparing, so ``"30" > 4`` can never silently become a string
comparison and money-like numbers are always :class:`~decimal.Decimal`, never ``float``.

Evaluation is three-valued: ``True`` (hit), ``False`` (no hit) or ``None`` (unknown, because the
value is missing, unreadable or its source failed). What "unknown" means for a decision is the
rule's business (see ``MissingPolicy`` in :mod:`core.risk.engine`), not the expression's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Final

OWN_SOURCE: Final = "OWN"
"""Source name of the platform's own data (as opposed to a plugin data source)."""


class IndicatorType(StrEnum):
    NUMBER = "number"
    STRING = "string"
    BOOL = "bool"
    DATE = "date"


@dataclass(frozen=True, slots=True)
class Indicator:
    """A named data point a rule can test, e.g. ``age`` or ``court_records``.

    ``cost`` is what one request for this indicator costs at its source; a source call that
    fetches several indicators costs the sum of their costs.
    """

    name: str
    type: IndicatorType
    source: str = OWN_SOURCE
    cost: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("indicator name must not be empty")
        if not self.source:
            raise ValueError(f"indicator {self.name!r}: source must not be empty")
        if not isinstance(self.cost, Decimal) or not self.cost.is_finite() or self.cost < 0:
            raise ValueError(f"indicator {self.name!r}: cost must be a finite, non-negative Decimal")
        # normalise a stored string ("number") to the enum; raises ValueError for an unknown type
        object.__setattr__(self, "type", IndicatorType(self.type))


class Operator(StrEnum):
    EQ = "=="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    IN = "in"
    NOT_IN = "not_in"
    BETWEEN = "between"
    CONTAINS = "contains"
    IS_NULL = "is_null"
    NOT_NULL = "not_null"


_ALL_TYPES: Final = frozenset(IndicatorType)
_ORDERED: Final = frozenset({IndicatorType.NUMBER, IndicatorType.DATE})
_TYPES_FOR: Final[Mapping[Operator, frozenset[IndicatorType]]] = {
    Operator.EQ: _ALL_TYPES,
    Operator.NE: _ALL_TYPES,
    Operator.GT: _ORDERED,
    Operator.GE: _ORDERED,
    Operator.LT: _ORDERED,
    Operator.LE: _ORDERED,
    Operator.IN: _ALL_TYPES,
    Operator.NOT_IN: _ALL_TYPES,
    Operator.BETWEEN: _ORDERED,
    Operator.CONTAINS: frozenset({IndicatorType.STRING}),
    Operator.IS_NULL: _ALL_TYPES,
    Operator.NOT_NULL: _ALL_TYPES,
}
_NULL_TESTS: Final = frozenset({Operator.IS_NULL, Operator.NOT_NULL})
_LIST_OPERATORS: Final = frozenset({Operator.IN, Operator.NOT_IN})


@dataclass(frozen=True, slots=True)
class Expression:
    """One condition as configured. ``operator`` may be a raw string from storage; it is checked
    by validation rather than at construction so a bad rule set reports *all* its problems."""

    indicator: str
    operator: Operator | str
    value: Any = None


class ExpressionError(ValueError):
    """A configuration problem in one expression; ``field`` is relative to the expression
    (``"operator"``, ``"value"``, ``"value[1]"`` …)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ValueTypeError(ValueError):
    """A value cannot be read as the indicator's type."""


class _Unavailable:
    """Marker for "the source call failed", distinct from ``None`` ("the source has no value")."""

    _instance: _Unavailable | None = None

    def __new__(cls) -> _Unavailable:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNAVAILABLE"


UNAVAILABLE: Final = _Unavailable()


def coerce_value(raw: Any, type_: IndicatorType, *, allow_float: bool = False) -> Any:
    """Read ``raw`` as ``type_`` or raise :class:`ValueTypeError`.

    Numbers become ``Decimal``. Floats are refused in configuration (write ``"0.1"``, not ``0.1``)
    but tolerated from data sources (``allow_float``), converted through ``repr`` so ``0.1``
    becomes ``Decimal("0.1")`` rather than its binary expansion: plugin JSON decoders produce
    floats and refusing them would turn every such value into "missing". ``bool`` is never a
    number, and a ``datetime`` is never a ``date`` (the time zone would decide the day).
    """
    if type_ is IndicatorType.NUMBER:
        return _coerce_number(raw, allow_float=allow_float)
    if type_ is IndicatorType.STRING:
        if isinstance(raw, str):
            return raw
        raise ValueTypeError(f"expected a string, got {type(raw).__name__}")
    if type_ is IndicatorType.BOOL:
        if isinstance(raw, bool):
            return raw
        raise ValueTypeError(f"expected a bool, got {type(raw).__name__}")
    if type_ is IndicatorType.DATE:
        return _coerce_date(raw)
    raise ValueTypeError(f"unknown indicator type {type_!r}")


def _coerce_number(raw: Any, *, allow_float: bool) -> Decimal:
    if isinstance(raw, bool):
        raise ValueTypeError("expected a number, got bool")
    if isinstance(raw, Decimal):
        number = raw
    elif isinstance(raw, int):
        number = Decimal(raw)
    elif isinstance(raw, float):
        if not allow_float:
            raise ValueTypeError("floats are not allowed; write the number as a string or Decimal")
        number = Decimal(repr(raw))
    elif isinstance(raw, str):
        try:
            number = Decimal(raw.strip())
        except InvalidOperation:
            raise ValueTypeError(f"{raw!r} is not a number") from None
    else:
        raise ValueTypeError(f"expected a number, got {type(raw).__name__}")
    if not number.is_finite():
        raise ValueTypeError(f"{raw!r} is not a finite number")
    return number


def _coerce_date(raw: Any) -> date:
    if isinstance(raw, datetime):
        raise ValueTypeError("expected a date, got a datetime")
    if isinstance(raw, date):
        return raw
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            raise ValueTypeError(f"{raw!r} is not an ISO date (YYYY-MM-DD)") from None
    raise ValueTypeError(f"expected a date, got {type(raw).__name__}")


@dataclass(frozen=True, slots=True)
class ExpressionOutcome:
    """Result of evaluating one expression against one actual value."""

    hit: bool | None
    actual: Any
    note: str | None = None


@dataclass(frozen=True, slots=True)
class CompiledExpression:
    """An expression checked against its indicator, with the expected value already coerced."""

    indicator: Indicator
    operator: Operator
    expected: Any

    def evaluate(self, raw: Any) -> ExpressionOutcome:
        """Compare ``raw`` (``None`` = no value, ``UNAVAILABLE`` = source failed)."""
        if raw is UNAVAILABLE:
            return ExpressionOutcome(None, None, "source unavailable")
        if self.operator in _NULL_TESTS:
            is_null = raw is None
            return ExpressionOutcome(is_null == (self.operator is Operator.IS_NULL), raw)
        if raw is None:
            return ExpressionOutcome(None, None, "missing value")
        try:
            actual = coerce_value(raw, self.indicator.type, allow_float=True)
        except ValueTypeError as exc:
            return ExpressionOutcome(None, raw, f"unreadable value: {exc}")
        return ExpressionOutcome(_apply(self.operator, actual, self.expected), actual)


def _apply(op: Operator, actual: Any, expected: Any) -> bool:
    match op:
        case Operator.EQ:
            return bool(actual == expected)
        case Operator.NE:
            return bool(actual != expected)
        case Operator.GT:
            return bool(actual > expected)
        case Operator.GE:
            return bool(actual >= expected)
        case Operator.LT:
            return bool(actual < expected)
        case Operator.LE:
            return bool(actual <= expected)
        case Operator.IN:
            return actual in expected
        case Operator.NOT_IN:
            return actual not in expected
        case Operator.BETWEEN:
            low, high = expected
            return bool(low <= actual <= high)
        case Operator.CONTAINS:
            return expected in actual
    raise AssertionError(f"unhandled operator {op!r}")  # pragma: no cover


def parse_operator(raw: Operator | str) -> Operator:
    try:
        return Operator(raw)
    except ValueError:
        known = ", ".join(op.value for op in Operator)
        raise ExpressionError("operator", f"unknown operator {raw!r} (known: {known})") from None


def compile_expression(expr: Expression, catalog: Mapping[str, Indicator]) -> CompiledExpression:
    """Check ``expr`` against the indicator catalogue; raise :class:`ExpressionError` naming the field."""
    indicator = catalog.get(expr.indicator) if isinstance(expr.indicator, str) else None
    if indicator is None:
        raise ExpressionError("indicator", f"unknown indicator {expr.indicator!r}")
    op = parse_operator(expr.operator)
    if indicator.type not in _TYPES_FOR[op]:
        raise ExpressionError(
            "operator", f"operator {op.value!r} does not apply to {indicator.type.value} indicator"
            f" {indicator.name!r}"
        )
    return CompiledExpression(indicator, op, _compile_expected(op, indicator.type, expr.value))


def _compile_expected(op: Operator, type_: IndicatorType, value: Any) -> Any:
    if op in _NULL_TESTS:
        if value is not None:
            raise ExpressionError("value", f"operator {op.value!r} takes no value")
        return None
    if op in _LIST_OPERATORS:
        items = _as_list(value, op)
        if not items:
            raise ExpressionError("value", f"operator {op.value!r} needs a non-empty list")
        return tuple(_coerce_item(item, type_, f"value[{i}]") for i, item in enumerate(items))
    if op is Operator.BETWEEN:
        items = _as_list(value, op)
        if len(items) != 2:
            raise ExpressionError("value", "operator 'between' needs exactly two values [low, high]")
        low, high = (_coerce_item(item, type_, f"value[{i}]") for i, item in enumerate(items))
        if low > high:
            raise ExpressionError("value", f"between: low {low} is greater than high {high}")
        return (low, high)
    if value is None:
        raise ExpressionError("value", f"operator {op.value!r} needs a value (use is_null to test for none)")
    expected = _coerce_item(value, type_, "value")
    if op is Operator.CONTAINS and expected == "":
        raise ExpressionError("value", "contains: an empty string matches everything")
    return expected


def _as_list(value: Any, op: Operator) -> list[Any]:
    if not isinstance(value, list | tuple):
        raise ExpressionError("value", f"operator {op.value!r} needs a list, got {type(value).__name__}")
    return list(value)


def _coerce_item(value: Any, type_: IndicatorType, field: str) -> Any:
    if value is None:
        raise ExpressionError(field, "must not be null")
    try:
        return coerce_value(value, type_)
    except ValueTypeError as exc:
        raise ExpressionError(field, f"type mismatch for {type_.value} indicator: {exc}") from None
