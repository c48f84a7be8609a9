"""GraphQL for contract templates (F-CON-1) and the contracts signed for a loan (F-CON-2).

Templates: list, detail, versions, create / update (a new version each time) / delete, on the
`contracts` page and its actions. A template saved with a problem (syntax, unknown variable, a
sandbox escape attempt) comes back in the payload's `errors` with field `source` and the line.

Signed contracts: `loanContracts(loanId)` and `Loan.contracts` show each frozen contract with its
text, SHA-256 and the hash of the ledger transaction that recorded it. The text is the signed legal
document, which names the borrower's ID number in full; callers without `loans.view_identity` get
the number masked in the text (the hash is of the signed text, so they verify it with the full
text from someone who may see it); a clear view is logged as a read of customer data.
Every read applies the caller's data scope in SQL; nested rows load through per-request dataloaders.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal

import strawberry
from strawberry import UNSET
from strawberry.types import Info

from core.contracts import signing, templates
from core.contracts.models import Contract, ContractTemplate, ContractTemplateVersion
from core.contracts.render import TemplateClass, TemplateFormat
from core.loans import customers
from core.loans.models import Customer, Loan
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation
from schema.products import _loader
from schema.relay import Connection, connection, decode, decode_optional, gid, paginate

TemplateClassEnum = strawberry.enum(TemplateClass, name="ContractTemplateClass",
                                    description="借款合同(签署) / 展示并签署 / 仅展示.")
TemplateMarkupEnum = strawberry.enum(TemplateFormat, name="ContractTemplateMarkup")


@strawberry.type(name="ContractTemplateVersion", description="One version of a template's text (never edited).")
class TemplateVersionGql:
    id: strawberry.ID
    version: int
    source: str
    source_sha256: str
    note: str
    created_at: datetime

    @classmethod
    def of(cls, v: ContractTemplateVersion) -> TemplateVersionGql:
        return cls(id=gid("ContractTemplateVersion", v.id), version=v.version, source=v.source,
                   source_sha256=v.source_sha256, note=v.note, created_at=v.created_at)


@strawberry.type(name="ContractTemplate", description="A contract template (合同模板), versioned.")
class TemplateGql:
    id: strawberry.ID
    key: str
    name: str
    template_class: TemplateClassEnum  # type: ignore[valid-type]
    markup: TemplateMarkupEnum  # type: ignore[valid-type]
    product_id: strawberry.ID | None = strawberry.field(description="Null: applies to every product.")
    active: bool = strawberry.field(description="Rendered when a loan is signed.")
    current_version: int
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[int]

    @classmethod
    def of(cls, t: ContractTemplate) -> TemplateGql:
        product_id = t.product_id  # type: ignore[attr-defined]
        return cls(id=gid("ContractTemplate", t.id), key=t.key, name=t.name,
                   template_class=TemplateClass(t.template_class), markup=TemplateFormat(t.markup),
                   product_id=gid("Product", product_id) if product_id else None, active=t.active,
                   current_version=t.current_version, created_at=t.created_at, updated_at=t.updated_at, pk=t.id)

    @strawberry.field(description="The current version's text.")
    async def source(self, info: Info) -> str:
        async def load(keys: list[int]) -> list[str]:
            found = await templates.current_sources(keys)
            return [found[k].source if k in found else "" for k in keys]

        return await _loader(info, "contract_template_sources", load).load(self.pk)  # type: ignore[no-any-return]


@strawberry.type(name="LoanContract", description="A contract frozen when the loan was signed (its hash is in the "
                 "ledger).")
class ContractGql:
    id: strawberry.ID
    contract_no: str
    loan_id: strawberry.ID
    template_id: strawberry.ID
    template_key: str
    template_name: str
    template_version: int
    template_class: TemplateClassEnum  # type: ignore[valid-type]
    markup: TemplateMarkupEnum  # type: ignore[valid-type]
    text: str = strawberry.field(description="The signed text; the borrower's ID number is masked unless you hold "
                                 "loans.view_identity.")
    text_masked: bool
    sha256: str = strawberry.field(description="SHA-256 (hex) of the signed text's UTF-8 bytes.")
    requires_signature: bool
    lpr_rate: Decimal = strawberry.field(description="The LPR the contract showed, percent per year.")
    spread_bp: int
    annual_rate: Decimal = strawberry.field(description="The rate the contract showed (fixed at disbursement).")
    ledger_tx_hash: str
    signed_at: datetime


def _contract(c: Contract, id_number: str, clear: bool) -> ContractGql:
    text = c.text if clear or not id_number else c.text.replace(id_number, customers.mask_id_number(id_number))
    return ContractGql(
        id=gid("LoanContract", c.id), contract_no=c.contract_no, loan_id=gid("Loan", c.loan_id),  # type: ignore[attr-defined]
        template_id=gid("ContractTemplate", c.template_id), template_key=c.template_key,  # type: ignore[attr-defined]
        template_name=c.template_name, template_version=c.template_version,
        template_class=TemplateClass(c.template_class), markup=TemplateFormat(c.markup), text=text,
        text_masked=not clear, sha256=c.sha256, requires_signature=c.requires_signature,
        lpr_rate=Decimal(c.lpr_rate), spread_bp=c.spread_bp, annual_rate=Decimal(c.annual_rate),
        ledger_tx_hash=c.ledger_tx_hash, signed_at=c.signed_at)


async def load_contracts(info: Info, loan_id: int) -> list[ContractGql]:
    """A loan's contracts through the request's dataloader (one query for a whole page of loans)."""
    scope = info.context.scope
    clear = actor_of(info).can(customers.VIEW_IDENTITY)

    async def load(keys: list[int]) -> list[list[ContractGql]]:
        rows = await signing.contracts_query(scope, keys)
        loan_ids = sorted({r.loan_id for r in rows})  # type: ignore[attr-defined]
        owners = dict(await Loan.filter(id__in=loan_ids).values_list("id", "customer_id")) if loan_ids else {}
        people = await Customer.filter(id__in=set(owners.values())).values_list("id", "id_number", "customer_no") \
            if owners else []
        ids = {pk: number for pk, number, _ in people}
        customer_nos = {pk: no for pk, _, no in people}
        out: dict[int, list[ContractGql]] = defaultdict(list)
        for r in rows:
            customer_id = owners.get(r.loan_id)  # type: ignore[attr-defined]
            out[r.loan_id].append(_contract(r, ids.get(customer_id, ""), clear))  # type: ignore[attr-defined]
        if clear and rows:
            from schema.loans import _identity_views

            views = _identity_views(info)
            for r in {r.loan_id: r for r in rows}.values():  # type: ignore[attr-defined]
                await views.load((r.product_id, customer_nos.get(owners.get(r.loan_id), "")))  # type: ignore[attr-defined]
        return [out.get(k, []) for k in keys]

    return await _loader(info, "loan_contracts", load).load(loan_id)  # type: ignore[no-any-return]


@strawberry.input(description="Template settings. On create, key, name, templateClass and source are required; on "
                  "update an omitted field keeps its value (key and class never change) and every update writes a "
                  "new version.")
class ContractTemplateInput:
    key: str | None = UNSET
    name: str | None = UNSET
    template_class: TemplateClassEnum | None = UNSET  # type: ignore[valid-type]
    markup: TemplateMarkupEnum | None = UNSET  # type: ignore[valid-type]
    source: str | None = UNSET
    product_id: strawberry.ID | None = strawberry.field(default=UNSET, description="Null on update: every product.")
    active: bool | None = UNSET
    note: str | None = strawberry.field(default=UNSET, description="Why this version (shown in the history).")


def _given(value: object) -> object:
    return None if value is UNSET else value


def _input(inp: ContractTemplateInput, *, update: bool) -> templates.TemplateInput:
    product = _given(inp.product_id)
    return templates.TemplateInput(
        key=_given(inp.key), name=_given(inp.name), template_class=_given(inp.template_class),  # type: ignore[arg-type]
        markup=_given(inp.markup), source=_given(inp.source),  # type: ignore[arg-type]
        product_id=decode_optional(product, "Product", "productId"),  # type: ignore[arg-type]
        clear_product=update and inp.product_id is None, active=_given(inp.active),  # type: ignore[arg-type]
        note=_given(inp.note))  # type: ignore[arg-type]


@strawberry.input
class ContractTemplateFilter:
    keyword: str | None = strawberry.field(default=None, description="Key or name contains")
    template_class: TemplateClassEnum | None = None  # type: ignore[valid-type]
    active: bool | None = None
    product_id: strawberry.ID | None = None


@strawberry.type
class ContractTemplatePayload(Payload):
    template: TemplateGql | None = None


@strawberry.type
class ContractsQuery:
    @guarded("contracts", description="Contract templates (for every product, or for products you may see).")
    async def contract_templates(self, info: Info, filter: ContractTemplateFilter | None = None,
                                 first: int | None = None, after: str | None = None) -> Connection[TemplateGql]:
        f = filter or ContractTemplateFilter()
        qs = templates.query(info.context.scope, keyword=f.keyword, template_class=f.template_class,
                             active=f.active, product_id=decode_optional(f.product_id, "Product", "filter.productId"))
        return connection(await paginate(qs, first, after), TemplateGql.of)  # type: ignore[no-any-return]

    @guarded("contracts", description="One template; another bank's product template answers null like a missing one.")
    async def contract_template(self, info: Info, id: strawberry.ID) -> TemplateGql | None:
        row = await ContractTemplate.filter(templates.visible(info.context.scope), deleted=False,
                                            id=decode(id, "ContractTemplate", "id")).first()
        return TemplateGql.of(row) if row else None

    @guarded("contracts", description="A template's versions, newest first.")
    async def contract_template_versions(self, info: Info, template_id: strawberry.ID, first: int | None = None,
                                         after: str | None = None) -> Connection[TemplateVersionGql]:
        qs = templates.versions_query(info.context.scope, decode(template_id, "ContractTemplate", "templateId"))
        return connection(await paginate(qs, first, after), TemplateVersionGql.of)  # type: ignore[no-any-return]

    @guarded("contracts", "loan_orders", description="The contracts signed for a loan (text, hash, ledger hash).")
    async def loan_contracts(self, info: Info, loan_id: strawberry.ID) -> list[ContractGql]:
        return await load_contracts(info, decode(loan_id, "Loan", "loanId"))


@strawberry.type
class ContractsMutation:
    @guarded_mutation("contracts.create", description="Add a template (version 1); it is checked before it is saved.")
    async def create_contract_template(self, info: Info, input: ContractTemplateInput) -> ContractTemplatePayload:
        row = await templates.create(actor_of(info), info.context.scope, _input(input, update=False),
                                     request_id=info.context.request_id)
        return ContractTemplatePayload(template=TemplateGql.of(row))

    @guarded_mutation("contracts.update", description="Edit a template: writes the next version, old ones are kept. "
                      "expectedVersion (the version you loaded) refuses a lost race with STALE.")
    async def update_contract_template(self, info: Info, id: strawberry.ID, input: ContractTemplateInput,
                                       expected_version: int | None = None) -> ContractTemplatePayload:
        row = await templates.update(actor_of(info), info.context.scope, decode(id, "ContractTemplate", "id"),
                                     _input(input, update=True), expected_version=expected_version,
                                     request_id=info.context.request_id)
        return ContractTemplatePayload(template=TemplateGql.of(row))

    @guarded_mutation("contracts.delete", description="Retire a template; contracts signed with it keep its versions.")
    async def delete_contract_template(self, info: Info, id: strawberry.ID) -> ContractTemplatePayload:
        row = await templates.delete(actor_of(info), info.context.scope, decode(id, "ContractTemplate", "id"),
                                     request_id=info.context.request_id)
        return ContractTemplatePayload(template=TemplateGql.of(row))
