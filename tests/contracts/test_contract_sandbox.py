"""Template authors must not reach Python objects, files, imports or unbounded resources."""

from __future__ import annotations

import time

import pytest

from core.contracts.render import (
    ContractContext,
    ContractTemplateError,
    IssueKind,
    RenderLimits,
    TemplateLimitError,
    TemplateSecurityError,
    render_contract,
    validate_template,
)

# Each of these is refused before any template code runs (static check).
STATIC_ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self }}",
    "{{ config }}",
    "{{ config.items() }}",
    "{{ lipsum.__globals__ }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ joiner }}{{ namespace }}",
    "{{ request.application.__globals__.__builtins__.__import__('os') }}",
    "{{ amount._int }}",
    "{{ amount.__class__ }}",
    "{{ amount['_exp'] }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    '{{ "{0.__class__}".format(1) }}',
    '{{ "{0:999999999}".format(1) }}',
    "{{ borrower_name.format_map({}) }}",
    "{{ range.__globals__ }}",
    "{{ schedule|sort(attribute='__class__') }}",
    "{{ __builtins__ }}",
    "{% include 'other.html' %}",
    "{% import 'os' as os %}",
    "{% from 'x' import y %}",
    "{% extends 'base.html' %}",
    "{% set x = 1 %}",
    "{% set x %}a{% endset %}",
    "{% macro m() %}{{ m() }}{% endmacro %}",
    "{% call range(1) %}{% endcall %}",
    "{% filter upper %}x{% endfilter %}",
    "{% block b %}{% endblock %}",
    "{% with x = 1 %}{% endwith %}",
    "{% autoescape false %}{{ borrower_name }}{% endautoescape %}",
    "{% for r in schedule recursive %}{{ loop(r) }}{% endfor %}",
]


@pytest.mark.parametrize("source", STATIC_ESCAPES)
def test_escape_attempts_are_refused_statically(ctx: ContractContext, source: str) -> None:
    issues = validate_template(source)
    assert issues, source
    assert any(i.kind in {IssueKind.UNSAFE, IssueKind.FORBIDDEN} for i in issues)
    assert all(i.line == 1 for i in issues if i.kind is not IssueKind.SYNTAX)
    with pytest.raises(TemplateSecurityError) as info:
        render_contract(source, ctx)
    assert info.value.issues


# These pass the static check and are stopped by the sandbox or the limits while rendering.
RUNTIME_REFUSALS = [
    ("{{ amount.as_tuple() }}", "as_tuple"),  # Decimal internals: no Decimal attribute is allowed
    ("{{ amount.real }}", "real"),
    ("{{ signing_date.replace(year=1) }}", "replace"),
    ("{{ schedule.append(1) }}", "append"),
    ("{{ schedule[0].update({}) }}", "update"),
    ("{{ borrower_name.encode() }}", "encode"),
    ("{{ range(3).start }}", "start"),
    ("{% for k in ['__class__'] %}{{ borrower_name[k] }}{% endfor %}", "__class__"),  # dynamic key
    ("{% for x in range(10**9) %}{% endfor %}", "range"),
    ('{{ "%999999999d" % 1 }}', "formatting"),
    ("{{ borrower_name * 1000000 }}", "size"),
    ("{{ 'a' * 10**9 }}", "size"),
    ("{{ [0] * 10**9 }}", "size"),
    ("{{ 10**100000 }}", "too large"),
    ("{{ (10**1000) * (10**1000) * (10**1000) * (10**1000) * (10**1000) }}", "too large"),
    ("{{ amount ** 100000 }}", "too large"),
    ("{{ ('a' * 60000) ~ ('a' * 60000) }}", "100000 characters"),
    ("{{ ('a' * 60000) + ('a' * 60000) }}", "size"),
    ("{{ (['a' * 10000] * 10000)|join }}", "100000 characters"),
]


@pytest.mark.parametrize(("source", "fragment"), RUNTIME_REFUSALS)
def test_runtime_refusals(ctx: ContractContext, source: str, fragment: str) -> None:
    assert validate_template(source) == []
    with pytest.raises(TemplateSecurityError, match=fragment):
        render_contract(source, ctx)


def test_range_is_capped(ctx: ContractContext) -> None:
    assert render_contract("{{ range(1000)|length }}", ctx).text == "1000"
    with pytest.raises(TemplateLimitError, match=r"range\(\) is limited to 1000 items"):
        render_contract("{% for x in range(1001) %}{% endfor %}", ctx)


def test_nested_loops_share_one_iteration_budget(ctx: ContractContext) -> None:
    """Three nested range(1000) loops would be 10^9 iterations with no output at all."""
    source = "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}" \
             "{% endfor %}{% endfor %}{% endfor %}"
    started = time.monotonic()
    with pytest.raises(TemplateLimitError, match="iterations"):
        render_contract(source, ctx)
    assert time.monotonic() - started < 5


def test_repeated_loops_share_the_budget(ctx: ContractContext) -> None:
    loop = "{% for a in range(1000) %}{% endfor %}"
    limits = RenderLimits(max_loop_iterations=2_500)
    render_contract(loop * 2, ctx, limits=limits)
    with pytest.raises(TemplateLimitError):
        render_contract(loop * 3, ctx, limits=limits)


def test_huge_output_is_cut_off(ctx: ContractContext) -> None:
    source = "{% for a in range(1000) %}{% for b in range(10) %}{{ borrower_name }}{% endfor %}{% endfor %}"
    with pytest.raises(TemplateLimitError, match="output exceeds 50000 characters"):
        render_contract(source, ctx, limits=RenderLimits(max_output_chars=50_000))
    assert len(render_contract(source, ctx).text) == 10_000 * len("张三 &lt;Zhang &amp; Co&gt;")


def test_containers_never_become_text(ctx: ContractContext) -> None:
    """``str()`` of ``[schedule] * n`` repeats the whole schedule n times: refuse it everywhere."""
    for source in ("{{ [schedule] * 1000 }}", "{{ ([schedule] * 1000)|join }}", "{{ schedule ~ '' }}",
                   "{{ schedule|upper }}", "{{ schedule|e }}", "{{ range }}"):
        with pytest.raises(ContractTemplateError, match="cannot be turned into text"):
            render_contract(source, ctx)


def test_source_size_is_bounded(ctx: ContractContext) -> None:
    issues = validate_template("x" * 300_000)
    assert [i.kind for i in issues] == [IssueKind.TOO_LARGE]
    with pytest.raises(TemplateSecurityError):
        render_contract("x" * 300_000, ctx)


def test_deeply_nested_source_is_refused_cleanly(ctx: ContractContext) -> None:
    source = "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}"
    with pytest.raises(ContractTemplateError):
        render_contract(source, ctx)


def test_unknown_filters_that_would_reach_attributes_do_not_exist(ctx: ContractContext) -> None:
    for source in ("{{ amount|attr('__class__') }}", "{{ schedule|map(attribute='x')|list }}",
                   "{{ borrower_name|format(1) }}", "{{ borrower_name|center(999999999) }}",
                   "{{ borrower_name|safe }}", "{{ schedule|tojson }}", "{{ borrower_name|replace('a','b') }}"):
        issues = validate_template(source)
        assert issues and issues[0].kind is IssueKind.SYNTAX, source
        with pytest.raises(ContractTemplateError):
            render_contract(source, ctx)


def test_the_template_cannot_alter_the_context(ctx: ContractContext) -> None:
    with pytest.raises(TemplateSecurityError):
        render_contract("{{ schedule.pop() }}", ctx)
    assert len(ctx.schedule) == 3
