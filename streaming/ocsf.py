"""Events and findings as OCSF, built with `py-ocsf-models`.

The library models the Findings classes (Detection Finding) fully; for the IAM and
Application Activity classes it has the base event and its objects (metadata, product,
user, account, resource), which the class below extends with the attributes those classes add.
The library models OCSF 1.5.0; the records are written as OCSF `SCHEMA_VERSION` (1.8.0), and a
test checks one record of each class against that version's schema as the OCSF project's own
compiler builds it (tests/streaming/ocsf_1_8_0.json).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from py_ocsf_models.events.base_event import BaseEvent
from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from py_ocsf_models.events.findings.detection_finding_type_id import DetectionFindingTypeID
from py_ocsf_models.events.findings.severity_id import SeverityID
from py_ocsf_models.objects.account import Account
from py_ocsf_models.objects.account import TypeID as AccountTypeID
from py_ocsf_models.objects.finding_info import FindingInformation
from py_ocsf_models.objects.metadata import Metadata
from py_ocsf_models.objects.product import Product
from py_ocsf_models.objects.resource_details import ResourceDetails
from py_ocsf_models.objects.user import User
from pydantic import BaseModel

from streaming.mapping import FINDING, FINDING_SEVERITY_IDS, mapping_for
from streaming.times import as_moment

PRODUCT = Product(name="AuditLens", vendor_name="AuditLens")
SCHEMA_VERSION = "1.8.0"
# The classes whose events name their resources in `resources` (the others: below).
_WITH_RESOURCES = (3005, 6003)
_UNKNOWN = "unknown"


class LoggedMetadata(Metadata):
    """OCSF metadata whose logged_time is a timestamp (epoch milliseconds), as the schema
    types it; the library types it as a datetime, which is written as text."""

    logged_time: int | None = None


class Endpoint(BaseModel):
    """OCSF network endpoint (src_endpoint): the client's address."""

    ip: str | None = None


class HttpRequest(BaseModel):
    """OCSF HTTP request: the client's user agent."""

    user_agent: str | None = None


class Session(BaseModel):
    """OCSF session: the producer's session id."""

    uid: str


class Actor(BaseModel):
    """OCSF actor: who did it, and in which session."""

    user: User
    session: Session | None = None


class ActivityEvent(BaseEvent):
    """An OCSF IAM or Application Activity event (classes 3001-3005, 6001, 6003)."""

    metadata: LoggedMetadata
    activity_id: int
    activity_name: str
    category_uid: int
    category_name: str
    class_uid: int
    class_name: str
    type_uid: int
    type_name: str
    time: int
    time_dt: datetime
    status_id: int  # 1 Success, 2 Failure (base event's meaning)
    actor: Actor | None = None
    user: User | None = None
    src_endpoint: Endpoint | None = None
    http_request: HttpRequest | None = None
    web_resources: list[ResourceDetails] | None = None
    entity: ResourceDetails | None = None
    resources: list[ResourceDetails] | None = None
    privileges: list[str] | None = None


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _user(user_id: str | None, email: str | None) -> User | None:
    if user_id is None and email is None:
        return None
    uid = user_id or email or ""
    return User(
        account=Account(name=uid, uid=uid, type_id=AccountTypeID.Other),
        name=email or uid,
        uid=uid,
        email_addr=email,
        type_id=99,
    )


