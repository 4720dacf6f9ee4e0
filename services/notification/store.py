"""Collections of the notification database and their indexes.

recipients        _id = NIP: contact data, preferred channels, opt-outs per message kind
agency_contacts   _id = OPD code: the operator who receives escalation summaries
messages          one rendered message per (event, recipient, kind); the inbox reads it
deliveries        one per (event, kind, recipient, channel), unique ``key``; the delivery loop's queue
enrolments        _id = enrolment id: latest enrolled/cancelled times (order-independent)
nudges            _id = NIP: when the last nudge was created and for which checkpoints (throttling)
escalations       _id = "<agency>|<checkpoint>" or "supervisor:<NIP>|<checkpoint>": ASN waiting to be
                  summarised to the OPD operator or to their atasan langsung
asn_agencies      _id = NIP: the agency the roster (else enrollment's newest event) places the ASN in
                  (domain: who may act)
roster            _id = NIP: the roster entry as enrollment's asn_* events last stated it (name,
                  agency, supervisor, status, version) and the version of the contact data applied
approvals         _id = enrolment id: a supervisor-approval request's signed link (from the private
                  approval_link, so that approval_reminded can send it again) until the request is
                  decided or lapses; then only the decision, kept until ``purge_at`` (TTL) so that a
                  late link or reminder is recognised as stale
"""
from __future__ import annotations

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
ROSTER = "roster"
APPROVALS = "approvals"

MAX_PAGE = 200  # the most items a list route answers at once (docs/security.md)


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
    db[APPROVALS].create_index([("purge_at", ASCENDING)], expireAfterSeconds=0, name="purge_at_ttl")


def object_id(value: str, field: str) -> ObjectId:
    """An id from a request (or a cursor); Invalid (422) naming ``field`` when it is none."""
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise Invalid(f"{field} {value!r} is not a valid id", field=field) from None
