"""``own_data``: risk indicators from the platform's own data (F-RISK-1 "own data"), free of charge.

Declared through the same hooks as a paid source (``http_risk``), with cost 0, so the risk engine
treats every indicator alike: (source ``own_data``, indicator name).

* ``age`` — completed years on the request's business date (bank time zone), from the subject's
  18-character resident ID number. A malformed number (wrong length, impossible date of birth,
  check digit mismatch) is not a crash: ``age`` is ``None`` (no data), ``id_number_valid`` is
  ``False`` and ``detail`` says what is wrong, so a rule can reject or refer invalid numbers.
* ``id_number_valid`` — whether the ID number passes those checks; ``None`` when none was given.
* ``requested_amount`` — ``RiskRequest.amount``, the amount applied for; ``None`` when the scene has none.
* ``blacklist_hit`` — the ID number or the mobile number is on the platform's blacklist
  (:mod:`core.risk.blacklist`); ``None`` when the subject has neither.
* ``loans_in_progress`` — the borrower's loans (by ID number) with money out or on its way:
  disbursing, disbursed, overdue, compensated (多头: the platform's own view of them).
* ``overdue_history`` — how many of the borrower's installments (by ID number, over all their
  loans, settled ones included) have ever been overdue (``LoanInstallment.overdue_since`` set).

Both loan indicators are ``None`` when the subject has no ID number, and ``0`` for a person the
platform has never lent to: "never borrowed here" is a fact, not missing data.
"""

from __future__ import annotations

from decimal import Decimal

from core.config import current_settings
from core.risk import blacklist, idnumber
from plugins.definition import PluginDefinition
from plugins.markers import hookimpl
from plugins.types import (
    HealthReport,
    HealthState,
    IndicatorSpec,
    IndicatorType,
    IndicatorValue,
    RiskFetchResult,
    RiskRequest,
)

CATALOGUE: dict[str, tuple[IndicatorType, str]] = {
    "age": (IndicatorType.INTEGER, "age in completed years on the request's business date, from the resident "
                                   "ID number; null when the number is missing or invalid"),
    "id_number_valid": (IndicatorType.BOOLEAN, "the resident ID number is well formed (length, date of birth, "
                                               "check digit); null when none was given"),
    "requested_amount": (IndicatorType.DECIMAL, "the amount applied for, in yuan; null when the scene has none"),
    "blacklist_hit": (IndicatorType.BOOLEAN, "the ID number or mobile number is on the platform's own blacklist; "
                                             "null when the subject has neither"),
    "loans_in_progress": (IndicatorType.INTEGER, "the borrower's loans here that are disbursing, disbursed, overdue "
                                                 "or compensated, by ID number; null without an ID number"),
    "overdue_history": (IndicatorType.INTEGER, "the borrower's installments here that were ever overdue, over all "
                                               "their loans, by ID number; null without an ID number"),
}
IN_PROGRESS = ("disbursing", "disbursed", "overdue", "compensated")  # core.loans.models.LoanStatus values


async def _loan_history(id_number: str, wanted: set[str]) -> dict[str, IndicatorValue]:
    """Counted in SQL over the borrower's loans (one query per indicator asked)."""
    from core.loans.models import Loan, LoanInstallment

    out: dict[str, IndicatorValue] = {}
    if "loans_in_progress" in wanted:
        out["loans_in_progress"] = (await Loan.filter(customer__id_number=id_number, status__in=IN_PROGRESS).count()
                                    if id_number else None)
    if "overdue_history" in wanted:
        out["overdue_history"] = (await LoanInstallment.filter(loan__customer__id_number=id_number,
                                                               overdue_since__isnull=False).count()
                                  if id_number else None)
    return out


class OwnData:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def lendline_risk_indicators(self) -> list[IndicatorSpec]:
        return [IndicatorSpec(name, kind, Decimal("0"), description) for name, (kind, description) in CATALOGUE.items()]

    @hookimpl
    async def lendline_risk_fetch(self, request: RiskRequest) -> RiskFetchResult:
        self.calls += 1
        subject = request.subject
        wanted = set(request.indicators)
        values: dict[str, IndicatorValue] = {}
        notes: list[str] = []
        if wanted & {"age", "id_number_valid"}:
            day = request.requested_at.astimezone(current_settings().tz).date()
            resident: idnumber.ResidentId | None = None
            if subject.id_number.strip():
                try:
                    resident = idnumber.parse(subject.id_number, today=day)
                except idnumber.InvalidIdNumber as exc:
                    notes.append(f"id_number {exc}")
            values["age"] = resident.age_on(day) if resident else None
            values["id_number_valid"] = (resident is not None) if subject.id_number.strip() else None
        if "requested_amount" in wanted:
            values["requested_amount"] = request.amount
        if "blacklist_hit" in wanted:
            if subject.id_number.strip() or subject.phone.strip():
                entries = await blacklist.lookup(id_number=subject.id_number, phone=subject.phone)
                values["blacklist_hit"] = bool(entries)
                if entries:
                    notes.append(f"blacklisted: {'; '.join(e.reason for e in entries)}"[:300])
            else:
                values["blacklist_hit"] = None
        if wanted & {"loans_in_progress", "overdue_history"}:
            values.update(await _loan_history(idnumber.normalize(subject.id_number), wanted))
        return RiskFetchResult(values={n: values.get(n) for n in request.indicators}, cost=Decimal("0"),
                               detail="; ".join(notes))

    @hookimpl
    def lendline_health(self) -> HealthReport:
        return HealthReport(HealthState.OK, f"{self.calls} fetches since start, no cost")


plugin = PluginDefinition(
    name="own_data",
    factory=OwnData,
    description="Free risk indicators from the platform's own data: age from the ID number, amount, blacklist, "
                "loans in progress, overdue history.",
)
