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

Not here yet, on purpose: "loans in progress" and "overdue history" need the loan tables, which do
not exist yet; they will be declared when loans are stored, never faked.
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
}


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
        return RiskFetchResult(values={n: values.get(n) for n in request.indicators}, cost=Decimal("0"),
                               detail="; ".join(notes))

    @hookimpl
    def lendline_health(self) -> HealthReport:
        return HealthReport(HealthState.OK, f"{self.calls} fetches since start, no cost")


plugin = PluginDefinition(
    name="own_data",
    factory=OwnData,
    description="Free risk indicators from the platform's own data: age from the ID number, amount, blacklist.",
)
