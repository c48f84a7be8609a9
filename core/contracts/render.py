"""Contract template rendering in a locked-down Jinja sandbox (F-CON-1, F-CON-2).

Templates are stored in the database and written by operations staff, so they are treated as
untrusted code. Defence in depth, each layer enough on its own for the common attacks:

1. **Static check** (:func:`validate_template`): only ``{{ }}``, ``{% if %}`` and non-recursive
   ``{% for %}`` are allowed — no ``set`` / ``macro`` / ``include`` / ``import`` / ``extends`` /
   ``block`` / ``autoescape`` (they either reach other templates, switch escaping off, or let a
   template grow values exponentially). Names must be :class:`ContractContext` fields; well-known
   escape gadgets (``self``, ``cycler``, ``lipsum``, ``config``, …) and ``_private`` attributes
   are reported as security problems, with line numbers.
2. **Sandbox** (:class:`jinja2.sandbox.ImmutableSandboxedEnvironment`, ``StrictUndefined``, no
   loader): attribute access is additionally restricted to an allowlist per type (a few ``str``
   methods, ``dict`` views, loop variables); ``str.format`` and ``%``-formatting are unavailable
   (format specs can allocate gigabytes: ``"{:999999999}"``); only our filters exist; the only
   global is a capped ``range``.
3. **Resource limits** (:class:`RenderLimits`): values built by ``*`` / ``**`` / ``+`` / ``~`` /
   ``join`` are bounded; containers are never turned into text (``str([schedule] * n)`` would
   amplify); every ``{% for %}`` draws from one per-render iteration budget (nested loops
   multiply); output is streamed and cut off at a maximum length. ``~`` and loop iterables are
   routed through guard filters by rewriting the checked AST, as Jinja offers no hook for them.

The context handed to a template is plain data only (``dict`` / ``list`` / ``str`` / ``int`` /
``Decimal`` / ``date``), built from :class:`ContractContext`.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, Final

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, meta, nodes, pass_context, pass_eval_context
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, LoopContext, markup_join, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

# --------------------------------------------------------------------------- errors


class ContractTemplateError(Exception):
    """Base class; ``issues`` lists static findings when there are any."""

    def __init__(self, message: str, issues: Iterable[TemplateIssue] = ()) -> None:
        super().__init__(message)
        self.issues: tuple[TemplateIssue, ...] = tuple(issues)


class TemplateValidationError(ContractTemplateError):
    """Syntax errors, unknown filters and similar authoring mistakes."""


class UndefinedVariableError(ContractTemplateError):
    """The template uses a name (or row attribute) the contract context does not provide."""

    def __init__(self, message: str, names: Iterable[str] = (), issues: Iterable[TemplateIssue] = ()) -> None:
        super().__init__(message, issues)
        self.names: tuple[str, ...] = tuple(names)


class TemplateSecurityError(ContractTemplateError):
    """The template tried to leave the sandbox or used a construct refused for safety."""


class TemplateLimitError(TemplateSecurityError):
    """A resource limit was hit (loop budget, range size, output length, huge values)."""


class TemplateRenderError(ContractTemplateError):
    """Any other failure while rendering (e.g. a filter given the wrong type)."""


class IssueKind(StrEnum):
    SYNTAX = "syntax"
    FORBIDDEN = "forbidden"
    UNSAFE = "unsafe"
    TOO_LARGE = "too_large"
    UNKNOWN_VARIABLE = "unknown_variable"
    UNKNOWN_ATTRIBUTE = "unknown_attribute"


_SECURITY_KINDS: Final = frozenset({IssueKind.FORBIDDEN, IssueKind.UNSAFE, IssueKind.TOO_LARGE})
_UNDEFINED_KINDS: Final = frozenset({IssueKind.UNKNOWN_VARIABLE, IssueKind.UNKNOWN_ATTRIBUTE})


@dataclass(frozen=True)
class TemplateIssue:
    kind: IssueKind
    message: str
    line: int | None = None
    name: str | None = None

    def __str__(self) -> str:
        return self.message if self.line is None else f"line {self.line}: {self.message}"


# --------------------------------------------------------------------------- context


class TemplateClass(StrEnum):
    LOAN_CONTRACT = "loan_contract"
    DISPLAY_AND_SIGN = "display_and_sign"
    DISPLAY_ONLY = "display_only"

    @property
    def requires_signature(self) -> bool:
        """Signed classes are frozen at signing: rendered text and hash are kept (F-CON-2)."""
        return self is not TemplateClass.DISPLAY_ONLY


class TemplateFormat(StrEnum):
    HTML = "html"
    TEXT = "text"


class TermUnit(StrEnum):
    DAY = "day"
    MONTH = "month"


_FULL_ID: Final = re.compile(r"\d{17}[\dXx]|\d{15}")


def mask_id_number(raw: str) -> str:
    """Keep the first 3 and last 4 characters: enough to recognise, not enough to misuse."""
    raw = raw.strip()
    if len(raw) < 8:
        raise ValueError("ID number too short to mask")
    return raw[:3] + "*" * (len(raw) - 7) + raw[-4:]


def _require_decimal(value: Any, field: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise ValueError(f"{field} must be a finite Decimal, got {value!r}")
    return value


@dataclass(frozen=True)
class ScheduleRow:
    period: int
    due_date: date
    principal: Decimal
    interest: Decimal
    total: Decimal
    remaining_principal: Decimal

    def __post_init__(self) -> None:
        for field in ("principal", "interest", "total", "remaining_principal"):
            _require_decimal(getattr(self, field), f"schedule row {self.period}: {field}")
        if self.principal + self.interest != self.total:
            raise ValueError(f"schedule row {self.period}: total != principal + interest")


@dataclass(frozen=True)
class ContractContext:
    """Everything a contract template may show. Rates are fractions (``Decimal("0.0345")``)."""

    borrower_name: str
    borrower_id_masked: str
    amount: Decimal
    term: int
    term_unit: TermUnit
    lpr_base_rate: Decimal
    spread_bp: int
    final_rate: Decimal
    funder_name: str
    funder_email: str
    funder_phone: str
    schedule: tuple[ScheduleRow, ...]
    signing_date: date
    # The legal text of a loan contract names the borrower in full (core.contracts.signing fills
    # these); display templates keep to `borrower_id_masked`.
    borrower_id_number: str = ""
    order_no: str = ""

    def __post_init__(self) -> None:
        if _FULL_ID.fullmatch(self.borrower_id_masked.strip()):
            raise ValueError("borrower_id_masked looks like a full ID number; use mask_id_number()")
        for field in ("amount", "lpr_base_rate", "final_rate"):
            _require_decimal(getattr(self, field), field)
        if self.amount <= 0:
            raise ValueError("amount must be positive")
        if isinstance(self.term, bool) or not isinstance(self.term, int) or self.term <= 0:
            raise ValueError("term must be a positive integer")
        if isinstance(self.spread_bp, bool) or not isinstance(self.spread_bp, int):
            raise ValueError("spread_bp must be an integer number of basis points")
        if self.lpr_base_rate + Decimal(self.spread_bp) / 10000 != self.final_rate:
            raise ValueError("final_rate must equal lpr_base_rate + spread_bp / 10000")
        object.__setattr__(self, "term_unit", TermUnit(self.term_unit))
        object.__setattr__(self, "schedule", tuple(self.schedule))


CONTEXT_FIELDS: Final = frozenset(f.name for f in dataclasses.fields(ContractContext))
SCHEDULE_FIELDS: Final = frozenset(f.name for f in dataclasses.fields(ScheduleRow))


def to_template_data(ctx: ContractContext) -> dict[str, Any]:
    """Plain, fresh data only: no dataclass or enum instance ever reaches the template."""
    return {f.name: _plain(getattr(ctx, f.name)) for f in dataclasses.fields(ctx)}


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return str(value.value)
    if isinstance(value, bool | int | str | Decimal | date) or value is None:
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    raise TypeError(f"{type(value).__name__} cannot be exposed to templates")


# --------------------------------------------------------------------------- filters

_CENT: Final = Decimal("0.01")
_CN_DIGITS: Final = "零壹贰叁肆伍陆柒捌玖"
_CN_SMALL_UNITS: Final = ("", "拾", "佰", "仟")
_CN_SECTION_UNITS: Final = ("", "万", "亿", "万亿")


def _number(value: Any, filter_name: str) -> Decimal:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()  # raises the clear "'x' is undefined" error
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{filter_name}: expected a Decimal amount, got {type(value).__name__}")
    number = Decimal(value)
    if not number.is_finite():
        raise ValueError(f"{filter_name}: {value} is not a finite number")
    return number


def money(value: Any) -> str:
    """``Decimal("12345.675")`` → ``"12,345.68"`` (half-up, as banks round cents)."""
    return f"{_number(value, 'money').quantize(_CENT, ROUND_HALF_UP):,.2f}"


def rate(value: Any, places: int = 2) -> str:
    """A fraction as a percentage: ``Decimal("0.0435")`` → ``"4.35%"``."""
    if isinstance(places, bool) or not isinstance(places, int) or not 0 <= places <= 8:
        raise ValueError("rate: places must be an integer from 0 to 8")
    percent = (_number(value, "rate") * 100).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    return f"{percent:f}%"


def format_date(value: Any, style: str = "iso") -> str:
    """``iso`` → ``2024-05-01``; ``cn`` → ``2024年5月1日``."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if not isinstance(value, date):
        raise TypeError(f"date: expected a date, got {type(value).__name__}")
    if style == "iso":
        return value.isoformat()
    if style == "cn":
        return f"{value.year}年{value.month}月{value.day}日"
    raise ValueError(f"date: unknown style {style!r} (iso, cn)")


