"""Collections of the certification database and their indexes.

certificates   one document per certificate (unique per enrolment, number, code)
pending_issues passed completions waiting for a number (``_id`` = enrolment id); the
               numbering pass turns them into certificates in batches (ADR 0025)
counters       gapless sequences: ``certificate-number:<year>`` and ``status-list``
"""
from __future__ import annotations

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from shared.store import update_by_id

CERTIFICATES = "certificates"
COUNTERS = "counters"
PENDING_ISSUES = "pending_issues"
STATUS_LIST_COUNTER = "status-list"


def number_counter(year: int) -> str:
    return f"certificate-number:{year}"


def create_indexes(db) -> None:
    certificates = db[CERTIFICATES]
    # One certificate per enrolment, whatever the duplicates or replicas.
    certificates.create_index([("enrolment_id", ASCENDING)], unique=True)
    certificates.create_index([("number", ASCENDING)], unique=True)
    certificates.create_index([("verification_code", ASCENDING)], unique=True)
    certificates.create_index([("credential_id", ASCENDING)], unique=True)
    certificates.create_index([("status_index", ASCENDING)], unique=True)
    certificates.create_index([("holder.nip", ASCENDING), ("issued_at", DESCENDING)])
    certificates.create_index([("holder.nip", ASCENDING), ("line", ASCENDING)])
    # GET /certificates by programme or by agency (an operator's list), newest first.
    certificates.create_index([("programme.code", ASCENDING), ("issued_at", DESCENDING), ("_id", DESCENDING)])
    certificates.create_index([("holder.agency", ASCENDING), ("issued_at", DESCENDING), ("_id", DESCENDING)])
    certificates.create_index([("expiring_notified_at", ASCENDING), ("valid_until", ASCENDING)])
    certificates.create_index([("expired_notified_at", ASCENDING), ("valid_until", ASCENDING)])
    # The numbering order (completion time, then enrolment id) straight from the index.
    db[PENDING_ISSUES].create_index([("completed_at", ASCENDING), ("_id", ASCENDING)])


_known_counters: set[tuple[str, str]] = set()  # counters are never deleted: create each once per process


def ensure_counter(db, name: str) -> None:
    """Create a counter outside any transaction, so concurrent first uses inside
    transactions only ever increment an existing document (a retryable write conflict)
    instead of racing two upserts (a duplicate-key error)."""
    key = (db.name, name)
    if key in _known_counters:
        return
    try:
        db[COUNTERS].update_one({"_id": name}, {"$setOnInsert": {"seq": 0}}, upsert=True)
    except DuplicateKeyError:
        pass  # another replica created it first
    _known_counters.add(key)


def ensure_counters(db, years) -> None:
    """The counters a batch of certificates issued in ``years`` moves: each year's number
    counter and the status-list counter (created outside the transaction, see above)."""
    for year in sorted(set(years)):
        ensure_counter(db, number_counter(year))
    ensure_counter(db, STATUS_LIST_COUNTER)


def advance(tx, name: str, by: int) -> int:
    """Move counter ``name`` on by ``by`` inside the transaction and return its new value
    (the caller owns ``value - by + 1 .. value``). Gapless because an aborted transaction
    rolls the increment back together with whatever used the numbers."""
    doc = update_by_id(tx.db[COUNTERS], name, {"$inc": {"seq": by}}, tx.session)
    if doc is None:
        raise LookupError(f"counter {name!r} does not exist; call ensure_counter first")
    return int(doc["seq"])

