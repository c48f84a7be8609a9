"""Tests for core.ledger.merkle: published vectors, RFC worked examples, properties.

Published vectors pin us to RFC 6962 byte for byte (so external CT tooling can audit the
ledger); the property tests cover every tree shape up to a few hundred leaves, where the
ragged right edge makes the recursion interesting; the node-store tests make sure the
database path returns exactly what the in-memory reference returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    DictNodeStore,
    MissingNodeError,
    NodeKey,
    NodeStore,
    consistency_proof,
    frontier_keys,
    inclusion_proof,
    leaf_hash,
    load_compact_range,
    node_hash,
    perfect_nodes,
    root,
    store_consistency_proof,
    store_inclusion_proof,
    store_root,
    verify_consistency,
    verify_inclusion,
)

T = TypeVar("T")
h = bytes.fromhex

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never suspends (DictNodeStore) without an event loop.

    Tens of thousands of proofs are checked; an event loop per call would dominate runtime.
    """
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
    coro.close()
    raise AssertionError("coroutine suspended; drive it from an async test instead")


def reference_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH exactly as RFC 6962 §2.1 writes it (recursive split), independent of root()."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


def path_shape(index: int, size: int) -> list[str]:
    """Which side each audit-path sibling sits on (bottom-up), from the RFC recursion."""
    if size == 1:
        return []
    k = 1
    while k * 2 < size:
        k *= 2
    if index < k:
        return [*path_shape(index, k), "R"]
    return [*path_shape(index - k, size - k), "L"]


def make_leaves(n: int, salt: bytes = b"") -> list[bytes]:
    """Distinct leaf hashes (distinct, so that a wrong index can never legitimately verify)."""
    return [leaf_hash(salt + i.to_bytes(4, "big")) for i in range(n)]


def flipped(value: bytes, pos: int, mask: int = 0x01) -> bytes:
    """``value`` with one byte XOR-ed by ``mask``."""
    out = bytearray(value)
    out[pos] ^= mask
    return bytes(out)


class CountingStore:
    """Wraps a store and records every get_nodes batch, to check the I/O pattern."""

    def __init__(self, inner: NodeStore) -> None:
        self.inner = inner
        self.batches: list[list[NodeKey]] = []

    async def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        self.batches.append(list(keys))
        return await self.inner.get_nodes(keys)


class YieldingStore:
    """A store that really suspends, like a database driver would."""

    def __init__(self, inner: DictNodeStore) -> None:
        self.inner = inner

    async def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        await asyncio.sleep(0)
        return await self.inner.get_nodes(keys)


PROPERTY_SETTINGS = settings(max_examples=40, deadline=None)

# --------------------------------------------------------------------------------------------
# Published vectors
# --------------------------------------------------------------------------------------------

