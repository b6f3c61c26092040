"""What the connected server offers: plain PostgreSQL, TimescaleDB Apache, or TimescaleDB
with the Timescale license (compression of old chunks)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sqlalchemy import Connection, text

MIN_SERVER_VERSION = 150000


class Flavor(enum.StrEnum):
    POSTGRES = "postgres"
    TIMESCALE_APACHE = "timescale_apache"
    TIMESCALE_FULL = "timescale_full"


@dataclass(frozen=True)
class Capabilities:
    server_version_num: int
    server_version: str
    timescaledb_version: str | None
    flavor: Flavor
    # The search migration made text search indexable through the readers' views (pg_trgm and a
    # superuser migration): EventFilter.sql_for(db) then uses its operator.
    trigram_search: bool = False

    @property
    def hypertables(self) -> bool:
        return self.flavor is not Flavor.POSTGRES

    @property
    def compression(self) -> bool:
        """Compressed chunks (columnstore): the Timescale license only."""
        return self.flavor is Flavor.TIMESCALE_FULL

    def describe(self) -> str:
        if self.timescaledb_version is None:
            return (
                f"PostgreSQL {self.server_version} (plain: partitioned tables, rollup tables)"
                f"{self._text_search()}"
            )
        edition = "Timescale license" if self.compression else "Apache edition"
        return (
            f"PostgreSQL {self.server_version} with TimescaleDB {self.timescaledb_version} "
            f"({edition}){self._text_search()}"
        )

    def _text_search(self) -> str:
        return "" if self.trigram_search else "; text search unindexed (see README)"


def timescaledb_available(conn: Connection) -> bool:
    """True when the extension is installed on the server and preloaded (so it can be created)."""
    available = conn.execute(
        text("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
    ).first()
    if not available:
        return False
    preload = conn.execute(text("SELECT current_setting('shared_preload_libraries')")).scalar()
    return "timescaledb" in str(preload or "")


def detect(conn: Connection) -> Capabilities:
    """Read the server version and the TimescaleDB extension (if created in this database)."""
    version_num = int(conn.execute(text("SHOW server_version_num")).scalar_one())
    version = str(conn.execute(text("SHOW server_version")).scalar_one()).split()[0]
    # The operator class exists only where the search migration could make its functions
    # LEAKPROOF; without the index its operator would still be exact, but slower than ILIKE.
    trigram = bool(
        conn.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_opclass WHERE opcname = 'auditlens_trgm_ops')"
                " AND to_regclass('audit_events_details_trgm') IS NOT NULL"
            )
        ).scalar()
    )
    ts_version = conn.execute(
        text("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    ).scalar()
    if ts_version is None:
        return Capabilities(version_num, version, None, Flavor.POSTGRES, trigram)
    license_name = conn.execute(
        text("SELECT current_setting('timescaledb.license', true)")
    ).scalar()
    flavor = Flavor.TIMESCALE_FULL if license_name == "timescale" else Flavor.TIMESCALE_APACHE
    return Capabilities(version_num, version, str(ts_version), flavor, trigram)