def cn_money_upper(value: Any) -> str:
    """Chinese uppercase amount (金额大写) as written on bank documents.

    Rounded half-up to the fen. "整" follows an amount ending in 元 or 角, never one ending in
    分; a zero 角 before a non-zero 分 is written 零 (``1.05`` → 壹元零伍分); runs of zeros inside
    the integer part collapse to one 零 (``10005`` → 壹万零伍元整).
    """
    amount = _number(value, "cn_money_upper").quantize(_CENT, ROUND_HALF_UP)
    sign = "负" if amount < 0 else ""
    cents = int(abs(amount) * 100)
    if cents >= 10**18:
        raise ValueError("cn_money_upper: amount too large (limit is below 10^16 yuan)")
    if cents == 0:
        return "零元整"
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    parts = [_cn_integer(yuan) + "元"] if yuan else []
    if jiao:
        parts.append(_CN_DIGITS[jiao] + "角")
    elif fen and yuan:
        parts.append("零")
    parts.append(_CN_DIGITS[fen] + "分" if fen else "整")
    return sign + "".join(parts)


def _cn_integer(number: int) -> str:
    sections: list[int] = []  # 4-digit groups, lowest first
    while number:
        number, section = divmod(number, 10000)
        sections.append(section)
    text = ""
    gap = False  # an all-zero group was skipped since the last written digit
    for index in reversed(range(len(sections))):
        section = sections[index]
        if section == 0:
            gap = True
            continue
        if text and (gap or section < 1000):
            text += "零"
        text += _cn_section(section) + _CN_SECTION_UNITS[index]
        gap = False
    return text