# Certificate Transparency / Trillian reference data (transparency-dev/merkle proof/verify_test.go).
CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
CT_LEAF_HASHES = [leaf_hash(d) for d in CT_LEAVES]
CT_ROOTS = [  # root of the first n leaves, n = 0..8
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (0-based leaf index, tree size, audit path); the Go source lists 1-based leaf numbers.
CT_INCLUSION = [
    (0, 8, [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]),
    (5, 8, [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]),
]  # fmt: skip
CT_CONSISTENCY = [
    (1, 8, [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]),
    (6, 8, [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
    (2, 5, [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ]),
    (6, 7, [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]),
]  # fmt: skip


def test_rfc6962_hash_vectors() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root([]) == EMPTY_ROOT
    assert leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert leaf_hash(b"L123456").hex() == "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    assert node_hash(b"N123", b"N456").hex() == "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"


def test_domain_separation_and_order() -> None:
    a, b = leaf_hash(b"Hello"), leaf_hash(b"World")
    assert node_hash(a, b) != leaf_hash(a + b)  # interior node is not a leaf of the concatenation
    assert node_hash(a, b) != node_hash(b, a)


@pytest.mark.parametrize("n", range(len(CT_ROOTS)))
def test_ct_roots_all_variants(n: int) -> None:
    leaves = CT_LEAF_HASHES[:n]
    expected = h(CT_ROOTS[n])
    assert root(leaves) == expected
    assert reference_mth(leaves) == expected
    assert CompactRange.from_leaf_hashes(leaves).root() == expected
    assert run(store_root(DictNodeStore.from_leaf_hashes(CT_LEAF_HASHES), n)) == expected


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_ct_inclusion_vectors(index: int, size: int, path: list[str]) -> None:
    expected = [h(x) for x in path]
    store = DictNodeStore.from_leaf_hashes(CT_LEAF_HASHES)
    assert inclusion_proof(CT_LEAF_HASHES[:size], index) == expected
    assert run(store_inclusion_proof(store, index, size)) == expected
    assert verify_inclusion(CT_LEAF_HASHES[index], index, size, expected, h(CT_ROOTS[size]))


@pytest.mark.parametrize(("m", "n", "path"), CT_CONSISTENCY)
def test_ct_consistency_vectors(m: int, n: int, path: list[str]) -> None:
    expected = [h(x) for x in path]
    store = DictNodeStore.from_leaf_hashes(CT_LEAF_HASHES)
    assert consistency_proof(CT_LEAF_HASHES, m, n) == expected
    assert run(store_consistency_proof(store, m, n)) == expected
    assert verify_consistency(m, n, h(CT_ROOTS[m]), h(CT_ROOTS[n]), expected)


# --------------------------------------------------------------------------------------------
# RFC 6962 §2.1.3 worked example (7 leaves), asserted by node name
# --------------------------------------------------------------------------------------------


def rfc_example_tree() -> tuple[list[bytes], dict[bytes, str]]:
    """The RFC figure: a..f = d0..d5, j = d6, g..i and k, l interior; names by hash."""
    d = [leaf_hash(f"d{i}".encode()) for i in range(7)]
    nodes = dict(zip("abcdef", d[:6], strict=True))
    nodes["j"] = d[6]
    nodes["g"] = node_hash(nodes["a"], nodes["b"])
    nodes["h"] = node_hash(nodes["c"], nodes["d"])
    nodes["i"] = node_hash(nodes["e"], nodes["f"])
    nodes["k"] = node_hash(nodes["g"], nodes["h"])
    nodes["l"] = node_hash(nodes["i"], nodes["j"])
    nodes["root"] = node_hash(nodes["k"], nodes["l"])
    return d, {value: name for name, value in nodes.items()}


@pytest.mark.parametrize(("index", "names"), [(0, "bhl"), (3, "cgl"), (4, "fjk"), (6, "ik")])
def test_rfc_example_audit_paths(index: int, names: str) -> None:
    leaves, name_of = rfc_example_tree()
    assert name_of[root(leaves)] == "root"
    proof = inclusion_proof(leaves, index)
    assert [name_of[x] for x in proof] == list(names)
    assert run(store_inclusion_proof(DictNodeStore.from_leaf_hashes(leaves), index, 7)) == proof
    assert verify_inclusion(leaves[index], index, 7, proof, root(leaves))


@pytest.mark.parametrize(("m", "names"), [(3, "cdgl"), (4, "l"), (6, "ijk")])
def test_rfc_example_consistency(m: int, names: str) -> None:
    leaves, name_of = rfc_example_tree()
    proof = consistency_proof(leaves, m, 7)
    assert [name_of[x] for x in proof] == list(names)
    assert run(store_consistency_proof(DictNodeStore.from_leaf_hashes(leaves), m, 7)) == proof
    assert verify_consistency(m, 7, root(leaves[:m]), root(leaves), proof)


# --------------------------------------------------------------------------------------------
# root(): iterative pairing equals the recursive definition
# --------------------------------------------------------------------------------------------


def test_root_matches_recursive_definition_every_size_to_300() -> None:
    leaves = make_leaves(300)
    for n in range(301):
        assert root(leaves[:n]) == reference_mth(leaves[:n]), n


@pytest.mark.parametrize("n", [511, 512, 513, 1023, 1024, 1025, 3000, 4097])
def test_root_matches_recursive_definition_around_powers_of_two(n: int) -> None:
    leaves = make_leaves(n)
    assert root(leaves) == reference_mth(leaves) == CompactRange.from_leaf_hashes(leaves).root()


def test_root_accepts_any_sequence_and_does_not_mutate() -> None:
    leaves = make_leaves(5)
    as_tuple = tuple(leaves)
    assert root(as_tuple) == root(leaves)
    assert list(as_tuple) == make_leaves(5)


# --------------------------------------------------------------------------------------------
# Proof properties
# --------------------------------------------------------------------------------------------


def test_every_proof_in_small_trees_matches_store_and_verifies() -> None:
    """Exhaustive over all sizes <= 40: every index, every (m, n) pair, both variants."""
    leaves = make_leaves(40)
    store = DictNodeStore.from_leaf_hashes(leaves)
    roots = [root(leaves[:n]) for n in range(41)]
    for n in range(1, 41):
        for i in range(n):
            proof = inclusion_proof(leaves[:n], i)
            assert run(store_inclusion_proof(store, i, n)) == proof
            assert verify_inclusion(leaves[i], i, n, proof, roots[n])
        for m in range(n + 1):
            proof = consistency_proof(leaves, m, n)
            assert run(store_consistency_proof(store, m, n)) == proof
            assert verify_consistency(m, n, roots[m], roots[n], proof)


@PROPERTY_SETTINGS
@given(n=st.integers(1, 300), salt=st.binary(max_size=8))
def test_all_proofs_of_a_random_tree_verify(n: int, salt: bytes) -> None:
    leaves = make_leaves(n, salt)
    store = DictNodeStore.from_leaf_hashes(leaves)
    roots = [root(leaves[:m]) for m in range(n + 1)]
    for i in range(n):
        proof = inclusion_proof(leaves, i)
        assert verify_inclusion(leaves[i], i, n, proof, roots[n])
        assert run(store_inclusion_proof(store, i, n)) == proof
    for m in range(n + 1):
        proof = consistency_proof(leaves, m, n)
        assert verify_consistency(m, n, roots[m], roots[n], proof)
        assert run(store_consistency_proof(store, m, n)) == proof
    assert run(store_root(store, n)) == roots[n]


@PROPERTY_SETTINGS
@given(data=st.data(), n=st.integers(1, 300), mask=st.integers(1, 255))
def test_tampered_inclusion_fails(data: st.DataObject, n: int, mask: int) -> None:
    leaves = make_leaves(n)
    index = data.draw(st.integers(0, n - 1), label="index")
    proof, good_root = inclusion_proof(leaves, index), root(leaves)
    leaf = leaves[index]
    for e in range(len(proof)):
        for pos in range(32):
            bad = [*proof[:e], flipped(proof[e], pos, mask), *proof[e + 1 :]]
            assert not verify_inclusion(leaf, index, n, bad, good_root)
    for pos in range(32):
        assert not verify_inclusion(flipped(leaf, pos, mask), index, n, proof, good_root)
        assert not verify_inclusion(leaf, index, n, proof, flipped(good_root, pos, mask))
    assert not verify_inclusion(leaf, index, n, [*proof, good_root], good_root)
    assert not verify_inclusion(leaf, index, n, [good_root, *proof], good_root)
    if proof:
        assert not verify_inclusion(leaf, index, n, proof[:-1], good_root)


@PROPERTY_SETTINGS
@given(data=st.data(), n=st.integers(1, 300))
def test_inclusion_wrong_index_or_size_fails(data: st.DataObject, n: int) -> None:
    leaves = make_leaves(n + 64)
    index = data.draw(st.integers(0, n - 1), label="index")
    proof, good_root = inclusion_proof(leaves[:n], index), root(leaves[:n])
    for other in range(-1, n + 2):
        if other != index:
            assert not verify_inclusion(leaves[index], other, n, proof, good_root)
    for size in range(n + 64):
        if size != n:
            # Against the root of the claimed size, a wrong size always fails.
            assert not verify_inclusion(leaves[index], index, size, proof, root(leaves[:size]))


@PROPERTY_SETTINGS
@given(data=st.data(), n=st.integers(1, 120))
def test_inclusion_size_is_only_bound_through_the_root(data: st.DataObject, n: int) -> None:
    """Documents why tree_size must come from the same signed head as the root.

    Against the *same* root, another size verifies exactly when its audit path has the same
    shape; e.g. leaf 0 of a 3-leaf tree also "verifies" for size 4. The root is what binds.
    """
    leaves = make_leaves(n)
    index = data.draw(st.integers(0, n - 1), label="index")
    proof, good_root = inclusion_proof(leaves, index), root(leaves)
    for size in range(index + 1, 2 * n + 2):
        same_shape = path_shape(index, size) == path_shape(index, n)
        assert verify_inclusion(leaves[index], index, size, proof, good_root) == same_shape


@PROPERTY_SETTINGS
@given(data=st.data(), n=st.integers(2, 300), mask=st.integers(1, 255))
def test_tampered_consistency_fails(data: st.DataObject, n: int, mask: int) -> None:
    leaves = make_leaves(n)
    m = data.draw(st.integers(1, n - 1), label="m")
    proof = consistency_proof(leaves, m, n)
    root_m, root_n = root(leaves[:m]), root(leaves)
    assert proof
    for e in range(len(proof)):
        for pos in range(32):
            bad = [*proof[:e], flipped(proof[e], pos, mask), *proof[e + 1 :]]
            assert not verify_consistency(m, n, root_m, root_n, bad)
    for pos in range(32):
        assert not verify_consistency(m, n, flipped(root_m, pos, mask), root_n, proof)
        assert not verify_consistency(m, n, root_m, flipped(root_n, pos, mask), proof)
    assert not verify_consistency(m, n, root_n, root_m, proof)
    assert not verify_consistency(m, n, root_m, root_n, [])
    assert not verify_consistency(m, n, root_m, root_n, proof[:-1])
    assert not verify_consistency(m, n, root_m, root_n, [*proof, root_n])
    assert not verify_consistency(m, n, root_m, root_n, [proof[0], *proof])


@PROPERTY_SETTINGS
@given(data=st.data(), n=st.integers(2, 200))
def test_consistency_wrong_sizes_fail(data: st.DataObject, n: int) -> None:
    leaves = make_leaves(2 * n + 2)
    m = data.draw(st.integers(1, n - 1), label="m")
    proof = consistency_proof(leaves, m, n)
    root_m, root_n = root(leaves[:m]), root(leaves[:n])
    for other_m in range(n + 1):
        if other_m != m:
            assert not verify_consistency(other_m, n, root_m, root_n, proof)
            assert not verify_consistency(other_m, n, root(leaves[:other_m]), root_n, proof)
    for other_n in range(m, 2 * n + 2):
        if other_n != n:
            assert not verify_consistency(m, other_n, root_m, root(leaves[:other_n]), proof)


def test_verify_inclusion_edge_cases() -> None:
    leaves = make_leaves(4)
    only = leaves[0]
    assert verify_inclusion(only, 0, 1, [], only)  # a one-leaf tree's root is its leaf hash
    assert not verify_inclusion(only, 0, 0, [], EMPTY_ROOT)
    assert not verify_inclusion(only, 1, 1, [], only)
    assert not verify_inclusion(only, -1, 1, [], only)
    assert not verify_inclusion(b"", 0, 1, [], b"")  # wrong hash size
    proof = inclusion_proof(leaves, 1)
    assert not verify_inclusion(leaves[1], 1, 4, [proof[0] + b"\x00", proof[1]], root(leaves))
    assert not verify_inclusion(leaves[1], 1, 4, [proof[0], b"short"], root(leaves))
    assert verify_inclusion(bytearray(leaves[1]), 1, 4, [bytearray(p) for p in proof], root(leaves))


def test_verify_consistency_trivial_cases() -> None:
    r1, r2 = root(make_leaves(1)), root(make_leaves(2))
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, r2, [])
    assert verify_consistency(1, 1, r1, r1, [])
    assert verify_consistency(2, 2, r2, r2, [])
    assert not verify_consistency(0, 5, r1, r2, [])  # stricter than Trillian: empty root required
    assert not verify_consistency(0, 0, r1, r1, [])
    assert not verify_consistency(1, 1, r1, r2, [])
    assert not verify_consistency(0, 1, EMPTY_ROOT, r1, [EMPTY_ROOT])
    assert not verify_consistency(1, 1, r1, r1, [EMPTY_ROOT])
    assert not verify_consistency(2, 1, r2, r1, [])  # time travel
    assert not verify_consistency(-1, 1, r2, r1, [])
    assert not verify_consistency(1, 2, r1, r2, [])  # non-trivial needs a proof
    assert not verify_consistency(1, 2, r1, r2, [b"short"])


def test_list_proof_argument_errors() -> None:
    leaves = make_leaves(5)
    with pytest.raises(IndexError):
        inclusion_proof(leaves, 5)
    with pytest.raises(IndexError):
        inclusion_proof(leaves, -1)
    with pytest.raises(IndexError):
        inclusion_proof([], 0)
    with pytest.raises(ValueError):
        consistency_proof(leaves, 3, 6)
    with pytest.raises(ValueError):
        consistency_proof(leaves, 4, 3)
    assert consistency_proof(leaves, 0, 5) == []
    assert consistency_proof(leaves, 5, 5) == []
    assert consistency_proof(leaves, 2, 3) == consistency_proof(leaves[:3], 2, 3)


# --------------------------------------------------------------------------------------------
# Node store and compact range
# --------------------------------------------------------------------------------------------


def test_append_creates_few_nodes_and_matches_bulk_build() -> None:
    leaves = make_leaves(1100)
    compact = CompactRange()
    collected: dict[NodeKey, bytes] = {}
    for i, leaf in enumerate(leaves):
        new = compact.append(leaf)
        expected_count = 1 + ((i ^ (i + 1)).bit_length() - 1)  # 1 + trailing one-bits of i
        assert len(new) == expected_count <= (i + 1).bit_length()
        assert not new.keys() & collected.keys()  # nodes are written once, never updated
        collected.update(new)
        assert compact.size == i + 1
    assert collected == perfect_nodes(leaves)
    assert len(collected) == 2 * 1100 - (1100).bit_count()
    for (level, index), value in collected.items():
        assert value == reference_mth(leaves[index << level : (index + 1) << level])


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 8, 9, 100, 1024])
def test_frontier_keys_and_root(n: int) -> None:
    leaves = make_leaves(n)
    keys = frontier_keys(n)
    assert len(keys) == n.bit_count()
    sizes = [1 << level for level, _ in keys]
    assert sizes == sorted(sizes, reverse=True) and sum(sizes) == n
    starts = [index << level for level, index in keys]
    assert starts == [sum(sizes[:j]) for j in range(len(keys))]  # contiguous tiles from 0
    assert run(store_root(DictNodeStore.from_leaf_hashes(leaves), n)) == root(leaves)


