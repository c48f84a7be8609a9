"""Our casbin adapter honours the rule type (the published tortoise adapter did not)."""

from __future__ import annotations

import casbin

from permissions.adapter import TortoiseAdapter
from permissions.models import CasbinRule
from permissions.policy import MODEL_PATH, policy_store, set_role_pages


async def test_add_policies_and_filtered_removal_keep_other_ptypes(db: str) -> None:
    adapter = TortoiseAdapter()
    await CasbinRule.all().delete()
    assert await adapter.add_policies("p", "p", [["r1", "users"], ["r1", "roles"], ["r2", "users"]])
    await adapter.add_policy("g", "g", ["u1", "r1"])
    assert await adapter.remove_filtered_policy("p", "p", 0, "r1")
    rows = sorted(tuple(r.values()) for r in await CasbinRule.all())
    assert rows == [("g", "u1", "r1"), ("p", "r2", "users")]
    assert await adapter.remove_policy("p", "p", ["r2", "users"])
    assert not await adapter.remove_policy("p", "p", ["r2", "users"])


async def test_enforcer_loads_from_the_table(db: str) -> None:
    await set_role_pages("auditor", {"ledger.verify"})
    enforcer = casbin.AsyncEnforcer(MODEL_PATH, TortoiseAdapter())
    await enforcer.load_policy()
    assert enforcer.enforce("auditor", "ledger") and enforcer.enforce("auditor", "ledger.verify")
    assert not enforcer.enforce("auditor", "users")
    assert enforcer.enforce("admin", "anything")  # "*"


async def test_store_reloads_when_another_process_changes_policy(db: str) -> None:
    store = policy_store()
    await store.refresh()
    assert not store.allowed(["viewer"], "users")
    # another process writes the table and bumps the revision; we never touched this store
    await set_role_pages("viewer", {"oplog", "users"})
    assert not store.allowed(["viewer"], "users")  # stale until refreshed…
    await store.refresh()  # …which every request does first
    assert store.allowed(["viewer"], "users")