def _cn_section(section: int) -> str:
    digits = str(section)
    text, zero = "", False
    for position, char in zip(range(len(digits) - 1, -1, -1), digits, strict=True):
        digit = int(char)
        if digit == 0:
            zero = True
            continue
        if zero:
            text += "零"
            zero = False
        text += _CN_DIGITS[digit] + _CN_SMALL_UNITS[position]
    return text


# --------------------------------------------------------------------------- sandbox


@dataclass(frozen=True)
class RenderLimits:
    """Resource bounds for one render. ``max_value_size`` caps any string built inside the
    template (by ``*``, ``+``, ``~`` or ``join``) in characters and any repeated list in items."""

    max_source_chars: int = 200_000
    max_output_chars: int = 1_000_000
    max_range: int = 1_000
    max_loop_iterations: int = 20_000
    max_value_size: int = 100_000
    max_int_bits: int = 4_096


_TEXTABLE: Final = (str, int, float, Decimal, date, type(None), Undefined)  # Undefined raises its own error


def _require_scalar(value: Any, where: str) -> None:
    """Containers are never turned into text: ``str()`` of a list repeats every element's text,
    so ``[schedule, schedule, …]`` would amplify a small template into gigabytes."""
    if not isinstance(value, _TEXTABLE):
        raise TypeError(f"{where}: a {type(value).__name__} cannot be turned into text; print its fields")


