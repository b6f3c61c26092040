"""The simulated organisation's people: roles with distinct habits, where they work, and
the roster built from a seed.

A role's habits are data: which sources it reads (weights), which actions it takes
(weights), how many sessions a day and actions per session, when its day starts in the
person's own time zone, whether it works weekends or is on call, and how often it works
from home. Detection's peer groups are roles and departments.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from simulator import network


@dataclass(frozen=True)
class Location:
    name: str
    time_zone: str
    country: str
    city: str
    has_office: bool


LOCATIONS: dict[str, Location] = {
    loc.name: loc
    for loc in (
        Location("london", "Europe/London", "GB", "London", True),
        Location("new-york", "America/New_York", "US", "New York", True),
        Location("berlin", "Europe/Berlin", "DE", "Berlin", True),
        Location("bangalore", "Asia/Kolkata", "IN", "Bangalore", True),
        Location("san-francisco", "America/Los_Angeles", "US", "San Francisco", True),
        Location("remote-lisbon", "Europe/Lisbon", "PT", "Lisbon", False),
        Location("remote-manila", "Asia/Manila", "PH", "Manila", False),
        # Further zones, for worlds spread around the globe.
        Location("sydney", "Australia/Sydney", "AU", "Sydney", True),
        Location("tokyo", "Asia/Tokyo", "JP", "Tokyo", True),
        Location("mexico-city", "America/Mexico_City", "MX", "Mexico City", True),
        Location("remote-cape-town", "Africa/Johannesburg", "ZA", "Cape Town", False),
        Location("remote-honolulu", "Pacific/Honolulu", "US", "Honolulu", False),
    )
}


@dataclass(frozen=True)
class Role:
    """A job role and its habits."""

    name: str
    department: str
    headcount: float  # relative share of the organisation
    platform_role: str  # permission level in the log platform: viewer, member, admin
    sources: tuple[tuple[str, float], ...]  # source name -> weight
    actions: tuple[tuple[str, float], ...]  # action kind (see actions.HANDLERS) -> weight
    sessions: tuple[int, int]  # sessions on a working day (inclusive range)
    actions_per_session: tuple[int, int]
    start_hour: float  # typical local start of the working day
    day_hours: float  # length of the working day
    weekend_work: float  # chance of a short session on a day off
    remote: float  # chance of working from home on a working day
    locations: tuple[str, ...]
    automation: float = 0.0  # share of people running scripts with an API key
    on_call: bool = False


ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        Role(
            "sre",
            "infrastructure",
            14,
            "member",
            (
                ("production-api", 35),
                ("infra-logs", 25),
                ("kubernetes-events", 15),
                ("checkout-service", 10),
                ("auth-logs", 8),
                ("app-logs", 7),
            ),
            (
                ("search", 46),
                ("view_logs", 24),
                ("view_entry", 15),
                ("download", 1.5),
                ("api_access", 3),
                ("update_alert", 1.5),
                ("create_alert", 0.4),
                ("toggle_alert", 0.8),
                ("delete_alert", 0.1),
                ("add_source", 0.15),
            ),
            (2, 4),
            (5, 14),
            8.5,
            9.0,
            0.15,
            0.35,
            ("london", "new-york", "bangalore", "berlin"),
            automation=0.5,
            on_call=True,
        ),
        Role(
            "developer",
            "engineering",
            34,
            "member",
            (
                ("app-logs", 30),
                ("staging-logs", 25),
                ("production-api", 20),
                ("checkout-service", 18),
                ("infra-logs", 7),
            ),
            (
                ("search", 50),
                ("view_logs", 24),
                ("view_entry", 18),
                ("download", 1.5),
                ("api_access", 3),
                ("create_alert", 0.25),
                ("update_alert", 0.3),
                ("export", 0.25),
                ("create_api_key", 0.05),
            ),
            (1, 3),
            (4, 12),
            9.5,
            8.5,
            0.05,
            0.4,
            ("london", "new-york", "berlin", "bangalore", "san-francisco"),
            automation=0.3,
        ),
        Role(
            "support",
            "customer-success",
            20,
            "member",
            (
                ("customer-data", 35),
                ("production-api", 25),
                ("app-logs", 15),
                ("checkout-service", 12),
                ("billing-events", 13),
            ),
            (
                ("search", 45),
                ("view_logs", 20),
                ("view_entry", 32),
                ("download", 1),
                ("export", 0.4),
            ),
            (2, 3),
            (5, 12),
            8.0,
            8.5,
            0.08,
            0.3,
            ("london", "new-york", "bangalore"),
        ),
        Role(
            "security",
            "security",
            6,
            "admin",
            (
                ("auth-logs", 40),
                ("production-api", 15),
                ("infra-logs", 15),
                ("app-logs", 12),
                ("customer-data", 4),
                ("payment-logs", 4),
            ),
            (
                ("search", 36),
                ("view_logs", 20),
                ("view_entry", 14),
                ("audit_search", 14),
                ("audit_view", 10),
                ("download", 1.5),
                ("update_pii_masking", 0.3),
                ("revoke_api_key", 0.2),
            ),
            (1, 3),
            (5, 12),
            9.0,
            8.5,
            0.1,
            0.25,
            ("london", "new-york"),
            automation=0.3,
        ),
        Role(
            "compliance",
            "risk-and-compliance",
            6,
            "member",
            (
                ("payment-logs", 30),
                ("billing-events", 25),
                ("customer-data", 12),
                ("hr-events", 13),
                ("auth-logs", 20),
            ),
            (
                ("search", 30),
                ("view_logs", 26),
                ("view_entry", 10),
                ("audit_view", 16),
                ("audit_search", 10),
                ("export", 1.5),
                ("download", 2),
                ("update_retention_policy", 0.1),
            ),
            (1, 2),
            (4, 10),
            9.0,
            8.0,
            0.02,
            0.2,
            ("london", "new-york", "berlin"),
        ),
        Role(
            "admin",
            "it",
            4,
            "admin",
            (("production-api", 25), ("app-logs", 25), ("auth-logs", 25), ("infra-logs", 25)),
            (
                ("search", 20),
                ("view_logs", 20),
                ("view_entry", 8),
                ("audit_view", 5),
                ("invite_user", 2.5),
                ("change_role", 1.5),
                ("create_api_key", 1.5),
                ("revoke_api_key", 1),
                ("delete_account", 0.5),
                ("update_org_settings", 1),
                ("update_pii_masking", 0.8),
                ("update_retention_policy", 0.8),
                ("add_source", 0.8),
                ("remove_source", 0.3),
            ),
            (1, 3),
            (3, 9),
            8.5,
            8.5,
            0.05,
            0.2,
            ("london", "new-york"),
        ),
        Role(
            "contractor",
            "engineering",
            8,
            "viewer",
            (("staging-logs", 55), ("app-logs", 45)),
            (("search", 50), ("view_logs", 30), ("view_entry", 20)),
            (1, 2),
            (3, 9),
            10.0,
            7.0,
            0.0,
            1.0,
            ("remote-lisbon", "remote-manila"),
        ),
    )
}

# Roles only some worlds have (see simulator.worlds): people whose ordinary work looks like
# an insider's to a naive detector.
EXTRA_ROLES: dict[str, Role] = {
    r.name: r
    for r in (
        # Support around the clock: a night shift reading customer data from 22:00 local.
        Role(
            "night_support",
            "customer-success",
            0,
            "member",
            (
                ("customer-data", 40),
                ("production-api", 25),
                ("app-logs", 20),
                ("billing-events", 15),
            ),
            (
                ("search", 45),
                ("view_logs", 22),
                ("view_entry", 30),
                ("download", 1),
                ("export", 0.6),
            ),
            (2, 3),
            (5, 12),
            22.0,
            8.0,
            0.3,
            0.6,
            ("london", "new-york", "bangalore"),
        ),
        # Finance operations export billing and payment data every working day as their job.
        Role(
            "finance_ops",
            "finance",
            0,
            "member",
            (("billing-events", 45), ("payment-logs", 35), ("customer-data", 20)),
            (("search", 35), ("view_logs", 30), ("view_entry", 12), ("export", 9), ("download", 6)),
            (2, 3),
            (4, 9),
            8.5,
            8.0,
            0.02,
            0.2,
            ("london", "new-york", "berlin"),
        ),
        # Service accounts: integrations reading logs through the API from 00:00 to 24:00 UTC,
        # weekends included.
        Role(
            "service",
            "automation",
            0,
            "member",
            (("production-api", 40), ("app-logs", 30), ("infra-logs", 30)),
            (("api_access", 70), ("search", 30)),
            (6, 8),
            (4, 10),
            0.0,
            23.0,
            1.0,
            0.0,
            ("london",),
            automation=1.0,
        ),
    )
}

FIRST_NAMES = (
    "john",
    "sarah",
    "maria",
    "wei",
    "priya",
    "ahmed",
    "olga",
    "lucas",
    "emma",
    "noah",
    "aisha",
    "diego",
    "hana",
    "liam",
    "fatima",
    "mateo",
    "yuki",
    "chloe",
    "omar",
    "ines",
    "arjun",
    "sofia",
    "tom",
    "lena",
    "kofi",
    "nina",
    "raj",
    "eva",
    "jonas",
    "mei",
    "carlos",
    "anna",
    "samuel",
    "leila",
    "felix",
    "zara",
    "ivan",
    "grace",
    "ravi",
    "julia",
)
LAST_NAMES = (
    "smith",
    "garcia",
    "chen",
    "patel",
    "khan",
    "novak",
    "silva",
    "brown",
    "mueller",
    "kim",
    "okafor",
    "rossi",
    "tanaka",
    "dubois",
    "haddad",
    "nguyen",
    "jones",
    "schmidt",
    "reyes",
    "ivanova",
    "singh",
    "lopez",
    "walker",
    "fischer",
    "mensah",
    "costa",
    "sato",
    "martin",
    "wright",
    "ali",
    "berg",
    "moreau",
    "lee",
    "hughes",
    "kowalski",
    "ortiz",
    "das",
    "meyer",
)


@dataclass(eq=False)
class Person:
    """One member of the simulated organisation, with their devices and networks."""

    index: int
    user_id: str
    email: str
    role: Role
    location: Location
    office_ip: str | None
    home_ip: str
    browsers: tuple[str, ...]
    uses_cli: bool
    api_key_id: str | None  # an automation key, used from CI runners
    ci_ip: str
    hired_day: int | None = None  # joins during the simulation (benign new-hire ramp-up)
    active_days: frozenset[int] | None = None  # only these days (dormant accounts)
    # JSON fragments for (ip, user agent) pairs, built once each.
    idents: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def department(self) -> str:
        return self.role.department

    @property
    def usual_ip(self) -> str:
        """The office's address, or home's for people without an office."""
        return self.office_ip or self.home_ip

    def roster_entry(self, clock_date: str | None = None) -> dict[str, object]:
        """What the labels file says about this person (detection's peer groups)."""
        return {
            "user_id": self.user_id,
            "user_email": self.email,
            "role": self.role.name,
            "department": self.role.department,
            "platform_role": self.role.platform_role,
            "location": self.location.name,
            "country": self.location.country,
            "time_zone": self.location.time_zone,
            "hired": clock_date,
        }


def build_roster(
    rng: random.Random,
    users: int,
    domain: str,
    *,
    headcount: Mapping[str, float] | None = None,
    locations: tuple[str, ...] | None = None,
) -> list[Person]:
    """`users` people: at least one of every role when there are enough, then by headcount.

    `headcount` (role name -> relative share) replaces the roles' own shares and may name
    EXTRA_ROLES; `locations` replaces every role's locations (a world's time-zone spread).
    """
    shares = headcount or {name: role.headcount for name, role in ROLES.items()}
    roles = {
        name: ROLES.get(name) or EXTRA_ROLES[name] for name, share in shares.items() if share > 0
    }
    names = list(roles)
    weights = [shares[n] for n in names]
    picked = names[:users] + rng.choices(names, weights, k=max(0, users - len(names)))
    seen_emails: set[str] = set()
    roster: list[Person] = []
    for i, role_name in enumerate(picked):
        role = roles[role_name]
        location = LOCATIONS[rng.choice(locations or role.locations)]
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        local = f"{first}.{last}" if role.name != "service" else f"svc-{first}-{last}"
        n = 2
        while local in seen_emails:
            local = f"{first}.{last}{n}"
            n += 1
        seen_emails.add(local)
        office = (
            network.host(network.OFFICE_PREFIX[location.name], rng.randrange(60_000))
            if location.has_office
            else None
        )
        home = network.host(
            rng.choice(network.HOME_PREFIX[location.country]), rng.randrange(60_000)
        )
        browsers = tuple(rng.sample(network.BROWSERS, 2 if rng.random() < 0.3 else 1))
        automation = rng.random() < role.automation
        roster.append(
            Person(
                index=i,
                user_id=f"user_{rng.getrandbits(32):08x}",
                email=f"{local}@{domain}",
                role=role,
                location=location,
                office_ip=office,
                home_ip=home,
                browsers=browsers,
                uses_cli=role.name in ("sre", "developer", "security") and rng.random() < 0.4,
                api_key_id=f"key_{rng.getrandbits(32):08x}" if automation else None,
                ci_ip=rng.choice(network.CI_IPS),
            )
        )
    return roster
