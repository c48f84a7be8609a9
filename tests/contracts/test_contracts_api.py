"""Contracts and disbursement over GraphQL, as an SPA calls them: templates, signing, disbursing, scope, masking."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core.accounts.models import Role
from core.contracts import templates
from core.contracts.models import ContractTemplate
from core.contracts.render import TemplateClass
from core.loans.models import Loan, LoanStatus
from permissions import policy
from permissions.policy import policy_store
from permissions.scope import EVERYTHING, DataPolicy
from schema.relay import gid
from tests.loans.lending import ADMIN, LOAN_CONTRACT, approved_loan, make_product, make_world, sandbox
from tests.products.helpers import set_data
from tests.support import Api, make_user

CREATE = """mutation($input: ContractTemplateInput!) { createContractTemplate(input: $input) {
  template { id key currentVersion source templateClass } errors { field code message } } }"""
UPDATE = """mutation($id: ID!, $input: ContractTemplateInput!, $v: Int) {
  updateContractTemplate(id: $id, input: $input, expectedVersion: $v) {
    template { currentVersion source } errors { field code message } } }"""
VERSIONS = """query($id: ID!) { contractTemplateVersions(templateId: $id) { totalCount edges { node { version } } } }"""
TEMPLATES = """{ contractTemplates { totalCount edges { node { key productId } } } }"""
SIGN = """mutation($id: ID!) { signLoanContracts(loanId: $id) {
  loan { status } contracts { templateKey sha256 ledgerTxHash } errors { field code message } } }"""
DISBURSE = """mutation($id: ID!) { disburseLoan(loanId: $id) {
  loan { status annualRate principalOutstanding } payment { status amount } errors { field code message } } }"""
RESOLVE = """mutation($id: ID!) { resolveLoanPayment(loanId: $id) { payment { status } errors { field code } } }"""
CONTRACTS = """query($id: ID!) { loanContracts(loanId: $id) { templateKey text textMasked sha256 } }"""
LOAN = """query($id: ID!) { loan(id: $id) { orderNo contracts { templateKey sha256 } } }"""


async def test_templates_signing_and_disbursement_end_to_end(api: Api, people: dict[str, Any]) -> None:
    world = await make_world()
    loan = await approved_loan(world, await make_product(world), amount="9000.00")
    admin = await api.login("admin")

    refused = await api(CREATE, {"input": {"key": "evil", "name": "逃逸", "templateClass": "LOAN_CONTRACT",
                                            "source": "ok\n{{ self.__init__.__globals__ }}"}}, admin)
    errors = refused["data"]["createContractTemplate"]["errors"]
    assert errors and errors[0]["field"] == "source" and "line 2" in errors[0]["message"]

    made = (await api(CREATE, {"input": {"key": "loan_contract", "name": "借款合同", "templateClass": "LOAN_CONTRACT",
                                         "source": LOAN_CONTRACT}}, admin))["data"]["createContractTemplate"]
    assert made["errors"] == [] and made["template"]["currentVersion"] == 1
    tid = made["template"]["id"]
    edited = (await api(UPDATE, {"id": tid, "input": {"source": LOAN_CONTRACT + "<p>第二版</p>"}, "v": 1},
                        admin))["data"]["updateContractTemplate"]
    assert edited["errors"] == [] and edited["template"]["currentVersion"] == 2
    stale = (await api(UPDATE, {"id": tid, "input": {"name": "x"}, "v": 1}, admin))["data"]["updateContractTemplate"]
    assert stale["errors"][0]["code"] == "STALE"
    versions = (await api(VERSIONS, {"id": tid}, admin))["data"]["contractTemplateVersions"]
    assert versions["totalCount"] == 2 and [e["node"]["version"] for e in versions["edges"]] == [2, 1]

    lid = gid("Loan", loan.id)
    signed = (await api(SIGN, {"id": lid}, admin))["data"]["signLoanContracts"]
    assert signed["errors"] == [] and signed["loan"]["status"] == "CONTRACT_SIGNED"
    assert [c["templateKey"] for c in signed["contracts"]] == ["loan_contract"]

    async with sandbox():
        paid = (await api(DISBURSE, {"id": lid}, admin))["data"]["disburseLoan"]
        assert paid["errors"] == [] and paid["payment"]["status"] == "SUCCEEDED"
        assert paid["loan"]["status"] == "DISBURSED" and Decimal(paid["loan"]["principalOutstanding"]) == 9000
        again = (await api(DISBURSE, {"id": lid}, admin))["data"]["disburseLoan"]
        assert again["errors"][0]["code"] == "INVALID_STATE" and again["errors"][0]["field"] == "loanId"
        nothing_open = (await api(RESOLVE, {"id": lid}, admin))["data"]["resolveLoanPayment"]
        assert nothing_open["errors"][0]["code"] == "INVALID_STATE"

    customer = await (await Loan.get(id=loan.id)).customer
    clear = (await api(CONTRACTS, {"id": lid}, admin))["data"]["loanContracts"]
    assert customer.id_number in clear[0]["text"] and clear[0]["textMasked"] is False
    via_loan = (await api(LOAN, {"id": lid}, admin))["data"]["loan"]["contracts"]
    assert via_loan == [{"templateKey": "loan_contract", "sha256": clear[0]["sha256"]}]

    await set_data("viewer", DataPolicy(all=True))
    viewer = await api.login("viewer1")
    masked = (await api(CONTRACTS, {"id": lid}, viewer))["data"]["loanContracts"]
    assert customer.id_number not in masked[0]["text"] and masked[0]["textMasked"] is True
    assert customer.id_number[:6] + "********" + customer.id_number[-4:] in masked[0]["text"]
    refused_sign = (await api(SIGN, {"id": lid}, viewer))["data"]["signLoanContracts"]
    assert refused_sign["errors"][0]["code"] == "FORBIDDEN"


async def test_another_banks_loans_and_templates_are_invisible(api: Api, people: dict[str, Any]) -> None:
    world = await make_world()
    product = await make_product(world)
    loan = await approved_loan(world, product)
    await templates.create(ADMIN, EVERYTHING, templates.TemplateInput(
        key="lead_only", name="领航专用", template_class=TemplateClass.LOAN_CONTRACT, source=LOAN_CONTRACT,
        product_id=product.id))
    await templates.create(ADMIN, EVERYTHING, templates.TemplateInput(
        key="everyone", name="通用", template_class=TemplateClass.DISPLAY_ONLY, source="<p>{{ amount | money }}</p>"))
    # A role with every page but only the partner bank's data (which funds nothing here).
    await Role.create(name="合作行", key="partner_only", enabled=True)
    await policy.set_role_pages("partner_only", None)
    await policy.set_role_data("partner_only", DataPolicy(bank_ids=frozenset({world.partner.id}),
                                                          auto_bank_ids=frozenset({world.partner.id})))
    await policy_store().refresh()
    await make_user("partner1", ["partner_only"])
    token = await api.login("partner1")
    lid = gid("Loan", loan.id)
    listed = (await api(TEMPLATES, {}, token))["data"]["contractTemplates"]
    assert [e["node"]["key"] for e in listed["edges"]] == ["everyone"]
    hidden = await ContractTemplate.get(key="lead_only")
    assert (await api("query($id:ID!){contractTemplate(id:$id){key}}", {"id": gid("ContractTemplate", hidden.id)},
                      token))["data"]["contractTemplate"] is None
    for mutation in (SIGN, DISBURSE):
        payload = next(iter((await api(mutation, {"id": lid}, token))["data"].values()))
        assert payload["errors"][0]["code"] == "NOT_FOUND", payload
    assert (await Loan.get(id=loan.id)).status == LoanStatus.APPROVED
    admin = await api.login("admin")
    signed = (await api(SIGN, {"id": lid}, admin))["data"]["signLoanContracts"]
    assert [c["templateKey"] for c in signed["contracts"]] == ["lead_only", "everyone"]
    assert (await api(CONTRACTS, {"id": lid}, token))["data"]["loanContracts"] == []
    assert len((await api(CONTRACTS, {"id": lid}, admin))["data"]["loanContracts"]) == 2
    assert (await api(TEMPLATES, {}, admin))["data"]["contractTemplates"]["totalCount"] == 2


@pytest.mark.usefixtures("db")
async def test_nothing_to_resolve_for_an_approved_loan(api: Api, people: dict[str, Any]) -> None:
    world = await make_world()
    loan = await approved_loan(world, await make_product(world))
    body = await api(RESOLVE, {"id": gid("Loan", loan.id)}, await api.login("admin"))
    assert body["data"]["resolveLoanPayment"]["errors"][0]["code"] == "INVALID_STATE"