def _finalize(value: Any) -> Any:
    _require_scalar(value, "output")
    return value


def _text_filter(func: Callable[..., Any], name: str) -> Callable[..., Any]:
    def text_filter(value: Any, *args: Any, **kwargs: Any) -> Any:
        _require_scalar(value, name)
        return func(value, *args, **kwargs)

    text_filter.__name__ = name
    return text_filter


def _check_text_size(env: Any, items: Iterable[Any], separator: str, where: str) -> list[Any]:
    limit = env.limits.max_value_size
    values, size = [], 0
    for item in items:
        _require_scalar(item, where)
        size += len(str(item)) + (len(separator) if values else 0)
        if size > limit:
            raise TemplateLimitError(f"{where}: result would exceed {limit} characters")
        values.append(item)
    return values


@pass_eval_context
def _join(eval_ctx: EvalContext, value: Any, separator: str = "") -> str:
    items = _check_text_size(eval_ctx.environment, value, str(separator), "join")
    return JINJA_FILTERS["join"](eval_ctx, items, separator)  # type: ignore[no-any-return]


@pass_eval_context
def _concat_guard(eval_ctx: EvalContext, items: list[Any]) -> str:
    """Replaces every ``a ~ b`` (see :class:`_Guards`), which Jinja cannot intercept otherwise."""
    checked = _check_text_size(eval_ctx.environment, items, "", "~")
    return markup_join(checked) if eval_ctx.autoescape else str_join(checked)


@pass_context  # pass_context also stops Jinja from evaluating the filter at compile time
def _loop_guard(context: Context, iterable: Any) -> Iterator[Any]:
    env = context.environment
    assert isinstance(env, _ContractSandbox)
    for item in iterable:
        env.charge_iteration()
        yield item


_LOOP_GUARD: Final = "lendline_loop_guard"
_CONCAT_GUARD: Final = "lendline_concat_guard"
_TEXT_FILTERS: Final = ("capitalize", "e", "escape", "lower", "title", "trim", "upper")
_OTHER_JINJA_FILTERS: Final = ("abs", "count", "d", "default", "first", "int", "last", "length", "reverse",
                               "round", "sort")
_ALLOWED_ATTRIBUTES: Final[tuple[tuple[type, frozenset[str]], ...]] = (
    (str, frozenset({"upper", "lower", "title", "capitalize", "strip", "lstrip", "rstrip",
                     "startswith", "endswith"})),
    (dict, frozenset({"items", "keys", "values", "get"})),
    (LoopContext, frozenset({"index", "index0", "revindex", "revindex0", "first", "last", "length",
                             "previtem", "nextitem", "depth", "depth0", "cycle", "changed"})),
    (date, frozenset({"year", "month", "day"})),
)


