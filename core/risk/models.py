"""Risk tables: the platform's own blacklist (黑名单), an own-data risk indicator (F-PLG-2).

Why one row per identity with unique id number and unique phone: a person is listed once, so
"remove from the blacklist" removes them, instead of leaving a forgotten duplicate that keeps
rejecting them. Either key may be missing (a fraud report often has only a phone number), but not
both; the name is recorded for the people reviewing the list and is never matched on (namesakes
are common: matching 张伟 would reject hundreds of thousands of people).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class BlacklistEntry(Model):
    id = fields.IntField(primary_key=True)
    id_number = fields.CharField(max_length=18, null=True, unique=True,
                                 description="18-character resident ID number, check digit verified")
    phone = fields.CharField(max_length=11, null=True, unique=True, description="Mainland mobile number, 11 digits")
    name = fields.CharField(max_length=50, default="")
    reason = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(db_index=True)
    created_by = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)

    class Meta:
        table = "risk_blacklist"
