"""Retention of the event log and of the processed-event records (ADR 0091) against the real
store: the TTL indexes a service creates at start-up, the dates the relay and ``apply_once``
write for them, the dates given to records stored before retention existed, and the expiry
itself (SecantusDB's TTL monitor deletes expired documents as MongoDB's does, once a minute)."""
from __future__ import annotations

import copy
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from shared import topology
from shared.config import SECONDS_PER_DAY
from shared.events import registry
from shared.events.envelope import Event, encode, new_event, parse
from shared.mongo import (APPLIED_ON, OUTBOX, OUTBOX_TTL, PROCESSED, PROCESSED_TTL, SENT_ON, ensure_retention)
from shared.outbox import Relay
from shared.store import Mongo, Store, connect, ensure_base_indexes
from tests.support import make_settings, wait_for

COMPLETED = registry.latest("enrollment", "completed")
# SecantusDB's TTL monitor, like MongoDB's, wakes every 60 s: an expiry shows within two passes.
TTL_MONITOR_S = 150


class Producer:
    name = "enrollment"
    store = Mongo()


@pytest.fixture
def settings(service_env):
    env = {**service_env, "MONGO_DB_PREFIX": f"{service_env['MONGO_DB_PREFIX']}{uuid.uuid4().hex[:6]}_"}
    s = make_settings("enrollment", env)
    topology.declare_service(s, [])
    return s


@pytest.fixture
def db(settings):
    client = connect(settings)
    yield client[settings.db_name]
    client.close()


def ttl_indexes(collection) -> dict[str, tuple[list, int]]:
    """{index name: (key, expireAfterSeconds)} of the collection's TTL indexes."""
    return {name: (info["key"], info["expireAfterSeconds"])
            for name, info in collection.index_information().items() if "expireAfterSeconds" in info}


def emit_completion(settings, subject: str = "e1") -> dict:
    client = connect(settings)
    try:
        return Store(client, settings).transaction(lambda tx: tx.emit("completed", subject,
                                                                       copy.deepcopy(COMPLETED.example)))
    finally:
        client.close()


def completion_event() -> Event:
    return parse(encode(new_event(COMPLETED, "e1", copy.deepcopy(COMPLETED.example))))


def test_a_starting_service_keeps_its_event_log_forever_and_processed_records_45_days_by_default(
        container_factory, settings, db):
    container = container_factory(Producer, settings.nameko_config())
    container.start()

    assert ttl_indexes(db[OUTBOX]) == {}  # the log reporting rebuilds from never expires by default
    assert ttl_indexes(db[PROCESSED]) == {PROCESSED_TTL: ([(APPLIED_ON, 1)], 45 * SECONDS_PER_DAY)}
    # a dropped read-model generation deletes its records by consumer (services/reporting/store.py)
    assert [("consumer", 1)] in [info["key"] for info in db[PROCESSED].index_information().values()]
    plan = db[PROCESSED].find({"consumer": "reporting.read-models.g1"}).explain()["queryPlanner"]["winningPlan"]
    assert plan["inputStage"]["stage"] == "IXSCAN" and plan["inputStage"]["keyPattern"] == {"consumer": 1}, plan


def test_a_changed_retention_applies_to_the_existing_indexes_and_zero_removes_the_logs_expiry(settings, db):
    ensure_base_indexes(db, settings)
    shortened = replace(settings, outbox_retention_days=400, processed_retention_days=60)
    ensure_base_indexes(db, shortened)
    ensure_base_indexes(db, shortened)  # replicas start with the same settings: nothing to change

    assert ttl_indexes(db[OUTBOX]) == {OUTBOX_TTL: ([(SENT_ON, 1)], 400 * SECONDS_PER_DAY)}
    assert ttl_indexes(db[PROCESSED]) == {PROCESSED_TTL: ([(APPLIED_ON, 1)], 60 * SECONDS_PER_DAY)}

    ensure_base_indexes(db, replace(shortened, outbox_retention_days=0))
    assert ttl_indexes(db[OUTBOX]) == {}
    assert ttl_indexes(db[PROCESSED]) == {PROCESSED_TTL: ([(APPLIED_ON, 1)], 60 * SECONDS_PER_DAY)}


