"""Signing an approved loan: every applicable template rendered, frozen, hashed into the ledger, one transaction."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest

from core.actor import SYSTEM
from core.contracts import templates
from core.contracts.models import Contract
from core.contracts.render import TemplateClass
from core.contracts.signing import sign_contracts
from core.errors import ErrorCode, UserError
from core.ledger.models import LedgerTransaction
from core.loans.models import Loan, LoanEvent, LoanStatus
from core.system.switches import SwitchKey, set_switch
from permissions.scope import EVERYTHING
from tests.loans.lending import ADMIN, approved_loan, make_product, make_world, standard_templates

pytestmark = pytest.mark.usefixtures("db")


async def test_signing_freezes_each_contract_with_its_hash_in_the_ledger() -> None:
    world = await make_world()
    product = await make_product(world)
    loan = await approved_loan(world, product, amount="12345.67")
    await standard_templates()
    contracts = await sign_contracts(ADMIN, loan.id)
    assert [c.template_class for c in contracts] == [TemplateClass.LOAN_CONTRACT, TemplateClass.DISPLAY_AND_SIGN,
                                                     TemplateClass.DISPLAY_ONLY]
    main = contracts[0]
    customer = await loan.customer
    # The legal text: full name and ID, funder's contacts, amount in words, LPR + spread, schedule.
    for expected in (customer.name, customer.id_number, "领航银行股份有限公司", "loans@ldb.com.cn", "400-800-1234",
                     "12,345.67", "壹万贰仟叁佰肆拾伍元陆角柒分", "LPR 3.45% + 150 个基点 = 年化 4.95%", loan.order_no):
        assert expected in main.text, expected
    assert main.text.count("<tr>") == 12
    assert customer.id_number not in contracts[1].text  # the authorisation shows the masked number
    for c in contracts:
        assert c.sha256 == hashlib.sha256(c.text.encode()).hexdigest()
        tx = await LedgerTransaction.get(tx_hash=c.ledger_tx_hash)
        payload = json.loads(tx.payload)
        assert tx.tx_type == "contract.signed" and payload["sha256"] == c.sha256
        assert (tx.scope_bank_id, tx.scope_product_id) == (world.lead.id, product.id)
        assert c.lpr_rate == Decimal("3.4500") and c.annual_rate == Decimal("0.0495")
    await loan.refresh_from_db()
    assert loan.status == LoanStatus.CONTRACT_SIGNED and loan.signed_at is not None
    assert await LoanEvent.filter(loan_id=loan.id, to_status="contract_signed").count() == 1


async def test_a_signed_contract_is_frozen() -> None:
    world = await make_world()
    loan = await approved_loan(world, await make_product(world))
    await standard_templates()
    contract = (await sign_contracts(ADMIN, loan.id))[0]
    contract.text = "changed"
    with pytest.raises(PermissionError):
        await contract.save()
    with pytest.raises(PermissionError):
        await contract.delete()


async def test_signing_uses_the_current_version_and_only_active_applicable_templates() -> None:
    world = await make_world()
    product = await make_product(world)
    other = await make_product(world, code="P-OTHER")
    rows = await standard_templates()
    await templates.update(ADMIN, EVERYTHING, rows[0].id, templates.TemplateInput(
        source="<p>第二版 {{ borrower_name }}</p>"))
    await templates.update(ADMIN, EVERYTHING, rows[2].id, templates.TemplateInput(active=False))
    await templates.create(ADMIN, EVERYTHING, templates.TemplateInput(
        key="other_only", name="他产品专用", template_class=TemplateClass.DISPLAY_AND_SIGN,
        source="<p>{{ borrower_name }}</p>", product_id=other.id))
    loan = await approved_loan(world, product)
    contracts = await sign_contracts(ADMIN, loan.id)
    assert [(c.template_key, c.template_version) for c in contracts] == [("loan_contract", 2),
                                                                        ("credit_authorisation", 1)]
    assert contracts[0].text.startswith("<p>第二版")


async def test_only_an_approved_loan_can_be_signed_and_nothing_is_half_written() -> None:
    world = await make_world()
    loan = await approved_loan(world, await make_product(world))
    await standard_templates()
    await sign_contracts(ADMIN, loan.id)
    with pytest.raises(UserError) as err:
        await sign_contracts(ADMIN, loan.id)
    assert err.value.code is ErrorCode.INVALID_STATE and err.value.errors[0].field == "loanId"
    assert await Contract.filter(loan_id=loan.id).count() == 3


async def test_no_loan_contract_template_refuses_signing() -> None:
    world = await make_world()
    loan = await approved_loan(world, await make_product(world))
    with pytest.raises(UserError) as err:
        await sign_contracts(ADMIN, loan.id)
    assert err.value.code is ErrorCode.INVALID_STATE and "loan-contract template" in err.value.errors[0].message
    assert (await Loan.get(id=loan.id)).status == LoanStatus.APPROVED


async def test_the_signing_switch_pauses_signing() -> None:
    world = await make_world()
    loan = await approved_loan(world, await make_product(world))
    await standard_templates()
    await set_switch(SYSTEM, SwitchKey.SIGNING, False)
    with pytest.raises(UserError) as err:
        await sign_contracts(ADMIN, loan.id)
    assert err.value.code is ErrorCode.INVALID_STATE and "paused" in err.value.errors[0].message
    assert await Contract.all().count() == 0
    await set_switch(SYSTEM, SwitchKey.SIGNING, True)
    assert len(await sign_contracts(ADMIN, loan.id)) == 3


async def test_a_failing_render_leaves_the_loan_approved_with_no_contract() -> None:
    world = await make_world()
    loan = await approved_loan(world, await make_product(world))
    await standard_templates()
    await templates.create(ADMIN, EVERYTHING, templates.TemplateInput(
        key="broken", name="坏模板", template_class=TemplateClass.DISPLAY_AND_SIGN,
        source="{% for i in range(900) %}{% for j in range(900) %}x{% endfor %}{% endfor %}"))
    with pytest.raises(UserError) as err:
        await sign_contracts(ADMIN, loan.id)
    assert err.value.errors[0].field == "templates.broken"
    assert await Contract.all().count() == 0
    assert await LedgerTransaction.filter(tx_type="contract.signed").count() == 0
    assert (await Loan.get(id=loan.id)).status == LoanStatus.APPROVED


async def test_a_loan_outside_the_scope_is_not_found() -> None:
    from permissions.scope import NOTHING

    world = await make_world()
    loan = await approved_loan(world, await make_product(world))
    await standard_templates()
    with pytest.raises(UserError) as err:
        await sign_contracts(ADMIN, loan.id, scope=NOTHING)
    assert err.value.code is ErrorCode.NOT_FOUND
