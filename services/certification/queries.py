"""What certification reads for the API and the public routes (functions taking ``db``)."""
from __future__ import annotations

from datetime import date, timedelta

from pymongo import ASCENDING

from shared.errors import NotFound
from shared.paging import page_of
from shared.timefmt import parse_time
from services.certification.adapters.credential import STATUS_LIST_BITS
from services.certification.store import CERTIFICATES, COUNTERS, PENDING_ISSUES, STATUS_LIST_COUNTER

_NO_SUCH_ID = "0" * 24  # keeps the verification path the same for unknown codes


def get_certificate(db, certificate_id: str) -> dict:
    certificate = db[CERTIFICATES].find_one({"_id": certificate_id})
    if certificate is None:
        raise NotFound(f"no certificate {certificate_id}", field="certificate_id")
    return certificate


def list_certificates(db, *, nip: str | None, programme: str | None, agency: str | None, limit: int,
                      cursor: str | None, page: int | None) -> tuple[list[dict], str | None, int]:
    """A page of certificates, newest first: (items, next_cursor, total)."""
    query: dict = {}
    if nip:
        query["holder.nip"] = nip
    if agency:
        query["holder.agency"] = agency
    if programme:
        query["programme.code"] = programme
    total = db[CERTIFICATES].count_documents(query)
    items, next_cursor = page_of(db[CERTIFICATES], query, limit=limit, cursor=cursor, page=page,
                                 sort="issued_at", descending=True, convert_sort=parse_time)
    return items, next_cursor, total


def find_for_verification(db, code: str | None) -> tuple[dict | None, dict | None]:
    """The certificate with ``code`` and its successor. Unknown and malformed codes run the
    same two queries as known ones, so response time does not tell them apart."""
    certificate = db[CERTIFICATES].find_one({"verification_code": code or ""})
    successor_id = (certificate or {}).get("superseded_by") or _NO_SUCH_ID
    successor = db[CERTIFICATES].find_one({"_id": successor_id}, {"number": 1, "issued_on": 1,
                                                                  "verification_code": 1})
    return certificate, successor


def find_by_credential_id(db, credential_id: str | None) -> dict | None:
    return db[CERTIFICATES].find_one({"credential_id": credential_id or ""})


def pending_head(db, limit: int) -> list[dict]:
    """The next ``limit`` pending issues in numbering order, whole: the numbering
    transaction issues them as read here (they are never changed, only deleted) and so
    reads them only once (issue 23)."""
    return list(db[PENDING_ISSUES].find({}).sort([("completed_at", ASCENDING), ("_id", ASCENDING)]).limit(limit))


def pending_count(db) -> int:
    return db[PENDING_ISSUES].count_documents({})


# The expiry scan: which certificates are due an announcement (``domain.expiring_due`` and
# ``domain.expired_due`` as store queries). The claims of ``commands`` repeat them as their
# condition, so a certificate is announced once whatever the number of scans.

def _live(extra: dict) -> dict:
    return {"revoked": None, "superseded_by": None, **extra}


def expiring_filter(today: date, notice_days: int) -> dict:
    last_day = (today + timedelta(days=notice_days)).isoformat()
    return _live({"expiring_notified_at": None,
                  "valid_until": {"$ne": None, "$gte": today.isoformat(), "$lte": last_day}})


def expired_filter(today: date) -> dict:
    return _live({"expired_notified_at": None, "valid_until": {"$ne": None, "$lt": today.isoformat()}})


def due_for_announcement(db, query: dict, limit: int) -> list[str]:
    """Ids of up to ``limit`` certificates matching ``expiring_filter`` or ``expired_filter``."""
    return [d["_id"] for d in db[CERTIFICATES].find(query, {"_id": 1}).limit(limit)]


def existing_status_lists(db) -> int:
    """How many status lists hold an issued certificate (list 0 always exists)."""
    counter = db[COUNTERS].find_one({"_id": STATUS_LIST_COUNTER}, {"seq": 1}) or {}
    return int(counter.get("seq", 0)) // STATUS_LIST_BITS + 1


def revoked_entries(db, number: int) -> list[int]:
    """Entries of status list ``number`` whose certificates are revoked (by the status_index index)."""
    first = number * STATUS_LIST_BITS
    found = db[CERTIFICATES].find({"status_index": {"$gte": first, "$lt": first + STATUS_LIST_BITS},
                                   "revoked": {"$ne": None}}, {"status_index": 1, "_id": 0})
    return [d["status_index"] - first for d in found]
