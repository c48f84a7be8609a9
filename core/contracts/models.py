"""Contract templates with their versions, and the contracts frozen when a loan is signed (SPEC §5).

Why these shapes:
- A template (`ContractTemplate`) is the editable head: its key, class, markup and which version is
  current. Every edit of the text adds a `ContractTemplateVersion` row and never changes an older
  one, so a signed contract can always show exactly the source it was rendered from (F-CON-1).
- A template may be limited to one product (`product` null: every product). Reads apply the data
  scope on that product in SQL; templates for every product are visible to whoever holds the page.
- `Contract` is the legal document as signed: rendered text, its SHA-256, the template version, the
  rate it showed, and the hash of the ledger transaction that recorded it (F-CON-2). It is frozen:
  the application only ever inserts (`save` on a stored row and `delete` raise, as the operation
  log does), and the hash in the ledger makes any change in the database detectable.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from core.contracts.render import TemplateClass, TemplateFormat


class ContractTemplate(Model):
    """A contract template (合同模板): unique key, class, markup, current version."""

    id = fields.IntField(primary_key=True)
    key = fields.CharField(max_length=50, unique=True)  # letters, digits, underscore; immutable
    name = fields.CharField(max_length=50)
    template_class = fields.CharEnumField(TemplateClass, max_length=20)
    markup = fields.CharEnumField(TemplateFormat, max_length=10, default=TemplateFormat.HTML)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, null=True, on_delete=fields.RESTRICT)
    active = fields.BooleanField(default=True)  # rendered at signing when active
    deleted = fields.BooleanField(default=False)  # kept (signed contracts point at its versions)
    current_version = fields.IntField(default=1)
    created_by = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "contract_template"


class ContractTemplateVersion(Model):
    """One version of a template's text, never edited after it is written."""

    id = fields.IntField(primary_key=True)
    template = fields.ForeignKeyField("lendline.ContractTemplate", related_name="versions", on_delete=fields.RESTRICT)
    version = fields.IntField()
    source = fields.TextField()
    source_sha256 = fields.CharField(max_length=64)
    note = fields.CharField(max_length=200, default="")
    created_by = fields.ForeignKeyField("lendline.User", related_name=False, null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "contract_template_version"
        unique_together = (("template", "version"),)

    async def save(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        if self._saved_in_db:
            raise PermissionError("A template version is never edited: save a new version instead")
        await super().save(*args, **kwargs)  # type: ignore[arg-type]

    async def delete(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        raise PermissionError("Template versions are kept: signed contracts refer to them")


class Contract(Model):
    """A loan's contract as rendered and frozen at signing (its hash is in the ledger)."""

    id = fields.BigIntField(primary_key=True)
    contract_no = fields.CharField(max_length=64, unique=True)  # <order_no>-<template key>
    loan = fields.ForeignKeyField("lendline.Loan", related_name="contracts", on_delete=fields.RESTRICT)
    product = fields.ForeignKeyField("lendline.Product", related_name=False, on_delete=fields.RESTRICT)
    bank = fields.ForeignKeyField("lendline.Bank", related_name=False, on_delete=fields.RESTRICT)  # lead funder
    template = fields.ForeignKeyField("lendline.ContractTemplate", related_name=False, on_delete=fields.RESTRICT)
    template_version = fields.IntField()
    template_key = fields.CharField(max_length=50)
    template_name = fields.CharField(max_length=50)
    template_class = fields.CharEnumField(TemplateClass, max_length=20)
    markup = fields.CharEnumField(TemplateFormat, max_length=10)
    text = fields.TextField()
    sha256 = fields.CharField(max_length=64)
    requires_signature = fields.BooleanField()  # display-only documents are frozen as shown, not signed
    # The rate the contract showed (percent LPR, basis points, fraction): the rate is fixed at
    # disbursement, so comparing these with the loan's tells whether the LPR moved in between.
    lpr_rate = fields.DecimalField(max_digits=7, decimal_places=4)
    spread_bp = fields.IntField()
    annual_rate = fields.DecimalField(max_digits=9, decimal_places=6)
    ledger_tx_hash = fields.CharField(max_length=64)
    signed_at = fields.DatetimeField()

    class Meta:
        table = "contract"
        unique_together = (("loan", "template"),)

    async def save(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        if self._saved_in_db:
            raise PermissionError("A signed contract is frozen")
        await super().save(*args, **kwargs)  # type: ignore[arg-type]

    async def delete(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        raise PermissionError("A signed contract is frozen")
