"""Account balance monitoring (SPEC F-SYS-5): disbursement accounts below their warning line.

Every 5 minutes (built-in task ``balance_warning``) :func:`check_balances` asks each enabled
disbursement account's payment provider for its balance (``current_host().balance``). The warning
line is the account's own ``warning_line``, else the system parameter ``balance.warning_line``
(default 500,000.00).

One breach, one alert. An account's ``breached`` flag remembers an open breach:
- balance below the line: a conditional ``UPDATE … SET breached = true, breach_count = breach_count
  + 1 WHERE id = :id AND breached = false``. Only the check that flips the flag (one of two
  concurrent checks, one of many workers) enqueues the notice, in the same transaction, under the
  dedupe key ``balance:<account>:<breach number>:low``; every later check of the same breach
  updates the last balance and nothing else;
- balance back at or above the line: the reverse flip closes the breach and enqueues a
  "recovered" notice (an info alert, no SMS); the next drop is a new breach with a new number.

The notice job (``payments.balance_notice``, :func:`send_notice`) raises the system alert once (a
processed marker per breach and event, committed before the alert) and texts the operators listed
in the system parameter ``balance.warning_phones`` (comma-separated; none configured: no SMS)
through the plugin notifier with an idempotency key per breach and phone, so a retry after a
timeout never sends twice. The alert is also announced to plugins (``lendline_on_alert_raised``).

A provider that fails or times out is reported by the plugin facade as a plugin alert; the account's
breach state and last balance are left as they were, and the other accounts are still checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tortoise.expressions import F
from tortoise.transactions import in_transaction

from core import clock
from core.actor import SYSTEM
from core.oplog import service as oplog
from core.oplog.models import OperatorKind
from core.outbox.service import enqueue, mark_processed
from core.payments.models import AccountPurpose, ProviderAccount
from core.system.parameters import parameter, parameter_decimal

log = logging.getLogger("lendline.payments")

LINE_PARAMETER = "balance.warning_line"
PHONES_PARAMETER = "balance.warning_phones"
DEFAULT_LINE = Decimal("500000.00")
NOTICE_JOB = "payments.balance_notice"
SMS_TEMPLATE = "balance_low"  # sandbox_sms ships it; real notifiers map it to a registered carrier template


@dataclass
class BalanceReport:
    checked: int = 0
    breached: list[int] = field(default_factory=list)  # accounts whose breach this check opened
    recovered: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)  # provider could not answer (plugin alert raised)

    def as_dict(self) -> dict[str, Any]:
        return {"checked": self.checked, "breached": self.breached, "recovered": self.recovered,
                "failed": self.failed}


async def warning_line(account: ProviderAccount, default: Decimal | None = None) -> Decimal:
    """The account's line, else the published system parameter, else 500,000.00."""
    if account.warning_line is not None:
        return account.warning_line
    return default if default is not None else await parameter_decimal(LINE_PARAMETER, DEFAULT_LINE)


async def check_balances() -> BalanceReport:
    """Check every enabled disbursement account once (see the module notes)."""
    from plugins.errors import PluginError
    from plugins.runtime import current_host

    host = current_host()
    system_line = await parameter_decimal(LINE_PARAMETER, DEFAULT_LINE)
    accounts = await (ProviderAccount.filter(enabled=True, purpose=AccountPurpose.DISBURSEMENT)
                      .select_related("payment_platform", "bank").order_by("id"))
    report = BalanceReport()
    for account in accounts:
        try:
            balance = await host.balance(account.payment_platform.identifier, account.account_no)
        except PluginError as exc:  # the facade has raised the plugin alert; state stays as it was
            log.warning("balance of account %s not available: %s", account.id, exc)
            report.failed.append(account.id)
            continue
        report.checked += 1
        await _apply(account, balance.available, await warning_line(account, system_line), report)
    return report


