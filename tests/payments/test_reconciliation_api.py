"""Reconciliation over GraphQL: re-run a day, reports with items scoped by bank, re-push to partners."""

from __future__ import annotations

from typing import Any

from core import clock
from core.outbox.models import OutboxMessage
from core.payments.repush import JOB
from tests.payments.helpers import make_account, make_loan, make_payment, make_world, sandbox
from tests.payments.test_accounts import scoped_login
from tests.payments.test_reconciliation import pay
from tests.support import Api

RERUN = """mutation($p:String!,$d:Date!){rerunReconciliation(provider:$p,day:$d){
  run{id provider day status runs mismatchCount platformTotal providerTotal items{kind serialNo idempotencyKey}}
  errors{field code message}}}"""
REPORT = """query($p:String!,$d:Date!){reconciliationReport(provider:$p,day:$d){
  status mismatchCount providerCount providerTotal items{kind idempotencyKey}}}"""


async def test_rerun_and_read_reports_within_the_data_scope(api: Api, people: dict[str, Any]) -> None:
    a = await make_world("BKA", mark="甲")
    b = await make_world("BKB", mark="乙", platform=a.platform, channel=a.channel)
    await make_account(a, "DISB-A")
    await make_account(b, "DISB-B")
    day = clock.business_today().isoformat()
    admin = await api.login(people["admin"].account)
    only_b = await scoped_login(api, "bank_b_ops", {b.bank.id})
    async with sandbox({"DISB-A": "100000.00", "DISB-B": "100000.00"}) as host:
        loan_a = await make_loan(a, disbursed_on=clock.business_today())
        await make_payment(a, loan_a, day=clock.business_today(), amount="10.00", key="a-lost", serial="A-LOST")
        await pay(host, "a-extra", "20.00", debit="DISB-A")
        await pay(host, "b-extra", "30.00", debit="DISB-B")
        ran = (await api(RERUN, {"p": "sandbox", "d": day}, admin))["data"]["rerunReconciliation"]
        again = (await api(RERUN, {"p": "sandbox", "d": day}, only_b))["data"]["rerunReconciliation"]
        unknown = (await api(RERUN, {"p": "nope", "d": day}, admin))["data"]["rerunReconciliation"]
        future = (await api(RERUN, {"p": "sandbox", "d": "2999-01-01"}, admin))["data"]["rerunReconciliation"]
    assert ran["errors"] == [] and ran["run"]["status"] == "MISMATCHED" and ran["run"]["mismatchCount"] == 3
    assert ran["run"]["providerTotal"] == "50.00"
    assert sorted(i["idempotencyKey"] for i in ran["run"]["items"]) == ["a-extra", "a-lost", "b-extra"]
    # bank B's operator re-ran the same day: one report, and they see only their bank's item and no totals
    assert again["errors"] == [] and again["run"]["id"] == ran["run"]["id"] and again["run"]["runs"] == 2
    assert [i["idempotencyKey"] for i in again["run"]["items"]] == ["b-extra"]
    assert again["run"]["mismatchCount"] == 1 and again["run"]["providerTotal"] is None
    assert unknown["errors"][0]["field"] == "provider" and unknown["errors"][0]["code"] == "NOT_FOUND"
    assert future["errors"][0]["field"] == "day"
    report = (await api(REPORT, {"p": "sandbox", "d": day}, only_b))["data"]["reconciliationReport"]
    assert report["mismatchCount"] == 1 and report["providerCount"] is None and "甲" not in str(report)
    listing = "{reconciliationRuns{totalCount edges{node{provider items{idempotencyKey}}}}}"
    runs = (await api(listing, None, only_b))["data"]["reconciliationRuns"]
    assert runs["totalCount"] == 1 and runs["edges"][0]["node"]["items"] == [{"idempotencyKey": "b-extra"}]
    items = ("query($r:ID!){reconciliationItems(runId:$r,kind:MISSING_ON_PLATFORM){totalCount "
             "edges{node{idempotencyKey}}}}")
    paged = (await api(items, {"r": ran["run"]["id"]}, admin))["data"]["reconciliationItems"]
    assert paged["totalCount"] == 2
    viewer = await api.login(people["viewer"].account)
    refused = (await api(RERUN, {"p": "sandbox", "d": day}, viewer))["data"]["rerunReconciliation"]
    assert refused["errors"][0]["code"] == "FORBIDDEN"


async def test_repush_over_graphql(api: Api, people: dict[str, Any]) -> None:
    a = await make_world("BKA")
    loan = await make_loan(a, disbursed_on=clock.business_today())
    await make_payment(a, loan, day=clock.business_today(), amount="10.00", key="d-1", serial="S-1")
    admin = await api.login(people["admin"].account)
    day = clock.business_today().isoformat()
    query = """mutation($k:RepushKind!,$f:Date!,$t:Date!){repushToPartner(kind:$k,from:$f,to:$t){
      queued errors{field code message}}}"""
    done = (await api(query, {"k": "DISBURSEMENT", "f": day, "t": day}, admin))["data"]["repushToPartner"]
    assert done == {"queued": 1, "errors": []}
    assert await OutboxMessage.filter(job=JOB).count() == 1
    bad = (await api(query, {"k": "REPAYMENT", "f": day, "t": "2000-01-01"}, admin))["data"]["repushToPartner"]
    assert bad["errors"][0]["field"] == "to" and bad["queued"] is None
