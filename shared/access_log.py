"""Who read whose personal data (UU 27/2022 on personal data protection, issue 20).

Every read of a person's ledger, certificates or inbox by someone other than that person
(an admin, an operator, a supervisor) is recorded in the serving service's own database:
who (subject, role, agency, NIP), whose (NIP), what (``ledger``, ``certificates``,
``inbox``, ...), when. An admin lists it with ``GET /admin/access-log`` on each service
(``shared.service_base``); the portal's admin page merges the three services' logs.

A record is written outside any business transaction: reading must not fail because the
log is slow, but a record that cannot be written is logged as an error (never silently lost
from the operator's view).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Iterable

from bson import ObjectId
from bson.errors import InvalidId
from marshmallow import Schema, fields, pre_load, validate
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import PyMongoError

from shared import nip as nip_rules
from shared.auth import Principal
from shared.config import setting
from shared.errors import Invalid
from shared.mongo import ensure_ttl_index, retention_seconds
from shared.paging import decode_cursor, encode_cursor, page_of, page_query

log = logging.getLogger(__name__)

ACCESS_LOG = "access_log"
# Kept two years by default: long enough for a data-protection complaint to be looked into.
DEFAULT_RETENTION_DAYS = 730
WHAT = ("ledger", "certificates", "inbox", "team", "roster")


def ensure_indexes(db, service: str | None = None) -> None:
    """The log's indexes and its retention (``ACCESS_LOG_RETENTION_DAYS``, 0 = kept forever as
    the other retention settings; a changed value is applied to the existing index)."""
    days = setting("ACCESS_LOG_RETENTION_DAYS", DEFAULT_RETENTION_DAYS, service or "", float, low=0, high=36_500)
    db[ACCESS_LOG].create_index([("subject_nip", ASCENDING), ("_id", DESCENDING)])
    db[ACCESS_LOG].create_index([("reader.subject", ASCENDING), ("_id", DESCENDING)])
    db[ACCESS_LOG].create_index([("block", ASCENDING)])
    ensure_ttl_index(db[ACCESS_LOG], "at", "at_ttl", retention_seconds(days))


def is_someone_else(principal: Principal | None, subject_nip: str) -> bool:
    """Whether ``principal`` reading ``subject_nip``'s data is a read by someone else."""
    return principal is not None and principal.nip != subject_nip


def record_reads(db, principal: Principal | None, subject_nips: Iterable[str], what: str,
                 detail: str | None = None, *, now: datetime | None = None) -> int:
    """Record that ``principal`` read ``what`` of each of ``subject_nips`` (their own data is
    not recorded). Returns the number of records written."""
    if what not in WHAT:
        raise ValueError(f"unknown personal data kind {what!r}; one of {', '.join(WHAT)}")
    at = now or datetime.now(timezone.utc)
    reader = None if principal is None else {"subject": principal.subject, "role": principal.role,
                                             "agency": principal.agency, "nip": principal.nip}
    records = [{"_id": ObjectId(), "at": at, "reader": reader, "subject_nip": nip, "what": what,
                "detail": detail} for nip in dict.fromkeys(subject_nips) if is_someone_else(principal, nip)]
    if not records:
        return 0
    try:
        last = _number(db, len(records))
        for seq, record in enumerate(records, start=last - len(records) + 1):
            record["seq"], record["block"] = seq, seq // BLOCK
        db[ACCESS_LOG].insert_many(records, ordered=False)
    except PyMongoError as exc:  # the read itself still answers; the failure is visible in the logs
        log.error("access log: %d read(s) of %s by %s not recorded: %s", len(records), what,
                  reader and reader["subject"], exc)
        return 0
    return len(records)


def record_read(db, principal: Principal | None, subject_nip: str, what: str, detail: str | None = None) -> int:
    """``record_reads`` for one person."""
    return record_reads(db, principal, [subject_nip], what, detail)


class AccessLogQuery(page_query(max_limit=500, default_limit=100)):
    nip = fields.Str(validate=validate.Regexp(nip_rules.PATTERN, error="nip must be 18 digits"),
                     metadata={"description": "whose data was read"})
    reader = fields.Str(validate=validate.Length(max=200), metadata={"description": "the reader's subject"})
    since = fields.DateTime(metadata={"description": "only reads at or after this time (UTC)"})

    @pre_load
    def empty_is_absent(self, data, **kwargs):
        # ``?nip=`` (an HTML form's empty field) is no filter
        data = data.to_dict() if hasattr(data, "to_dict") else dict(data)
        return {key: value for key, value in data.items() if value not in ("", None)}


