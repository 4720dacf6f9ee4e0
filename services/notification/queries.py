"""What notification reads: for the HTTP API (recipients, agency contacts, the inbox, the
delivery log, whose staff an ASN is) and for the delivery job (what is due, what a claimed
delivery needs). Functions take the database (``db``) and return stored records; the use
cases dump them through the response schemas."""
from __future__ import annotations

from datetime import datetime

from services.notification import domain
from services.notification.store import (AGENCY_CONTACTS, ASN_AGENCIES, DELIVERIES, ESCALATIONS, MESSAGES,
                                         RECIPIENTS, ROSTER, object_id)
from shared.errors import Invalid, NotFound
from shared.paging import page_of
from shared.timefmt import parse_time


def _in_inbox(nip: str) -> dict:
    """The messages that reached an ASN's inbox (the inbox delivery was recorded)."""
    return {"nip": nip, "visible_at": {"$ne": None}, "dropped": {"$ne": True}}


# -- recipients and agencies ----------------------------------------------------------------
def recipient(db, nip: str) -> dict:
    record = db[RECIPIENTS].find_one({"_id": nip})
    if record is None:
        raise NotFound(f"no recipient with NIP {nip}", field="nip")
    return record


def agency_contact(db, code: str) -> dict:
    record = db[AGENCY_CONTACTS].find_one({"_id": code.strip().upper()})
    if record is None:
        raise NotFound(f"no operator contact for agency {code}", field="code")
    return record


def known_agency(db, nip: str, session=None) -> str | None:
    """The agency enrollment's events last placed ``nip`` in, or None."""
    record = db[ASN_AGENCIES].find_one({"_id": nip}, {"agency": 1}, session=session)
    return (record or {}).get("agency")


def known_agencies(db, nips: list[str]) -> dict[str, str]:
    """``known_agency`` for many NIPs with one read (bulk uploads)."""
    return {r["_id"]: r["agency"] for r in db[ASN_AGENCIES].find({"_id": {"$in": nips}}, {"agency": 1})}


def listed(db, nips: list[str], session=None) -> dict[str, dict]:
    """The roster entries (name, agency) of those of ``nips`` the roster lists, by NIP."""
    return {r["_id"]: r for r in db[ROSTER].find({"_id": {"$in": nips}, "version": {"$exists": True}},
                                                  {"name": 1, "agency": 1}, session=session)}


def trusted_agency(db, nip: str) -> str | None:
    """The agency an ASN belongs to for access checks (``domain.agency_of``)."""
    recipient_record = db[RECIPIENTS].find_one({"_id": nip}, {"agency": 1})
    return domain.agency_of(recipient_record, known_agency(db, nip))


# -- the inbox and the delivery log (cursor pages, newest first) --------------------------
def _cursor_time(value: str) -> datetime:
    try:
        return parse_time(value)
    except ValueError:
        raise Invalid("cursor is not one this service returned", field="cursor") from None


def _cursor_id(value: str):
    return object_id(value, "cursor")


def inbox_page(db, nip: str, *, unread_only: bool, limit: int, cursor: str | None,
               page: int | None = None) -> dict:
    """Messages that reached the ASN's inbox, newest first, with the unread count."""
    query = _in_inbox(nip)
    if unread_only:
        query["read_at"] = None
    items, next_cursor = page_of(db[MESSAGES], query, limit=limit, cursor=cursor, page=page, sort="visible_at",
                                 descending=True, convert_id=_cursor_id, convert_sort=_cursor_time)
    unread = db[MESSAGES].count_documents({**_in_inbox(nip), "read_at": None})
    return {"nip": nip, "unread": unread, "items": items, "next_cursor": next_cursor}


def deliveries_page(db, *, nip: str | None, event_id: str | None, status: str | None, channel: str | None,
                    limit: int, cursor: str | None, page: int | None = None, agency: str | None = None) -> dict:
    """The delivery log, newest first, filtered by NIP and/or source event (and addressed agency)."""
    wanted = {"nip": nip, "agency": agency, "source_event_id": event_id, "status": status, "channel": channel}
    query = {k: v for k, v in wanted.items() if v}
    items, next_cursor = page_of(db[DELIVERIES], query, limit=limit, cursor=cursor, page=page, descending=True,
                                 convert_id=_cursor_id)
    return {"items": items, "next_cursor": next_cursor}


# -- the delivery job ---------------------------------------------------------------------
def due_deliveries(db, now: datetime, limit: int) -> list:
    """Ids of pending deliveries due by ``now``, oldest due first."""
    return [d["_id"] for d in db[DELIVERIES].find(
        {"status": "pending", "next_attempt_at": {"$lte": now}}, {"_id": 1})
        .sort("next_attempt_at", 1).limit(limit)]  # no hint: SecantusDB walks a hinted index whole


def claimed(db, candidates: list, token: str) -> list[dict]:
    """The candidates a claim ``token`` took, in the candidates' order."""
    taken = {d["_id"]: d for d in db[DELIVERIES].find({"_id": {"$in": candidates}, "claimed_by": token})}
    return [taken[_id] for _id in candidates if _id in taken]


def delivery_inputs(db, deliveries: list[dict]) -> dict:
    """delivery id -> (message, ASN contact or None): one read each for a whole batch instead
    of two per delivery (an agency's contact is read when it is sent)."""
    messages = {m["_id"]: m for m in db[MESSAGES].find(
        {"_id": {"$in": list({d["message_id"] for d in deliveries})}})}
    nips = list({d["nip"] for d in deliveries if not d.get("agency") and d.get("nip")})
    contacts = {c["_id"]: c for c in db[RECIPIENTS].find({"_id": {"$in": nips}})} if nips else {}
    return {d["_id"]: (messages.get(d["message_id"]), None if d.get("agency") else contacts.get(d.get("nip")))
            for d in deliveries}


def message_of(db, delivery: dict) -> dict | None:
    return db[MESSAGES].find_one({"_id": delivery["message_id"]})


def contact_of(db, delivery: dict) -> dict | None:
    """Where a delivery goes: the agency operator's contact or the ASN's recipient record."""
    if delivery.get("agency"):
        return db[AGENCY_CONTACTS].find_one({"_id": delivery["agency"]})
    return db[RECIPIENTS].find_one({"_id": delivery["nip"]})


def due_digests(db, now: datetime, limit: int = 100) -> list[str]:
    """Ids of operator summaries whose collection time is over."""
    return [d["_id"] for d in db[ESCALATIONS].find({"pending": True, "due_at": {"$lte": now}}, {"_id": 1})
            .sort("due_at", 1).limit(limit)]
