"""The blocks page over GraphQL, as an SPA calls it: lists, links, privacy, proofs, verification, sealing."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise.transactions import in_transaction

import core.accounts.users  # noqa: F401  (registers users as a reviewed entity)
from core.accounts.models import Role
from core.ledger import merkle, sealing
from core.ledger.hashing import tx_hash, tx_leaf
from core.ledger.models import LedgerTransaction, TxStatus
from core.review import service as review
from core.review.models import ChangeAction
from permissions import policy
from permissions.scope import DataPolicy
from tests.ledger.helpers import SMALL_BLOCKS, actor_of, append_n
from tests.support import Api, make_user

TX_FIELDS = "hash type status leafIndex blockHeight payloadVisible payload initiatorName canonical source{type id}"


@pytest.fixture
async def tokens(api: Api, people: dict[str, Any]) -> dict[str, str]:
    async with in_transaction():
        await Role.create(key="bank1_reader", name="一行查询", enabled=True)
        await policy.set_role_pages("bank1_reader", {"ledger"})
        await policy.set_role_data("bank1_reader", DataPolicy(bank_ids=frozenset({1})))
    await make_user("reader1", ["bank1_reader"])
    accounts = {"admin": "admin", "checker": "checker1", "viewer": "viewer1", "reader": "reader1"}
    return {k: await api.login(account) for k, account in accounts.items()}


@pytest.fixture
async def ledger(people: dict[str, Any]) -> dict[str, str]:
    """A privacy-protected user change (untagged), a bank-1 transaction and a plain one, in 2 blocks."""
    maker, checker = await actor_of(people["maker"]), await actor_of(people["checker"])
    viewer = await Role.get(key="viewer")
    change = await review.submit(maker, "user", ChangeAction.CREATE, None, {
        "workNo": "300001", "account": "bob_z", "name": "张三", "password": "abc12345", "roleIds": [viewer.id],
        "email": "bob@example.com"}, checker.user_id)
    await review.approve(checker, change.id, "ok")
    (bank1,) = await append_n(1, scope_bank_id=1)
    (plain,) = await append_n(1, start=1)
    await append_n(3, start=2)
    await sealing.seal_pending(force=True, policy=SMALL_BLOCKS)
    private = await LedgerTransaction.get(tx_type="user.create")
    return {"private": private.tx_hash, "bank1": bank1.tx_hash, "plain": plain.tx_hash, "change": str(change.id)}


async def _tx(api: Api, token: str, hash_: str) -> dict[str, Any]:
    body = await api(f"query($h:String!){{ledgerTransaction(hash:$h){{{TX_FIELDS}}}}}", {"h": hash_}, token)
    return body["data"]["ledgerTransaction"]


async def test_blocks_and_transactions_are_listed_latest_first_with_relay_pages(
        api: Api, tokens: dict[str, str], ledger: dict[str, str]) -> None:
    head = await api("{ledgerHead{transactionCount unsealedCount block{height txCount treeSize}}}",
                     token=tokens["checker"])
    assert head["data"]["ledgerHead"] == {"transactionCount": 6, "unsealedCount": 0,
                                          "block": {"height": 2, "txCount": 2, "treeSize": 6}}
    page = await api("{ledgerBlocks(first:1){totalCount edges{cursor node{height hash previousHash}} "
                     "pageInfo{hasNextPage endCursor}}}", token=tokens["checker"])
    blocks = page["data"]["ledgerBlocks"]
    assert blocks["totalCount"] == 2 and blocks["pageInfo"]["hasNextPage"]
    newest = blocks["edges"][0]["node"]
    rest = await api("query($a:String){ledgerBlocks(first:5,after:$a){edges{node{height hash}}}}",
                     {"a": blocks["pageInfo"]["endCursor"]}, tokens["checker"])
    (older,) = [e["node"] for e in rest["data"]["ledgerBlocks"]["edges"]]
    assert (newest["height"], older["height"], newest["previousHash"]) == (2, 1, older["hash"])
    by_hash = await api("query($h:String!){ledgerBlock(hash:$h){height transactions(first:10){totalCount "
                        "edges{node{leafIndex blockHeight}}}}}", {"h": older["hash"]}, tokens["checker"])
    block = by_hash["data"]["ledgerBlock"]
    assert block["height"] == 1 and block["transactions"]["totalCount"] == 4
    assert [e["node"]["leafIndex"] for e in block["transactions"]["edges"]] == [3, 2, 1, 0]
    txs = await api("{ledgerTransactions(first:2,filter:{status:PRIVACY_PROTECTED}){totalCount edges{node{type}}}}",
                    token=tokens["checker"])
    assert txs["data"]["ledgerTransactions"]["totalCount"] == 1
    missing = await api("{ledgerBlock(height:9){height}}", token=tokens["checker"])
    assert missing["data"]["ledgerBlock"] is None


async def test_a_transaction_links_to_its_source_and_its_canonical_text_hashes_to_it(
        api: Api, tokens: dict[str, str], ledger: dict[str, str]) -> None:
    tx = await _tx(api, tokens["admin"], ledger["private"])
    assert tx["type"] == "user.create" and tx["status"] == "PRIVACY_PROTECTED" and tx["payloadVisible"]
    assert tx["payload"]["data"]["account"] == "bob_z" and tx["initiatorName"] == "复核一"
    assert tx_hash(tx["canonical"].encode()) == tx["hash"] == ledger["private"]
    source = await api("query($id:ID!){changeRequest(id:$id){status entityLabel}}", {"id": tx["source"]["id"]},
                       tokens["admin"])
    assert tx["source"]["type"] == "ChangeRequest"
    assert source["data"]["changeRequest"] == {"status": "APPROVED", "entityLabel": "张三"}


@pytest.mark.parametrize(("who", "visible"), [
    ("admin", {"private", "bank1", "plain"}),  # unrestricted data scope
    ("checker", {"plain"}),  # no bank data
    ("reader", {"bank1", "plain"}),  # bank 1 only
])
async def test_payloads_follow_the_callers_data_scope(api: Api, tokens: dict[str, str], ledger: dict[str, str],
                                                     who: str, visible: set[str]) -> None:
    for name in ("private", "bank1", "plain"):
        tx = await _tx(api, tokens[who], ledger[name])
        assert tx["hash"] == ledger[name] and tx["type"] and tx["leafIndex"] is not None
        shown = (tx["payloadVisible"], tx["payload"] is not None, tx["source"] is not None,
                 tx["canonical"] is not None, tx["initiatorName"] is not None)
        assert shown == ((True,) * 5 if name in visible else (False,) * 5), (who, name, tx)


async def test_proofs_can_be_checked_by_the_client_alone(api: Api, tokens: dict[str, str],
                                                        ledger: dict[str, str]) -> None:
    body = await api("query($h:String!){inclusionProof(txHash:$h){leafIndex treeSize rootHash auditPath "
                     "indexInBlock blockTxCount blockMerkleRoot blockAuditPath blockHeight}}", {"h": ledger["plain"]},
                     tokens["checker"])
    p = body["data"]["inclusionProof"]
    leaf = tx_leaf(ledger["plain"])
    assert merkle.verify_inclusion(leaf, p["leafIndex"], p["treeSize"], [bytes.fromhex(h) for h in p["auditPath"]],
                                   bytes.fromhex(p["rootHash"]))
    assert merkle.verify_inclusion(leaf, p["indexInBlock"], p["blockTxCount"],
                                   [bytes.fromhex(h) for h in p["blockAuditPath"]], bytes.fromhex(p["blockMerkleRoot"]))
    body = await api("{consistencyProof(fromSize:4){fromSize toSize fromRoot toRoot proof} "
                     "ledgerBlock(height:1){treeRoot}}", token=tokens["checker"])
    c = body["data"]["consistencyProof"]
    assert c["fromRoot"] == body["data"]["ledgerBlock"]["treeRoot"] and c["toSize"] == 6
    assert merkle.verify_consistency(4, 6, bytes.fromhex(c["fromRoot"]), bytes.fromhex(c["toRoot"]),
                                     [bytes.fromhex(h) for h in c["proof"]])
    bad = await api("{inclusionProof(txHash:\"nothex\"){leafIndex}}", token=tokens["checker"])
    assert bad["errors"][0]["extensions"] == {"code": "INVALID", "field": "txHash"}


VERIFY = "{verifyLedger{ok blocks transactions treeSize problem{kind height leafIndex txHash message}}}"


async def test_verification_is_for_ledger_verifiers_and_locates_tampering(api: Api, tokens: dict[str, str],
                                                                          ledger: dict[str, str]) -> None:
    refused = await api(VERIFY, token=tokens["checker"])
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    ok = (await api(VERIFY, token=tokens["admin"]))["data"]["verifyLedger"]
    assert ok == {"ok": True, "blocks": 2, "transactions": 6, "treeSize": 6, "problem": None}
    await LedgerTransaction.filter(tx_hash=ledger["bank1"]).update(status=TxStatus.PENDING)
    bad = (await api(VERIFY, token=tokens["admin"]))["data"]["verifyLedger"]
    assert bad["ok"] is False
    assert {k: bad["problem"][k] for k in ("kind", "height", "txHash")} == {
        "kind": "HASH_MISMATCH", "height": 1, "txHash": ledger["bank1"]}


async def test_seal_block_on_demand_and_who_may_open_the_ledger(api: Api, tokens: dict[str, str],
                                                                 people: dict[str, Any]) -> None:
    await append_n(2)
    seal = "mutation{sealBlock{blocks{height txCount} errors{code}}}"
    refused = (await api(seal, token=tokens["checker"]))["data"]["sealBlock"]
    assert refused["errors"][0]["code"] == "FORBIDDEN"
    sealed = (await api(seal, token=tokens["admin"]))["data"]["sealBlock"]
    assert sealed == {"blocks": [{"height": 1, "txCount": 2}], "errors": []}
    again = (await api(seal, token=tokens["admin"]))["data"]["sealBlock"]
    assert again == {"blocks": [], "errors": []}
    viewer = await api("{ledgerBlocks{totalCount}}", token=tokens["viewer"])
    assert viewer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
