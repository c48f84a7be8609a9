"""Users, roles and refresh tokens (SPEC §1).

Why `version`: reviewed changes (maker-checker) record the version they were made against, and an
approval against a moved-on row is refused (F-REV-1).
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Role(Model):
    """A named bundle of page permissions (held as casbin policies) and, later, data permissions."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=20, unique=True)
    key = fields.CharField(max_length=50, unique=True)
    remark = fields.CharField(max_length=200, default="")
    enabled = fields.BooleanField(default=False)
    builtin = fields.BooleanField(default=False)
    version = fields.IntField(default=1)
    # The review that last changed this row (seed 000's list columns: maker, checker, review time, type).
    last_maker = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    last_checker = fields.ForeignKeyField("lendline.User", related_name=False, null=True,
                                          on_delete=fields.SET_NULL)
    last_action = fields.CharField(max_length=10, default="")
    reviewed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    users: fields.ManyToManyRelation[User]

    class Meta:
        table = "role"


class User(Model):
    """A person who operates the platform. Work number, account and name never change after creation."""

    id = fields.IntField(primary_key=True)
    work_no = fields.CharField(max_length=15, unique=True)
    account = fields.CharField(max_length=20, unique=True)
    name = fields.CharField(max_length=10)
    phone = fields.CharField(max_length=20, default="")
    landline = fields.CharField(max_length=20, default="")
    email = fields.CharField(max_length=50, default="")
    password_hash = fields.CharField(max_length=200)
    enabled = fields.BooleanField(default=False)
    deleted = fields.BooleanField(default=False, description="Deleted users keep viewer rights only")
    failed_logins = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    last_login_at = fields.DatetimeField(null=True)
    version = fields.IntField(default=1)
    # The review that last changed this row (seed 000's list columns: maker, checker, review time, type).
    last_maker = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    last_checker = fields.ForeignKeyField("lendline.User", related_name=False, null=True,
                                          on_delete=fields.SET_NULL)
    last_action = fields.CharField(max_length=10, default="")
    reviewed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)
    roles: fields.ManyToManyRelation[Role] = fields.ManyToManyField(
        "lendline.Role", related_name="users", through="user_role"
    )

    class Meta:
        table = "app_user"


class RefreshToken(Model):
    """A rotating refresh token, stored only as a SHA-256 digest.

    Tokens of one login form a family; presenting an already-rotated token revokes the whole family
    (it was stolen or replayed).
    """

    id = fields.IntField(primary_key=True)
    user = fields.ForeignKeyField("lendline.User", related_name="refresh_tokens", on_delete=fields.CASCADE)
    token_hash = fields.CharField(max_length=64, unique=True)
    family = fields.CharField(max_length=32, db_index=True)
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "refresh_token"
