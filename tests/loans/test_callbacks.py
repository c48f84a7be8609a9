"""Product callbacks: enqueued with the change that moved the money, sent signed, retried on failure."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest

from core.contracts.signing import sign_contracts
from core.loans import callbacks
from core.loans import repayment as rp
from core.loans.disbursement import disburse
from core.loans.models import Loan, LoanStatus, RepaymentSource
from core.outbox.models import OutboxMessage
from core.products.models import Product
from core.system import parameters as params
from core.system.models import SystemParameter
from tests.loans.factories import installments, make_loan, make_world
from tests.loans.lending import ADMIN, approved_loan, make_product, sandbox, standard_templates
from tests.loans.lending import make_world as lending_world

D = Decimal
URL = "https://platform.example/lendline/callbacks"


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 4, tzinfo=UTC)


async def callback_rows() -> list[OutboxMessage]:
    return list(await OutboxMessage.filter(job=callbacks.CALLBACK_JOB).order_by("id"))


async def test_a_repayment_enqueues_the_product_s_callback_only_when_asked(db):
    asked = await make_world("CBY", deduction_callback_enabled=True, deduction_callback_url=URL)
    none_url = await make_world("CBN", deduction_callback_enabled=True, deduction_callback_url="1")
    off = await make_world("CBO", deduction_callback_enabled=False, deduction_callback_url=URL)
    loans = [await make_loan(w, term=3, amount="3000.00") for w in (asked, none_url, off)]
    first = (await installments(loans[0]))[0]
    for n, loan in enumerate(loans):
        await rp.post_repayment(loan.id, first.principal + first.interest, f"CB-{n}", RepaymentSource.CALLBACK,
                                at(first.due_date))
    [row] = await callback_rows()
    repayment = await rp.Repayment.get(serial_no="CB-0")
    assert row.dedupe_key == f"callback:repayment:{repayment.id}"
    assert row.payload["url"] == URL and row.payload["event"] == "loan.repaid"
    body = row.payload["body"]
    assert body["orderNo"] == loans[0].order_no and body["serialNo"] == "CB-0"
    assert D(body["principal"]) == first.principal and D(body["interest"]) == first.interest
    assert body["loanStatus"] == "disbursed" and D(body["principalOutstanding"]) == D("3000.00") - first.principal
    # a repeat of the serial posts nothing and calls back nothing more
    await rp.post_repayment(loans[0].id, first.principal + first.interest, "CB-0", RepaymentSource.CALLBACK,
                            at(first.due_date))
    assert len(await callback_rows()) == 1


async def test_a_disbursement_enqueues_the_disbursement_callback(db):
    world = await lending_world()
    product = await make_product(world, disbursement_event=True)
    await Product.filter(id=product.id).update(disbursement_callback_url=URL)
    loan = await approved_loan(world, product)
    await standard_templates()
    await sign_contracts(ADMIN, loan.id)
    async with sandbox():
        await disburse(ADMIN, loan.id)
    loan = await Loan.get(id=loan.id)
    assert loan.status is LoanStatus.DISBURSED
    [row] = await callback_rows()
    assert row.payload["event"] == "loan.disbursed" and row.dedupe_key == f"callback:disbursement:{loan.id}"
    assert row.payload["body"]["orderNo"] == loan.order_no and row.payload["body"]["amount"] == str(loan.amount)
    assert row.payload["body"]["maturityDate"] == loan.maturity_date.isoformat()  # type: ignore[union-attr]


async def set_key(value: str) -> None:
    from tests.orgs.helpers import admin_actor

    admin = await admin_actor()
    await params.ensure_seed_parameters()
    p = await SystemParameter.get(number=callbacks.SIGNING_KEY_PARAMETER)
    await params.update_parameter(admin, p.id, secret_value=value)
    await params.set_active(admin, p.id, True)
    await params.refresh_cache(admin)


def capture(status: int, seen: list[httpx.Request]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json={"ok": status < 300})

    return lambda: httpx.AsyncClient(transport=httpx.MockTransport(handler))


PAYLOAD = {"event": "loan.repaid", "eventId": "repayment:7", "url": URL,
           "body": {"orderNo": "LN1", "amount": "100.00"}}


async def test_the_callback_is_signed_and_a_refusal_is_retried(db, monkeypatch):
    seen: list[httpx.Request] = []
    monkeypatch.setattr(callbacks, "_client", capture(200, seen))
    with pytest.raises(callbacks.CallbackFailed, match=r"callback\.signing_key"):
        await callbacks.send(PAYLOAD)  # no key set: nothing goes out unsigned
    assert seen == []
    await set_key("k" * 32)
    assert await callbacks.send(PAYLOAD) == {"eventId": "repayment:7", "status": 200}
    [request] = seen
    assert str(request.url) == URL and request.headers["Idempotency-Key"] == "repayment:7"
    assert request.headers["X-Lendline-Event"] == "loan.repaid"
    stamp = request.headers["X-Lendline-Timestamp"]
    expected = hmac.new(b"k" * 32, stamp.encode() + b"." + request.content, hashlib.sha256).hexdigest()
    assert request.headers["X-Lendline-Signature"] == f"sha256={expected}"
    assert json.loads(request.content) == {"event": "loan.repaid", "eventId": "repayment:7", "orderNo": "LN1",
                                           "amount": "100.00"}
    monkeypatch.setattr(callbacks, "_client", capture(503, seen))
    with pytest.raises(callbacks.CallbackFailed, match="503"):
        await callbacks.send(PAYLOAD)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    monkeypatch.setattr(callbacks, "_client", lambda: httpx.AsyncClient(transport=httpx.MockTransport(unreachable)))
    with pytest.raises(callbacks.CallbackFailed, match="no route"):
        await callbacks.send(PAYLOAD)


def test_what_counts_as_asking_for_a_callback() -> None:
    assert callbacks.wanted(True, URL) and not callbacks.wanted(True, "1") and not callbacks.wanted(True, " ")
    assert not callbacks.wanted(False, URL) and not callbacks.wanted(True, None)
