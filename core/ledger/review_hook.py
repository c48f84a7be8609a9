"""Every approved maker-checker change writes a ledger transaction, inside the approval's transaction.

Registered with `core.review.service.on_approved` when this module is imported, which
`core.ledger.models` does: the ORM imports the models wherever a database is opened, so no process
can approve a change without this listener in place. A rejected, withdrawn or failed approval rolls
back with its transaction and leaves nothing in the ledger.

Transaction type: ``<entity type>.<action>`` (``user.create``, ``role.update``, …); source: the
change request; initiator: the approving checker (the maker is in the payload); tags: the change's
bank/product. Entity types whose records hold personal data (users) are privacy-protected; an
entity declares that with a ``ledger_private = True`` class attribute.
"""

from __future__ import annotations

from typing import Any

from core.actor import Actor
from core.ledger import service as ledger  # a module reference: models imports this module mid-import
from core.ledger.models import TxStatus
from core.oplog.service import redact
from core.review.models import ChangeRequest
from core.review.registry import entity_for
from core.review.service import on_approved

PRIVATE_ENTITY_TYPES = frozenset({"user"})
"""Personal data (names, phones, e-mails) whose entity does not declare `ledger_private` itself."""


def _private(entity_type: str) -> bool:
    try:
        declared = getattr(entity_for(entity_type), "ledger_private", None)
    except LookupError:
        declared = None
    return bool(declared) if declared is not None else entity_type in PRIVATE_ENTITY_TYPES


def approval_payload(change: ChangeRequest, checker: Actor) -> dict[str, Any]:
    """What the ledger keeps of an approved change: the reviewed data (secrets redacted) and the review."""
    return {
        "changeId": change.id,
        "entityType": change.entity_type,
        "entityId": change.entity_id,
        "entityLabel": change.entity_label,
        "action": change.action.value,
        "baseVersion": change.base_version,
        "makerId": change.maker_id,  # type: ignore[attr-defined]
        "checkerId": checker.user_id,
        "comment": change.comment,
        "data": redact(change.payload),
    }


@on_approved
async def record_approval(change: ChangeRequest, checker: Actor) -> None:
    """Append the approved change to the ledger (runs inside the approval transaction)."""
    await ledger.append(f"{change.entity_type}.{change.action.value}", approval_payload(change, checker),
                 initiator=checker,
                 status=TxStatus.PRIVACY_PROTECTED if _private(change.entity_type) else TxStatus.COMPLETED,
                 source=("ChangeRequest", change.id), scope_bank_id=change.scope_bank_id,
                 scope_product_id=change.scope_product_id)
