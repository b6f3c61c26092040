"""The simulated organisation's log sources, each tagged with its sensitivity.

Detection and reports use the tags as data (`SOURCE_TAGS`, keyed by the `resource_id` that
events carry), e.g. "first access to a `restricted` source in the peer group". Levels, from
least to most sensitive: `internal`, `confidential`, `restricted`; every source of the two
upper levels also carries the tag `sensitive`.
"""

from __future__ import annotations

from dataclasses import dataclass

SENSITIVITY_LEVELS: tuple[str, ...] = ("internal", "confidential", "restricted")


@dataclass(frozen=True)
class Source:
    """One log source of the simulated log platform."""

    name: str  # as users see it, e.g. "payment-logs"
    sensitivity: str  # one of SENSITIVITY_LEVELS
    tags: tuple[str, ...]  # what the data is: pci, pii, auth, hr, financial, production ...

    @property
    def resource_id(self) -> str:
        """The id events carry (the request's style: `source_production_api`)."""
        return "source_" + self.name.replace("-", "_")

    @property
    def sensitive(self) -> bool:
        return self.sensitivity != "internal"


SOURCES: tuple[Source, ...] = (
    Source("production-api", "confidential", ("production", "api")),
    Source("checkout-service", "confidential", ("production", "payments")),
    Source("app-logs", "internal", ("application",)),
    Source("staging-logs", "internal", ("staging",)),
    Source("infra-logs", "internal", ("infrastructure",)),
    Source("kubernetes-events", "internal", ("infrastructure",)),
    Source("auth-logs", "confidential", ("auth", "security", "pii")),
    Source("billing-events", "confidential", ("financial",)),
    Source("payment-logs", "restricted", ("pci", "financial", "payments")),
    Source("customer-data", "restricted", ("pii", "customer")),
    Source("hr-events", "restricted", ("hr", "pii", "employee")),
)

SOURCES_BY_NAME: dict[str, Source] = {s.name: s for s in SOURCES}

# resource_id -> tags, including the sensitivity level and `sensitive` where it applies.
SOURCE_TAGS: dict[str, frozenset[str]] = {
    s.resource_id: frozenset((*s.tags, s.sensitivity, *(("sensitive",) if s.sensitive else ())))
    for s in SOURCES
}

# resource_id -> sensitivity level.
SOURCE_SENSITIVITY: dict[str, str] = {s.resource_id: s.sensitivity for s in SOURCES}

SENSITIVE_SOURCE_IDS: frozenset[str] = frozenset(s.resource_id for s in SOURCES if s.sensitive)
RESTRICTED_SOURCE_IDS: frozenset[str] = frozenset(
    s.resource_id for s in SOURCES if s.sensitivity == "restricted"
)


def source_id(name: str) -> str:
    """The resource_id of a source given its name (`payment-logs` -> `source_payment_logs`)."""
    return SOURCES_BY_NAME[name].resource_id


def retention_policy_id(resource_id: str) -> str:
    """The id of a source's retention policy (`retention_source_auth_logs`)."""
    return f"retention_{resource_id}"


def api_logs_path(name: str) -> str:
    """The API endpoint that reads a source's logs (`/api/v1/sources/payment-logs/logs`)."""
    return f"/api/v1/sources/{name}/logs"
