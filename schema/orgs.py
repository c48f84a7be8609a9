"""GraphQL for institutions (SPEC §2): banks and their credit products, lending-assist and
credit-enhancement institutions, margin accounts with their movements, payment platforms.

Resolvers are thin: decode ids, call one `core.orgs` service with the caller's data scope
(`info.context.scope`), map rows to types. Bank-owned data is scoped in SQL by the services; nested
fields (a bank's products, an account's movements, a product's bank) go through per-request
dataloaders that apply the same scope, so nesting cannot reach another bank's rows either.
Money is strawberry's `Decimal` scalar, serialised as a string ("1000.00"), never a float.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from core.errors import UserError
from core.loans.schedule import RepaymentMethod
from core.orgs import assist, bank_products, banks, enhancement, margins, payment_platforms
from core.orgs.models import (
    AssistInstitution,
    Bank,
    BankProduct,
    BankProductType,
    EnhancementInstitution,
    EnhancementType,
    MarginAccount,
    MarginMovement,
    MarginMovementKind,
    PaymentPlatform,
)
from permissions.scope import DataScope
from schema.dataloaders import request_loader
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation
from schema.relay import Connection, connection, decode, decode_optional, gid, paginate

K = TypeVar("K")
V = TypeVar("V")

BankProductTypeEnum = strawberry.enum(BankProductType, name="BankProductType",
                                      description="单期 single-period or 多期 multi-period.")
RepaymentMethodEnum = strawberry.enum(RepaymentMethod, name="RepaymentMethod", description="还款方式.")
EnhancementTypeEnum = strawberry.enum(EnhancementType, name="EnhancementType",
                                      description="融担公司 guarantee company or 保险公司 insurer.")
MarginMovementKindEnum = strawberry.enum(MarginMovementKind, name="MarginMovementKind",
                                         description="TOPUP 追加, FREEZE 放款冻结, RELEASE 还款释放.")

# Pages whose users pick institutions from lists (the loan-product form, the data-permission editor).
BANK_READERS = ("banks", "bank_products", "margins", "products", "roles")


def _scope(info: Info) -> DataScope:
    return info.context.scope


def _loader(info: Info, name: str, load: Callable[[list[K]], Awaitable[list[V]]]) -> DataLoader[K, V]:
    return request_loader(info, "orgs", name, load)


def _bank_loader(info: Info) -> DataLoader[int, BankType | None]:
    scope = _scope(info)

    async def load(ids: list[int]) -> list[BankType | None]:
        rows = {b.id: b for b in await banks.query(scope).filter(id__in=ids)}
        return [BankType.of(rows[i]) if i in rows else None for i in ids]

    return _loader(info, "bank", load)


def _grouped(info: Info, name: str, query: Callable[[DataScope, list[int]], Any],
             key: str, convert: Callable[[Any], Any]) -> DataLoader[int, list[Any]]:
    scope = _scope(info)

    async def load(ids: list[int]) -> list[list[Any]]:
        groups: dict[int, list[Any]] = defaultdict(list)
        for row in await query(scope, ids).order_by("id"):
            groups[getattr(row, key)].append(convert(row))
        return [groups.get(i, []) for i in ids]

    return _loader(info, name, load)


# --- types ---------------------------------------------------------------------------------------


@strawberry.type(name="Bank", description="A funder (资金端); its e-mail and service phone appear in contracts.")
class BankType:
    id: strawberry.ID
    code: str
    short_name: str
    full_name: str
    email: str
    service_phone: str
    address: str
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[int]

    @classmethod
    def of(cls, b: Bank) -> BankType:
        return cls(id=gid("Bank", b.id), code=b.code, short_name=b.short_name, full_name=b.full_name,
                   email=b.email, service_phone=b.service_phone, address=b.address, created_at=b.created_at,
                   updated_at=b.updated_at, pk=b.id)

    @strawberry.field(description="The bank's own credit products (银行信贷产品), oldest first.")
    async def credit_products(self, info: Info) -> list[BankProductGql]:
        return await _grouped(info, "products_by_bank",
                              lambda s, ids: bank_products.query(s).filter(bank_id__in=ids), "bank_id",
                              BankProductGql.of).load(self.pk)

    @strawberry.field(description="Margin accounts held for this bank's projects.")
    async def margin_accounts(self, info: Info) -> list[MarginAccountType]:
        return await _grouped(info, "margins_by_bank", lambda s, ids: margins.query(s).filter(bank_id__in=ids),
                              "bank_id", MarginAccountType.of).load(self.pk)


def _method(value: str) -> RepaymentMethod:
    return RepaymentMethod(value)


@strawberry.type(name="BankProduct", description="A bank's own credit product (银行信贷产品).")
class BankProductGql:
    id: strawberry.ID
    bank_id: strawberry.ID
    name: str
    type: BankProductTypeEnum  # type: ignore[valid-type]
    repayment_method: RepaymentMethodEnum  # type: ignore[valid-type]
    description: str
    created_at: datetime
    updated_at: datetime
    bank_pk: strawberry.Private[int]

    @classmethod
    def of(cls, p: BankProduct) -> BankProductGql:
        bank_id: int = p.bank_id  # type: ignore[attr-defined]
        return cls(id=gid("BankProduct", p.id), bank_id=gid("Bank", bank_id), name=p.name, type=p.type,
                   repayment_method=_method(p.repayment_method), description=p.description,
                   created_at=p.created_at, updated_at=p.updated_at, bank_pk=bank_id)

    @strawberry.field
    async def bank(self, info: Info) -> BankType | None:
        return await _bank_loader(info).load(self.bank_pk)


@strawberry.type(name="AssistInstitution", description="A lending-assist institution / traffic platform (助贷机构).")
class AssistInstitutionType:
    id: strawberry.ID
    name: str
    number: str
    phone: str
    address: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, a: AssistInstitution) -> AssistInstitutionType:
        return cls(id=gid("AssistInstitution", a.id), name=a.name, number=a.number, phone=a.phone,
                   address=a.address, created_at=a.created_at, updated_at=a.updated_at)


@strawberry.type(name="EnhancementInstitution", description="A credit-enhancement institution (增信机构).")
class EnhancementInstitutionType:
    id: strawberry.ID
    name: str
    type: EnhancementTypeEnum  # type: ignore[valid-type]
    contact: str
    phone: str
    attributes: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, e: EnhancementInstitution) -> EnhancementInstitutionType:
        return cls(id=gid("EnhancementInstitution", e.id), name=e.name, type=e.type, contact=e.contact,
                   phone=e.phone, attributes=e.attributes, created_at=e.created_at, updated_at=e.updated_at)


@strawberry.type(name="MarginMovement", description="One change to a margin account, with the figures after it.")
class MarginMovementType:
    id: strawberry.ID
    account_id: strawberry.ID
    kind: MarginMovementKindEnum  # type: ignore[valid-type]
    amount: Decimal
    loan_amount: Decimal | None = strawberry.field(
        description="Freeze: the loan amount; release: the repaid amount it was computed from.")
    balance_after: Decimal
    frozen_after: Decimal
    voucher_no: str = strawberry.field(description="预缴凭证 number (top-ups).")
    voucher_url: str = strawberry.field(description="Where the scanned voucher is kept (top-ups).")
    reference: str = strawberry.field(description="The loan a freeze or release belongs to.")
    remark: str
    operator_name: str | None
    created_at: datetime

    @classmethod
    def of(cls, m: MarginMovement) -> MarginMovementType:
        operator = m.__dict__.get("_operator")
        return cls(id=gid("MarginMovement", m.id), account_id=gid("MarginAccount", m.account_id),  # type: ignore[attr-defined]
                   kind=m.kind, amount=m.amount, loan_amount=m.loan_amount, balance_after=m.balance_after,
                   frozen_after=m.frozen_after, voucher_no=m.voucher_no, voucher_url=m.voucher_url,
                   reference=m.reference, remark=m.remark, operator_name=operator.name if operator else None,
                   created_at=m.created_at)


@strawberry.type(name="MarginAccount", description="Pre-paid margin for one asset project (保证金).")
class MarginAccountType:
    id: strawberry.ID
    project: str
    bank_id: strawberry.ID
    account_bank: str = strawberry.field(description="开户行")
    account_no: str
    balance: Decimal = strawberry.field(description="All money deposited.")
    frozen: Decimal = strawberry.field(description="Held against outstanding loans (amount ÷ leverage).")
    free: Decimal = strawberry.field(description="balance − frozen: what new disbursements can freeze.")
    leverage: Decimal = strawberry.field(description="杠杆倍率: loan amount per unit of margin.")
    warning_line: Decimal = strawberry.field(description="预警线: warn when free ÷ balance falls below it (0–1).")
    warning_amount: Decimal = strawberry.field(description="预警金额: warn when free falls below it.")
    warning: bool = strawberry.field(description="Free margin is below the warning amount or line.")
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[int]
    bank_pk: strawberry.Private[int]

    @classmethod
    def of(cls, a: MarginAccount) -> MarginAccountType:
        bank_id: int = a.bank_id  # type: ignore[attr-defined]
        return cls(id=gid("MarginAccount", a.id), project=a.project, bank_id=gid("Bank", bank_id),
                   account_bank=a.account_bank, account_no=a.account_no, balance=a.balance, frozen=a.frozen,
                   free=margins.free_margin(a), leverage=a.leverage, warning_line=a.warning_line,
                   warning_amount=a.warning_amount, warning=margins.in_warning(a), created_at=a.created_at,
                   updated_at=a.updated_at, pk=a.id, bank_pk=bank_id)

    @strawberry.field
    async def bank(self, info: Info) -> BankType | None:
        return await _bank_loader(info).load(self.bank_pk)

    @strawberry.field(description="Top-up history with vouchers, freezes and releases, newest first.")
    async def movements(self, info: Info, kind: MarginMovementKindEnum | None = None,  # type: ignore[valid-type]
                        first: int | None = None, after: str | None = None) -> Connection[MarginMovementType]:
        qs = margins.movements(_scope(info), account_id=self.pk, kind=kind)
        return connection(await paginate(qs, first, after, "operator"), MarginMovementType.of)


@strawberry.type(name="PaymentPlatform", description="A payment platform; `identifier` names its provider plugin.")
class PaymentPlatformType:
    id: strawberry.ID
    name: str
    identifier: str
    created_at: datetime

    @classmethod
    def of(cls, p: PaymentPlatform) -> PaymentPlatformType:
        return cls(id=gid("PaymentPlatform", p.id), name=p.name, identifier=p.identifier, created_at=p.created_at)


# --- filters and inputs --------------------------------------------------------------------------


@strawberry.input
class BankFilter:
    keyword: str | None = strawberry.field(default=None, description="Code, short or full name contains")
    code: str | None = None


@strawberry.input
class BankProductFilter:
    bank_id: strawberry.ID | None = None
    keyword: str | None = strawberry.field(default=None, description="Name contains")
    type: BankProductTypeEnum | None = None  # type: ignore[valid-type]


@strawberry.input
class AssistInstitutionFilter:
    keyword: str | None = strawberry.field(default=None, description="Name or number contains")


@strawberry.input
class EnhancementInstitutionFilter:
    keyword: str | None = strawberry.field(default=None, description="Name contains")
    type: EnhancementTypeEnum | None = None  # type: ignore[valid-type]


@strawberry.input
class MarginAccountFilter:
    bank_id: strawberry.ID | None = None
    keyword: str | None = strawberry.field(default=None, description="Project, account bank or number contains")


@strawberry.input
class PaymentPlatformFilter:
    keyword: str | None = strawberry.field(default=None, description="Name or identifier contains")


@strawberry.input
class CreateBankInput:
    code: str = strawberry.field(description="Letters, digits, _ or -; at most 20; unique")
    short_name: str
    full_name: str
    email: str = strawberry.field(description="Printed in contracts; at most 50")
    service_phone: str = strawberry.field(description="Printed in contracts: digits and dashes, 5–15 digits")
    address: str | None = None


@strawberry.input(description="Omitted fields keep their value.")
class UpdateBankInput:
    code: str | None = None
    short_name: str | None = None
    full_name: str | None = None
    email: str | None = None
    service_phone: str | None = None
    address: str | None = None


@strawberry.input
class CreateBankProductInput:
    bank_id: strawberry.ID
    name: str
    type: BankProductTypeEnum  # type: ignore[valid-type]
    repayment_method: RepaymentMethodEnum  # type: ignore[valid-type]
    description: str | None = None


@strawberry.input(description="Omitted fields keep their value; the owning bank cannot change.")
class UpdateBankProductInput:
    name: str | None = None
    type: BankProductTypeEnum | None = None  # type: ignore[valid-type]
    repayment_method: RepaymentMethodEnum | None = None  # type: ignore[valid-type]
    description: str | None = None


@strawberry.input
class CreateAssistInstitutionInput:
    name: str
    number: str = strawberry.field(description="机构编号: letters, digits, _ or -; unique")
    phone: str | None = None
    address: str | None = None


@strawberry.input(description="Omitted fields keep their value.")
class UpdateAssistInstitutionInput:
    name: str | None = None
    number: str | None = None
    phone: str | None = None
    address: str | None = None


@strawberry.input
class CreateEnhancementInstitutionInput:
    name: str
    type: EnhancementTypeEnum  # type: ignore[valid-type]
    contact: str | None = None
    phone: str | None = None
    attributes: str | None = None


@strawberry.input(description="Omitted fields keep their value.")
class UpdateEnhancementInstitutionInput:
    name: str | None = None
    type: EnhancementTypeEnum | None = None  # type: ignore[valid-type]
    contact: str | None = None
    phone: str | None = None
    attributes: str | None = None


@strawberry.input(description="Amounts are decimal strings; a missing one is reported in `errors` by field.")
class CreateMarginAccountInput:
    bank_id: strawberry.ID
    project: str
    account_bank: str
    account_no: str
    leverage: Decimal | None = strawberry.field(default=None, description="Required; > 0, e.g. \"10\"")
    warning_line: Decimal | None = strawberry.field(default=None, description="Required; 0–1, e.g. \"0.2\"")
    warning_amount: Decimal | None = strawberry.field(default=None, description="Required; ≥ 0, e.g. \"500000\"")


@strawberry.input(description="Omitted fields keep their value; the bank cannot change.")
class UpdateMarginAccountInput:
    project: str | None = None
    account_bank: str | None = None
    account_no: str | None = None
    leverage: Decimal | None = None
    warning_line: Decimal | None = None
    warning_amount: Decimal | None = None


@strawberry.input
class TopUpMarginInput:
    account_id: strawberry.ID
    amount: Decimal | None = strawberry.field(default=None, description="Required; > 0, to the cent")
    voucher_no: str = strawberry.field(description="预缴凭证 number; recorded once per account")
    voucher_url: str = strawberry.field(description="http(s) address of the scanned voucher")
    remark: str | None = None


@strawberry.input
class CreatePaymentPlatformInput:
    name: str
    identifier: str = strawberry.field(description="The payment-provider plugin's identifier, e.g. sandbox")


# --- payloads ------------------------------------------------------------------------------------


@strawberry.type
class BankPayload(Payload):
    bank: BankType | None = None


@strawberry.type
class BankProductPayload(Payload):
    bank_product: BankProductGql | None = None


@strawberry.type
class AssistInstitutionPayload(Payload):
    assist_institution: AssistInstitutionType | None = None


@strawberry.type
class EnhancementInstitutionPayload(Payload):
    enhancement_institution: EnhancementInstitutionType | None = None


@strawberry.type
class MarginAccountPayload(Payload):
    margin_account: MarginAccountType | None = None


@strawberry.type
class MarginTopUpPayload(Payload):
    margin_account: MarginAccountType | None = None
    movement: MarginMovementType | None = None


@strawberry.type
class PaymentPlatformPayload(Payload):
    payment_platform: PaymentPlatformType | None = None


@strawberry.type(description="A delete's result: the id that was removed.")
class OrgDeletePayload(Payload):
    deleted_id: strawberry.ID | None = None


async def _or_none(fetch: Awaitable[V]) -> V | None:
    """A single-object read: not found (or outside the caller's scope) answers null."""
    try:
        return await fetch
    except UserError:
        return None


# --- queries -------------------------------------------------------------------------------------


@strawberry.type
class OrgsQuery:
    @guarded(*BANK_READERS, description="Banks within your data scope (银行管理).")
    async def banks(self, info: Info, filter: BankFilter | None = None, first: int | None = None,
                    after: str | None = None) -> Connection[BankType]:
        f = filter or BankFilter()
        return connection(await paginate(banks.query(_scope(info), f.keyword, f.code), first, after), BankType.of)

    @guarded(*BANK_READERS, description="One bank; null when it does not exist or is outside your data scope.")
    async def bank(self, info: Info, id: strawberry.ID) -> BankType | None:
        row = await _or_none(banks.get(_scope(info), decode(id, "Bank", "id")))
        return BankType.of(row) if row else None

    @guarded("bank_products", "products", description="Bank credit products of the banks in your data scope.")
    async def bank_products(self, info: Info, filter: BankProductFilter | None = None, first: int | None = None,
                            after: str | None = None) -> Connection[BankProductGql]:
        f = filter or BankProductFilter()
        qs = bank_products.query(_scope(info), decode_optional(f.bank_id, "Bank", "filter.bankId"), f.keyword, f.type)
        return connection(await paginate(qs, first, after), BankProductGql.of)

    @guarded("bank_products", "products")
    async def bank_product(self, info: Info, id: strawberry.ID) -> BankProductGql | None:
        row = await _or_none(bank_products.get(_scope(info), decode(id, "BankProduct", "id")))
        return BankProductGql.of(row) if row else None

    @guarded("assist_orgs", "products", description="Lending-assist institutions, 10 per page by default.")
    async def assist_institutions(self, info: Info, filter: AssistInstitutionFilter | None = None,
                                  first: int | None = None, after: str | None = None
                                  ) -> Connection[AssistInstitutionType]:
        f = filter or AssistInstitutionFilter()
        return connection(await paginate(assist.query(f.keyword), first, after), AssistInstitutionType.of)

    @guarded("assist_orgs", "products")
    async def assist_institution(self, info: Info, id: strawberry.ID) -> AssistInstitutionType | None:
        row = await _or_none(assist.get(decode(id, "AssistInstitution", "id")))
        return AssistInstitutionType.of(row) if row else None

    @guarded("enhancement_orgs", "products", description="Credit-enhancement institutions.")
    async def enhancement_institutions(self, info: Info, filter: EnhancementInstitutionFilter | None = None,
                                       first: int | None = None, after: str | None = None
                                       ) -> Connection[EnhancementInstitutionType]:
        f = filter or EnhancementInstitutionFilter()
        return connection(await paginate(enhancement.query(f.keyword, f.type), first, after),
                          EnhancementInstitutionType.of)

    @guarded("enhancement_orgs", "products")
    async def enhancement_institution(self, info: Info, id: strawberry.ID) -> EnhancementInstitutionType | None:
        row = await _or_none(enhancement.get(decode(id, "EnhancementInstitution", "id")))
        return EnhancementInstitutionType.of(row) if row else None

    @guarded("margins", "products", description="Margin accounts of the banks in your data scope.")
    async def margin_accounts(self, info: Info, filter: MarginAccountFilter | None = None, first: int | None = None,
                              after: str | None = None) -> Connection[MarginAccountType]:
        f = filter or MarginAccountFilter()
        qs = margins.query(_scope(info), decode_optional(f.bank_id, "Bank", "filter.bankId"), f.keyword)
        return connection(await paginate(qs, first, after), MarginAccountType.of)

    @guarded("margins", "products")
    async def margin_account(self, info: Info, id: strawberry.ID) -> MarginAccountType | None:
        row = await _or_none(margins.get(_scope(info), decode(id, "MarginAccount", "id")))
        return MarginAccountType.of(row) if row else None

    @guarded("margins", description="One account's movements (top-ups with vouchers, freezes, releases).")
    async def margin_movements(self, info: Info, account_id: strawberry.ID,
                               kind: MarginMovementKindEnum | None = None,  # type: ignore[valid-type]
                               first: int | None = None, after: str | None = None
                               ) -> Connection[MarginMovementType]:
        qs = margins.movements(_scope(info), decode(account_id, "MarginAccount", "accountId"), kind)
        return connection(await paginate(qs, first, after, "operator"), MarginMovementType.of)

    @guarded("payment_platforms", "products", description="Payment platforms.")
    async def payment_platforms(self, info: Info, filter: PaymentPlatformFilter | None = None,
                                first: int | None = None, after: str | None = None
                                ) -> Connection[PaymentPlatformType]:
        f = filter or PaymentPlatformFilter()
        return connection(await paginate(payment_platforms.query(f.keyword), first, after), PaymentPlatformType.of)

    @guarded("payment_platforms", "products")
    async def payment_platform(self, info: Info, id: strawberry.ID) -> PaymentPlatformType | None:
        row = await _or_none(payment_platforms.get(decode(id, "PaymentPlatform", "id")))
        return PaymentPlatformType.of(row) if row else None


# --- mutations -----------------------------------------------------------------------------------


def _bank_input(i: CreateBankInput | UpdateBankInput) -> banks.BankInput:
    return banks.BankInput(code=i.code, short_name=i.short_name, full_name=i.full_name, email=i.email,
                           service_phone=i.service_phone, address=i.address)


def _product_input(i: CreateBankProductInput | UpdateBankProductInput) -> bank_products.BankProductInput:
    return bank_products.BankProductInput(name=i.name, type=i.type, repayment_method=i.repayment_method,
                                          description=i.description)


def _assist_input(i: CreateAssistInstitutionInput | UpdateAssistInstitutionInput) -> assist.AssistInput:
    return assist.AssistInput(name=i.name, number=i.number, phone=i.phone, address=i.address)


def _enhancement_input(i: CreateEnhancementInstitutionInput | UpdateEnhancementInstitutionInput
                       ) -> enhancement.EnhancementInput:
    return enhancement.EnhancementInput(name=i.name, type=i.type, contact=i.contact, phone=i.phone,
                                        attributes=i.attributes)


def _margin_input(i: CreateMarginAccountInput | UpdateMarginAccountInput, bank_id: int | None
                  ) -> margins.MarginAccountInput:
    return margins.MarginAccountInput(project=i.project, bank_id=bank_id, account_bank=i.account_bank,
                                      account_no=i.account_no, leverage=i.leverage, warning_line=i.warning_line,
                                      warning_amount=i.warning_amount)


@strawberry.type
class OrgsMutation:
    @guarded_mutation("banks.create", description="Register a bank.")
    async def create_bank(self, info: Info, input: CreateBankInput) -> BankPayload:
        bank = await banks.create(actor_of(info), _bank_input(input), request_id=info.context.request_id)
        return BankPayload(bank=BankType.of(bank))

    @guarded_mutation("banks.update", description="Edit a bank in your data scope.")
    async def update_bank(self, info: Info, id: strawberry.ID, input: UpdateBankInput) -> BankPayload:
        bank = await banks.update(actor_of(info), _scope(info), decode(id, "Bank", "id"), _bank_input(input),
                                  request_id=info.context.request_id)
        return BankPayload(bank=BankType.of(bank))

    @guarded_mutation("banks.delete", description="Delete a bank nothing uses any more.")
    async def delete_bank(self, info: Info, id: strawberry.ID) -> OrgDeletePayload:
        await banks.delete(actor_of(info), _scope(info), decode(id, "Bank", "id"), request_id=info.context.request_id)
        return OrgDeletePayload(deleted_id=id)

    @guarded_mutation("bank_products.create", description="Add a credit product to a bank in your data scope.")
    async def create_bank_product(self, info: Info, input: CreateBankProductInput) -> BankProductPayload:
        row = await bank_products.create(actor_of(info), _scope(info), decode(input.bank_id, "Bank", "bankId"),
                                         _product_input(input), request_id=info.context.request_id)
        return BankProductPayload(bank_product=BankProductGql.of(row))

    @guarded_mutation("bank_products.update", description="Edit a bank credit product in your data scope.")
    async def update_bank_product(self, info: Info, id: strawberry.ID, input: UpdateBankProductInput
                                  ) -> BankProductPayload:
        row = await bank_products.update(actor_of(info), _scope(info), decode(id, "BankProduct", "id"),
                                         _product_input(input), request_id=info.context.request_id)
        return BankProductPayload(bank_product=BankProductGql.of(row))

    @guarded_mutation("bank_products.delete", description="Delete a bank credit product no loan product uses.")
    async def delete_bank_product(self, info: Info, id: strawberry.ID) -> OrgDeletePayload:
        await bank_products.delete(actor_of(info), _scope(info), decode(id, "BankProduct", "id"),
                                   request_id=info.context.request_id)
        return OrgDeletePayload(deleted_id=id)

    @guarded_mutation("assist_orgs.create", description="Add a lending-assist institution.")
    async def create_assist_institution(self, info: Info, input: CreateAssistInstitutionInput
                                        ) -> AssistInstitutionPayload:
        row = await assist.create(actor_of(info), _assist_input(input), request_id=info.context.request_id)
        return AssistInstitutionPayload(assist_institution=AssistInstitutionType.of(row))

    @guarded_mutation("assist_orgs.update", description="Edit a lending-assist institution.")
    async def update_assist_institution(self, info: Info, id: strawberry.ID, input: UpdateAssistInstitutionInput
                                        ) -> AssistInstitutionPayload:
        row = await assist.update(actor_of(info), decode(id, "AssistInstitution", "id"), _assist_input(input),
                                  request_id=info.context.request_id)
        return AssistInstitutionPayload(assist_institution=AssistInstitutionType.of(row))

    @guarded_mutation("assist_orgs.delete", description="Delete a lending-assist institution no product uses.")
    async def delete_assist_institution(self, info: Info, id: strawberry.ID) -> OrgDeletePayload:
        await assist.delete(actor_of(info), decode(id, "AssistInstitution", "id"), request_id=info.context.request_id)
        return OrgDeletePayload(deleted_id=id)

    @guarded_mutation("enhancement_orgs.create", description="Add a credit-enhancement institution.")
    async def create_enhancement_institution(self, info: Info, input: CreateEnhancementInstitutionInput
                                             ) -> EnhancementInstitutionPayload:
        row = await enhancement.create(actor_of(info), _enhancement_input(input), request_id=info.context.request_id)
        return EnhancementInstitutionPayload(enhancement_institution=EnhancementInstitutionType.of(row))

    @guarded_mutation("enhancement_orgs.update", description="Edit a credit-enhancement institution.")
    async def update_enhancement_institution(self, info: Info, id: strawberry.ID,
                                             input: UpdateEnhancementInstitutionInput
                                             ) -> EnhancementInstitutionPayload:
        row = await enhancement.update(actor_of(info), decode(id, "EnhancementInstitution", "id"),
                                       _enhancement_input(input), request_id=info.context.request_id)
        return EnhancementInstitutionPayload(enhancement_institution=EnhancementInstitutionType.of(row))

    @guarded_mutation("enhancement_orgs.delete", description="Delete a credit-enhancement institution no product uses.")
    async def delete_enhancement_institution(self, info: Info, id: strawberry.ID) -> OrgDeletePayload:
        await enhancement.delete(actor_of(info), decode(id, "EnhancementInstitution", "id"),
                                 request_id=info.context.request_id)
        return OrgDeletePayload(deleted_id=id)

    @guarded_mutation("margins.create", description="Open a margin account for a project of a bank in your scope.")
    async def create_margin_account(self, info: Info, input: CreateMarginAccountInput) -> MarginAccountPayload:
        row = await margins.create(actor_of(info), _scope(info),
                                   _margin_input(input, decode(input.bank_id, "Bank", "bankId")),
                                   request_id=info.context.request_id)
        return MarginAccountPayload(margin_account=MarginAccountType.of(row))

    @guarded_mutation("margins.update", description="Edit a margin account's settings (not its balance).")
    async def update_margin_account(self, info: Info, id: strawberry.ID, input: UpdateMarginAccountInput
                                    ) -> MarginAccountPayload:
        row = await margins.update(actor_of(info), _scope(info), decode(id, "MarginAccount", "id"),
                                   _margin_input(input, None), request_id=info.context.request_id)
        return MarginAccountPayload(margin_account=MarginAccountType.of(row))

    @guarded_mutation("margins.topup", description="Top up a margin account with its payment voucher (追加保证金).")
    async def top_up_margin(self, info: Info, input: TopUpMarginInput) -> MarginTopUpPayload:
        scope = _scope(info)
        account_id = decode(input.account_id, "MarginAccount", "accountId")
        movement = await margins.top_up(actor_of(info), scope, account_id, input.amount, input.voucher_no,
                                        input.voucher_url, input.remark, request_id=info.context.request_id)
        await movement.fetch_related("operator")
        account = await margins.get(scope, account_id, "accountId")
        return MarginTopUpPayload(margin_account=MarginAccountType.of(account),
                                  movement=MarginMovementType.of(movement))

    @guarded_mutation("payment_platforms.create", description="Add a payment platform.")
    async def create_payment_platform(self, info: Info, input: CreatePaymentPlatformInput) -> PaymentPlatformPayload:
        row = await payment_platforms.create(actor_of(info), payment_platforms.PaymentPlatformInput(
            name=input.name, identifier=input.identifier), request_id=info.context.request_id)
        return PaymentPlatformPayload(payment_platform=PaymentPlatformType.of(row))

    @guarded_mutation("payment_platforms.delete", description="Remove a payment platform no product uses.")
    async def delete_payment_platform(self, info: Info, id: strawberry.ID) -> OrgDeletePayload:
        await payment_platforms.delete(actor_of(info), decode(id, "PaymentPlatform", "id"),
                                       request_id=info.context.request_id)
        return OrgDeletePayload(deleted_id=id)
