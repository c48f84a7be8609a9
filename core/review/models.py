"""Change requests: the one record behind every maker-checker review (SPEC §8, F-REV-1)."""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.models import Model


class ChangeAction(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class ChangeStatus(str, Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class ChangeRequest(Model):
    """A maker's proposed create/update/delete of one entity, waiting for (or decided by) a checker.

    `base_version` is the entity's version when the maker submitted; approval refuses to apply a change
    whose entity has moved on since. `payload` holds the validated input (secrets already hashed).
    """

    id = fields.IntField(primary_key=True)
    entity_type = fields.CharField(max_length=40, db_index=True)
    entity_id = fields.IntField(null=True, db_index=True)
    entity_label = fields.CharField(max_length=100, default="")
    action = fields.CharEnumField(ChangeAction, max_length=10)
    payload = fields.JSONField(default=dict)
    base_version = fields.IntField(null=True)
    status = fields.CharEnumField(ChangeStatus, max_length=10, default=ChangeStatus.PENDING, db_index=True)
    maker = fields.ForeignKeyField("lendline.User", related_name="changes_made", on_delete=fields.RESTRICT)
    checker = fields.ForeignKeyField("lendline.User", related_name="changes_to_check", on_delete=fields.RESTRICT)
    comment = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    decided_at = fields.DatetimeField(null=True)
    # Whose data the change is about (F-ROLE-4): reviews of bank data are listed only to callers whose
    # data scope covers that bank/product. Both null: not bank data (users, roles).
    scope_bank_id = fields.IntField(null=True)
    scope_product_id = fields.IntField(null=True)

    class Meta:
        table = "change_request"
        indexes = (("entity_type", "status"),)
