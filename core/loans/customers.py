"""Borrowers (F-LOAN-1): validating an applicant's identity, find-or-create by ID number, masking.

Why one row per resident ID number: the blacklist, the risk sources and post-loan fund monitoring
all recognise a person by their ID number, and monitoring knows them by `customer_no` (客户号). A
later application by the same person finds the same customer; the name and phone it carries are
kept as the latest known ones.

Why masking lives here: every read of a customer (loan lists, single loans, nested fields) shows
the name as 张*三, the ID number with only the first 6 and last 4 characters and the phone with
only the first 3 and last 4 digits, unless the caller holds `loans.view_identity`. Such a clear
view is a viewer read of customer data and is written to the operation log by the reader (see
`schema/loans.py`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from core import clock
from core.errors import ErrorCode, ErrorCollector
from core.loans.models import Customer
from core.risk import idnumber
from core.risk.blacklist import normalize_phone

VIEW_IDENTITY = "loans.view_identity"
NAME_MAX = 50
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
# Chinese names, minority names with the middle dot (阿卜杜·艾力), foreign names with spaces.
NAME = re.compile(r"^[^\W\d_](?:[^\W\d_]|[·•. ])*[^\W\d_]$|^[^\W\d_]$")


@dataclass(frozen=True)
class Identity:
    """An applicant's validated identity: normalised ID number and phone, trimmed name."""

    name: str
    id_number: str
    phone: str


def validate_identity(errs: ErrorCollector, name: str | None, id_number: str | None, phone: str | None,
                      prefix: str = "") -> Identity | None:
    """Check name, resident ID number (GB 11643 with check digit) and mainland mobile number.

    Problems are added to `errs` under `<prefix>name`, `<prefix>idNumber`, `<prefix>phone`; returns
    the normalised identity when all three are valid.
    """
    clean_name = re.sub(r"\s+", " ", name or "").strip()
    ok = True
    if not clean_name:
        errs.add(f"{prefix}name", ErrorCode.REQUIRED, "The borrower's name is required")
        ok = False
    elif len(clean_name) > NAME_MAX:
        errs.add(f"{prefix}name", ErrorCode.TOO_LONG, f"The name may have at most {NAME_MAX} characters")
        ok = False
    elif not NAME.fullmatch(clean_name):
        errs.add(f"{prefix}name", ErrorCode.INVALID, "The name may contain only letters, '·' and spaces")
        ok = False
    number = idnumber.normalize(id_number or "")
    if not number:
        errs.add(f"{prefix}idNumber", ErrorCode.REQUIRED, "The resident ID number is required")
        ok = False
    else:
        try:
            idnumber.parse(number, today=clock.business_today())
        except idnumber.InvalidIdNumber as exc:
            errs.add(f"{prefix}idNumber", ErrorCode.INVALID, f"The resident ID number {exc}")
            ok = False
    mobile = normalize_phone(phone)
    if not mobile:
        errs.add(f"{prefix}phone", ErrorCode.REQUIRED, "The mobile number is required")
        ok = False
    elif not MOBILE.fullmatch(mobile):
        errs.add(f"{prefix}phone", ErrorCode.INVALID, "The mobile number must be 11 digits starting with 1 "
                                                      "(mainland China)")
        ok = False
    return Identity(clean_name, number, mobile) if ok else None


def new_customer_no() -> str:
    """`C` + business date + 8 random digits: unique in practice, and nothing about the person."""
    return f"C{clock.business_today():%Y%m%d}{secrets.randbelow(10**8):08d}"


async def find_or_create(identity: Identity) -> Customer:
    """The customer with this ID number, created if new; name and phone updated to the latest.

    Safe inside a transaction and under concurrency: the insert is `ON CONFLICT DO NOTHING` (two
    applications of a new person at once create one row, and neither transaction is aborted), then
    the row is read back. A clash on the random customer number is retried with a new number.
    """
    for _ in range(5):
        existing = await Customer.get_or_none(id_number=identity.id_number)
        if existing is not None:
            if (existing.name, existing.phone) != (identity.name, identity.phone):
                await Customer.filter(id=existing.id).update(name=identity.name, phone=identity.phone,
                                                             updated_at=clock.now())
                existing.name, existing.phone = identity.name, identity.phone
            return existing
        await Customer.bulk_create([Customer(customer_no=new_customer_no(), name=identity.name,
                                             id_number=identity.id_number, phone=identity.phone)],
                                   ignore_conflicts=True)
    raise RuntimeError("could not allocate a customer number after 5 attempts")


# ---- masking ----

def mask_name(name: str) -> str:
    """张三 → 张*, 张小三 → 张*三, 欧阳小明 → 欧**明 (first and last character kept)."""
    if not name:
        return ""
    if len(name) == 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id_number(number: str) -> str:
    """First 6 (the region) and last 4 characters visible: 110105********123X."""
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]


def mask_phone(phone: str) -> str:
    """First 3 and last 4 digits visible: 138****5678."""
    if len(phone) <= 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


@dataclass(frozen=True)
class CustomerView:
    """A customer as a reader may see them: masked unless `masked` is False."""

    id: int
    customer_no: str
    name: str
    id_number: str
    phone: str
    masked: bool


def view(customer: Customer, *, clear: bool) -> CustomerView:
    """The customer for a reader; `clear` only for callers holding `loans.view_identity`."""
    if clear:
        return CustomerView(customer.id, customer.customer_no, customer.name, customer.id_number, customer.phone,
                            False)
    return CustomerView(customer.id, customer.customer_no, mask_name(customer.name),
                        mask_id_number(customer.id_number), mask_phone(customer.phone), True)
