"""Risk configuration and results on the database (SPEC §11): scenes, their rule sets, risk reports.

Why these shapes:
- A scene (场景) is what a product's risk event names (`Product.risk_scene_key`). Its rules are kept
  as one JSON document in the risk engine's own shape (`core.risk.rule_codec`), validated against
  the indicator catalogue before it is stored: a rule set is read and run whole, never queried by
  rule, and one document keeps the ordering and the combination settings together.
- Every approved change of a scene's rules adds a new `RiskRuleSet` version instead of overwriting
  the old one, so a stored risk report still points at the exact rules that decided it.
- The indicators a rule set uses are snapshotted with it (type, source, price). When a data source
  is switched off later, the engine still knows the indicator and treats the source as failed (the
  rule's missing-data policy applies) instead of refusing to evaluate.
- A risk report keeps a masked summary of the subject (never a clear ID or phone number), the
  product for data scope, and the engine's full report as JSON.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from core.risk.engine import Scene


class RiskScene(Model):
    """A risk scene: where the engine runs (register/login, pre-review, credit, drawdown) and with what rules."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=50, unique=True)  # what products name in risk_scene_key
    name = fields.CharField(max_length=50)
    kind = fields.CharEnumField(Scene, max_length=20)
    description = fields.CharField(max_length=500, default="")
    enabled = fields.BooleanField(default=True)
    # The rule set version in force (bumped by every approved update).
    rule_set_version = fields.IntField(default=1)
    version = fields.IntField(default=1)
    last_maker = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    last_checker = fields.ForeignKeyField("lendline.User", related_name=False, null=True,
                                          on_delete=fields.SET_NULL)
    last_action = fields.CharField(max_length=10, default="")
    reviewed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "risk_scene"


class RiskRuleSet(Model):
    """One approved version of a scene's rules, in the engine's shape, with its indicator snapshot."""

    id = fields.IntField(primary_key=True)
    scene = fields.ForeignKeyField("lendline.RiskScene", related_name="rule_sets", on_delete=fields.CASCADE)
    version = fields.IntField()
    definition = fields.JSONField()  # {"resultCombination", "scoreAggregation", "quotaAggregation", "rules"}
    indicators = fields.JSONField()  # {"own_data.age": {"type": "number", "source": "own_data", "cost": "0"}}
    maker = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    checker = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "risk_rule_set"
        unique_together = (("scene", "version"),)


class RiskReportRecord(Model):
    """The stored result of one evaluation of a scene (风控报告) for one subject."""

    id = fields.BigIntField(primary_key=True)
    scene = fields.ForeignKeyField("lendline.RiskScene", related_name=False, null=True, on_delete=fields.SET_NULL)
    scene_key = fields.CharField(max_length=50, db_index=True)  # kept when the scene is deleted
    scene_kind = fields.CharField(max_length=20)
    rule_set_version = fields.IntField()
    loan = fields.ForeignKeyField("lendline.Loan", related_name=False, null=True, on_delete=fields.SET_NULL)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, null=True, on_delete=fields.SET_NULL)
    order_no = fields.CharField(max_length=32, default="", db_index=True)
    subject_summary = fields.JSONField()  # masked identity, amount, term, product, channel
    outcome = fields.CharField(max_length=20)
    score = fields.DecimalField(max_digits=18, decimal_places=4, null=True)
    quota = fields.DecimalField(max_digits=18, decimal_places=2, null=True)
    total_cost = fields.DecimalField(max_digits=12, decimal_places=4, default=0)
    report = fields.JSONField()  # the engine's RiskReport.to_dict() plus billing and timing
    created_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "risk_report"
        indexes = (("loan_id", "created_at"),)
