"""Schedule write path: no redundant foreign keys on installment funder parts, no lone due_date index.

The part row's loan and bank are implied by its installment (→ loan, cascading) and the loan's
LoanFunder (→ bank, RESTRICT); their per-row constraint checks cost more than the rows on a
joint-lending disbursement batch. `AlterField` records `db_constraint=False` in the migration state
but does not drop an existing constraint, so PostgreSQL's are dropped here by name-independent SQL;
SQLite keeps them (its tables would have to be rebuilt, and it is the development backend).
Every query on `loan_installment.due_date` also filters on status (index `status, due_date`) or
loan_id, so the single-column index only slowed inserts.
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

_DROP_PART_FKS = """
DO $$
DECLARE c record;
BEGIN
  FOR c IN SELECT conname FROM pg_constraint
           WHERE conrelid = 'installment_funder_part'::regclass AND contype = 'f'
             AND confrelid IN ('loan'::regclass, 'bank'::regclass)
  LOOP
    EXECUTE format('ALTER TABLE installment_funder_part DROP CONSTRAINT %I', c.conname);
  END LOOP;
END $$;
"""


async def _drop_part_foreign_keys(apps: Any, schema_editor: Any) -> None:
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script(_DROP_PART_FKS)


class Migration(migrations.Migration):
    dependencies = [('lendline', '0004_loans_lifecycle_fund_control')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='InstallmentFunderPart',
            name='bank',
            field=fields.ForeignKeyField('lendline.Bank', source_field='bank_id', db_constraint=False, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT),
        ),
        ops.AlterField(
            model_name='InstallmentFunderPart',
            name='loan',
            field=fields.ForeignKeyField('lendline.Loan', source_field='loan_id', db_constraint=False, to_field='id', related_name=False, on_delete=OnDelete.CASCADE),
        ),
        ops.RunPython(_drop_part_foreign_keys, ops.RunPython.noop),
        ops.AlterField(
            model_name='LoanInstallment',
            name='due_date',
            field=fields.DateField(),
        ),
    ]
