"""Loan queries (F-LOAN-2): every filter, in SQL, inside the caller's data scope."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest

from core.actor import Actor
from core.errors import UserError
from core.loans import queries
from core.loans.admission import submit_application
from core.loans.models import Customer, Loan, LoanStatus
from core.loans.queries import LoanFilter
from core.orgs.models import AssistInstitution, Bank
from core.products.models import Product
from tests.loans.orders_helpers import (
    actor_for,
    application,
    id_number,
    make_bank,
    make_channel,
    make_product,
    scoped_user,
)

S = LoanStatus


@dataclass
class World:
    a: Bank
    b: Bank
    c: Bank
    x: AssistInstitution
    y: AssistInstitution
    pa: Product  # bank A, channels X and Y
    pb: Product  # bank B, channel X
    joint: Product  # A 60 / C 40, channel Y
    admin: Actor
    loans: dict[str, Loan]


@pytest.fixture
async def world(people: dict[str, Any]) -> World:
    a, b, c = await make_bank("QA"), await make_bank("QB"), await make_bank("QC")
    x, y = await make_channel("QX"), await make_channel("QY")
    pa = await make_product("QPA", [(a, "100")], [x, y])
    pb = await make_product("QPB", [(b, "100")], [x])
    joint = await make_product("QJ", [(a, "60"), (c, "40")], [y])
    admin = await actor_for("admin")
    loans = {
        "a_x": await submit_application(admin, application(pa, x, name="赵一", id_number=id_number(11),
                                                           phone="13811110001")),
        "a_y": await submit_application(admin, application(pa, y, name="钱二", id_number=id_number(12),
                                                           phone="13811110002")),
        "b_x": await submit_application(admin, application(pb, x, name="孙三", id_number=id_number(13),
                                                           phone="13811110003")),
        "j_y": await submit_application(admin, application(joint, y, name="赵一", id_number=id_number(14),
                                                           phone="13811110004")),
    }
    await Loan.filter(id=loans["a_x"].id).update(status=S.DISBURSED, disbursement_date=date(2026, 3, 10))
    await Loan.filter(id=loans["b_x"].id).update(status=S.OVERDUE, disbursement_date=date(2026, 3, 31))
    await Loan.filter(id=loans["j_y"].id).update(status=S.DISBURSED, disbursement_date=date(2026, 4, 1))
    return World(a, b, c, x, y, pa, pb, joint, admin, loans)


async def names(world: World, f: LoanFilter, actor: Actor | None = None) -> set[str]:
    ids = set(await queries.loans_query((actor or world.admin).scope, f).values_list("id", flat=True))
    return {k for k, v in world.loans.items() if v.id in ids}


async def test_filters_one_by_one(world: World) -> None:
    w = world
    assert await names(w, LoanFilter()) == {"a_x", "a_y", "b_x", "j_y"}
    assert await names(w, LoanFilter(channel_id=w.x.id)) == {"a_x", "b_x"}
    assert await names(w, LoanFilter(bank_id=w.a.id)) == {"a_x", "a_y", "j_y"}
    assert await names(w, LoanFilter(bank_id=w.c.id)) == {"j_y"}  # a joint loan's second funder
    assert await names(w, LoanFilter(statuses=(S.DISBURSED,))) == {"a_x", "j_y"}
    assert await names(w, LoanFilter(statuses=(S.OVERDUE, S.APPROVED))) == {"a_y", "b_x"}
    assert await names(w, LoanFilter(disbursed_from=date(2026, 3, 10), disbursed_to=date(2026, 3, 31))) == {
        "a_x", "b_x"}
    assert await names(w, LoanFilter(disbursed_from=date(2026, 3, 11))) == {"b_x", "j_y"}
    assert await names(w, LoanFilter(disbursed_to=date(2026, 3, 9))) == set()
    assert await names(w, LoanFilter(product_id=w.joint.id)) == {"j_y"}
    assert await names(w, LoanFilter(order_no=w.loans["b_x"].order_no)) == {"b_x"}
    assert await names(w, LoanFilter(channel_order_no=w.loans["a_y"].channel_order_no)) == {"a_y"}


async def test_customer_identifiers_are_exact(world: World) -> None:
    w = world
    cust = await Customer.get(id=w.loans["a_y"].customer_id)
    assert await names(w, LoanFilter(customer_no=cust.customer_no)) == {"a_y"}
    assert await names(w, LoanFilter(id_number=id_number(13).lower())) == {"b_x"}  # normalised
    assert await names(w, LoanFilter(phone="+86 138 1111 0004")) == {"j_y"}
    assert await names(w, LoanFilter(name="赵一")) == {"a_x", "j_y"}
    assert await names(w, LoanFilter(name="赵")) == set()  # no partial matches on people
    assert await names(w, LoanFilter(name="赵一", channel_id=w.y.id)) == {"j_y"}  # conditions combine


async def test_filters_stay_inside_the_data_scope(world: World) -> None:
    w = world
    only_b = await scoped_user("qb_user", "qb_role", [w.b])
    assert await names(w, LoanFilter(), only_b) == {"b_x"}
    assert await names(w, LoanFilter(bank_id=w.a.id), only_b) == set()
    assert await names(w, LoanFilter(name="赵一"), only_b) == set()
    assert await queries.loans_query(only_b.scope, LoanFilter()).count() == 1
    assert await queries.get_loan(only_b.scope, w.loans["a_x"].id) is None
    assert await queries.get_loan_by_order_no(only_b.scope, w.loans["a_x"].order_no) is None
    assert (await queries.get_loan(only_b.scope, w.loans["b_x"].id)) is not None
    # a bank-C user sees the joint loan it co-funds (C funds the product), and nothing else
    only_c = await scoped_user("qc_user", "qc_role", [w.c])
    assert await names(w, LoanFilter(), only_c) == {"j_y"}
    ids = [v.id for v in w.loans.values()]
    assert {r.loan_id for r in await queries.funders_query(only_c.scope, ids)} == {w.loans["j_y"].id}
    assert {r.loan_id for r in await queries.events_query(only_c.scope, ids)} == {w.loans["j_y"].id}
    customer_ids = [v.customer_id for v in w.loans.values()]  # type: ignore[attr-defined]
    assert {c.id for c in await queries.customers_query(only_c.scope, customer_ids)} == {w.loans["j_y"].customer_id}  # type: ignore[attr-defined]


async def test_a_reversed_date_range_is_refused(world: World) -> None:
    with pytest.raises(UserError) as exc:
        queries.check_filter(LoanFilter(disbursed_from=date(2026, 4, 2), disbursed_to=date(2026, 4, 1)))
    assert exc.value.errors[0].field == "filter.disbursedTo"
