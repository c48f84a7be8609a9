"""What a ledger transaction's hash and a block's hash cover, as pure functions.

A transaction hash is SHA-256 over the canonical JSON *envelope* of the transaction: every column a
reader relies on (type, payload, initiator, status, time, source, bank/product tag) plus a random
salt. So editing any of them — including turning a privacy-protected transaction into a visible one
or re-tagging it to another bank — changes the hash. The salt exists because privacy-protected
transactions publish their hash: without it, a low-entropy payload ("role X got page Y") could be
found by hashing guesses.

The payload is stored as its canonical JSON text, so verification hashes exactly the bytes that
were hashed at append time instead of re-encoding a value the database may have normalised (JSONB
reorders keys and drops number scale). :func:`envelope` splices that text into the envelope with
the same C string encoder :func:`canonical_json` uses, which makes it byte-identical to
``canonical_json`` of the envelope as a dict (tested) while costing about a microsecond, so a
million transactions verify in seconds.

In the Merkle trees a transaction is the leaf whose data is the 32 raw bytes of its hash: a client
holding a transaction hash and an audit path can check inclusion without the (possibly hidden)
payload.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from core.ledger.canonical import canonical_json
from core.ledger.merkle import leaf_hash

__all__ = [
    "ENVELOPE_VERSION",
    "GENESIS_PREVIOUS",
    "BlockHeader",
    "envelope",
    "envelope_dict",
    "is_hex_hash",
    "new_salt",
    "payload_text",
    "time_text",
    "tx_hash",
    "tx_leaf",
]

ENVELOPE_VERSION: Final[int] = 1
"""Bumped if the envelope's fields ever change; old transactions keep verifying under their version."""

GENESIS_PREVIOUS: Final[str] = "0" * 64
"""The previous-block hash of block 1."""

_encode_str = json.encoder.encode_basestring  # type: ignore[attr-defined]  # the C encoder json.dumps uses
_ZERO = timedelta(0)
_TEMPLATE = ('{"bank":%s,"initiator":%s,"initiatorId":%s,"payload":%s,"product":%s,"salt":%s,"sourceId":%s,'
             '"sourceType":%s,"status":%s,"time":%s,"type":%s,"v":%d}')


def payload_text(payload: Mapping[str, Any]) -> str:
    """The canonical JSON text stored and hashed for a payload (refuses floats, naive times, …)."""
    return canonical_json(payload).decode("utf-8")


def new_salt() -> str:
    """128 random bits, hex: makes hashes of hidden payloads unguessable."""
    return secrets.token_hex(16)


def time_text(value: datetime | str) -> str:
    """Canonical UTC text of an instant (``YYYY-MM-DDTHH:MM:SS.ffffffZ``), as canonical_json renders it.

    Accepts the ISO text SQLite hands back for raw queries, so verification needs no ORM.
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"naive datetime {value.isoformat()} is ambiguous; ledger times are UTC")
    if offset != _ZERO:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _opt(value: str | None) -> str:
    return "null" if value is None else _encode_str(value)


def _opt_int(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def envelope(*, tx_type: str, payload: str, initiator_id: int | None, initiator_name: str, status: str,
             time: str, salt: str, source_type: str | None, source_id: str | None, bank_id: int | None,
             product_id: int | None) -> bytes:
    """The exact bytes a transaction hash covers; ``payload`` and ``time`` are already canonical text."""
    return (_TEMPLATE % (_opt_int(bank_id), _encode_str(initiator_name), _opt_int(initiator_id), payload,
                         _opt_int(product_id), _encode_str(salt), _opt(source_id), _opt(source_type),
                         _encode_str(status), _encode_str(time), _encode_str(tx_type), ENVELOPE_VERSION)
            ).encode("utf-8")


def envelope_dict(*, tx_type: str, payload: Any, initiator_id: int | None, initiator_name: str, status: str,
                  time: datetime, salt: str, source_type: str | None, source_id: str | None,
                  bank_id: int | None, product_id: int | None) -> dict[str, Any]:
    """The envelope as a value: ``canonical_json`` of it equals :func:`envelope` (the reference form)."""
    return {"bank": bank_id, "initiator": initiator_name, "initiatorId": initiator_id, "payload": payload,
            "product": product_id, "salt": salt, "sourceId": source_id, "sourceType": source_type,
            "status": status, "time": time, "type": tx_type, "v": ENVELOPE_VERSION}


def tx_hash(envelope_bytes: bytes) -> str:
    """Lowercase hex SHA-256 of an envelope: the transaction's public hash."""
    return hashlib.sha256(envelope_bytes).hexdigest()


def tx_leaf(hex_hash: str) -> bytes:
    """The RFC 6962 leaf hash of a transaction: SHA-256(0x00 || raw transaction hash)."""
    return leaf_hash(bytes.fromhex(hex_hash))


def is_hex_hash(value: str) -> bool:
    """True for 64 lowercase hex characters (the only form hashes are stored in)."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


@dataclass(frozen=True)
class BlockHeader:
    """Everything a block hash covers.

    ``first_seq`` and ``tree_root`` tie the block to the global log: after this block the log holds
    ``first_seq + tx_count`` leaves and its RFC 6962 root is ``tree_root``, a tree head that
    consistency proofs between blocks and inclusion proofs are checked against.
    """

    height: int
    previous_hash: str
    merkle_root: str
    tx_count: int
    first_seq: int
    tree_root: str
    sealed_at: datetime

    @property
    def tree_size(self) -> int:
        return self.first_seq + self.tx_count

    def canonical(self) -> bytes:
        return canonical_json({"height": self.height, "previousHash": self.previous_hash,
                               "merkleRoot": self.merkle_root, "txCount": self.tx_count,
                               "firstSeq": self.first_seq, "treeRoot": self.tree_root,
                               "sealedAt": self.sealed_at, "v": ENVELOPE_VERSION})

    def hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()