class ReaderSchema(Schema):
    subject = fields.Str()
    role = fields.Str()
    agency = fields.Str(allow_none=True)
    nip = fields.Str(allow_none=True)


class AccessRecordSchema(Schema):
    id = fields.Str()
    at = fields.DateTime()
    reader = fields.Nested(ReaderSchema, allow_none=True)
    subject_nip = fields.Str()
    what = fields.Str()
    detail = fields.Str(allow_none=True)


class AccessLogPageSchema(Schema):
    items = fields.List(fields.Nested(AccessRecordSchema))
    next_cursor = fields.Str(allow_none=True)


def _object_id(text: str) -> ObjectId:
    try:
        return ObjectId(text)
    except (InvalidId, TypeError):
        raise Invalid("cursor is not one this service returned", field="cursor") from None


def list_reads(db, query: dict) -> dict:
    """A page of the access log, newest first, by whose data (``nip``), reader or time."""
    since = query.get("since")
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    if not (query.get("nip") or query.get("reader")):
        items, next_cursor = _whole_log(db, query["limit"], query.get("cursor"), since)
    else:
        selector: dict = {}
        if query.get("nip"):
            selector["subject_nip"] = query["nip"]
        if query.get("reader"):
            selector["reader.subject"] = query["reader"]
        if since is not None:
            selector["at"] = {"$gte": since}
        items, next_cursor = page_of(db[ACCESS_LOG], selector, limit=query["limit"], cursor=query.get("cursor"),
                                     descending=True, convert_id=_object_id)
    return {"items": [{**item, "id": str(item["_id"])} for item in items], "next_cursor": next_cursor}


# The whole log, newest first, is read by numbered blocks: every record gets the next number
# of a one-document counter, and ``block`` = number // BLOCK. The newest page is one lookup of
# the last few blocks (an equality SecantusDB answers from the index), sorted here. A sort of
# the whole collection, or of a whole day, is what SecantusDB would do otherwise, and the log
# grows with every supervisor's look at their team (measured in bench/portal.py: 565 ms p95 by
# day, 310-387 ms by _id over ~5,000 records; 7 ms by block at 5,448 and at 20,000).
BLOCK = 100
_COUNTER = "access_log_counter"


def _number(db, count: int) -> int:
    """Reserve ``count`` numbers; the last one. (A failed insert after this leaves a gap: harmless.)"""
    counter = db[_COUNTER].find_one_and_update({"_id": "seq"}, {"$inc": {"n": count}}, upsert=True,
                                               return_document=ReturnDocument.AFTER)
    return int(counter["n"])


def _whole_log(db, limit: int, cursor: str | None, since: datetime | None) -> tuple[list[dict], str | None]:
    if cursor:
        [text] = decode_cursor(cursor, 1)
        if not text.isdigit():
            raise Invalid("cursor is not one this service returned", field="cursor")
        below = int(text)  # the number of the last record given out
    else:
        counter = db[_COUNTER].find_one({"_id": "seq"})
        below = int(counter["n"]) + 1 if counter else 0
    items: list[dict] = []
    block = (below - 1) // BLOCK if below > 0 else -1
    while block >= 0 and len(items) <= limit:
        blocks = list(range(block, max(block - (limit // BLOCK + 2), -1), -1))
        found = [r for r in db[ACCESS_LOG].find({"block": {"$in": blocks}}) if r["seq"] < below]
        if not found:  # retention removes the oldest first: nothing below an empty stretch remains
            break
        found.sort(key=lambda r: r["seq"], reverse=True)
        if since is not None:
            kept = [r for r in found if _aware(r["at"]) >= since]
            items += kept
            if len(kept) < len(found):  # older than ``since`` from here on
                break
        else:
            items += found
        block = blocks[-1] - 1
    if len(items) > limit:
        items = items[:limit]
        return items, encode_cursor(items[-1]["seq"])
    return items, None


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)