class _ContractSandbox(ImmutableSandboxedEnvironment):
    """One environment per render: it carries that render's limits and loop budget."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, limits: RenderLimits, markup: TemplateFormat) -> None:
        super().__init__(autoescape=markup is TemplateFormat.HTML, undefined=StrictUndefined,
                         keep_trailing_newline=True, cache_size=0, auto_reload=False, finalize=_finalize)
        self.limits = limits
        self.iterations = 0
        self.globals.clear()
        self.globals["range"] = _capped_range(limits.max_range)
        self.filters = {name: JINJA_FILTERS[name] for name in _OTHER_JINJA_FILTERS}
        self.filters.update({name: _text_filter(JINJA_FILTERS[name], name) for name in _TEXT_FILTERS})
        self.filters.update(money=money, rate=rate, date=format_date, cn_money_upper=cn_money_upper, join=_join)
        self.filters.update({_LOOP_GUARD: _loop_guard, _CONCAT_GUARD: _concat_guard})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        return any(isinstance(obj, kind) and attr in allowed for kind, allowed in _ALLOWED_ATTRIBUTES)

    def wrap_str_format(self, value: Any) -> None:
        return None  # no str.format / format_map at all; is_safe_attribute then refuses them

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise TemplateSecurityError("%-formatting is not available in contract templates; use filters")
        if operator == "**":
            self._check_power(left, right)
        elif operator == "*":
            self._check_product(left, right)
        elif operator == "+":
            self._check_sum(left, right)
        return super().call_binop(context, operator, left, right)

    def _check_power(self, base: Any, exponent: Any) -> None:
        if _is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1:
            if base.bit_length() * exponent > self.limits.max_int_bits:
                raise TemplateLimitError(f"{base} ** {exponent} is too large")
        elif isinstance(exponent, int | float | Decimal) and abs(exponent) > 1000:
            raise TemplateLimitError(f"exponent {exponent} is too large")

    def _check_product(self, left: Any, right: Any) -> None:
        limit = self.limits.max_value_size
        if _is_int(left) and _is_int(right):
            if left.bit_length() + right.bit_length() > self.limits.max_int_bits:
                raise TemplateLimitError("product is too large")
        elif (_is_int(right) and _sized(left) * right > limit) or (_is_int(left) and _sized(right) * left > limit):
            raise TemplateLimitError("repeated value would exceed the size limit")

    def _check_sum(self, left: Any, right: Any) -> None:
        if _sized(left) and _sized(right) and _sized(left) + _sized(right) > self.limits.max_value_size:
            raise TemplateLimitError("concatenated value would exceed the size limit")

    def charge_iteration(self) -> None:
        self.iterations += 1
        if self.iterations > self.limits.max_loop_iterations:
            raise TemplateLimitError(f"loops exceeded {self.limits.max_loop_iterations} iterations in total")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sized(value: Any) -> int:
    """Length of a string / list / tuple operand, 0 for anything else."""
    return len(value) if isinstance(value, str | list | tuple) else 0


def _capped_range(limit: int) -> Callable[..., range]:
    def range_(*args: int) -> range:
        numbers = range(*args)
        if len(numbers) > limit:
            raise TemplateLimitError(f"range() is limited to {limit} items")
        return numbers

    return range_


class _Guards(NodeTransformer):
    """Rewrites the checked AST: every loop iterable and every ``~`` goes through a guard filter."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _LOOP_GUARD, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        items = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(items, _CONCAT_GUARD, [], [], None, None, lineno=node.lineno)


# --------------------------------------------------------------------------- analysis

_GADGET_NAMES: Final = frozenset({
    "self", "cycler", "joiner", "lipsum", "namespace", "dict", "config", "request", "session",
    "url_for", "get_flashed_messages", "caller", "varargs", "kwargs", "os", "sys", "subprocess",
    "builtins", "eval", "exec", "open", "getattr", "globals", "locals", "import",
})
_UNSAFE_ATTRIBUTES: Final = frozenset({"format", "format_map", "mro", "gi_frame", "cr_frame", "f_globals"})
_ALLOWED_NODES: Final = (
    nodes.Template, nodes.Output, nodes.TemplateData, nodes.If, nodes.For, nodes.Name, nodes.Const,
    nodes.Tuple, nodes.List, nodes.Dict, nodes.Pair, nodes.Keyword, nodes.CondExpr, nodes.Getattr,
    nodes.Getitem, nodes.Slice, nodes.Concat, nodes.Compare, nodes.Operand, nodes.Call, nodes.Filter,
    nodes.Test, nodes.And, nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Add, nodes.Sub, nodes.Mul,
    nodes.Div, nodes.FloorDiv, nodes.Mod, nodes.Pow,
    nodes.Scope,  # only the parser's wrapper around {% autoescape %}, which is reported itself
)
_CONSTRUCT_NAMES: Final[dict[type[nodes.Node], str]] = {
    nodes.Assign: "{% set %}", nodes.AssignBlock: "{% set %}", nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}", nodes.FilterBlock: "{% filter %}", nodes.Include: "{% include %}",
    nodes.Import: "{% import %}", nodes.FromImport: "{% from … import %}", nodes.Extends: "{% extends %}",
    nodes.Block: "{% block %}", nodes.With: "{% with %}", nodes.ScopedEvalContextModifier: "{% autoescape %}",
    nodes.EvalContextModifier: "{% autoescape %}", nodes.NSRef: "namespace assignment",
    nodes.ExprStmt: "{% do %}", nodes.Continue: "{% continue %}", nodes.Break: "{% break %}",
}