@PROPERTY_SETTINGS
@given(batches=st.lists(st.integers(0, 40), min_size=1, max_size=8), data=st.data())
def test_batched_appends_through_store(batches: list[int], data: st.DataObject) -> None:
    """A ledger appending in batches, resuming from the store each time, serves exact proofs."""
    leaves = make_leaves(sum(batches))
    store = DictNodeStore()
    size = 0
    for batch in batches:
        compact = run(load_compact_range(store, size))
        assert compact.root() == root(leaves[:size])
        run(store.put_nodes(compact.extend(leaves[size : size + batch])))
        size += batch
        assert compact.size == size
        assert run(store_root(store, size)) == root(leaves[:size]) == compact.root()
    assert len(store) == len(perfect_nodes(leaves))
    sizes = set(data.draw(st.lists(st.integers(1, size), max_size=5))) if size else set()
    for n in sizes | ({size} - {0}):
        for i in range(n):
            assert run(store_inclusion_proof(store, i, n)) == inclusion_proof(leaves[:n], i)
        for m in range(n + 1):
            assert run(store_consistency_proof(store, m, n)) == consistency_proof(leaves, m, n)


@pytest.mark.parametrize("n", [1, 2, 5, 64, 65, 1000, 4097])
def test_store_proofs_fetch_one_small_batch(n: int) -> None:
    leaves = make_leaves(n)
    store = CountingStore(DictNodeStore.from_leaf_hashes(leaves))
    bound = 2 * n.bit_length()
    for i in sorted({0, n // 3, n // 2, n - 1}):
        store.batches.clear()
        assert run(store_inclusion_proof(store, i, n)) == inclusion_proof(leaves, i)
        assert len(store.batches) <= 1 and all(len(b) <= bound for b in store.batches)
    for m in sorted({1, n // 3, n // 2, n - 1} - {0}):
        store.batches.clear()
        assert run(store_consistency_proof(store, m, n)) == consistency_proof(leaves, m, n)
        assert len(store.batches) <= 1 and all(len(b) <= bound for b in store.batches)
    store.batches.clear()
    assert run(store_root(store, n)) == root(leaves)
    assert len(store.batches) == 1 and len(store.batches[0]) == n.bit_count()


def test_store_trivial_requests_do_not_fetch() -> None:
    store = CountingStore(DictNodeStore())
    assert run(store_root(store, 0)) == EMPTY_ROOT
    assert run(store_consistency_proof(store, 0, 10)) == []
    assert run(store_consistency_proof(store, 10, 10)) == []
    assert run(store_inclusion_proof(store, 0, 1)) == []
    assert store.batches == []


def test_store_errors() -> None:
    leaves = make_leaves(10)
    store = DictNodeStore.from_leaf_hashes(leaves)
    with pytest.raises(MissingNodeError) as excinfo:
        run(store_root(store, 11))
    assert (0, 10) in excinfo.value.keys
    with pytest.raises(MissingNodeError):
        run(store_inclusion_proof(store, 3, 12))
    with pytest.raises(MissingNodeError):
        run(load_compact_range(store, 11))
    with pytest.raises(IndexError):
        run(store_inclusion_proof(store, 10, 10))
    with pytest.raises(ValueError):
        run(store_consistency_proof(store, 5, 4))
    with pytest.raises(ValueError):
        run(store_root(store, -1))


def test_store_refuses_to_rewrite_history() -> None:
    store = DictNodeStore.from_leaf_hashes(make_leaves(4))
    run(store.put_nodes({(0, 0): make_leaves(1)[0]}))  # idempotent re-write is fine
    with pytest.raises(ValueError, match="different hash"):
        run(store.put_nodes({(1, 0): EMPTY_ROOT}))


def test_compact_range_rejects_inconsistent_frontier() -> None:
    with pytest.raises(ValueError):
        CompactRange(3, [EMPTY_ROOT])
    with pytest.raises(ValueError):
        CompactRange(-1, [])


def test_dict_store_satisfies_protocol() -> None:
    assert isinstance(DictNodeStore(), NodeStore)
    assert isinstance(CountingStore(DictNodeStore()), NodeStore)


async def test_store_functions_in_a_real_event_loop() -> None:
    leaves = make_leaves(77)
    store = YieldingStore(DictNodeStore.from_leaf_hashes(leaves))
    assert await store_root(store, 77) == root(leaves)
    assert await store_inclusion_proof(store, 40, 77) == inclusion_proof(leaves, 40)
    assert await store_consistency_proof(store, 33, 77) == consistency_proof(leaves, 33, 77)
    compact = await load_compact_range(store, 50)
    compact.extend(leaves[50:])
    assert compact.root() == root(leaves)
