"""Rendering with every field, hashing, escaping, validation with line numbers, context checks."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import date
from decimal import Decimal

import pytest

from core.contracts.render import (
    CONTEXT_FIELDS,
    ContractContext,
    IssueKind,
    RenderedContract,
    ScheduleRow,
    TemplateClass,
    TemplateFormat,
    TemplateRenderError,
    TemplateValidationError,
    UndefinedVariableError,
    mask_id_number,
    render_contract,
    to_template_data,
    validate_template,
)

FULL_TEMPLATE = """\
<h1>借款合同</h1>
<p>借款人：{{ borrower_name }}（证件号 {{ borrower_id_masked }}）</p>
<p>出借方：{{ funder_name }}，邮箱 {{ funder_email }}，电话 {{ funder_phone }}</p>
<p>借款金额：人民币 {{ amount|money }} 元（大写：{{ amount|cn_money_upper }}）</p>
<p>期限：{{ term }}{% if term_unit == "month" %}个月{% else %}天{% endif %}</p>
<p>利率：LPR {{ lpr_base_rate|rate }} 加 {{ spread_bp }} 个基点，即年化 {{ final_rate|rate }}</p>
<table>
{% for row in schedule %}<tr><td>{{ row.period }}</td><td>{{ row.due_date|date }}</td>\
<td>{{ row.principal|money }}</td><td>{{ row.interest|money }}</td><td>{{ row.total|money }}</td>\
<td>{{ row.remaining_principal|money }}</td></tr>
{% endfor %}</table>
<p>签署日期：{{ signing_date|date("cn") }}</p>
"""


def test_renders_every_field(ctx: ContractContext) -> None:
    assert validate_template(FULL_TEMPLATE) == []
    rendered = render_contract(FULL_TEMPLATE, ctx)
    text = rendered.text
    assert "借款人：张三 &lt;Zhang &amp; Co&gt;（证件号 110***********002X）" in text
    assert "出借方：示例银行股份有限公司，邮箱 loans@bank.example，电话 400-800-1234" in text
    assert "人民币 12,345.67 元（大写：壹万贰仟叁佰肆拾伍元陆角柒分）" in text
    assert "期限：3个月" in text
    assert "LPR 3.45% 加 50 个基点，即年化 3.95%" in text
    assert "<tr><td>1</td><td>2024-06-01</td><td>4,115.22</td><td>40.64</td><td>4,155.86</td>" \
           "<td>8,230.45</td></tr>" in text
    assert text.count("<tr>") == 3
    assert "<td>0.00</td></tr>" in text
    assert "签署日期：2024年5月1日" in text
    assert text.endswith("</p>\n")  # trailing newline kept: the text is exactly what was authored


def test_every_context_field_is_exposed_as_plain_data(ctx: ContractContext) -> None:
    data = to_template_data(ctx)
    assert set(data) == CONTEXT_FIELDS
    assert data["term_unit"] == "month" and type(data["term_unit"]) is str
    assert type(data["schedule"]) is list and type(data["schedule"][0]) is dict
    allowed = (str, int, Decimal, date, list, dict)
    assert all(isinstance(v, allowed) for v in data.values())
    assert all(isinstance(v, allowed) for row in data["schedule"] for v in row.values())


def test_hash_is_sha256_of_the_utf8_text(ctx: ContractContext) -> None:
    rendered = render_contract("借款人 {{ borrower_name }}", ctx, markup=TemplateFormat.TEXT)
    assert rendered == RenderedContract("借款人 张三 <Zhang & Co>",
                                        hashlib.sha256("借款人 张三 <Zhang & Co>".encode()).hexdigest())
    again = render_contract("借款人 {{ borrower_name }}", ctx, markup=TemplateFormat.TEXT)
    assert again.sha256 == rendered.sha256
    other = dataclasses.replace(ctx, borrower_name="李四")
    assert render_contract("借款人 {{ borrower_name }}", other).sha256 != rendered.sha256


def test_autoescape_is_on_for_html_and_off_for_text(ctx: ContractContext) -> None:
    assert render_contract("{{ borrower_name }}", ctx).text == "张三 &lt;Zhang &amp; Co&gt;"
    assert render_contract("{{ borrower_name }}", ctx, markup=TemplateFormat.TEXT).text == "张三 <Zhang & Co>"
    assert render_contract("{{ '<b>' ~ funder_name }}", ctx).text == "&lt;b&gt;示例银行股份有限公司"


def test_allowed_template_features(ctx: ContractContext) -> None:
    source = (
        "{% for row in schedule if row.period > 1 %}{{ loop.index }}/{{ loop.length }}:{{ row.period }}"
        "{% if not loop.last %}, {% endif %}{% endfor %}|{{ schedule|length }}|{{ borrower_name.strip()|upper }}"
        "|{{ [funder_name, funder_phone]|join(' / ') }}|{{ signing_date.year }}|{{ (amount * 2)|money }}"
        "|{% for i in range(3) %}{{ i }}{% endfor %}|{{ schedule[0].total|money }}"
        "|{% for k, v in schedule[0].items() if k == 'period' %}{{ k }}={{ v }}{% endfor %}"
    )
    text = render_contract(source, ctx, markup=TemplateFormat.TEXT).text
    assert text == ("1/2:2, 2/2:3|3|张三 <ZHANG & CO>|示例银行股份有限公司 / 400-800-1234|2024|24,691.34"
                    "|012|4,155.86|period=1")


def test_unknown_variable_is_named_with_line_and_hint(ctx: ContractContext) -> None:
    source = "第一行\n{{ borower_name }}\n{{ amount }}{{ totally_unknown }}"
    issues = validate_template(source)
    assert [(i.kind, i.line, i.name) for i in issues] == [
        (IssueKind.UNKNOWN_VARIABLE, 2, "borower_name"), (IssueKind.UNKNOWN_VARIABLE, 3, "totally_unknown"),
    ]
    assert str(issues[0]) == "line 2: unknown variable 'borower_name' (did you mean 'borrower_name'?)"
    with pytest.raises(UndefinedVariableError) as info:
        render_contract(source, ctx)
    assert info.value.names == ("borower_name", "totally_unknown")
    assert "borower_name" in str(info.value)


def test_loop_variables_are_not_unknown() -> None:
    assert validate_template("{% for r in schedule %}{{ r.period }}{{ loop.index }}{% endfor %}") == []
    assert [i.name for i in validate_template("{% for r in schedule %}{% endfor %}{{ r }}")] == ["r"]


def test_unknown_schedule_field_is_reported(ctx: ContractContext) -> None:
    issues = validate_template("{% for row in schedule %}\n{{ row.princpal }}{% endfor %}")
    assert [(i.kind, i.line, i.name) for i in issues] == [(IssueKind.UNKNOWN_ATTRIBUTE, 2, "princpal")]
    with pytest.raises(UndefinedVariableError):
        render_contract("{{ schedule[0].princpal }}", ctx)  # not caught statically, caught at runtime


def test_syntax_errors_carry_line_numbers(ctx: ContractContext) -> None:
    issues = validate_template("ok\nok\n{% if amount %}\n{{ amount }")
    assert len(issues) == 1
    assert issues[0].kind is IssueKind.SYNTAX and issues[0].line == 4
    assert validate_template("{% for x in schedule %}")[0].kind is IssueKind.SYNTAX
    assert [(i.kind, i.name) for i in validate_template("{{ amount|pretty }}")] == [(IssueKind.SYNTAX, "pretty")]
    assert [(i.kind, i.name) for i in validate_template("{% if amount is huge %}{% endif %}")] == [
        (IssueKind.SYNTAX, "huge")]
    with pytest.raises(TemplateValidationError) as info:
        render_contract("{{ amount }", ctx)
    assert info.value.issues[0].line == 1


def test_filter_type_errors_are_render_errors(ctx: ContractContext) -> None:
    with pytest.raises(TemplateRenderError, match="money: expected a Decimal amount, got str"):
        render_contract("{{ borrower_name|money }}", ctx)
    with pytest.raises(TemplateRenderError, match="cannot be turned into text"):
        render_contract("{{ schedule }}", ctx)
    with pytest.raises(UndefinedVariableError):
        render_contract("{{ schedule[7].total|money }}", ctx)


def test_template_classes() -> None:
    assert {c.value for c in TemplateClass} == {"loan_contract", "display_and_sign", "display_only"}
    assert TemplateClass.LOAN_CONTRACT.requires_signature
    assert TemplateClass.DISPLAY_AND_SIGN.requires_signature
    assert not TemplateClass.DISPLAY_ONLY.requires_signature


def test_context_refuses_an_unmasked_id_and_inconsistent_rates(ctx: ContractContext) -> None:
    with pytest.raises(ValueError, match="full ID number"):
        dataclasses.replace(ctx, borrower_id_masked="11010519491231002X")
    with pytest.raises(ValueError, match="final_rate"):
        dataclasses.replace(ctx, final_rate=Decimal("0.04"))
    with pytest.raises(ValueError, match="amount"):
        dataclasses.replace(ctx, amount=12345.67)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="term"):
        dataclasses.replace(ctx, term=0)
    with pytest.raises(ValueError):
        dataclasses.replace(ctx, term_unit="year")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="total"):
        ScheduleRow(1, date(2024, 6, 1), Decimal(1), Decimal(1), Decimal(3), Decimal(0))
    assert mask_id_number("11010519491231002X") == "110***********002X"
    with pytest.raises(ValueError):
        mask_id_number("1234")


def test_negative_spread_is_allowed(ctx: ContractContext) -> None:
    lower = dataclasses.replace(ctx, spread_bp=-20, final_rate=Decimal("0.0325"))
    assert render_contract("{{ spread_bp }} {{ final_rate|rate }}", lower).text == "-20 3.25%"
