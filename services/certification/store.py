"""Collections of the certification database and their indexes.

certificates   one document per certificate (unique per enrolment, number, code)
pending_issues passed completions waiting for a number (``_id`` = enrolment id); the
               numbering pass turns them into certificates in batches (ADR 0025)
counters       gapless sequences: ``certificate-number:<year>`` and ``status-list``
"""
from __future__ import annotations

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

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


def advance_all(tx, moves: dict[str, int]) -> dict[str, int]:
    """Move each counter ``name`` of ``moves`` on by ``moves[name]`` inside the transaction
    and return their new values (the caller owns ``value - by + 1 .. value`` of each).
    Gapless because an aborted transaction rolls the increments back together with whatever
    used the numbers.

    Counters moved by the same amount move in one update (a batch of one year moves its
    number counter and the status-list counter alike), then one find reads them all back:
    two commands for the usual batch instead of an update and a find per counter (issue 23).
    Inside the transaction the updates hold the counters until commit and the find reads
    our own writes, as ``update_by_id`` does for one."""
    by_amount: dict[int, list[str]] = {}
    for name, by in moves.items():
        by_amount.setdefault(by, []).append(name)
    counters = tx.db[COUNTERS]
    for by, names in by_amount.items():
        matched = counters.update_many({"_id": {"$in": names}}, {"$inc": {"seq": by}},
                                       session=tx.session).matched_count
        if matched != len(names):
            raise LookupError(f"a counter of {names!r} does not exist; call ensure_counter first")
    found = {doc["_id"]: int(doc["seq"]) for doc in counters.find({"_id": {"$in": list(moves)}}, session=tx.session)}
    return {name: found[name] for name in moves}
