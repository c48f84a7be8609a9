"""A casbin async adapter over the `casbin_rule` table (tortoise).

Why our own: casbin-tortoise-adapter 2.0 raises in `add_policies` and deletes g rules in
`remove_filtered_policy`; this one is small, honours the rule type, and is tested.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from casbin.persist.adapter import load_policy_line
from casbin.persist.adapters.asyncio import AsyncAdapter

from permissions.models import CasbinRule


def _row(ptype: str, rule: Sequence[str]) -> CasbinRule:
    values = [*list(rule), "", "", "", "", "", ""][:6]
    return CasbinRule(ptype=ptype, v0=values[0], v1=values[1], v2=values[2], v3=values[3],
                      v4=values[4], v5=values[5])


def _match(ptype: str, rule: Sequence[str]) -> dict[str, Any]:
    return {"ptype": ptype, **{f"v{i}": v for i, v in enumerate(rule)}}


class TortoiseAdapter(AsyncAdapter):
    """Loads and persists casbin rules; every method touches only rows of the given ptype."""

    async def load_policy(self, model: Any) -> None:
        for row in await CasbinRule.all().order_by("id"):
            load_policy_line(", ".join(row.values()), model)

    async def save_policy(self, model: Any) -> bool:
        await CasbinRule.all().delete()
        rows = [
            _row(ptype, rule)
            for sec in ("p", "g")
            for ptype, ast in model.model.get(sec, {}).items()
            for rule in ast.policy
        ]
        if rows:
            await CasbinRule.bulk_create(rows)
        return True

    async def add_policy(self, sec: str, ptype: str, rule: Sequence[str]) -> bool:
        await _row(ptype, rule).save()
        return True

    async def add_policies(self, sec: str, ptype: str, rules: Sequence[Sequence[str]]) -> bool:
        await CasbinRule.bulk_create([_row(ptype, r) for r in rules])
        return True

    async def remove_policy(self, sec: str, ptype: str, rule: Sequence[str]) -> bool:
        deleted = await CasbinRule.filter(**_match(ptype, rule)).delete()
        return bool(deleted)

    async def remove_policies(self, sec: str, ptype: str, rules: Sequence[Sequence[str]]) -> bool:
        for rule in rules:
            await CasbinRule.filter(**_match(ptype, rule)).delete()
        return True

    async def remove_filtered_policy(self, sec: str, ptype: str, field_index: int, *field_values: str) -> bool:
        if not 0 <= field_index <= 5 or not field_values:
            return False
        filters = {
            f"v{field_index + i}": v for i, v in enumerate(field_values) if v != "" and field_index + i <= 5
        }
        deleted = await CasbinRule.filter(ptype=ptype, **filters).delete()
        return bool(deleted)
