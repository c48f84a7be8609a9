"""The operation log (SPEC F-MON-7): who did what, when, in which module — append-only."""

from __future__ import annotations

from enum import Enum

from tortoise import fields
from tortoise.models import Model


class OperatorKind(str, Enum):
    """How the operator acted, as seed 000's log shows it (经办 / 复核 / 查询) plus admin and system."""

    MAKER = "maker"
    CHECKER = "checker"
    VIEWER = "viewer"
    ADMIN = "admin"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


class OperationLog(Model):
    """One operation. The application only ever inserts: `save` on an existing row and `delete` raise."""

    id = fields.BigIntField(primary_key=True)
    operator = fields.ForeignKeyField(
        "lendline.User", related_name="operations", null=True, on_delete=fields.SET_NULL
    )
    operator_name = fields.CharField(max_length=40, default="")
    operator_kind = fields.CharEnumField(OperatorKind, max_length=10, db_index=True)
    module = fields.CharField(max_length=40, db_index=True)
    action = fields.CharField(max_length=60)
    summary = fields.CharField(max_length=200, default="")
    detail = fields.JSONField(default=dict)
    outcome = fields.CharField(max_length=20, default="ok")
    request_id = fields.CharField(max_length=36, default="")
    created_at = fields.DatetimeField(auto_now_add=True, db_index=True)
    # Whose data the entry is about (F-ROLE-4): entries on bank data are shown only to callers whose
    # data scope covers that bank/product. Both null: not bank data.
    scope_bank_id = fields.IntField(null=True)
    scope_product_id = fields.IntField(null=True)

    class Meta:
        table = "operation_log"

    async def save(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        if not self._saved_in_db:
            await super().save(*args, **kwargs)  # type: ignore[arg-type]
            return
        raise PermissionError("The operation log is append-only")

    async def delete(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        raise PermissionError("The operation log is append-only")
