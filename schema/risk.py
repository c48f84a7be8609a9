"""GraphQL for the risk pages: the platform's blacklist (黑名单), an own-data risk source.

Identities are shown masked (last four characters of the ID and mobile numbers): the page is for
managing the list, and an operator checking a person searches by the full number (exact match)
instead of reading everyone's. Adding and removing are page actions, logged with masked identities.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from core.risk import blacklist
from core.risk.models import BlacklistEntry
from schema.errors import Payload
from schema.guard import actor_of, guarded, guarded_mutation
from schema.relay import Connection, connection, decode, gid, paginate

PERSONAL = ("id_number", "phone")  # input fields a refused mutation's log entry must not keep


@strawberry.type(name="BlacklistEntry", description="A person on the platform's blacklist (masked identity).")
class BlacklistEntryType:
    id: strawberry.ID
    id_number: str | None = strawberry.field(description="Masked: only the last four characters are shown")
    phone: str | None = strawberry.field(description="Masked: only the last four digits are shown")
    name: str
    reason: str
    created_at: datetime
    created_by_name: str | None

    @classmethod
    def of(cls, e: BlacklistEntry) -> BlacklistEntryType:
        creator = e.__dict__.get("_created_by")
        return cls(id=gid("BlacklistEntry", e.id), id_number=blacklist.mask(e.id_number) if e.id_number else None,
                   phone=blacklist.mask(e.phone) if e.phone else None, name=e.name, reason=e.reason,
                   created_at=e.created_at, created_by_name=creator.name if creator is not None else None)


@strawberry.input
class BlacklistFilter:
    keyword: str | None = strawberry.field(default=None, description="Name or reason contains")
    id_number: str | None = strawberry.field(default=None, description="Exact ID number")
    phone: str | None = strawberry.field(default=None, description="Exact mobile number")


@strawberry.input
class AddBlacklistEntryInput:
    id_number: str | None = strawberry.field(default=None, description="18-character resident ID number")
    phone: str | None = strawberry.field(default=None, description="Mainland mobile number (11 digits)")
    name: str | None = None
    reason: str


@strawberry.type
class BlacklistEntryPayload(Payload):
    entry: BlacklistEntryType | None = None


@strawberry.type
class RemoveBlacklistEntryPayload(Payload):
    removed_id: strawberry.ID | None = None


@strawberry.type
class RiskQuery:
    @guarded("blacklist", description="The blacklist, newest first.")
    async def blacklist(self, info: Info, filter: BlacklistFilter | None = None, first: int | None = None,
                        after: str | None = None) -> Connection[BlacklistEntryType]:
        f = filter or BlacklistFilter()
        qs = blacklist.query(blacklist.BlacklistFilter(keyword=f.keyword, id_number=f.id_number, phone=f.phone))
        return connection(await paginate(qs, first, after, "created_by"), BlacklistEntryType.of)


@strawberry.type
class RiskMutation:
    @guarded_mutation("blacklist.create", sensitive=PERSONAL,
                      description="Put a person on the blacklist by ID number and/or mobile number.")
    async def add_blacklist_entry(self, info: Info, input: AddBlacklistEntryInput) -> BlacklistEntryPayload:
        entry = await blacklist.add(actor_of(info), id_number=input.id_number, phone=input.phone, name=input.name,
                                    reason=input.reason, request_id=info.context.request_id)
        await entry.fetch_related("created_by")
        return BlacklistEntryPayload(entry=BlacklistEntryType.of(entry))

    @guarded_mutation("blacklist.delete", description="Take a person off the blacklist.")
    async def remove_blacklist_entry(self, info: Info, id: strawberry.ID) -> RemoveBlacklistEntryPayload:
        await blacklist.remove(actor_of(info), decode(id, "BlacklistEntry", "id"), info.context.request_id)
        return RemoveBlacklistEntryPayload(removed_id=id)
