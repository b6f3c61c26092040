"""RFC 6962 (Certificate Transparency) Merkle trees with domain-separated hashes.

- leaf hash: SHA-256(0x00 || data)   (computed by `canonical.leaf_hash` or in SQL)
- node hash: SHA-256(0x01 || left || right)
- the root of no leaves is SHA-256("")

The tree splits n leaves at the largest power of two below n (RFC 6962 section 2.1). Built
level by level, carrying an unpaired last node up unchanged, gives exactly that tree, and is
fast: one hashlib call per inner node. Inclusion proofs are RFC 6962 audit paths, checked
with the algorithm of RFC 9162 section 2.1.3.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

EMPTY_ROOT = hashlib.sha256(b"").digest()
CHUNK = 1 << 16  # leaves per perfect subtree of the streaming root (`RootBuilder`)
_sha256 = hashlib.sha256


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    sha = _sha256
    nxt = [sha(b"\x01" + a + b).digest() for a, b in zip(level[0::2], level[1::2], strict=False)]
    if len(level) % 2:
        nxt.append(level[-1])
    return nxt


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root over leaf hashes (already domain-separated) in their given order."""
    if not leaves:
        return EMPTY_ROOT
    level = leaves
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


class RootBuilder:
    """The RFC 6962 root of a leaf stream in O(log n) memory: full chunks of 2^16 leaves are
    perfect subtrees, merged on a stack as a binary counter; the remainder folds in last."""

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []
        self._buffer: list[bytes] = []
        self.count = 0

    def add(self, leaves: Sequence[bytes]) -> None:
        self._buffer.extend(leaves)
        self.count += len(leaves)
        while len(self._buffer) >= CHUNK:
            chunk, self._buffer = self._buffer[:CHUNK], self._buffer[CHUNK:]
            self._stack.append((CHUNK, merkle_root(chunk)))
            while len(self._stack) >= 2 and self._stack[-1][0] == self._stack[-2][0]:
                (size, right), (_, left) = self._stack.pop(), self._stack.pop()
                self._stack.append((2 * size, node_hash(left, right)))

    def root(self) -> bytes:
        parts = [h for _, h in self._stack]
        if self._buffer:
            parts.append(merkle_root(self._buffer))
        if not parts:
            return EMPTY_ROOT
        result = parts[-1]
        for left in reversed(parts[:-1]):
            result = node_hash(left, result)
        return result


def split_leaves(blob: bytes) -> list[bytes]:
    """Leaf hashes concatenated 32 bytes each (as PostgreSQL aggregates them) -> list."""
    if len(blob) % 32:
        raise ValueError(f"leaf blob of {len(blob)} bytes is not a multiple of 32")
    return [blob[i : i + 32] for i in range(0, len(blob), 32)]


@dataclass
class MerkleTree:
    """Every level of a tree, kept to answer inclusion proofs for many leaves at once."""

    levels: list[list[bytes]]

    @classmethod
    def build(cls, leaves: Sequence[bytes]) -> MerkleTree:
        levels = [list(leaves)]
        while len(levels[-1]) > 1:
            levels.append(_next_level(levels[-1]))
        return cls(levels)

    @property
    def size(self) -> int:
        return len(self.levels[0])

    @property
    def root(self) -> bytes:
        return self.levels[-1][0] if self.size else EMPTY_ROOT

    def proof(self, index: int) -> list[bytes]:
        """The audit path of leaf `index`, from the leaf's sibling up (RFC 6962 2.1.1)."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is outside a tree of {self.size}")
        path: list[bytes] = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index //= 2
        return path


def verify_inclusion(
    leaf: bytes, index: int, tree_size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """True when `leaf` is leaf `index` of the tree of `tree_size` leaves with `root`
    (RFC 9162 section 2.1.3.2)."""
    if not 0 <= index < tree_size:
        return False
    fn, sn = index, tree_size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
