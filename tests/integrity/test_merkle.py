"""RFC 6962 trees: the fast level-by-level build equals the recursive definition."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrity import merkle
from integrity.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    merkle_root,
    node_hash,
    verify_inclusion,
)


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, literally."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


def _leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(b"\x00" + i.to_bytes(4, "big")).digest() for i in range(n)]


@settings(max_examples=60)
@given(st.integers(min_value=0, max_value=300))
def test_root_equals_rfc6962(n: int):
    leaves = _leaves(n)
    assert merkle_root(leaves) == _mth(leaves) == MerkleTree.build(leaves).root


def test_known_vectors():
    assert merkle_root([]) == EMPTY_ROOT
    a, b, c = _leaves(3)
    assert merkle_root([a, b, c]) == node_hash(node_hash(a, b), c)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 64, 100])
def test_every_inclusion_proof_verifies_and_no_other_leaf_does(n: int):
    leaves = _leaves(n)
    tree = MerkleTree.build(leaves)
    for i in range(n):
        path = tree.proof(i)
        assert verify_inclusion(leaves[i], i, n, path, tree.root)
        assert not verify_inclusion(b"\x00" * 32, i, n, path, tree.root)
        if n > 1:
            assert not verify_inclusion(leaves[i], (i + 1) % n, n, path, tree.root)
        assert not verify_inclusion(leaves[i], n, n, path, tree.root)  # outside the tree


@pytest.mark.parametrize("n", [0, 1, 3, 4, 5, 16, 17, 33, 100])
def test_streaming_root_in_chunks_equals_the_whole_tree(monkeypatch, n: int):
    monkeypatch.setattr(merkle, "CHUNK", 4)
    leaves = _leaves(n)
    builder = merkle.RootBuilder()
    for i in range(0, n, 3):
        builder.add(leaves[i : i + 3])
    assert builder.root() == _mth(leaves)
