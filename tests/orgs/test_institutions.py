"""Lending-assist and credit-enhancement institutions, payment platforms (F-ORG-3, 4, 6)."""

from __future__ import annotations

import pytest

from core.errors import ErrorCode, UserError
from core.oplog.models import OperationLog
from core.orgs import assist, enhancement, payment_platforms
from core.orgs.assist import AssistInput
from core.orgs.enhancement import EnhancementInput
from core.orgs.models import AssistInstitution, EnhancementInstitution, EnhancementType, PaymentPlatform
from core.orgs.payment_platforms import PaymentPlatformInput
from core.products.models import ProductChannel
from tests.orgs.helpers import admin_actor, new_product

pytestmark = pytest.mark.db


def fields_of(exc: pytest.ExceptionInfo[UserError]) -> dict[str | None, ErrorCode]:
    return {e.field: e.code for e in exc.value.errors}


async def test_assist_institution_validation_and_uniqueness(db: str) -> None:
    actor = await admin_actor()
    with pytest.raises(UserError) as exc:
        await assist.create(actor, AssistInput(name="", number="AST 1", phone="400-abc", address="a" * 201))
    assert fields_of(exc) == {"name": ErrorCode.REQUIRED, "number": ErrorCode.INVALID, "phone": ErrorCode.INVALID,
                              "address": ErrorCode.TOO_LONG}
    row = await assist.create(actor, AssistInput(name="众享流量平台", number="AST-001", phone="400-820-1001"))
    assert row.address == "" and row.created_at is not None
    with pytest.raises(UserError) as exc:
        await assist.create(actor, AssistInput(name="众享流量平台", number="AST-001"))
    assert fields_of(exc) == {"name": ErrorCode.NOT_UNIQUE, "number": ErrorCode.NOT_UNIQUE}
    entry = await OperationLog.get(module="assist_orgs", action="create")
    assert entry.scope_bank_id is None  # shared reference data, visible to every scope


async def test_assist_update_and_keyword_search(db: str) -> None:
    actor = await admin_actor()
    a = await assist.create(actor, AssistInput(name="众享流量平台", number="AST-001"))
    await assist.create(actor, AssistInput(name="融易借", number="AST-002"))
    await assist.update(actor, a.id, AssistInput(phone="021-68881234"))
    assert (await AssistInstitution.get(id=a.id)).phone == "021-68881234"
    assert [r.name for r in await assist.query("002")] == ["融易借"]
    assert [r.name for r in await assist.query("众享")] == ["众享流量平台"]


async def test_assist_institution_used_as_channel_or_assistant_cannot_be_deleted(db: str) -> None:
    actor = await admin_actor()
    channel = await assist.create(actor, AssistInput(name="众享流量平台", number="AST-001"))
    helper = await assist.create(actor, AssistInput(name="融易借", number="AST-002"))
    product = await new_product("P1", assist_institution_id=helper.id)
    await ProductChannel.create(product=product, institution=channel)
    for row, label in ((channel, "traffic channel"), (helper, "1 loan products")):
        with pytest.raises(UserError) as exc:
            await assist.delete(actor, row.id)
        assert exc.value.code is ErrorCode.CONFLICT and label in str(exc.value)
    assert await AssistInstitution.all().count() == 2
    spare = await assist.create(actor, AssistInput(name="快信科技", number="AST-003"))
    await assist.delete(actor, spare.id)
    assert not await AssistInstitution.filter(id=spare.id).exists()


async def test_enhancement_institutions(db: str) -> None:
    actor = await admin_actor()
    with pytest.raises(UserError) as exc:
        await enhancement.create(actor, EnhancementInput(name="x" * 51, type="bank", contact="c" * 21,
                                                         phone="1"))
    assert fields_of(exc) == {"name": ErrorCode.TOO_LONG, "type": ErrorCode.INVALID, "contact": ErrorCode.TOO_LONG,
                              "phone": ErrorCode.OUT_OF_RANGE}
    g = await enhancement.create(actor, EnhancementInput(name="中融融资担保有限公司", type=EnhancementType.GUARANTEE,
                                                         contact="王经理", phone="021-68881234", attributes="融资担保"))
    await enhancement.create(actor, EnhancementInput(name="安信财产保险", type="insurer"))
    assert [r.name for r in await enhancement.query(type=EnhancementType.INSURER)] == ["安信财产保险"]
    updated = await enhancement.update(actor, g.id, EnhancementInput(type=EnhancementType.INSURER))
    assert updated.type is EnhancementType.INSURER and updated.contact == "王经理"
    await new_product("P1", enhancement_institution_id=g.id)
    with pytest.raises(UserError, match="still used by 1 loan products"):
        await enhancement.delete(actor, g.id)
    assert await EnhancementInstitution.filter(id=g.id).exists()


async def test_payment_platforms_unique_name_and_identifier(db: str) -> None:
    actor = await admin_actor()
    with pytest.raises(UserError) as exc:
        await payment_platforms.create(actor, PaymentPlatformInput(name="n" * 51, identifier="sand box"))
    assert fields_of(exc) == {"name": ErrorCode.TOO_LONG, "identifier": ErrorCode.INVALID}
    await payment_platforms.create(actor, PaymentPlatformInput(name="沙箱支付", identifier="sandbox"))
    with pytest.raises(UserError) as exc:
        await payment_platforms.create(actor, PaymentPlatformInput(name="沙箱支付", identifier="sandbox"))
    assert fields_of(exc) == {"name": ErrorCode.NOT_UNIQUE, "identifier": ErrorCode.NOT_UNIQUE}
    with pytest.raises(UserError) as exc:
        await payment_platforms.create(actor, PaymentPlatformInput(name="HTTP网关", identifier="x" * 51))
    assert fields_of(exc) == {"identifier": ErrorCode.TOO_LONG}


async def test_a_payment_platform_in_use_cannot_be_removed(db: str) -> None:
    actor = await admin_actor()
    used = await payment_platforms.create(actor, PaymentPlatformInput(name="沙箱支付", identifier="sandbox"))
    spare = await payment_platforms.create(actor, PaymentPlatformInput(name="HTTP支付网关", identifier="http"))
    await new_product("P1", payment_platform_id=used.id)
    with pytest.raises(UserError) as exc:
        await payment_platforms.delete(actor, used.id)
    assert exc.value.code is ErrorCode.CONFLICT
    await payment_platforms.delete(actor, spare.id)
    assert [p.identifier for p in await PaymentPlatform.all()] == ["sandbox"]
    assert await OperationLog.filter(module="payment_platforms", action="delete").count() == 1
