"""The enrollment database: collections, indexes and the two lookups every layer uses.

programmes    _id = programme code; counters ``seats_taken``, ``waitlisted`` and the
              monotonic ``arrivals`` that orders enrolments (waitlist order)
participants  _id = NIP / NI PPPK; the identity of the latest enrolment: from the roster
              (``listed``), or as an admin gave it for an ASN not on it
enrolments    _id = ObjectId hex; one per (programme_code, nip), enforced by a unique index
roster        _id = NIP / NI PPPK; the roster (daftar ASN): public fields, ``version``, whether
              the ASN ever enrolled, and only a salted digest of their contact (ADR 0080)
approvals     _id = enrolment id; the supervisor-approval request of a self-enrolment (its
              approver, state and due times), for GET /approvals and the sweep (ADR 0092)
acting        _id = supervisor's NIP; the acting supervisor (Plt/Plh) and until when
"""
from __future__ import annotations

from pymongo import ASCENDING

from shared.errors import NotFound

PROGRAMMES, PARTICIPANTS, ENROLMENTS, ROSTER = "programmes", "participants", "enrolments", "roster"
APPROVALS, ACTING = "approvals", "acting"


def create_indexes(db) -> None:
    # Few indexes on enrolments on purpose: each one roughly halves the insert rate on
    # SecantusDB, and bulk uploads insert thousands. Lists by status or agency alone scan.
    db[ENROLMENTS].create_index([("programme_code", ASCENDING), ("nip", ASCENDING)], unique=True,
                                name="one_enrolment_per_programme_and_nip")
    db[ENROLMENTS].create_index([("programme_code", ASCENDING), ("status", ASCENDING), ("arrival", ASCENDING)],
                                name="waitlist_order")
    db[ENROLMENTS].create_index([("nip", ASCENDING), ("_id", ASCENDING)], name="by_participant")
    db[PROGRAMMES].create_index([("status", ASCENDING), ("_id", ASCENDING)], name="by_status")
    db[PROGRAMMES].create_index([("cascade_pending", ASCENDING)], name="cascade_pending")
    # The roster: an agency's list (GET /roster, paged by NIP) and its aktif count (a full
    # import's confirmation, the missing ones it marks); a supervisor's staff.
    db[ROSTER].create_index([("agency", ASCENDING), ("status", ASCENDING), ("_id", ASCENDING)],
                            name="by_agency_and_status")
    db[ROSTER].create_index([("supervisor_nip", ASCENDING)], name="by_supervisor")
    # Approval requests in a collection of their own: the enrolments get no index for them.
    db[APPROVALS].create_index([("approver_nip", ASCENDING), ("state", ASCENDING), ("_id", ASCENDING)],
                               name="by_approver")
    db[APPROVALS].create_index([("agency", ASCENDING), ("state", ASCENDING), ("_id", ASCENDING)], name="by_agency")
    db[APPROVALS].create_index([("state", ASCENDING), ("remind_at", ASCENDING)], name="due_reminders")
    db[APPROVALS].create_index([("state", ASCENDING), ("expires_at", ASCENDING)], name="due_lapses")
    db[ACTING].create_index([("acting_nip", ASCENDING), ("ends_at", ASCENDING)], name="by_acting")


def get_programme(db, code: str, session=None) -> dict:
    programme = db[PROGRAMMES].find_one({"_id": code}, session=session)
    if programme is None:
        raise NotFound(f"programme {code} not found", field="code")
    return programme


def get_enrolment(db, enrolment_id: str, session=None) -> dict:
    enrolment = db[ENROLMENTS].find_one({"_id": enrolment_id}, session=session)
    if enrolment is None:
        raise NotFound(f"enrolment {enrolment_id} not found", field="id")
    return enrolment


_PROGRAMME_OF = "__programme"  # where the aggregation below puts the enrolment's programme


def get_enrolment_and_programme(db, enrolment_id: str, session=None) -> tuple[dict, dict]:
    """The enrolment and its programme in one command (an aggregation on the enrolment with
    a look-up of its programme by ``_id``) instead of two finds: the completion route reads
    both in its transaction, on the same snapshot either way (issue 23)."""
    found = next(iter(db[ENROLMENTS].aggregate([
        {"$match": {"_id": enrolment_id}},
        {"$lookup": {"from": PROGRAMMES, "localField": "programme_code", "foreignField": "_id",
                     "as": _PROGRAMME_OF}},
    ], session=session)), None)
    if found is None:
        raise NotFound(f"enrolment {enrolment_id} not found", field="id")
    programmes = found.pop(_PROGRAMME_OF)
    if not programmes:
        raise NotFound(f"programme {found['programme_code']} not found", field="code")
    return found, programmes[0]
