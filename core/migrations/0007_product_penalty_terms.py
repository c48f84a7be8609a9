from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('lendline', '0006_ingest_indexes')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Product',
            name='penalty_base',
            field=fields.CharField(null=True, max_length=30),
        ),
        ops.AddField(
            model_name='Product',
            name='penalty_daily_rate',
            field=fields.DecimalField(null=True, max_digits=10, decimal_places=6),
        ),
    ]
