"""What the API reads (functions taking ``db``): participants, enrolments with their live
waitlist position, the roster, and the pages of the list routes (``shared.paging``; each
answer also keeps the ``total`` it has always carried)."""
from __future__ import annotations

import re

from datetime import datetime

from services.enrollment.domain import (AWAITING, ENROLMENT_CANCELLED, NARASUMBER, PESERTA, ROSTER_ACTIVE, WAITLIST,
                                        WAITLISTED, name_key, programme_code)
from services.enrollment.store import ACTING, APPROVALS, ENROLMENTS, PARTICIPANTS, PROGRAMMES, ROSTER
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


# The queue: the waitlisted and the requests awaiting approval that hold a waitlist place (ADR 0092).
IN_QUEUE = {"status": {"$in": [WAITLISTED, AWAITING]}, "$or": [{"status": WAITLISTED}, {"holds": WAITLIST}]}


def in_queue(enrolment: dict) -> bool:
    return enrolment["status"] == WAITLISTED or (enrolment["status"] == AWAITING
                                                 and enrolment.get("holds") == WAITLIST)


def waitlist_position(db, enrolment: dict, session=None) -> int | None:
    """The live position: 1 + those still waiting who arrived earlier (see ADR 0010)."""
    if not in_queue(enrolment):
        return None
    ahead = db[ENROLMENTS].count_documents(
        {"programme_code": enrolment["programme_code"], **IN_QUEUE,
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
    if "role" in q:  # enrolments written before roles existed have none: peserta
        query["role"] = q["role"] if q["role"] == NARASUMBER else {"$ne": NARASUMBER}
    page = _page(db[ENROLMENTS], query, q)
    return {**page, "items": [with_waitlist_position(db, e) for e in page["items"]]}


def enrolment_counts(db, codes: list[str], agency: str | None) -> dict[str, dict[str, int]]:
    """{code: {status: n}} of the programmes ``codes`` (of one agency, or all; the statuses count
    peserta, ``narasumber`` the speakers not cancelled): one find by
    ``$in`` on the indexed ``programme_code`` prefix, counted here. Whole documents on purpose:
    SecantusDB projects document by document, which measured slower than sending them whole
    (13 programmes of 50 enrolments: 35 ms whole, 59 ms projected)."""
    counts: dict[str, dict[str, int]] = {code: {} for code in codes}
    query: dict = {"programme_code": {"$in": codes}}
    if agency:
        query["participant.agency"] = agency.upper()
    for e in db[ENROLMENTS].find(query):
        by_status = counts.setdefault(e["programme_code"], {})
        # the statuses count the seats (peserta); speakers apart, unless cancelled
        key = e["status"] if e.get("role", PESERTA) != NARASUMBER else (
            NARASUMBER if e["status"] != ENROLMENT_CANCELLED else None)
        if key is not None:
            by_status[key] = by_status.get(key, 0) + 1
    return counts


def pending_cascades(db) -> list[str]:
    """Codes of cancelled programmes whose enrolments are not all cancelled yet."""
    return [p["_id"] for p in db[PROGRAMMES].find({"cascade_pending": True}, {"_id": 1})]


# -- the roster ---------------------------------------------------------------------------------

def roster_entry(db, nip: str) -> dict | None:
    return db[ROSTER].find_one({"_id": nip})


def roster_entries(db, nips: list[str]) -> dict[str, dict]:
    """The roster entries among ``nips``, by NIP."""
    return {e["_id"]: e for e in db[ROSTER].find({"_id": {"$in": nips}})}


def active_count(db, agency: str) -> int:
    """How many ASN are aktif on ``agency``'s roster."""
    return db[ROSTER].count_documents({"agency": agency, "status": ROSTER_ACTIVE})


def missing_count(db, agency: str, present: set[str]) -> int:
    """How many aktif ASN of ``agency`` a file with the NIPs ``present`` leaves out."""
    return db[ROSTER].count_documents({"agency": agency, "status": ROSTER_ACTIVE, "_id": {"$nin": list(present)}})


def roster_query(q: dict) -> dict:
    """The store filter of a roster list (RosterQuery, scoped by the use case)."""
    query: dict = {}
    if q.get("agency"):
        query["agency"] = q["agency"].upper()
    if q.get("status"):
        query["status"] = q["status"]
    if q.get("jenis_asn"):
        query["jenis_asn"] = q["jenis_asn"]
    if q.get("never_enrolled"):  # no enrolment of any status, ever
        query["ever_enrolled"] = {"$ne": True}
    if q.get("nip"):
        query["_id"] = q["nip"]
    term = (q.get("q") or "").strip()
    if term:
        digits = "".join(term.split())
        if digits.isascii() and digits.isdigit():
            query.setdefault("_id", {"$regex": f"^{digits}"})  # a NIP or its beginning
        else:
            query["name_key"] = {"$regex": f"^{re.escape(name_key(term))}"}
    return query


def roster_page(db, q: dict) -> dict:
    """A page of the roster in NIP order (RosterQuery)."""
    return _page(db[ROSTER], roster_query(q), q)


def enrolment_count(db, nip: str) -> int:
    """Enrolments of any status the ASN ever had."""
    return db[ENROLMENTS].count_documents({"nip": nip})


def supervisor_of(db, entry: dict) -> dict | None:
    """{nip, name} of the entry's supervisor (atasan langsung); the name when they are on the roster."""
    nip = entry.get("supervisor_nip")
    if not nip:
        return None
    supervisor = db[ROSTER].find_one({"_id": nip}, {"name": 1})
    return {"nip": nip, "name": supervisor["name"] if supervisor else None}


# -- supervisor approval and acting supervisors (ADR 0092) ----------------------------------------

def acting_of(db, supervisor_nip: str, session=None) -> dict | None:
    """The stored delegation of ``supervisor_nip`` (in force or not: domain.acting_in_force)."""
    return db[ACTING].find_one({"_id": supervisor_nip}, session=session)


def acting_for(db, nip: str, now: datetime) -> list[str]:
    """The supervisors ``nip`` currently acts for."""
    return sorted(a["_id"] for a in db[ACTING].find({"acting_nip": nip, "ends_at": {"$gt": now}}, {"_id": 1}))


def staff_count(db, nip: str) -> int:
    """Aktif roster entries whose supervisor is ``nip``."""
    return db[ROSTER].count_documents({"supervisor_nip": nip, "status": ROSTER_ACTIVE})


def approvals_page(db, query: dict, q: dict) -> dict:
    """A page of approval requests (the approvals filter ``query``) as enrolments with their
    programme (code, title, dates), in request order."""
    page = _page(db[APPROVALS], query, q)
    ids = [r["_id"] for r in page["items"]]
    enrolments = {e["_id"]: e for e in db[ENROLMENTS].find({"_id": {"$in": ids}})}
    codes = list({e["programme_code"] for e in enrolments.values()})
    programmes = {p["_id"]: p for p in db[PROGRAMMES].find({"_id": {"$in": codes}})}
    items = [with_programme(db, enrolments[i], programmes.get(enrolments[i]["programme_code"]))
             for i in ids if i in enrolments]
    return {**page, "items": items}


def with_programme(db, enrolment: dict, programme: dict | None) -> dict:
    """The enrolment view with its live waitlist position and the programme it is for."""
    return {**with_waitlist_position(db, enrolment), "programme": programme}


def due_reminders(db, now: datetime, limit: int) -> list[str]:
    return [r["_id"] for r in db[APPROVALS].find(
        {"state": "awaiting", "reminded": False, "remind_at": {"$lte": now}}, {"_id": 1}).limit(limit)]


def due_lapses(db, now: datetime, limit: int) -> list[str]:
    return [r["_id"] for r in db[APPROVALS].find(
        {"state": "awaiting", "expires_at": {"$lte": now}}, {"_id": 1}).limit(limit)]
