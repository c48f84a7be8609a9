"""Relay global ids and cursor connections (keyset pagination on the primary key, newest first).

Why keyset: offset pagination slows down on the large lists a bank keeps (logs, transactions), and
keyset cursors stay stable while rows are being added.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import strawberry
from strawberry.relay import GlobalID
from tortoise.models import Model
from tortoise.queryset import QuerySet

from core.config import current_settings
from core.errors import ErrorCode, UserError

T = TypeVar("T")
DEFAULT_PAGE = 10


def gid(type_name: str, pk: int) -> strawberry.ID:
    """Relay's global id (base64 of "Type:pk"), the same encoding strawberry.relay uses."""
    return strawberry.ID(str(GlobalID(type_name, str(pk))))


def decode(value: str | None, type_name: str, field: str) -> int:
    """The primary key inside a global id of `type_name`, or a typed error naming `field`."""
    try:
        raw = base64.b64decode(str(value), validate=True).decode()
        kind, _, pk = raw.partition(":")
        if kind != type_name:
            raise ValueError(kind)
        return int(pk)
    except (ValueError, UnicodeDecodeError):
        raise UserError.of(field, ErrorCode.INVALID, f"{field} is not a valid {type_name} id") from None


def decode_optional(value: str | None, type_name: str, field: str) -> int | None:
    return None if value is None else decode(value, type_name, field)


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo
    total_count: int


def _cursor(pk: int) -> str:
    return base64.b64encode(f"c:{pk}".encode()).decode()


def _after(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        kind, _, pk = base64.b64decode(cursor, validate=True).decode().partition(":")
        if kind != "c":
            raise ValueError(kind)
        return int(pk)
    except (ValueError, UnicodeDecodeError):
        raise UserError.of("after", ErrorCode.INVALID, "after is not a cursor this list returned") from None


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    has_next: bool
    has_previous: bool
    total: int


async def paginate(qs: QuerySet[Any], first: int | None, after: str | None, *prefetch: str) -> Page:
    """One page of `qs`, newest first, with the total count (two statements + prefetches)."""
    limit = first if first is not None else DEFAULT_PAGE
    cap = current_settings().max_page_size
    if limit < 1 or limit > cap:
        raise UserError.of("first", ErrorCode.OUT_OF_RANGE, f"first must be between 1 and {cap}")
    total = await qs.count()
    after_pk = _after(after)
    page_qs = qs.order_by("-id")
    if after_pk is not None:
        page_qs = page_qs.filter(id__lt=after_pk)
    if prefetch:
        page_qs = page_qs.prefetch_related(*prefetch)
    rows = await page_qs.limit(limit + 1)
    return Page(rows[:limit], len(rows) > limit, after_pk is not None, total)


def connection(page: Page, convert: Any) -> Any:
    """Build a Connection of `convert(row)` nodes from a page of model rows."""
    rows: list[Model] = page.rows
    edges = [Edge(cursor=_cursor(r.pk), node=convert(r)) for r in rows]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=page.total,
    )
