"""What a ledger hash covers: the fast envelope is canonical JSON, every field counts, batches agree."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from core.ledger import hashing
from core.ledger.batch_range import BatchRange
from core.ledger.canonical import canonical_json
from core.ledger.merkle import EMPTY_ROOT, leaf_hash, root

ids = st.none() | st.integers(min_value=-(2**31), max_value=2**31 - 1)
texts = st.text(max_size=30)  # every code point but lone surrogates: quotes, backslashes, control characters
payloads = st.dictionaries(st.text(max_size=8), st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                           max_size=5)


def _fields(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "tx_type": "user.create", "payload": {"a": 1}, "initiator_id": 3, "initiator_name": "复核一",
        "status": "completed", "time": datetime(2026, 11, 2, 8, 30, tzinfo=UTC), "salt": "ab" * 16,
        "source_type": "ChangeRequest", "source_id": "12", "bank_id": None, "product_id": 4}
    return base | over


def _fast(f: dict[str, object]) -> bytes:
    return hashing.envelope(**(f | {"payload": hashing.payload_text(f["payload"]),  # type: ignore[arg-type]
                                    "time": hashing.time_text(f["time"])}))  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(tx_type=texts, payload=payloads, initiator_id=ids, initiator_name=texts, status=texts, salt=texts,
       source_type=st.none() | texts, source_id=st.none() | texts, bank_id=ids, product_id=ids,
       micros=st.integers(min_value=0, max_value=10**15))
def test_fast_envelope_is_exactly_canonical_json_of_the_envelope(**f: object) -> None:
    f["time"] = datetime(1990, 1, 1, tzinfo=UTC) + timedelta(microseconds=f.pop("micros"))  # type: ignore[arg-type]
    assert _fast(f) == canonical_json(hashing.envelope_dict(**f))  # type: ignore[arg-type]
    assert json.loads(_fast(f))["payload"] == f["payload"]


def test_every_field_changes_the_hash() -> None:
    base = hashing.tx_hash(_fast(_fields()))
    changes = {"tx_type": "user.update", "payload": {"a": 2}, "initiator_id": None, "initiator_name": "复核二",
               "status": "privacy_protected", "time": datetime(2026, 11, 2, 8, 30, 0, 1, tzinfo=UTC),
               "salt": "cd" * 16, "source_type": "User", "source_id": "13", "bank_id": 1, "product_id": None}
    hashes = {hashing.tx_hash(_fast(_fields(**{k: v}))) for k, v in changes.items()}
    assert base not in hashes and len(hashes) == len(changes)


def test_times_are_rendered_in_utc_whatever_the_zone_or_source() -> None:
    shanghai = datetime(2026, 11, 2, 16, 30, 0, 120, tzinfo=timezone(timedelta(hours=8)))
    assert hashing.time_text(shanghai) == "2026-11-02T08:30:00.000120Z"
    assert hashing.time_text("2026-11-02 08:30:00+00:00") == "2026-11-02T08:30:00.000000Z"  # SQLite raw text
    assert hashing.time_text(shanghai) == json.loads(canonical_json({"t": shanghai}))["t"]


def test_a_transaction_leaf_is_the_rfc6962_leaf_of_the_raw_hash() -> None:
    digest = hashing.tx_hash(b"{}")
    assert hashing.tx_leaf(digest) == leaf_hash(bytes.fromhex(digest))
    assert hashing.is_hex_hash(digest) and not hashing.is_hex_hash(digest.upper()) and not hashing.is_hex_hash("ab")


def test_block_hash_covers_every_header_field() -> None:
    header = hashing.BlockHeader(height=2, previous_hash="1" * 64, merkle_root="2" * 64, tx_count=3, first_seq=10,
                                 tree_root="3" * 64, sealed_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert header.tree_size == 13
    assert header.hash() == hashlib.sha256(header.canonical()).hexdigest()
    changed = [hashing.BlockHeader(**(vars(header) | {k: v})) for k, v in {
        "height": 3, "previous_hash": "4" * 64, "merkle_root": "5" * 64, "tx_count": 4, "first_seq": 11,
        "tree_root": "6" * 64, "sealed_at": datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)}.items()]
    assert header.hash() not in {h.hash() for h in changed}


def test_batch_range_roots_match_the_reference_at_every_batch_boundary() -> None:
    rng = random.Random(9162)
    leaves = [leaf_hash(rng.randbytes(8)) for _ in range(700)]
    batched = BatchRange()
    assert batched.root() == EMPTY_ROOT
    done = 0
    while done < len(leaves):
        step = rng.choice([1, 2, 3, 7, 64, 100, 129])
        batched.extend(leaves[done:done + step])
        done = min(done + step, len(leaves))
        assert batched.size == done and batched.root() == root(leaves[:done])
