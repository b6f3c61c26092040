"""Lookup tables that draw names by weight with one uniform random index."""

from __future__ import annotations

KIND_BITS = 12  # action tables have 4,096 entries: drawn with 12 random bits
SOURCE_BITS = 7  # source tables have 128 entries


def weighted_table(
    pairs: tuple[tuple[str, float], ...], size: int = 1 << KIND_BITS
) -> tuple[str, ...]:
    """Exactly `size` entries where a uniform index draws by weight (O(1)); every name gets at
    least one entry."""
    total = sum(w for _, w in pairs)
    counts = [max(1, round(size * w / total)) for _, w in pairs]
    counts[counts.index(max(counts))] += size - sum(counts)
    table: list[str] = []
    for (name, _), n in zip(pairs, counts, strict=True):
        table.extend([name] * n)
    return tuple(table)
