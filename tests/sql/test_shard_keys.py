"""Ready to shard by organisation: every key of an organisation-scoped table leads with
organization_id, so each table can be distributed on it (Citus) without redesign.

Read from the catalogue, not from the migrations' text: a table, index or constraint added
later is checked too."""

from __future__ import annotations

from pathlib import Path

from sql.gateway import Database

SCALING_DOC = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"
# Tables with an organization_id that are not distributed by it, and why (docs/scaling.md says
# where each goes): each is read by a key that comes before any organisation is known.
NOT_DISTRIBUTED = {
    # Reference tables (a copy on every node): sign-in finds a user's organisations, and the
    # receiver finds an ingest or read key's organisation, from the user or the key alone.
    "dashboard_memberships": "reference",
    "ingest_keys": "reference",
    "read_keys": "reference",
    # Kept on the coordinator: a rejected input may name no organisation, or a forged one.
    "audit_rejects": "coordinator",
}

# Every table of ours with an organization_id column (partitions and chunks inherit their
# parent's keys), with each unique index (primary keys and UNIQUE constraints included) and
# the column its key starts with; an expression as the first key column has none.
_KEYS = """
SELECT t.relname, i.relname, a.attname
  FROM pg_class t
  JOIN pg_namespace n ON n.oid = t.relnamespace
  JOIN pg_index x ON x.indrelid = t.oid AND x.indisunique
  JOIN pg_class i ON i.oid = x.indexrelid
  LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
 WHERE n.nspname = 'public' AND t.relkind IN ('r', 'p') AND NOT t.relispartition
   AND EXISTS (SELECT 1 FROM pg_attribute o
                WHERE o.attrelid = t.oid AND o.attname = 'organization_id' AND NOT o.attisdropped)
 ORDER BY 1, 2
"""

# Foreign keys between two organisation-scoped tables: Citus co-locates both sides only
# when the key includes the distribution column.
_FOREIGN_KEYS = """
SELECT c.conname,
       EXISTS (SELECT 1 FROM unnest(c.conkey) k
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k
                WHERE a.attname = 'organization_id')
  FROM pg_constraint c
  JOIN pg_class t ON t.oid = c.conrelid
  JOIN pg_namespace n ON n.oid = t.relnamespace
 WHERE c.contype = 'f' AND n.nspname = 'public' AND NOT t.relispartition AND c.conparentid = 0
   AND EXISTS (SELECT 1 FROM pg_attribute o
                WHERE o.attrelid = c.conrelid AND o.attname = 'organization_id')
   AND EXISTS (SELECT 1 FROM pg_attribute o
                WHERE o.attrelid = c.confrelid AND o.attname = 'organization_id')
   AND c.confrelid <> 'organizations'::regclass
 ORDER BY 1
"""


def test_every_unique_key_of_an_organisation_scoped_table_leads_with_the_organisation(
    db: Database,
):
    with db.admin() as session:
        keys = session.execute(_KEYS).rows
    assert len({table for table, _, _ in keys}) >= 10  # not vacuous: the catalogue was read
    stray = [
        f"{table}: {index} starts with {first or 'an expression'}"
        for table, index, first in keys
        if first != "organization_id" and table not in NOT_DISTRIBUTED
    ]
    assert not stray, "\n".join(stray)


def test_foreign_keys_between_organisation_scoped_tables_carry_the_organisation(db: Database):
    with db.admin() as session:
        foreign = session.execute(_FOREIGN_KEYS).rows
    stray = [name for name, carries in foreign if not carries]
    assert not stray, "\n".join(stray)


def test_the_scaling_document_names_every_table_kept_off_the_organisation_shards():
    text = SCALING_DOC.read_text(encoding="utf-8")
    assert [table for table in NOT_DISTRIBUTED if f"`{table}`" not in text] == []
