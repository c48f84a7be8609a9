"""Ingestion write path: drop two indexes no query needs (every batch of transactions paid for them).

* ``account_transaction.customer_no`` alone: every query by customer no. (the borrower's view, the
  transaction list's filter) also has, or is served by, the ``(customer_no, occurred_at)`` index,
  whose leading column is the same.
* ``fund_trace_state.customer_no``: the tracing state is only ever read by its account no. (unique
  index); the customer no. is read with it, never searched by. Each of a batch's state updates
  (one per account) had to write this index as well.

On PostgreSQL `AlterField` drops the indexes; on SQLite (development) it rebuilds the tables.
"""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('lendline', '0005_schedule_write_path')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='AccountTransaction',
            name='customer_no',
            field=fields.CharField(max_length=32),
        ),
        ops.AlterField(
            model_name='FundTraceState',
            name='customer_no',
            field=fields.CharField(max_length=32),
        ),
    ]
