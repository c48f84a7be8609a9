"""Who counts as a viewer (查询人员), and the operation-log entry of a viewer's search (F-MON-6/7).

Rule (seed 000 has three kinds of staff: 经办 makers, 复核 checkers, 查询 viewers): a caller is a
**viewer** unless they are an admin or hold at least one right to change something — any `*.create`,
`*.update` or `*.delete` action, `review.decide` (a checker) or `transactions.ingest`. Page nodes and
read-only buttons (downloads) do not make anyone a maker or checker. The rule is on rights, not role
names, so a custom read-only role behaves like the built-in `viewer`.

Viewers may search the blacklist / early-settlement page only by one exact customer number, and
every search a viewer makes of a customer's data (that page, transactions and violations by customer
number, the fund-flow chain) is written to the operation log with who, when, which module and what
was asked (F-MON-7). The entry is written on its own (a read has no business transaction) and is not
tagged with a bank: the log keeps the query, not the customer's data.
"""

from __future__ import annotations

from typing import Any

from core.actor import Actor
from core.oplog import service as oplog
from core.oplog.models import OperationLog, OperatorKind

CHANGE_SUFFIXES = (".create", ".update", ".delete")
CHANGE_NODES = frozenset({"review.decide", "transactions.ingest"})


def is_viewer(actor: Actor) -> bool:
    """True for callers without any right to change data (see the module docstring)."""
    if actor.is_admin:
        return False
    return not any(n in CHANGE_NODES or n.endswith(CHANGE_SUFFIXES) for n in actor.permissions)


async def log_search(actor: Actor, *, module: str, action: str, customer_no: str, criteria: dict[str, Any],
                     found: int, request_id: str = "") -> OperationLog | None:
    """Record a viewer's search of one customer's data; makers and checkers are not logged (None)."""
    if not is_viewer(actor) or not customer_no:
        return None
    return await oplog.record(actor, kind=OperatorKind.VIEWER, module=module, action=action,
                              summary=f"searched customer {customer_no} ({found} found)",
                              detail={"customerNo": customer_no, "criteria": criteria, "found": found},
                              request_id=request_id)
