"""A seal's leaf index: one 48-byte entry per event and its id, and what a seal signs over them.

An entry is ``ingest_seq`` (int8) | retention guarantee (int8, µs since the seal format's
epoch) | leaf hash (32 bytes), big-endian; ids are stored as UTF-8, each followed by a NUL
byte. Entries are in ``ingest_seq`` order.
"""

from __future__ import annotations

import hashlib

import numpy as np

from integrity.canonical import leaf_hash_sql
from integrity.merkle import RootBuilder
from integrity.seal_formats import seal_format

ENTRY_SIZE = 48
_ENTRY_DTYPE = np.dtype([("seq", ">i8"), ("guarantee", ">i8"), ("leaf", "V32")])


def entry_sql(fmt: str) -> str:
    """SQL bytea expression of one event's 48-byte entry in seal format `fmt`."""
    spec = seal_format(fmt)
    return (
        f"int8send(e.ingest_seq) || {spec.guarantee_sql} || {leaf_hash_sql('e', spec.event_format)}"
    )


def entry_leaves(entries: bytes) -> list[bytes]:
    """The leaf hashes of packed entries, in order."""
    return [entries[k + 16 : k + ENTRY_SIZE] for k in range(0, len(entries), ENTRY_SIZE)]


def entry_seqs(entries: bytes) -> list[int]:
    """The ingest_seq of each packed entry, in order."""
    return np.frombuffer(entries, dtype=_ENTRY_DTYPE)["seq"].tolist()


def unpack_entries(entries: bytes) -> list[tuple[int, int, bytes]]:
    """(ingest_seq, retention guarantee in µs, leaf hash) of each packed entry, in order."""
    return [
        (
            int.from_bytes(entries[k : k + 8], "big", signed=True),
            int.from_bytes(entries[k + 8 : k + 16], "big", signed=True),
            entries[k + 16 : k + ENTRY_SIZE],
        )
        for k in range(0, len(entries), ENTRY_SIZE)
    ]


def order_entries(entries: bytes, ids: bytes) -> tuple[bytes, bytes]:
    """Entries (and their ids) sorted by ingest_seq; returned as given when already sorted."""
    if len(entries) % ENTRY_SIZE:
        raise ValueError(f"entries of {len(entries)} bytes are not whole entries")
    table = np.frombuffer(entries, dtype=_ENTRY_DTYPE)
    seqs = table["seq"]
    if len(seqs) < 2 or bool(np.all(seqs[1:] > seqs[:-1])):
        return entries, ids
    order = np.argsort(seqs, kind="stable")
    names = ids.split(b"\x00")[:-1]
    return table[order].tobytes(), b"".join(names[i] + b"\x00" for i in order.tolist())


def split_ids(blob: bytes) -> list[str]:
    """Event ids from their stored form (each in UTF-8 followed by a NUL byte)."""
    return [part.decode() for part in blob.split(b"\x00")[:-1]]


class IndexBuilder:
    """Hashes a seal's entries and ids, chunk by chunk, into its Merkle root and index digest
    (the scan groups events by ``ingest_seq >> 16``, so a chunk never holds more than 65,536
    events); the chunks themselves are stored by the sealer."""

    def __init__(self) -> None:
        self.root = RootBuilder()
        self._entries_hash = hashlib.sha256()
        self._ids_hash = hashlib.sha256()

    def add(self, entries: bytes, ids: bytes) -> None:
        if len(entries) % ENTRY_SIZE or len(entries) // ENTRY_SIZE != ids.count(b"\x00"):
            raise ValueError("entries and ids disagree in length")
        self._entries_hash.update(entries)
        self._ids_hash.update(ids)
        self.root.add(entry_leaves(entries))

    @property
    def count(self) -> int:
        return self.root.count

    def finish(self) -> tuple[bytes, bytes]:
        """(merkle_root, index_digest); the index digest is
        SHA-256(SHA-256(all entries) || SHA-256(each event id followed by a NUL byte))."""
        digest = hashlib.sha256(self._entries_hash.digest() + self._ids_hash.digest()).digest()
        return self.root.root(), digest


def root_and_digest(entries: bytes, ids: bytes) -> tuple[bytes, bytes]:
    """(merkle_root, index_digest) of a whole leaf index held in memory."""
    builder = IndexBuilder()
    builder.add(entries, ids)
    return builder.finish()
