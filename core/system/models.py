"""System management tables (SPEC §9): dictionaries, system parameters, console switches, alerts.

Why a published copy of the parameters: an edit takes effect only when an admin presses "refresh
cache" (F-SYS-3). The refresh copies the active parameters into `published_parameter` and bumps
`parameter_revision` in one transaction; every process compares its loaded revision with that row
(one indexed read) and reloads when behind, so all processes switch at once and a half-edited
parameter never reaches code.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Dictionary(Model):
    """A parent dictionary (字典表): e.g. marital status, with its items below it.

    `seed_key` marks a dictionary the platform ships (it never changes, even when an admin edits
    `key`), so code can look it up by a stable name and re-seeding never duplicates it.
    """

    id = fields.IntField(primary_key=True)
    serial = fields.IntField(unique=True)
    name = fields.CharField(max_length=50, unique=True)
    key = fields.CharField(max_length=50, unique=True)
    remark = fields.CharField(max_length=50, default="")
    seed_key = fields.CharField(max_length=50, unique=True, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    items: fields.ReverseRelation[DictionaryItem]

    class Meta:
        table = "dictionary"

    @property
    def builtin(self) -> bool:
        return self.seed_key is not None


class DictionaryItem(Model):
    """One entry of a dictionary: a name and a numeric code (digits, unique within the dictionary)."""

    id = fields.IntField(primary_key=True)
    dictionary: fields.ForeignKeyRelation[Dictionary] = fields.ForeignKeyField(
        "lendline.Dictionary", related_name="items", on_delete=fields.CASCADE)
    name = fields.CharField(max_length=50)
    code = fields.CharField(max_length=20, description="Digits only, kept as text so leading zeros survive")
    enabled = fields.BooleanField(default=False)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "dictionary_item"
        unique_together = (("dictionary", "code"),)


class ParameterType(StrEnum):
    """The tabs of the system-parameter page (seed 001)."""

    BUSINESS = "business"  # 业务参数
    AGREEMENT = "agreement"  # 协议参数
    THIRD_PARTY = "third_party"  # 第三方参数
    SMS = "sms"  # 短信参数
    COPY_TEXT = "copy_text"  # 文案参数
    KEY = "key"  # 系统关键参数 (always secret)


class ParameterFormat(StrEnum):
    """What the value must look like; checked on every save so typed readers never see garbage."""

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"


class SystemParameter(Model):
    """A system parameter as the admin edits it (the draft): code reads the published copy."""

    id = fields.IntField(primary_key=True)
    number = fields.CharField(max_length=50, unique=True)
    name = fields.CharField(max_length=50)
    value = fields.TextField(default="")
    type = fields.CharEnumField(ParameterType, max_length=20, db_index=True)
    format = fields.CharEnumField(ParameterFormat, max_length=10, default=ParameterFormat.TEXT)
    secret = fields.BooleanField(default=False, description="Never returned in clear, and once set it stays set")
    active = fields.BooleanField(default=False)
    builtin = fields.BooleanField(default=False, description="Shipped with the platform: its number is fixed")
    version = fields.IntField(default=1)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "system_parameter"


class PublishedParameter(Model):
    """The values code sees: the active parameters as of the last "refresh cache"."""

    id = fields.IntField(primary_key=True)
    parameter_id = fields.IntField(unique=True)
    number = fields.CharField(max_length=50, unique=True)
    value = fields.TextField(default="")
    format = fields.CharEnumField(ParameterFormat, max_length=10, default=ParameterFormat.TEXT)
    secret = fields.BooleanField(default=False)

    class Meta:
        table = "published_parameter"


class ParameterRevision(Model):
    """A single row (id=1): grows with every publish. `epoch` is random per database, so a process
    never mistakes another database's revision 3 for its own."""

    id = fields.IntField(primary_key=True)
    revision = fields.BigIntField(default=0)
    epoch = fields.CharField(max_length=32)
    published_at = fields.DatetimeField(null=True)
    published_by = fields.CharField(max_length=40, default="")

    class Meta:
        table = "parameter_revision"


class ConsoleSwitch(Model):
    """A console switch (控制台): on lets the matching code path run, off pauses it at once."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=40, unique=True)
    enabled = fields.BooleanField(default=True)
    changed_at = fields.DatetimeField(null=True)
    changed_by = fields.CharField(max_length=40, default="")

    class Meta:
        table = "console_switch"


class SystemAlert(Model):
    """A system alert (系统预警): something went wrong that an operator should look at."""

    id = fields.BigIntField(primary_key=True)
    code = fields.CharField(max_length=40, db_index=True)
    message = fields.CharField(max_length=500)
    source = fields.CharField(max_length=60, default="", db_index=True)
    detail = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(db_index=True)
    read = fields.BooleanField(default=False, db_index=True)
    read_at = fields.DatetimeField(null=True)
    read_by = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)

    class Meta:
        table = "system_alert"
