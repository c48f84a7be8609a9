"""The process's view of page-permission policy, kept in step with the database.

Writes go straight to the `casbin_rule` table inside the caller's transaction and bump
`policy_revision`; every process compares its loaded revision with the database's before answering
(one indexed read) and reloads its casbin enforcer when it is behind. A rolled-back change therefore
never reaches memory, and a change made by another process is seen on the next request.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import casbin

from permissions.adapter import TortoiseAdapter
from permissions.models import CasbinRule, DataGrant, PolicyRevision
from permissions.scope import DataPolicy, DataScope
from permissions.tree import ALL, NODE_KEYS, closure

MODEL_PATH = str(Path(__file__).with_name("model.conf"))


class PolicyStore:
    """Page permissions per role key, answered from an in-memory casbin enforcer."""

    def __init__(self) -> None:
        self._enforcer = casbin.AsyncEnforcer(MODEL_PATH, TortoiseAdapter())
        self._revision: int | None = None
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        """Reload from the database if another transaction changed policy since our last load."""
        row = await PolicyRevision.get_or_none(id=1)
        revision = row.revision if row else 0
        if revision == self._revision:
            return
        async with self._lock:
            if revision != self._revision:
                await self._enforcer.load_policy()
                self._revision = revision

    def allowed(self, role_keys: list[str], node: str) -> bool:
        return any(self._enforcer.enforce(role, node) for role in role_keys)

    def nodes_for(self, role_keys: list[str]) -> set[str]:
        """Every node the roles hold, "*" expanded to the whole tree."""
        out: set[str] = set()
        for role in role_keys:
            for _sub, obj in self._enforcer.get_filtered_policy(0, role):
                if obj == ALL:
                    return set(NODE_KEYS)
                out.add(obj)
        return out & set(NODE_KEYS)

    def roles_holding(self, node: str) -> set[str]:
        """Keys of the roles that hold `node` (directly or through "*"), for SQL filters."""
        return {sub for sub, obj in self._enforcer.get_policy() if obj in (node, ALL)}

    def role_nodes(self, role_key: str) -> set[str]:
        return self.nodes_for([role_key])

    def role_has_all(self, role_key: str) -> bool:
        return [role_key, ALL] in self._enforcer.get_policy()

    def role_data(self, role_key: str) -> DataPolicy:
        """The role's data permission (F-ROLE-3)."""
        return DataPolicy.from_rules(self._enforcer.get_filtered_named_policy("p2", 0, role_key))

    def scope_for(self, role_keys: tuple[str, ...] | list[str]) -> DataScope:
        """The data scope of a caller holding these (enabled) roles."""
        return DataScope.of_roles({k: self.role_data(k) for k in role_keys})


async def bump_revision() -> None:
    """Mark policy as changed; call inside the transaction that changed it."""
    row = await PolicyRevision.get_or_none(id=1)
    if row is None:
        await PolicyRevision.create(id=1, revision=1)
    else:
        await PolicyRevision.filter(id=1).update(revision=row.revision + 1)


async def set_role_pages(role_key: str, nodes: set[str] | None) -> None:
    """Replace the role's page nodes (None or {"*"}: every node). Call inside a transaction."""
    await CasbinRule.filter(ptype="p", v0=role_key).delete()
    if nodes is None or ALL in nodes:
        await CasbinRule.create(ptype="p", v0=role_key, v1=ALL)
    else:
        keys = sorted(closure(set(nodes)))
        if keys:
            await CasbinRule.bulk_create([CasbinRule(ptype="p", v0=role_key, v1=k) for k in keys])
    await bump_revision()


async def set_role_data(role_key: str, data: DataPolicy) -> None:
    """Replace the role's data permission. Call inside a transaction."""
    await CasbinRule.filter(ptype="p2", v0=role_key).delete()
    await DataGrant.filter(role_key=role_key).delete()
    rules = data.rules(role_key)
    if rules:
        await CasbinRule.bulk_create([CasbinRule(ptype="p2", v0=r[0], v1=r[1], v2=r[2]) for r in rules])
        grants = [DataGrant(role_key=role_key, kind=kind, target_id=int(obj)) for _, kind, obj in rules
                  if kind != "all"]
        if grants:
            await DataGrant.bulk_create(grants, batch_size=1000)
    await bump_revision()


async def drop_role(role_key: str) -> None:
    await CasbinRule.filter(ptype__in=["p", "p2"], v0=role_key).delete()
    await DataGrant.filter(role_key=role_key).delete()
    await bump_revision()


_store: list[PolicyStore | None] = [None]


def policy_store() -> PolicyStore:
    """The process-wide store (created on first use)."""
    if _store[0] is None:
        _store[0] = PolicyStore()
    return _store[0]


def reset_policy_store() -> None:
    """Forget the in-memory policy (tests switching databases)."""
    _store[0] = None
