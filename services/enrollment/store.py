"""The enrollment database: collections, indexes and read queries.

programmes    _id = programme code; counters ``seats_taken``, ``waitlisted`` and the
              monotonic ``arrivals`` that orders enrolments (waitlist order)
participants  _id = NIP / NI PPPK; the latest known name, agency and position
enrolments    _id = ObjectId hex; one per (programme_code, nip), enforced by a unique index
"""
from __future__ import annotations

from pymongo import ASCENDING

from shared.errors import NotFound

PROGRAMMES, PARTICIPANTS, ENROLMENTS = "programmes", "participants", "enrolments"


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


def waitlist_position(db, enrolment: dict, session=None) -> int | None:
    """The live position: 1 + those still waiting who arrived earlier (see ADR 0010)."""
    if enrolment["status"] != "waitlisted":
        return None
    ahead = db[ENROLMENTS].count_documents(
        {"programme_code": enrolment["programme_code"], "status": "waitlisted",
         "arrival": {"$lt": enrolment["arrival"]}}, session=session)
    return ahead + 1


def page(collection, query: dict, limit: int, cursor: str | None) -> tuple[list[dict], str | None, int]:
    """Items after ``cursor`` in ``_id`` order, the next cursor (None at the end), and the total."""
    total = collection.count_documents(query)
    if cursor:
        query = {**query, "_id": {"$gt": cursor}}
    items = list(collection.find(query).sort("_id", ASCENDING).limit(limit + 1))
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1]["_id"] if more and items else None), total
