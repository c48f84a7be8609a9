"""The database node store: the global log's perfect subtrees in `ledger_node`.

Sealing appends the nodes `CompactRange` completes (fewer than two per leaf), so a root, an
inclusion proof or a consistency proof at any size is one indexed `WHERE key IN (…)` read of
O(log n) rows, whatever the size of the log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from core.ledger.merkle import NodeKey
from core.ledger.models import LedgerNode

_LEVEL_BITS = 6  # levels 0..63: enough for 2**63 leaves


def pack(key: NodeKey) -> int:
    """(level, index) as one integer primary key."""
    level, index = key
    return (index << _LEVEL_BITS) | level


def unpack(packed: int) -> NodeKey:
    return packed & ((1 << _LEVEL_BITS) - 1), packed >> _LEVEL_BITS


class DbNodeStore:
    """`core.ledger.merkle.NodeStore` over `ledger_node`; runs on the caller's transaction if any."""

    async def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        """Return the stored hashes among ``keys`` in one query."""
        if not keys:
            return {}
        rows = await LedgerNode.filter(key__in=[pack(k) for k in keys]).values_list("key", "hash")
        return {unpack(int(k)): bytes(h) for k, h in rows}

    async def put_nodes(self, nodes: Mapping[NodeKey, bytes]) -> None:
        """Insert newly completed subtrees; an existing key is a conflict (history is never rewritten)."""
        if nodes:
            await LedgerNode.bulk_create([LedgerNode(key=pack(k), hash=h) for k, h in nodes.items()],
                                         batch_size=1000)