async def _apply(account: ProviderAccount, available: Decimal, line: Decimal, report: BalanceReport) -> None:
    now = clock.now()
    seen = {"last_balance": available, "last_checked_at": now}
    below = available < line
    async with in_transaction():
        if below:
            flipped = await ProviderAccount.filter(id=account.id, breached=False).update(
                breached=True, breach_count=F("breach_count") + 1, **seen)
        else:
            flipped = await ProviderAccount.filter(id=account.id, breached=True).update(breached=False, **seen)
        if not flipped:  # no change of state (or another check flipped it first): just the reading
            await ProviderAccount.filter(id=account.id).update(**seen)
            return
        breach = int((await ProviderAccount.filter(id=account.id).values_list("breach_count", flat=True))[0])
        event = "low" if below else "recovered"
        payload = {"accountId": account.id, "breach": breach, "event": event, "balance": str(available),
                   "line": str(line), "accountNo": account.account_no, "bank": account.bank.short_name,
                   "provider": account.payment_platform.identifier}
        await enqueue(NOTICE_JOB, payload, f"balance:{account.id}:{breach}:{event}")
        summary = (f"account {account.account_no} balance {available} below the warning line {line}" if below
                   else f"account {account.account_no} balance {available} back above the warning line {line}")
        await oplog.record(SYSTEM, kind=OperatorKind.SYSTEM, module="disbursement_accounts",
                           action="balance_low" if below else "balance_recovered", summary=summary,
                           detail=payload, scope_bank_id=account.bank_id)  # type: ignore[attr-defined]
    (report.breached if below else report.recovered).append(account.id)


def _phones(raw: str | None) -> list[str]:
    return [p.strip() for p in (raw or "").replace("，", ",").split(",") if p.strip()]


async def send_notice(payload: dict[str, Any]) -> dict[str, Any]:
    """The alert (once per breach and event) and, for a breach, the operators' SMS (see module notes).

    Raises when a notifier could not tell whether it sent (the outbox retries with the same keys).
    """
    from core.system.alerts import raise_alert
    from plugins.errors import PluginError
    from plugins.runtime import announce_alert, current_host
    from plugins.types import NotifyStatus

    account_id, breach, event = int(payload["accountId"]), int(payload["breach"]), payload["event"]
    low = event == "low"
    out: dict[str, Any] = {"accountId": account_id, "breach": breach, "event": event, "alerted": False, "sms": []}
    async with in_transaction():
        first = await mark_processed(f"balance_alert:{account_id}:{breach}:{event}")
    if first:
        if low:
            message = (f"放款账户 {payload['bank']} {payload['accountNo']} 可用余额 {payload['balance']} 元，"
                       f"低于预警线 {payload['line']} 元，请及时充值 (disbursement account balance below the "
                       "warning line)")
        else:
            message = (f"放款账户 {payload['bank']} {payload['accountNo']} 余额已恢复至 {payload['balance']} 元 "
                       f"(预警线 {payload['line']} 元) (balance back above the warning line)")
        alert = await raise_alert("BALANCE_LOW" if low else "BALANCE_RECOVERED", message,
                                  source=f"balance:{payload['provider']}"[:60], detail=payload)
        announce_alert(alert)
        out["alerted"] = True
    if not low:
        return out
    host = current_host()
    unknown: list[str] = []
    for i, phone in enumerate(_phones(await parameter(PHONES_PARAMETER, ""))):
        key = f"bal:{account_id}:{breach}:{i}"
        try:
            result = await host.send_sms(phone, SMS_TEMPLATE, {"account": str(payload["accountNo"]),
                                                               "balance": str(payload["balance"]),
                                                               "threshold": str(payload["line"])},
                                         idempotency_key=key)
        except PluginError as exc:  # outcome unknown: retried with the same key (notifiers de-duplicate)
            unknown.append(f"{key}: {exc}")
            continue
        out["sms"].append({"key": key, "status": result.status.value,
                           "reason": result.reason if result.status is NotifyStatus.FAILED else None})
    if unknown:
        raise RuntimeError("SMS outcome unknown, retrying: " + "; ".join(unknown))
    return out
