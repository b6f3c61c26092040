"""A simulated organisation with labelled insider scenarios: demo data, benchmark load and
detection ground truth. See README.md ("Simulation") for the command and the labels format.

    sim = Simulation(SimulationConfig("org_demo", users=60, days=60, seed=1))
    write_jsonl(sim, Path("events.jsonl"))      # + events.labels.json
"""

from simulator.engine import DEFAULT_START, Simulation, SimulationConfig
from simulator.scenarios import SCENARIOS, parse_counts
from simulator.sources import SENSITIVE_SOURCE_IDS, SOURCE_TAGS, SOURCES
from simulator.writer import labels_path_for, write_database, write_jsonl

__all__ = [
    "DEFAULT_START",
    "SCENARIOS",
    "SENSITIVE_SOURCE_IDS",
    "SOURCES",
    "SOURCE_TAGS",
    "Simulation",
    "SimulationConfig",
    "labels_path_for",
    "parse_counts",
    "write_database",
    "write_jsonl",
]