def test_the_relay_and_apply_once_write_the_dates_their_ttl_indexes_read(settings, db):
    ensure_base_indexes(db, settings)
    event = emit_completion(settings)
    assert SENT_ON not in db[OUTBOX].find_one({"event.id": event["id"]})  # unsent: never expires

    relay = Relay(settings, holder="retention-test")
    try:
        assert relay.flush() == 1
    finally:
        relay.close()
    record = db[OUTBOX].find_one({"event.id": event["id"]})
    assert record["sent"] is True
    assert abs(record[SENT_ON].timestamp() - record["sent_at"]) < 0.001  # a BSON date keeps milliseconds

    client = connect(settings)
    try:
        applied, _ = Store(client, settings).apply_once(completion_event(), lambda tx: None, consumer="c")
    finally:
        client.close()
    assert applied
    processed = db[PROCESSED].find_one({"consumer": "c"})
    assert abs(processed[APPLIED_ON].timestamp() - processed["applied_at"]) < 0.001


def test_records_stored_before_retention_get_dates_from_their_own_times_and_unsent_ones_none(settings, db):
    sent_at, created_at, applied_at = 1_700_000_000.25, 1_690_000_000.5, 1_710_000_000.75
    db[OUTBOX].insert_many([
        {"_id": "sent", "event": {"id": "sent"}, "sent": True, "sent_at": sent_at, "created_at": created_at},
        {"_id": "sent-without-time", "event": {"id": "sent-without-time"}, "sent": True, "created_at": created_at},
        {"_id": "unsent", "event": {"id": "unsent"}, "sent": False, "created_at": created_at},
    ])
    db[PROCESSED].insert_many([{"_id": f"c|{n}", "event_id": str(n), "consumer": "c", "applied_at": applied_at + n}
                               for n in range(1_201)])  # more than two batches

    ensure_base_indexes(db, settings)  # the default keeps the log forever: no dates needed there
    assert db[OUTBOX].count_documents({SENT_ON: {"$exists": True}}) == 0
    assert {r["_id"]: r[APPLIED_ON].timestamp() for r in db[PROCESSED].find({}, {APPLIED_ON: 1})} == {
        f"c|{n}": applied_at + n for n in range(1_201)}

    kept_a_year = replace(settings, outbox_retention_days=365)
    ensure_base_indexes(db, kept_a_year)
    ensure_base_indexes(db, kept_a_year)
    dates = {r["_id"]: r.get(SENT_ON) for r in db[OUTBOX].find()}
    assert dates == {"sent": datetime.fromtimestamp(sent_at, timezone.utc),
                     "sent-without-time": datetime.fromtimestamp(created_at, timezone.utc),
                     "unsent": None}


def test_expired_records_are_deleted_by_the_store_and_a_copy_after_the_window_is_applied_again(settings, db):
    """SecantusDB honours TTL indexes (its monitor deletes once a minute, like MongoDB's): an
    outbox record sent longer ago than its retention goes, an unsent one stays whatever its
    age; a processed record past its retention goes, so a copy of that event arriving later
    is applied again, while one inside the window is still recognised."""
    hour = 3600
    ensure_retention(db.client, db, outbox_s=hour, processed_s=hour)
    now = datetime.now(timezone.utc)
    db[OUTBOX].insert_many([
        {"_id": "sent-2h-ago", "event": {"id": "sent-2h-ago"}, "sent": True, SENT_ON: now - timedelta(hours=2)},
        {"_id": "sent-now", "event": {"id": "sent-now"}, "sent": True, SENT_ON: now},
        {"_id": "unsent-old", "event": {"id": "unsent-old"}, "sent": False, "created_at": 0.0},
    ])
    client = connect(settings)
    store = Store(client, settings)
    old, recent = completion_event(), completion_event()
    try:
        assert store.apply_once(old, lambda tx: None, consumer="c")[0]
        assert store.apply_once(recent, lambda tx: None, consumer="c")[0]
        db[PROCESSED].update_one({"event_id": old.id}, {"$set": {APPLIED_ON: now - timedelta(hours=2)}})

        wait_for(lambda: db[OUTBOX].find_one({"_id": "sent-2h-ago"}) is None
                 and db[PROCESSED].find_one({"event_id": old.id}) is None,
                 timeout=TTL_MONITOR_S, interval=1, message="the TTL monitor's deletes")

        assert sorted(db[OUTBOX].distinct("_id")) == ["sent-now", "unsent-old"]
        assert store.apply_once(recent, lambda tx: None, consumer="c") == (False, None)  # inside the window
        assert store.apply_once(old, lambda tx: None, consumer="c")[0] is True  # past it: applied again
    finally:
        client.close()