@dataclass
class _Prepared:
    env: _ContractSandbox
    template: Any
    issues: list[TemplateIssue]


def _prepare(source: str, limits: RenderLimits, markup: TemplateFormat) -> _Prepared:
    if not isinstance(source, str):
        raise TypeError("template source must be a string")
    env = _ContractSandbox(limits, markup)
    if len(source) > limits.max_source_chars:
        issue = TemplateIssue(IssueKind.TOO_LARGE, f"template exceeds {limits.max_source_chars} characters")
        return _Prepared(env, None, [issue])
    try:
        return _analyse_and_compile(source, env)
    except TemplateSyntaxError as exc:
        return _Prepared(env, None, [TemplateIssue(IssueKind.SYNTAX, exc.message or str(exc), exc.lineno)])
    except (RecursionError, SyntaxError):  # parser / compiler depth limits, Python's included
        return _Prepared(env, None, [TemplateIssue(IssueKind.SYNTAX, "template is nested too deeply")])


def _analyse_and_compile(source: str, env: _ContractSandbox) -> _Prepared:
    ast = env.parse(source)
    issues = _check_nodes(ast, env) + _check_names(ast) + _check_schedule_rows(ast)
    if issues:
        return _Prepared(env, None, sorted(issues, key=lambda i: (i.line or 0, i.message)))
    _Guards().visit(ast)
    ast.set_environment(env)
    return _Prepared(env, env.from_string(ast), [])


def _check_nodes(ast: nodes.Template, env: _ContractSandbox) -> list[TemplateIssue]:
    issues: list[TemplateIssue] = []
    for node in ast.find_all(nodes.Node):
        line = getattr(node, "lineno", None)
        if not isinstance(node, _ALLOWED_NODES):
            construct = _CONSTRUCT_NAMES.get(type(node), type(node).__name__)
            issues.append(TemplateIssue(IssueKind.FORBIDDEN, f"{construct} is not allowed in contract templates",
                                        line))
        elif isinstance(node, nodes.For) and node.recursive:
            issues.append(TemplateIssue(IssueKind.FORBIDDEN, "recursive loops are not allowed", line))
        elif isinstance(node, nodes.Getattr) and _unsafe_attribute(node.attr):
            issues.append(TemplateIssue(IssueKind.UNSAFE, f"access to attribute {node.attr!r} is not allowed",
                                        line, node.attr))
        elif (isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const)
              and isinstance(node.arg.value, str) and _unsafe_attribute(node.arg.value)):
            issues.append(TemplateIssue(IssueKind.UNSAFE, f"access to item {node.arg.value!r} is not allowed",
                                        line, node.arg.value))
        elif (isinstance(node, nodes.Keyword) and node.key == "attribute" and isinstance(node.value, nodes.Const)
              and isinstance(node.value.value, str) and _unsafe_attribute(node.value.value)):
            issues.append(TemplateIssue(IssueKind.UNSAFE, f"attribute {node.value.value!r} is not allowed",
                                        line, node.value.value))
        elif isinstance(node, nodes.Filter) and node.name not in env.filters:
            issues.append(TemplateIssue(IssueKind.SYNTAX, f"unknown filter {node.name!r}", line, node.name))
        elif isinstance(node, nodes.Test) and node.name not in env.tests:
            issues.append(TemplateIssue(IssueKind.SYNTAX, f"unknown test {node.name!r}", line, node.name))
    return issues


def _unsafe_attribute(name: str) -> bool:
    return name.startswith("_") or name in _UNSAFE_ATTRIBUTES


