"""What the API reads (functions taking ``db``): participants, enrolments with their live
waitlist position, and the pages of the list routes (``shared.paging``; each answer also
keeps the ``total`` it has always carried)."""
from __future__ import annotations

from services.enrollment.domain import WAITLISTED, programme_code
from services.enrollment.store import ENROLMENTS, PARTICIPANTS, PROGRAMMES
from shared.paging import page_of


def participant(db, nip: str) -> dict | None:
    return db[PARTICIPANTS].find_one({"_id": nip})


def participants(db, nips: list[str]) -> dict[str, dict]:
    """The stored participants among ``nips``, by NIP."""
    return {p["_id"]: p for p in db[PARTICIPANTS].find({"_id": {"$in": nips}})}


def enrolment_agencies(db, code: str, nips: list[str]) -> dict[str, str]:
    """{nip: agency} of the enrolments in programme ``code`` among ``nips``."""
    return {e["nip"]: e["participant"]["agency"] for e in db[ENROLMENTS].find(
        {"programme_code": code, "nip": {"$in": nips}}, {"nip": 1, "participant.agency": 1})}


def waitlist_position(db, enrolment: dict, session=None) -> int | None:
    """The live position: 1 + those still waiting who arrived earlier (see ADR 0010)."""
    if enrolment["status"] != WAITLISTED:
        return None
    ahead = db[ENROLMENTS].count_documents(
        {"programme_code": enrolment["programme_code"], "status": WAITLISTED,
         "arrival": {"$lt": enrolment["arrival"]}}, session=session)
    return ahead + 1


def with_waitlist_position(db, enrolment: dict) -> dict:
    """The enrolment as its answer shows it (EnrolmentSchema)."""
    return {**enrolment, "waitlist_position": waitlist_position(db, enrolment)}


def _page(collection, query: dict, q: dict) -> dict:
    """One page in ``_id`` order: items, next_cursor and the total of the filtered list."""
    items, next_cursor = page_of(collection, query, limit=q["limit"], cursor=q["cursor"], page=q["page"])
    return {"items": items, "next_cursor": next_cursor, "total": collection.count_documents(query)}


def programmes_page(db, q: dict) -> dict:
    """A page of programmes filtered by status, kind, competency type and organiser (ProgrammeQuery)."""
    query = {k: q[k] for k in ("status", "kind", "competency_type") if k in q}
    if "organiser" in q:
        query["organisers"] = q["organiser"]
    return _page(db[PROGRAMMES], query, q)


def enrolments_page(db, q: dict) -> dict:
    """A page of enrolments filtered by programme, NIP, status and agency (EnrolmentQuery, scoped)."""
    query = {}
    if "programme" in q:
        query["programme_code"] = programme_code(q["programme"])
    if "nip" in q:
        query["nip"] = q["nip"]
    if "status" in q:
        query["status"] = q["status"]
    if "agency" in q:
        query["participant.agency"] = q["agency"].upper()
    page = _page(db[ENROLMENTS], query, q)
    return {**page, "items": [with_waitlist_position(db, e) for e in page["items"]]}


def pending_cascades(db) -> list[str]:
    """Codes of cancelled programmes whose enrolments are not all cancelled yet."""
    return [p["_id"] for p in db[PROGRAMMES].find({"cascade_pending": True}, {"_id": 1})]
