"""The simulator describes its resources through the catalogue any organisation uses, and
detection reads nothing else: on a simulated organisation exactly the restricted sources
count as sensitive, as they did when detection read the simulator's list directly."""

from __future__ import annotations

from datetime import date

from detection.features import organisation_sensitivity
from simulator import Simulation, SimulationConfig, write_database
from simulator.sources import RESTRICTED_SOURCE_IDS
from sql.catalogue import entries
from sql.gateway import Database
from sql.vocabulary import DESCRIBE_RESOURCE

TINY = SimulationConfig("org_tiny", users=12, days=8, seed=3, start=date(2024, 11, 18))


def test_simulated_catalogue_gives_detection_the_restricted_sources(db: Database) -> None:
    write_database(Simulation(TINY), db, None)
    with db.org_session("org_tiny") as s:
        ids = [
            r[0]
            for r in s.execute(
                "SELECT DISTINCT resource_id FROM org_audit_events WHERE resource_id IS NOT NULL",
                max_rows=100_000,
            ).rows
        ]
        described = s.scalar(
            "SELECT count(*) FROM org_audit_events WHERE event_action = :a",
            {"a": DESCRIBE_RESOURCE.name},
        )
    sensitivity = organisation_sensitivity(db, "org_tiny", ids)
    assert sensitivity.resource_ids == RESTRICTED_SOURCE_IDS
    catalogue = entries(db, "org_tiny")
    assert catalogue["source_payment_logs"].display_name == "Payment logs"
    assert catalogue["source_payment_logs"].tags == ("pci", "financial", "payments")
    # Audited like anyone's change, once: the same simulation again changes nothing.
    assert described == len(catalogue)
    write_database(Simulation(TINY), db, None)
    with db.org_session("org_tiny") as s:
        assert (
            s.scalar(
                "SELECT count(*) FROM org_audit_events WHERE event_action = :a",
                {"a": DESCRIBE_RESOURCE.name},
            )
            == described
        )
