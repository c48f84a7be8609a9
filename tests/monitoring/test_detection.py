"""Detection on ingested transactions: every diversion type at and just below its thresholds, per-loan
judgement, AML and concentration rules, detector failure and re-detection."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core.actor import SYSTEM
from core.monitoring import detection
from core.monitoring.detection import redetect
from core.monitoring.ingest import ingest
from core.monitoring.models import AccountTransaction, TxSource, Violation, ViolationKind
from core.monitoring.rules import load_default_rules
from core.system.models import SystemAlert
from plugins import PluginDefinition, hookimpl
from tests.monitoring.ingest_helpers import DETECTORS, detectors, make_loan, make_world, tx

pytestmark = pytest.mark.asyncio

CATEGORY = {"LS": "BOND_DEALER", "GS": "SEC_BROKER", "JJCF": "FUND_MANAGER", "QH": "FUTURES_BROKER",
            "GJS": "PRECIOUS_METALS_EXCHANGE", "XNB": "CRYPTO_EXCHANGE", "FDC": "RE_DEVELOPER"}
# seed 000: LS 200 / 5 %, the others 100 / 1 %.
THRESHOLDS = {"LS": (Decimal("200.00"), Decimal("0.05"))}


def threshold(code: str, principal: Decimal) -> Decimal:
    amount, share = THRESHOLDS.get(code, (Decimal("100.00"), Decimal("0.01")))
    return max(amount, (share * principal).quantize(Decimal("0.01")))


@pytest.mark.parametrize("code", sorted(CATEGORY))
@pytest.mark.parametrize("principal", ["20000.00", "5000.00"], ids=["share-binds", "amount-binds"])
async def test_each_type_is_detected_at_and_not_just_below_its_thresholds(db: str, code: str, principal: str) -> None:
    await load_default_rules()
    w = await make_world("THR")
    at, below = await make_loan(w, principal), await make_loan(w, principal)
    limit = threshold(code, Decimal(principal))
    rows: list[dict[str, Any]] = []
    for loan, amount, serial in ((at, limit, "AT"), (below, limit - Decimal("0.01"), "BELOW")):
        rows += [tx(loan, f"{serial}-in", "in", principal),
                 tx(loan, serial, "out", str(amount), 5, counterpartyName="对手方",
                    counterpartyCategory=CATEGORY[code])]
    async with detectors():
        result = await ingest(SYSTEM, rows, TxSource.BATCH)
    assert [(v.type_code, v.order_no, Decimal(v.loan_amount)) for v in result.violations] == [
        (code, at.order_no, limit)]
    v = await Violation.get()
    assert v.kind is ViolationKind.DIVERSION and v.loan_id == at.id  # type: ignore[attr-defined]
    assert v.detector == "category_detector" and "violation" in v.reason
    assert v.dedupe_key == f"div:{v.transaction_id}:{code}:{at.id}"  # type: ignore[attr-defined]


async def test_a_payment_funded_by_two_loans_is_judged_per_loan(db: str) -> None:
    await load_default_rules()
    w = await make_world("TWO")
    big = await make_loan(w, "90000.00", customer_no="C-TWO")
    small = await make_loan(w, "10000.00", customer_no="C-TWO")
    # 1,000 to a securities broker: 900 from the big loan (1.0 % of it: ≥ 1 %), 100 from the small
    # one (1.0 %): both violate; 1,980 later would be judged again per loan.
    rows = [tx(big, "T1", "in", "90000.00", 0), tx(small, "T2", "in", "10000.00", 1),
            tx(big, "T3", "out", "1000.00", 2, counterpartyCategory="SEC_BROKER")]
    async with detectors():
        result = await ingest(SYSTEM, rows, TxSource.BATCH)
    got = sorted((v.order_no, Decimal(v.loan_amount), Decimal(v.loan_share)) for v in result.violations)
    assert got == sorted([(big.order_no, Decimal("900.00"), Decimal("0.010000")),
                          (small.order_no, Decimal("100.00"), Decimal("0.010000"))])
    # Own money dilutes: after a large own deposit the loan part of a payment falls below the bar.
    async with detectors():
        more = await ingest(SYSTEM, [tx(big, "T4", "in", "900000.00", 3),
                                     tx(big, "T5", "out", "1000.00", 4, counterpartyCategory="SEC_BROKER")],
                            TxSource.BATCH)
    assert more.violations == []


async def test_repayments_and_own_funded_payments_are_not_violations(db: str) -> None:
    await load_default_rules()
    w = await make_world("EXC")
    loan = await make_loan(w, "10000.00")
    rows = [tx(loan, "E1", "in", "10000.00", 0),
            tx(loan, "E2", "out", "5000.00", 1, counterpartyCategory="SEC_BROKER", isRepayment=True)]
    other = await make_loan(w, "10000.00")
    rows += [tx(other, "E3", "in", "10000.00", 0, isDisbursement=False),
             tx(other, "E4", "out", "5000.00", 1, counterpartyCategory="SEC_BROKER")]
    async with detectors():
        result = await ingest(SYSTEM, rows, TxSource.BATCH)
    assert result.violations == []
    assert Decimal((await AccountTransaction.get(serial_no="E4")).loan_part) == Decimal("0.00")


async def test_name_list_detector_and_dedupe_on_reingest(db: str) -> None:
    await load_default_rules()
    w = await make_world("NAM")
    loan = await make_loan(w, "10000.00")
    rows = [tx(loan, "N1", "in", "10000.00", 0), tx(loan, "N2", "out", "3000.00", 1, counterpartyName="万科地产")]
    async with detectors():
        first = await ingest(SYSTEM, rows, TxSource.BATCH)
        again = await ingest(SYSTEM, rows, TxSource.FILE)
    assert [v.type_code for v in first.violations] == ["FDC"]
    assert first.violations[0].detector == "name_list_detector"
    assert again.violations == [] and await Violation.all().count() == 1


class Broken:
    @hookimpl
    async def lendline_detect_diversion(self, transaction: Any) -> Any:
        raise RuntimeError("detector backend down")


async def test_a_failing_detector_keeps_the_transaction_and_marks_it_for_redetection(db: str) -> None:
    await load_default_rules()
    w = await make_world("BRK")
    loan = await make_loan(w, "10000.00")
    rows = [tx(loan, "K1", "in", "10000.00", 0), tx(loan, "K2", "out", "3000.00", 1, counterpartyName="万科地产"),
            tx(loan, "K3", "out", "3000.00", 2, counterpartyCategory="SEC_BROKER")]
    config = {"plugins": {"broken": {}, "name_list_detector": {}}}
    async with detectors((PluginDefinition("broken", Broken),), config):
        result = await ingest(SYSTEM, rows, TxSource.BATCH)
    assert result.inserted == 3 and result.detection_pending == 2
    assert [v.type_code for v in result.violations] == ["FDC"]  # what the working detector found counts
    k3 = await AccountTransaction.get(serial_no="K3")
    assert k3.detection_pending and k3.traced_at is not None and Decimal(k3.loan_part) == Decimal("3000.00")
    assert await SystemAlert.filter(code__startswith="PLUGIN_").exists()
    async with detectors((), DETECTORS):
        report = await redetect()
    assert report == {"checked": 2, "completed": 2, "violations": 1}
    assert sorted(await Violation.all().values_list("type_code", flat=True)) == ["FDC", "GS"]
    assert not await AccountTransaction.filter(detection_pending=True).exists()


@pytest.mark.parametrize("prefilter_from", [1, 10_000], ids=["prefiltered", "windows-read-directly"])
async def test_large_cash_rapid_in_out_and_concentration(db: str, prefilter_from: int,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The same hits whether the accounts are prefiltered in SQL (large batches) or not (small ones)."""
    monkeypatch.setattr(detection, "PREFILTER_MIN_ACCOUNTS", prefilter_from)
    await load_default_rules()
    w = await make_world("AML")
    cash = await make_loan(w, "100000.00")
    rapid = await make_loan(w, "100000.00")
    conc = await make_loan(w, "100000.00")
    rows = [tx(cash, "A1", "in", "100000.00", -1500),  # over 24 h before: no rapid in-out
            tx(cash, "A2", "out", "50000.00", 10, channel="CASH"),  # single cash withdrawal ≥ 50,000
            tx(cash, "A3", "out", "49999.99", 20, channel="CASH"),  # below single; the day's total passes
            tx(rapid, "B1", "in", "100000.00", 0, isDisbursement=False),
            tx(rapid, "B2", "out", "90000.00", 60)]  # 90 % out within 24 h
    rows += [tx(conc, f"C{i}", "in", "1000.00", i, counterpartyAccount=f"P{i}", isDisbursement=False)
             for i in range(1, 6)]
    rows += [tx(conc, "C9", "out", "4000.00", 30)]
    async with detectors():
        result = await ingest(SYSTEM, rows, TxSource.BATCH)
    got = sorted((v.type_code, v.dedupe_key.split(":")[1]) for v in result.violations)
    assert got == [("concentration", "FUND_CONCENTRATION"), ("large_cash", "LARGE_CASH_DAILY"),
                   ("large_cash", "LARGE_CASH_SINGLE"), ("rapid_in_out", "RAPID_IN_OUT")]
    kinds = {v.type_code: v.kind for v in result.violations}
    assert kinds["concentration"] is ViolationKind.CONCENTRATION and kinds["rapid_in_out"] is ViolationKind.AML
    # One more cash withdrawal the same day does not raise the daily total again.
    async with detectors():
        again = await ingest(SYSTEM, [tx(cash, "A4", "out", "10.00", 30, channel="CASH")], TxSource.BATCH)
    assert again.violations == []
