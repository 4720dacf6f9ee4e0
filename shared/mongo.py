"""The client and the collection names every service's database has (the outbox, the
processed-event records) and their retention: the lowest layer, imported by the store and
the relay alike."""
from __future__ import annotations

import logging
import time

from pymongo import MongoClient

from shared.config import SECONDS_PER_DAY, Settings
from shared.metrics import HEARTBEAT_LISTENER, STORE_LISTENER

OUTBOX = "outbox"
PROCESSED = "processed_events"

log = logging.getLogger(__name__)


def connect(settings: Settings) -> MongoClient:
    """The client of every service (and script): each command it sends is counted by context
    on the process's /metrics (shared.metrics.STORE_LISTENER, issue 23)."""
    return MongoClient(
        settings.mongo_uri, tz_aware=True, connect=False,
        serverSelectionTimeoutMS=int(settings.extra.get("mongo_timeout_ms", 5000)),
        connectTimeoutMS=5000, socketTimeoutMS=30000,
        event_listeners=[STORE_LISTENER, HEARTBEAT_LISTENER],
    )


# Retention (docs/decisions/0091-retention.md). MongoDB's TTL monitor deletes a document once
# its BSON date field is older than the index's expireAfterSeconds; a document without that
# field (an unsent outbox record) never expires. The float times (``sent_at``, ``applied_at``)
# stay for their readers; these dates exist for the TTL indexes.
SENT_ON = "sent_on"          # outbox: when the broker confirmed the record
APPLIED_ON = "applied_on"    # processed_events: when the event's effect committed
OUTBOX_TTL = "outbox_retention"
PROCESSED_TTL = "processed_retention"
BACKFILL_BATCH = 500


def ensure_ttl_index(collection, field: str, name: str, seconds: int | None) -> None:
    """Make ``collection``'s TTL index ``name`` on ``field`` expire after ``seconds``, or
    remove it when ``seconds`` is None (kept forever). Idempotent; a changed retention is
    applied to the existing index with collMod (create_index would refuse the new option),
    so it also applies to the documents already stored."""
    existing = collection.index_information().get(name)
    if seconds is None:
        if existing is not None:
            collection.drop_index(name)
        return
    if existing is None:
        collection.create_index([(field, 1)], name=name, expireAfterSeconds=int(seconds))
    elif existing.get("expireAfterSeconds") != int(seconds):
        collection.database.command("collMod", collection.name,
                                    index={"name": name, "expireAfterSeconds": int(seconds)})


def _date_of(seconds_field: str, fallback_field: str | None, now_ms: float) -> dict:
    """An aggregation expression: the BSON date of a float epoch-seconds field (or the
    fallback field, or now when a record has neither)."""
    seconds = {"$ifNull": [f"${seconds_field}", f"${fallback_field}"]} if fallback_field else f"${seconds_field}"
    return {"$toDate": {"$ifNull": [{"$multiply": [seconds, 1000]}, now_ms]}}


def backfill_dates(client: MongoClient, db, collection: str, field: str, query: dict, seconds_field: str,
                   fallback_field: str | None = None) -> int:
    """Give the records stored before retention existed their date ``field`` from their float
    ``seconds_field``, so they expire on the same schedule as new ones. In batches, each in
    a transaction (a plain multi-document write beside transactions wedged SecantusDB,
    docs/reliability.md); replicas starting together write the same values. Returns how many."""
    done = 0
    while True:
        ids = [d["_id"] for d in db[collection].find({**query, field: None}, {"_id": 1}).limit(BACKFILL_BATCH)]
        if not ids:
            break
        update = [{"$set": {field: _date_of(seconds_field, fallback_field, time.time() * 1000)}}]
        with client.start_session() as session:
            changed = session.with_transaction(lambda s: db[collection].update_many(
                {"_id": {"$in": ids}, field: None}, update, session=s).modified_count)
        if changed == 0:
            # Another replica dated this batch first: it carries on with the rest (and a
            # batch this one could not change is never looped on).
            break
        done += changed
    if done:
        log.info("gave %d record(s) of %s.%s their %s for retention", done, db.name, collection, field)
    return done


def ensure_retention(client: MongoClient, db, outbox_s: int | None, processed_s: int | None) -> None:
    """The retention of the shared collections at start-up: the TTL indexes, the index
    ``processed_events`` deletes by (a dropped read-model generation's records), and the
    dates of records older than the retention (only where a TTL index will read them)."""
    db[PROCESSED].create_index([("consumer", 1)])
    ensure_ttl_index(db[OUTBOX], SENT_ON, OUTBOX_TTL, outbox_s)
    ensure_ttl_index(db[PROCESSED], APPLIED_ON, PROCESSED_TTL, processed_s)
    if outbox_s is not None:
        backfill_dates(client, db, OUTBOX, SENT_ON, {"sent": True}, "sent_at", "created_at")
    if processed_s is not None:
        backfill_dates(client, db, PROCESSED, APPLIED_ON, {}, "applied_at")


def retention_seconds(days: float) -> int | None:
    """A retention setting in seconds for a TTL index; None for 0 (kept forever)."""
    return int(days * SECONDS_PER_DAY) if days > 0 else None
