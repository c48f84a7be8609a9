"""A realistic contract context: 3-month equal-principal loan priced at LPR + 50bp."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from core.contracts.render import ContractContext, ScheduleRow, TermUnit, mask_id_number


@pytest.fixture
def ctx() -> ContractContext:
    rows = (
        ScheduleRow(1, date(2024, 6, 1), Decimal("4115.22"), Decimal("40.64"), Decimal("4155.86"),
                    Decimal("8230.45")),
        ScheduleRow(2, date(2024, 7, 1), Decimal("4115.22"), Decimal("27.09"), Decimal("4142.31"),
                    Decimal("4115.23")),
        ScheduleRow(3, date(2024, 8, 1), Decimal("4115.23"), Decimal("13.55"), Decimal("4128.78"),
                    Decimal("0.00")),
    )
    return ContractContext(
        borrower_name="张三 <Zhang & Co>",
        borrower_id_masked=mask_id_number("11010519491231002X"),
        amount=Decimal("12345.67"),
        term=3,
        term_unit=TermUnit.MONTH,
        lpr_base_rate=Decimal("0.0345"),
        spread_bp=50,
        final_rate=Decimal("0.0395"),
        funder_name="示例银行股份有限公司",
        funder_email="loans@bank.example",
        funder_phone="400-800-1234",
        schedule=rows,
        signing_date=date(2024, 5, 1),
    )
