"""Casbin policy rows and the policy revision counter.

Why a revision row: every API process keeps casbin's policy in memory; after any policy change the
revision is bumped in the same transaction, and each process reloads when it sees a newer revision.
That works across any number of processes with nothing but the database.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class CasbinRule(Model):
    id = fields.IntField(primary_key=True)
    ptype = fields.CharField(max_length=8, db_index=True)
    v0 = fields.CharField(max_length=128, default="", db_index=True)
    v1 = fields.CharField(max_length=128, default="")
    v2 = fields.CharField(max_length=128, default="")
    v3 = fields.CharField(max_length=128, default="")
    v4 = fields.CharField(max_length=128, default="")
    v5 = fields.CharField(max_length=128, default="")

    class Meta:
        table = "casbin_rule"

    def values(self) -> list[str]:
        """The rule as casbin wants it: ptype, then non-empty values (trailing empties dropped)."""
        vals = [self.v0, self.v1, self.v2, self.v3, self.v4, self.v5]
        while vals and vals[-1] == "":
            vals.pop()
        return [self.ptype, *vals]


class PolicyRevision(Model):
    """A single row (id=1) whose `revision` grows with every policy change."""

    id = fields.IntField(primary_key=True)
    revision = fields.BigIntField(default=0)

    class Meta:
        table = "policy_revision"


class DataGrant(Model):
    """One data-permission rule of a role as integers, for SQL (F-ROLE-4).

    The casbin `p2` rules are the policy; this table holds the same rules, written in the same
    transaction, so a read can say `bank_id IN (SELECT target_id FROM data_grant WHERE role_key IN …)`
    — a condition whose size does not grow with the policy (1,000 banks × 20 products is one subquery,
    not 20,000 bound parameters).
    """

    id = fields.IntField(primary_key=True)
    role_key = fields.CharField(max_length=50)
    kind = fields.CharField(max_length=8)  # bank | product | auto
    target_id = fields.IntField()

    class Meta:
        table = "data_grant"
        unique_together = (("role_key", "kind", "target_id"),)
        indexes = (("kind", "role_key"),)
