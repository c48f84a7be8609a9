"""The walk seed's rows are visible to their bank and hidden from the other, through GraphQL."""

from __future__ import annotations

import json
from typing import Any

from core.orgs.models import AssistInstitution
from tests.payments.helpers import make_world
from tests.payments.test_accounts import scoped_login
from tests.payments.walk_seed import seed_payments
from tests.support import Api

QUERY = """{providerAccounts{edges{node{accountNo name}}}
reconciliationRuns{edges{node{mismatchCount items{serialNo note}}}}}"""


async def test_seeded_rows_stay_with_their_bank(api: Api, people: dict[str, Any]) -> None:
    channel = await AssistInstitution.create(name="公共流量", number="TP9")
    a = await make_world("ALPHA01", mark="ALPHA", channel=channel)
    b = await make_world("ZETA01", mark="ZETA", platform=a.platform, channel=channel)
    await seed_payments("ALPHA", a.bank, a.product, channel, people)
    await seed_payments("ZETA", b.bank, b.product, channel, people)
    token = await scoped_login(api, "alpha_pay", {a.bank.id})
    mine = json.dumps((await api(QUERY, None, token))["data"], ensure_ascii=False)
    assert "ALPHA-DISB-1" in mine and "ALPHA-SN-1" in mine and "ALPHA-SN-2" in mine and "ZETA" not in mine
    everything = json.dumps((await api(QUERY, None, await api.login(people["admin"].account)))["data"],
                            ensure_ascii=False)
    assert "ZETA-SN-1" in everything and "ZETA-SN-2" in everything and "ZETA-DISB-1" in everything