def _check_names(ast: nodes.Template) -> list[TemplateIssue]:
    issues: list[TemplateIssue] = []
    first_line: dict[str, int] = {}
    for name_node in ast.find_all(nodes.Name):
        first_line.setdefault(name_node.name, name_node.lineno)
    for name in sorted(n for n in first_line if n in _GADGET_NAMES or n.startswith("_")):
        issues.append(TemplateIssue(IssueKind.UNSAFE, f"{name!r} is not available in contract templates",
                                    first_line[name], name))
    try:
        undeclared = meta.find_undeclared_variables(ast)
    except TemplateSyntaxError:  # unknown filter / test: already reported by _check_nodes
        undeclared = set()
    unknown = undeclared - CONTEXT_FIELDS - {"range"} - _GADGET_NAMES
    for name in sorted(n for n in unknown if not n.startswith("_")):
        hint = difflib.get_close_matches(name, sorted(CONTEXT_FIELDS), n=1)
        suffix = f" (did you mean {hint[0]!r}?)" if hint else ""
        issues.append(TemplateIssue(IssueKind.UNKNOWN_VARIABLE, f"unknown variable {name!r}{suffix}",
                                    first_line.get(name), name))
    return issues


def _check_schedule_rows(ast: nodes.Template) -> list[TemplateIssue]:
    """``{% for row in schedule %}{{ row.princple }}`` is a typo worth catching before signing."""
    issues: list[TemplateIssue] = []
    for loop in ast.find_all(nodes.For):
        if not (isinstance(loop.iter, nodes.Name) and loop.iter.name == "schedule"
                and isinstance(loop.target, nodes.Name)):
            continue
        row = loop.target.name
        for body in loop.body:
            for node in body.find_all(nodes.Getattr):
                if (isinstance(node.node, nodes.Name) and node.node.name == row
                        and node.attr not in SCHEDULE_FIELDS and not _unsafe_attribute(node.attr)):
                    issues.append(TemplateIssue(IssueKind.UNKNOWN_ATTRIBUTE,
                                                f"schedule rows have no field {node.attr!r}", node.lineno,
                                                node.attr))
    return issues


# --------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class RenderedContract:
    """Rendered text and the SHA-256 (hex) of its UTF-8 bytes, kept when a contract is signed."""

    text: str
    sha256: str


def validate_template(
    source: str, *, markup: TemplateFormat = TemplateFormat.HTML, limits: RenderLimits | None = None
) -> list[TemplateIssue]:
    """All static problems (syntax with line numbers, unknown variables, forbidden constructs)."""
    return _prepare(source, limits or RenderLimits(), markup).issues


def render_contract(
    source: str,
    ctx: ContractContext,
    *,
    markup: TemplateFormat = TemplateFormat.HTML,
    limits: RenderLimits | None = None,
) -> RenderedContract:
    """Render ``source`` with ``ctx``; raises a :class:`ContractTemplateError` subclass on any problem."""
    limits = limits or RenderLimits()
    prepared = _prepare(source, limits, markup)
    if prepared.issues:
        raise _issue_error(prepared.issues)
    chunks: list[str] = []
    size = 0
    try:
        for chunk in prepared.template.generate(to_template_data(ctx)):
            size += len(chunk)
            if size > limits.max_output_chars:
                raise TemplateLimitError(f"output exceeds {limits.max_output_chars} characters")
            chunks.append(chunk)
    except ContractTemplateError:
        raise
    except SecurityError as exc:
        raise TemplateSecurityError(str(exc)) from exc
    except UndefinedError as exc:
        raise UndefinedVariableError(str(exc)) from exc
    except Exception as exc:
        raise TemplateRenderError(f"{type(exc).__name__}: {exc}") from exc
    text = "".join(chunks)
    return RenderedContract(text, hashlib.sha256(text.encode("utf-8")).hexdigest())


def _issue_error(issues: list[TemplateIssue]) -> ContractTemplateError:
    summary = "; ".join(str(i) for i in issues)
    kinds = {i.kind for i in issues}
    if kinds & _SECURITY_KINDS:
        return TemplateSecurityError(f"template refused: {summary}", issues)
    if kinds <= _UNDEFINED_KINDS:
        names = [i.name for i in issues if i.name]
        return UndefinedVariableError(f"template uses undefined names: {summary}", names, issues)
    return TemplateValidationError(f"invalid template: {summary}", issues)
