"""Appending: inside the business transaction, hashed over every column, and wired to approvals."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise.transactions import in_transaction

import core.accounts.users  # noqa: F401  (registers users as a reviewed entity)
from core.accounts.models import Role
from core.ledger import hashing, scan, service
from core.ledger.canonical import CanonicalJSONError
from core.ledger.models import LedgerTransaction, TxStatus
from core.ledger.review_hook import record_approval
from core.review import service as review
from core.review.models import ChangeAction
from core.review.service import _approval_listeners
from tests.ledger.helpers import ACTOR, actor_of, append_n
from tests.support import make_user


async def _recomputed(tx: LedgerTransaction) -> str | None:
    rows = await scan.query(f"SELECT {scan.TX_COLUMNS} FROM ledger_transaction WHERE id = {tx.id}")
    return hashing.tx_hash(scan.python_envelope(rows[0]))


async def test_an_appended_transaction_hashes_to_its_stored_columns_and_waits_for_a_block(db: str) -> None:
    async with in_transaction():
        tx = await service.append("contract.signed", {"contractId": 5, "amount": "1000.00"}, initiator=ACTOR,
                                  status=TxStatus.PENDING, source=("Contract", 5), scope_bank_id=2,
                                  scope_product_id=9)
    stored = await LedgerTransaction.get(id=tx.id)
    assert stored.tx_hash == tx.tx_hash == await _recomputed(stored)
    assert (stored.status, stored.scope_bank_id, stored.scope_product_id) == (TxStatus.PENDING, 2, 9)
    assert (stored.source_type, stored.source_id, stored.initiator_id) == ("Contract", "5", ACTOR.user_id)
    assert stored.payload == '{"amount":"1000.00","contractId":5}'
    assert stored.seq is None and stored.block_height is None


async def test_append_outside_a_transaction_is_refused(db: str) -> None:
    with pytest.raises(service.NotInTransactionError):
        await service.append("test.event", {}, initiator=ACTOR)
    assert await LedgerTransaction.all().count() == 0


async def test_a_rolled_back_change_leaves_no_transaction(db: str) -> None:
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await service.append("test.event", {"i": 1}, initiator=ACTOR)
            raise RuntimeError("the business change failed")
    with pytest.raises(CanonicalJSONError):
        async with in_transaction():
            await service.append("test.event", {"rate": 0.1}, initiator=ACTOR)  # floats are refused
    assert await LedgerTransaction.all().count() == 0


async def test_batched_append_writes_the_same_rows(db: str) -> None:
    async with in_transaction():
        hashes = await service.append_many([service.Entry("test.batch", {"i": i}, ACTOR) for i in range(5)])
    rows = await LedgerTransaction.filter(tx_hash__in=hashes)
    assert len(rows) == 5 and [r.tx_hash for r in rows] == [await _recomputed(r) for r in rows]
    assert len(set(hashes)) == 5  # the salt makes equal payloads hash differently


async def test_hashes_are_unique_even_for_identical_appends(db: str) -> None:
    txs = await append_n(1) + await append_n(1)
    assert txs[0].payload == txs[1].payload and txs[0].tx_hash != txs[1].tx_hash


@pytest.fixture
async def reviewers(db: str) -> dict[str, Any]:
    maker, checker = await make_user("maker1", ["maker"]), await make_user("checker1", ["checker"])
    return {"maker": await actor_of(maker), "checker": await actor_of(checker)}


async def _propose_role(maker: Any, checker: Any, name: str = "贷后分析") -> Any:
    return await review.submit(maker, "role", ChangeAction.CREATE, None, {
        "name": name, "key": "post_loan_analyst", "remark": "", "pages": ["home", "ledger"]}, checker.user_id)


async def test_the_approval_listener_is_registered_whenever_the_database_is_opened(db: str) -> None:
    assert _approval_listeners.count(record_approval) == 1


async def test_an_approval_writes_one_ledger_transaction_in_its_transaction(reviewers: dict[str, Any]) -> None:
    maker, checker = reviewers["maker"], reviewers["checker"]
    change = await _propose_role(maker, checker)
    assert await LedgerTransaction.all().count() == 0  # submitting changes nothing yet
    await review.approve(checker, change.id, "looks right")
    (tx,) = await LedgerTransaction.all()
    assert (tx.tx_type, tx.status, tx.source_type, tx.source_id) == ("role.create", TxStatus.COMPLETED,
                                                                    "ChangeRequest", str(change.id))
    assert tx.initiator_id == checker.user_id and tx.tx_hash == await _recomputed(tx)
    assert '"comment":"looks right"' in tx.payload and f'"makerId":{maker.user_id}' in tx.payload
    assert await Role.filter(key="post_loan_analyst").exists()


async def test_user_changes_are_privacy_protected_and_never_hold_the_password(reviewers: dict[str, Any]) -> None:
    maker, checker = reviewers["maker"], reviewers["checker"]
    viewer = await Role.get(key="viewer")
    change = await review.submit(maker, "user", ChangeAction.CREATE, None, {
        "workNo": "300001", "account": "bob_z", "name": "张三", "password": "abc12345", "roleIds": [viewer.id],
        "email": "bob@example.com"}, checker.user_id)
    await review.approve(checker, change.id)
    (tx,) = await LedgerTransaction.all()
    assert tx.tx_type == "user.create" and tx.status is TxStatus.PRIVACY_PROTECTED
    assert "abc12345" not in tx.payload and "argon2" not in tx.payload


async def test_rejected_and_failed_approvals_write_nothing(reviewers: dict[str, Any]) -> None:
    maker, checker = reviewers["maker"], reviewers["checker"]
    change = await _propose_role(maker, checker)
    await review.reject(checker, change.id, "not needed")
    stale = await _propose_role(maker, checker, "贷后分析二")
    await Role.create(key="post_loan_analyst", name="占用")  # approval will fail on the unique key
    with pytest.raises(Exception):  # noqa: B017 — any failure must roll the ledger back with the change
        await review.approve(checker, stale.id)
    assert await LedgerTransaction.all().count() == 0