def event_record(event: dict[str, Any]) -> dict[str, Any]:
    """One stored event (column names) as an OCSF record (a JSON-ready dict)."""
    mapping = mapping_for(event["event_type"], event["event_action"])
    cls = mapping.ocsf
    resource = None
    if event.get("resource_type") is not None or event.get("resource_id") is not None:
        resource = ResourceDetails(type=event.get("resource_type"), uid=event.get("resource_id"))
    user = _user(event.get("user_id"), event.get("user_email"))
    session = Session(uid=event["session_id"]) if event.get("session_id") else None
    moment = as_moment(event["event_time"])
    received = event.get("received_at")
    unmapped: dict[str, Any] = {
        "event_type": event["event_type"],
        "details": event.get("details") or {},
    }
    record = ActivityEvent(
        metadata=LoggedMetadata(
            product=PRODUCT,
            uid=event["id"],
            version=SCHEMA_VERSION,
            tenant_uid=event["organization_id"],
            sequence=event.get("ingest_seq"),
            logged_time=None if received is None else _millis(as_moment(received)),
            event_code=event["event_action"],
        ),
        severity_id=SeverityID.Informational,
        activity_id=mapping.activity_id,
        activity_name=mapping.activity_name,
        category_uid=cls.category_uid,
        category_name=cls.category_name,
        class_uid=cls.uid,
        class_name=cls.name,
        type_uid=mapping.type_uid,
        type_name=f"{cls.name}: {mapping.activity_name}",
        time=_millis(moment),
        time_dt=moment,
        status_id=2 if mapping.failed else 1,
        status="Failure" if mapping.failed else "Success",
        actor=Actor(user=user, session=session) if user is not None else None,
        src_endpoint=Endpoint(ip=str(event["ip_address"])) if event.get("ip_address") else None,
        http_request=HttpRequest(user_agent=event["user_agent"])
        if event.get("user_agent")
        else None,
        unmapped=unmapped,
    )
    if event.get("user_agent"):
        record.http_request = HttpRequest(user_agent=event["user_agent"])
    if resource is None and cls.uid in (6001, 3004):  # required there: named as unknown
        resource = ResourceDetails(uid=_UNKNOWN, type=event.get("resource_type"))
    if resource is not None:
        if cls.uid == 6001:
            record.web_resources = [resource]
        elif cls.uid == 3004:
            record.entity = resource
        elif cls.uid in _WITH_RESOURCES:
            record.resources = [resource]
        else:  # Account Change and Authentication have no resources attribute
            unmapped["resource"] = resource.model_dump(exclude_none=True)
    # `user` is required in these classes: the account changed (a user resource), else the
    # actor's (who signed in, or made the change).
    if cls.uid in (3001, 3002, 3005):
        target = resource.uid if resource is not None and resource.type == "user" else None
        record.user = _user(target, None) if target is not None else user or _user(_UNKNOWN, None)
    if cls.uid == 3005:  # the privileges granted or revoked: required
        details = event.get("details") or {}
        granted = details.get("role") or details.get("new_role") or event["event_action"]
        record.privileges = [str(granted)]
    return record.model_dump(mode="json", exclude_none=True)


def finding_record(finding: dict[str, Any]) -> dict[str, Any]:
    """One stored finding as an OCSF Detection Finding (2004) record."""
    created: datetime = finding["created_at"]
    record = DetectionFinding(
        metadata=Metadata(
            product=PRODUCT,
            uid=finding["finding_id"],
            version=SCHEMA_VERSION,
            tenant_uid=finding["organization_id"],
        ),
        severity_id=SeverityID(FINDING_SEVERITY_IDS[finding["severity"]]),
        severity=str(finding["severity"]).capitalize(),
        activity_id=FINDING.activity_id,
        activity_name=FINDING.activity_name,
        type_uid=DetectionFindingTypeID.Create,
        type_name="Detection Finding: Create",
        time=_millis(created),
        time_dt=created,
        risk_score=round(float(finding["score"]) * 100),
        finding_info=FindingInformation(
            uid=finding["finding_id"],
            title=finding["title"],
            desc=finding["explanation"],
            types=list(finding["detectors"]),
            first_seen_time_dt=finding["window_start"],
            last_seen_time_dt=finding["window_end"],
        ),
        resources=[
            ResourceDetails(type="user", uid=finding["user_id"], name=finding.get("user_email"))
        ],
        unmapped={"evidence_query": finding["evidence_query"], "day": str(finding["day"])},
    )
    return record.model_dump(mode="json", exclude_none=True)
