"""Collections of the notification database, their indexes and the queries on them.

recipients        _id = NIP: contact data, preferred channels, opt-outs per message kind
agency_contacts   _id = OPD code: the operator who receives escalation summaries
messages          one rendered message per (event, recipient, kind); the inbox reads it
deliveries        one per (event, kind, recipient, channel), unique ``key``; the worker's queue
enrolments        _id = enrolment id: latest enrolled/cancelled times (order-independent)
nudges            _id = NIP: when the last nudge was created (throttling)
escalations       _id = "<agency>|<checkpoint>": ASN waiting to be summarised to the operator
asn_agencies      _id = NIP: the agency enrollment's newest event places the ASN in (see access.py)
"""
from __future__ import annotations

import base64
from datetime import datetime

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING

from shared.errors import Invalid

RECIPIENTS = "recipients"
AGENCY_CONTACTS = "agency_contacts"
MESSAGES = "messages"
DELIVERIES = "deliveries"
ENROLMENTS = "enrolments"
NUDGES = "nudges"
ESCALATIONS = "escalations"
ASN_AGENCIES = "asn_agencies"

MAX_PAGE = 200


def create_indexes(db) -> None:
    db[DELIVERIES].create_index([("key", ASCENDING)], unique=True)
    db[DELIVERIES].create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
    db[DELIVERIES].create_index([("status", ASCENDING), ("claim_until", ASCENDING)])
    db[DELIVERIES].create_index([("nip", ASCENDING), ("_id", DESCENDING)])
    db[DELIVERIES].create_index([("source_event_id", ASCENDING), ("_id", DESCENDING)])
    db[DELIVERIES].create_index([("enrolment_id", ASCENDING), ("kind", ASCENDING), ("status", ASCENDING)])
    db[MESSAGES].create_index([("nip", ASCENDING), ("visible_at", DESCENDING), ("_id", DESCENDING)])
    db[MESSAGES].create_index([("enrolment_id", ASCENDING), ("kind", ASCENDING)])
    db[ESCALATIONS].create_index([("pending", ASCENDING), ("due_at", ASCENDING)])


def object_id(value: str, field: str) -> ObjectId:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise Invalid(f"{field} {value!r} is not a valid id", field=field) from None


# -- cursors: opaque to clients, (sort value, _id) inside ---------------------------------

def encode_cursor(*parts) -> str:
    raw = "|".join(p.isoformat() if isinstance(p, datetime) else str(p) for p in parts)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, count: int) -> list[str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise Invalid("cursor is not one this service returned", field="cursor") from None
    parts = raw.split("|")
    if len(parts) != count:
        raise Invalid("cursor is not one this service returned", field="cursor")
    return parts


# -- reads for the HTTP API -------------------------------------------------------------

def deliveries_page(db, *, nip: str | None, event_id: str | None, status: str | None, channel: str | None,
                    limit: int, cursor: str | None, agency: str | None = None) -> dict:
    """The delivery log, newest first, filtered by NIP and/or source event (and addressed agency)."""
    query: dict = {}
    if nip:
        query["nip"] = nip
    if agency:
        query["agency"] = agency
    if event_id:
        query["source_event_id"] = event_id
    if status:
        query["status"] = status
    if channel:
        query["channel"] = channel
    if cursor:
        [last] = decode_cursor(cursor, 1)
        query["_id"] = {"$lt": object_id(last, "cursor")}
    docs = list(db[DELIVERIES].find(query).sort("_id", DESCENDING).limit(limit + 1))
    more = len(docs) > limit
    docs = docs[:limit]
    return {"items": [delivery_view(d) for d in docs],
            "next_cursor": encode_cursor(docs[-1]["_id"]) if more else None}


def delivery_view(d: dict) -> dict:
    return {
        "id": str(d["_id"]), "message_id": str(d["message_id"]), "nip": d.get("nip"), "agency": d.get("agency"),
        "channel": d["channel"], "kind": d["kind"], "status": d["status"], "attempts": d.get("attempts", 0),
        "last_error": d.get("last_error"), "source_event_id": d.get("source_event_id"),
        "due_at": d.get("due_at"), "next_attempt_at": d.get("next_attempt_at"),
        "delivered_at": d.get("delivered_at"), "created_at": d["created_at"], "updated_at": d.get("updated_at"),
        "history": d.get("history", []),
    }


def inbox_page(db, nip: str, *, unread_only: bool, limit: int, cursor: str | None) -> dict:
    """Messages that reached the ASN's inbox, newest first, with the unread count."""
    base = {"nip": nip, "visible_at": {"$ne": None}, "dropped": {"$ne": True}}
    query = dict(base)
    if unread_only:
        query["read_at"] = None
    if cursor:
        at, last = decode_cursor(cursor, 2)
        try:
            at_dt = datetime.fromisoformat(at)
        except ValueError:
            raise Invalid("cursor is not one this service returned", field="cursor") from None
        last_id = object_id(last, "cursor")
        query["$or"] = [{"visible_at": {"$lt": at_dt}}, {"visible_at": at_dt, "_id": {"$lt": last_id}}]
    docs = list(db[MESSAGES].find(query).sort([("visible_at", DESCENDING), ("_id", DESCENDING)]).limit(limit + 1))
    more = len(docs) > limit
    docs = docs[:limit]
    unread = db[MESSAGES].count_documents({**base, "read_at": None})
    return {"nip": nip, "unread": unread, "items": [inbox_view(m) for m in docs],
            "next_cursor": encode_cursor(docs[-1]["visible_at"], docs[-1]["_id"]) if more else None}


def inbox_view(m: dict) -> dict:
    return {"id": str(m["_id"]), "kind": m["kind"], "subject": m["subject"], "text": m["text"],
            "html": m["html"], "received_at": m["visible_at"], "read_at": m.get("read_at"),
            "read": m.get("read_at") is not None, "source_event_id": m.get("source_event_id")}
