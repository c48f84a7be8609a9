"""Initial schema.

Hand-ordered: tortoise drops a foreign-key column that points at a model created later in the same
migration, so users are created before the tables that reference them and Role's reviewer columns are
added after User exists.
"""
from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from core.oplog.models import OperatorKind
from core.review.models import ChangeAction, ChangeStatus
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='CasbinRule',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ptype', fields.CharField(db_index=True, max_length=8)),
                ('v0', fields.CharField(default='', db_index=True, max_length=128)),
                ('v1', fields.CharField(default='', max_length=128)),
                ('v2', fields.CharField(default='', max_length=128)),
                ('v3', fields.CharField(default='', max_length=128)),
                ('v4', fields.CharField(default='', max_length=128)),
                ('v5', fields.CharField(default='', max_length=128)),
            ],
            options={'table': 'casbin_rule', 'app': 'lendline', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PolicyRevision',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('revision', fields.BigIntField(default=0)),
            ],
            options={'table': 'policy_revision', 'app': 'lendline', 'pk_attr': 'id', 'table_description': 'A single row (id=1) whose `revision` grows with every policy change.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Role',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=20)),
                ('key', fields.CharField(unique=True, max_length=50)),
                ('remark', fields.CharField(default='', max_length=200)),
                ('enabled', fields.BooleanField(default=False)),
                ('builtin', fields.BooleanField(default=False)),
                ('version', fields.IntField(default=1)),
                ('last_action', fields.CharField(default='', max_length=10)),
                ('reviewed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'role', 'app': 'lendline', 'pk_attr': 'id', 'table_description': 'A named bundle of page permissions (held as casbin policies) and, later, data permissions.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('work_no', fields.CharField(unique=True, max_length=15)),
                ('account', fields.CharField(unique=True, max_length=20)),
                ('name', fields.CharField(max_length=10)),
                ('phone', fields.CharField(default='', max_length=20)),
                ('landline', fields.CharField(default='', max_length=20)),
                ('email', fields.CharField(default='', max_length=50)),
                ('password_hash', fields.CharField(max_length=200)),
                ('enabled', fields.BooleanField(default=False)),
                ('deleted', fields.BooleanField(default=False, description='Deleted users keep viewer rights only')),
                ('failed_logins', fields.IntField(default=0)),
                ('locked_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_login_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('version', fields.IntField(default=1)),
                ('last_maker', fields.ForeignKeyField('lendline.User', source_field='last_maker_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('last_checker', fields.ForeignKeyField('lendline.User', source_field='last_checker_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL)),
                ('last_action', fields.CharField(default='', max_length=10)),
                ('reviewed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('roles', fields.ManyToManyField('lendline.Role', unique=True, db_constraint=True, through='user_role', forward_key='role_id', backward_key='app_user_id', related_name='users', on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'app_user', 'app': 'lendline', 'pk_attr': 'id', 'table_description': 'A person who operates the platform. Work number, account and name never change after creation.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Role',
            name='last_maker',
            field=fields.ForeignKeyField('lendline.User', source_field='last_maker_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Role',
            name='last_checker',
            field=fields.ForeignKeyField('lendline.User', source_field='last_checker_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.SET_NULL),
        ),
        ops.CreateModel(
            name='ChangeRequest',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('entity_type', fields.CharField(db_index=True, max_length=40)),
                ('entity_id', fields.IntField(null=True, db_index=True)),
                ('entity_label', fields.CharField(default='', max_length=100)),
                ('action', fields.CharEnumField(description='CREATE: create\nUPDATE: update\nDELETE: delete', enum_type=ChangeAction, max_length=10)),
                ('payload', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('base_version', fields.IntField(null=True)),
                ('status', fields.CharEnumField(default=ChangeStatus.PENDING, db_index=True, description='PENDING: pending\nAPPROVED: approved\nREJECTED: rejected\nWITHDRAWN: withdrawn', enum_type=ChangeStatus, max_length=10)),
                ('maker', fields.ForeignKeyField('lendline.User', source_field='maker_id', db_constraint=True, to_field='id', related_name='changes_made', on_delete=OnDelete.RESTRICT)),
                ('checker', fields.ForeignKeyField('lendline.User', source_field='checker_id', db_constraint=True, to_field='id', related_name='changes_to_check', on_delete=OnDelete.RESTRICT)),
                ('comment', fields.CharField(default='', max_length=500)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'change_request', 'app': 'lendline', 'indexes': [Index(fields=['entity_type', 'status'])], 'pk_attr': 'id', 'table_description': "A maker's proposed create/update/delete of one entity, waiting for (or decided by) a checker."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OperationLog',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('operator', fields.ForeignKeyField('lendline.User', source_field='operator_id', null=True, db_constraint=True, to_field='id', related_name='operations', on_delete=OnDelete.SET_NULL)),
                ('operator_name', fields.CharField(default='', max_length=40)),
                ('operator_kind', fields.CharEnumField(db_index=True, description='MAKER: maker\nCHECKER: checker\nVIEWER: viewer\nADMIN: admin\nSYSTEM: system\nANONYMOUS: anonymous', enum_type=OperatorKind, max_length=10)),
                ('module', fields.CharField(db_index=True, max_length=40)),
                ('action', fields.CharField(max_length=60)),
                ('summary', fields.CharField(default='', max_length=200)),
                ('detail', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('outcome', fields.CharField(default='ok', max_length=20)),
                ('request_id', fields.CharField(default='', max_length=36)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'operation_log', 'app': 'lendline', 'pk_attr': 'id', 'table_description': 'One operation. The application only ever inserts: `save` on an existing row and `delete` raise.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('lendline.User', source_field='user_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('family', fields.CharField(db_index=True, max_length=32)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'refresh_token', 'app': 'lendline', 'pk_attr': 'id', 'table_description': 'A rotating refresh token, stored only as a SHA-256 digest.'},
            bases=['Model'],
        ),
    ]
