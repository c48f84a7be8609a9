"""The batch mutation over HTTP, and the walk seed's rows staying inside their bank."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.monitoring.models import AccountTransaction, Violation
from tests.monitoring.ingest_helpers import T0, bank_user, detectors, make_loan, make_world
from tests.monitoring.walk_seed import seed_monitoring
from tests.support import Api

pytestmark = pytest.mark.asyncio

INGEST = """mutation($items: [TransactionInput!]!) { ingestTransactions(items: $items) {
  errors { field code message } inserted skipped detectionPending violations { typeCode orderNo loanAmount } } }"""


def item(loan: Any, serial: str, direction: str, amount: str, minutes: int, **kw: Any) -> dict[str, Any]:
    return {"orderNo": loan.order_no, "serialNo": serial, "customerNo": loan.customer.customer_no,
            "accountNo": "ACC-API", "occurredAt": (T0 + timedelta(minutes=minutes)).isoformat(),
            "direction": direction, "amount": amount} | kw


async def test_ingest_transactions_mutation(api: Api, people: dict[str, Any]) -> None:
    from core.monitoring.rules import load_default_rules

    await load_default_rules()
    w = await make_world("API")
    loan = await make_loan(w, "10000.00")
    await bank_user("api_user", w.bank, "api_all")
    token = await api.login("api_user")
    items = [item(loan, "G1", "in", "10000.00", 0), item(loan, "G2", "out", "-5", 1)]
    async with detectors():
        body = await api(INGEST, {"items": items}, token)
        refused = body["data"]["ingestTransactions"]
        assert [(e["field"], e["code"]) for e in refused["errors"]] == [("items[1].amount", "OUT_OF_RANGE")]
        items[1] = item(loan, "G2", "out", "2500.00", 1, counterpartyName="某证券公司",
                        counterpartyCategory="SEC_BROKER")
        body = await api(INGEST, {"items": items}, token)
        ok = body["data"]["ingestTransactions"]
        assert ok["errors"] == [] and (ok["inserted"], ok["skipped"]) == (2, 0)
        assert ok["violations"] == [{"typeCode": "GS", "orderNo": loan.order_no, "loanAmount": "2500.00"}]
        again = (await api(INGEST, {"items": items}, token))["data"]["ingestTransactions"]
        assert (again["inserted"], again["skipped"], again["violations"]) == (0, 2, [])
    viewer = await api.login("viewer1")
    denied = (await api(INGEST, {"items": items}, viewer))["data"]["ingestTransactions"]
    assert denied["errors"][0]["code"] == "FORBIDDEN"


async def test_walk_seed_rows_carry_the_mark_and_stay_in_their_product(db: str, people: dict[str, Any]) -> None:
    a = await make_world("WKA")
    b = await make_world("WKB", a.channel)
    seeded_a = await seed_monitoring("ALPHA", a.bank, a.product, a.channel, people)
    seeded_b = await seed_monitoring("ZETA", b.bank, b.product, b.channel, people)
    for seeded, world, mark in ((seeded_a, a, "ALPHA"), (seeded_b, b, "ZETA")):
        txs = await AccountTransaction.filter(id__in=seeded["AccountTransaction"])
        assert len(txs) == 2 and all(t.product_id == world.product.id and mark in t.serial_no  # type: ignore[attr-defined]
                                     for t in txs)
        (v,) = await Violation.filter(id__in=seeded["Violation"])
        assert v.product_id == world.product.id and mark in v.order_no  # type: ignore[attr-defined]
