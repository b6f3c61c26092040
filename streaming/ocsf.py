"""Events and findings as OCSF, built with `py-ocsf-models`.

The library models the Findings classes (Detection Finding) fully; for the IAM and
Application Activity classes it has the base event and its objects (metadata, product,
user, account, resource), which the class below extends with the attributes those classes add.
The library models OCSF 1.5.0; the records are written as OCSF `SCHEMA_VERSION` (1.8.0), and a
test checks one record of each class against that version's schema as the OCSF project's own
compiler builds it (tests/streaming/ocsf_1_8_0.json).

An event's record is defined by `event_model` (the library's models, validated). Validating
and dumping a dozen models cost several times the rest of streaming an event, so what is sent
is `event_record`: the same record written straight as a dict, which a test holds equal, byte
for byte, to `event_model`'s dump over every mapping and hostile values.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
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
from pydantic_core import to_jsonable_python

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


def event_model(event: dict[str, Any]) -> ActivityEvent:
    """One stored event (column names) as the library's OCSF model: what `event_record` writes."""
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
    return record


_PRODUCT = PRODUCT.model_dump(mode="json", exclude_none=True)
_OTHER = AccountTypeID.Other.value
_INFORMATIONAL = SeverityID.Informational.value


def _user_record(user_id: str | None, email: str | None) -> dict[str, Any] | None:
    """`_user`'s model as dumped."""
    if user_id is None and email is None:
        return None
    uid = user_id or email or ""
    user: dict[str, Any] = {"account": {"name": uid, "type_id": _OTHER, "uid": uid}}
    if email is not None:
        user["email_addr"] = email
    user["name"] = email or uid
    user["type_id"] = 99
    user["uid"] = uid
    return user


def _resource_record(kind: str | None, uid: str | None) -> dict[str, Any]:
    """A ResourceDetails(type, uid) as dumped."""
    if kind is None:
        return {} if uid is None else {"uid": uid}
    return {"type": kind} if uid is None else {"type": kind, "uid": uid}


def _time_dt(value: datetime | str, moment: datetime) -> str:
    """`moment` as pydantic writes a datetime in JSON. The cursor reads times as `utc_iso`'s
    text, which is that text with a zero fraction of a second left out."""
    if (
        type(value) is str
        and len(value) == 27
        and value[10] == "T"
        and value[19] == "."
        and value[26] == "Z"
    ):
        return value[:19] + "Z" if value[19:26] == ".000000" else value
    return str(to_jsonable_python(moment))


@lru_cache(maxsize=1024)
def _kind(family: str, action: str) -> tuple[int, bool, dict[str, Any]]:
    """An event kind's class uid, whether it failed, and its attributes from activity_id to
    type_name (the same for every event of the kind)."""
    mapping = mapping_for(family, action)
    cls = mapping.ocsf
    return (
        cls.uid,
        mapping.failed,
        {
            "activity_id": mapping.activity_id,
            "activity_name": mapping.activity_name,
            "category_uid": cls.category_uid,
            "category_name": cls.category_name,
            "class_uid": cls.uid,
            "class_name": cls.name,
            "type_uid": mapping.type_uid,
            "type_name": f"{cls.name}: {mapping.activity_name}",
        },
    )


# Cached: the events of one transaction share their received_at.
@lru_cache(maxsize=4096)
def _logged_time(received: datetime | str) -> int:
    return _millis(as_moment(received))


def event_record(event: dict[str, Any]) -> dict[str, Any]:
    """One stored event (column names) as an OCSF record (a JSON-ready dict): `event_model`
    dumped (JSON mode, without None), written directly in the models' attribute order."""
    get = event.get
    action = event["event_action"]
    uid, failed, kind = _kind(event["event_type"], action)
    received = get("received_at")
    sequence = get("ingest_seq")
    metadata: dict[str, Any] = {"event_code": action, "uid": event["id"]}
    if received is not None:
        metadata["logged_time"] = _logged_time(received)
    metadata["product"] = dict(_PRODUCT)
    if sequence is not None:
        metadata["sequence"] = sequence
    metadata["tenant_uid"] = event["organization_id"]
    metadata["version"] = SCHEMA_VERSION
    unmapped: dict[str, Any] = {
        "event_type": event["event_type"],
        "details": get("details") or {},
    }
    event_time = event["event_time"]
    moment = as_moment(event_time)
    record: dict[str, Any] = {
        "metadata": metadata,
        "severity_id": _INFORMATIONAL,
        "status": "Failure" if failed else "Success",
        "status_id": 2 if failed else 1,
        "unmapped": unmapped,
        **kind,
        "time": _millis(moment),
        "time_dt": _time_dt(event_time, moment),
    }
    user = _user_record(get("user_id"), get("user_email"))
    if user is not None:
        session_id = get("session_id")
        record["actor"] = (
            {"user": user, "session": {"uid": session_id}} if session_id else {"user": user}
        )
    resource_type = get("resource_type")
    resource_id = get("resource_id")
    has_resource = resource_type is not None or resource_id is not None
    if not has_resource and uid in (6001, 3004):  # required there: named as unknown
        resource_id, has_resource = _UNKNOWN, True
    if uid in (3001, 3002, 3005):  # `user` required: see event_model
        if has_resource and resource_type == "user" and resource_id is not None:
            record["user"] = _user_record(resource_id, None)
        else:
            record["user"] = _user_record(get("user_id"), get("user_email")) or _user_record(
                _UNKNOWN, None
            )
    ip_address = get("ip_address")
    if ip_address:
        record["src_endpoint"] = {"ip": str(ip_address)}
    user_agent = get("user_agent")
    if user_agent:
        record["http_request"] = {"user_agent": user_agent}
    if has_resource:
        resource = _resource_record(resource_type, resource_id)
        if uid == 6001:
            record["web_resources"] = [resource]
        elif uid == 3004:
            record["entity"] = resource
        elif uid in _WITH_RESOURCES:
            record["resources"] = [resource]
        else:
            unmapped["resource"] = resource
    if uid == 3005:
        details = get("details") or {}
        granted = details.get("role") or details.get("new_role") or action
        record["privileges"] = [str(granted)]
    return record


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
