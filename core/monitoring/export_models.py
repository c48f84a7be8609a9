"""Background Excel exports (F-MON-5 download): the requested file, its owner, status and bytes.

Why the bytes live in the database (BinaryField) rather than under a data directory: the API and the
arq workers may run on different hosts without a shared disk, the row and its file appear and
expire together in one transaction, and exports are small enough (tens of MB at most for the row cap
in `core.monitoring.export`). `role_keys` keeps the requester's enabled roles at the time of the
request, so the job rebuilds the requester's data scope rather than running with the worker's.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class ExportStatus(StrEnum):
    PENDING = "pending"  # queued, the job has not finished
    READY = "ready"  # the file can be downloaded by its owner until expires_at
    FAILED = "failed"  # see error


class ExportFile(Model):
    """One Excel export produced by a background job."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=30)  # what was exported, e.g. violations
    owner = fields.ForeignKeyField("lendline.User", related_name=False, on_delete=fields.CASCADE)
    status = fields.CharEnumField(ExportStatus, max_length=10, default=ExportStatus.PENDING)
    criteria = fields.JSONField()  # the frozen filter of the query
    role_keys = fields.JSONField()  # the requester's enabled roles when asked (scope inputs)
    file_name = fields.CharField(max_length=100)
    row_count = fields.IntField(null=True)
    content = fields.BinaryField(null=True)
    error = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "export_file"
        indexes = (("owner_id", "created_at"),)
