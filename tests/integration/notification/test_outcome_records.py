"""The outcomes of sends that finish together are recorded together (issue 23), against the
real store: one transaction for the group, each delivery still recorded only while its own
claim holds, one ``delivered`` event each, and none for a delivery whose claim was lost."""
from __future__ import annotations

from datetime import timedelta

import eventlet
import pytest
from bson import ObjectId
from pymongo import MongoClient, monitoring

from services.notification import commands, config, usecases
from services.notification.store import DELIVERIES
from shared.store import OUTBOX, Store
from shared.timefmt import utc_now
from tests.support import make_settings

TOKEN = "replica-a/batch1"


class Commands(monitoring.CommandListener):
    def __init__(self):
        self.names: list[str] = []

    def started(self, event):
        self.names.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture
def counted(mongo_uri, db_prefix):
    """A store on the test's database whose commands are counted."""
    settings = make_settings("notification", {"AMQP_URI": "amqp://unused", "MONGO_URI": mongo_uri,
                                               "MONGO_DB_PREFIX": db_prefix})
    listener = Commands()
    client = MongoClient(mongo_uri, event_listeners=[listener])
    store = Store(client, settings)
    store.db[DELIVERIES].delete_many({})
    store.db[OUTBOX].delete_many({})
    yield store, config.load(settings), listener
    client.close()


def claimed_emails(store: Store, count: int) -> list[dict]:
    """``count`` email deliveries taken by one claim of this replica."""
    now = utc_now()
    docs = [{"_id": ObjectId(), "key": f"event-{i}|completed_passed|nip:1985031220100110{i:02d}|email",
             "message_id": ObjectId(), "nip": f"1985031220100110{i:02d}", "agency": None, "channel": "email",
             "kind": "completed_passed", "source_event_id": f"event-{i}", "status": "pending",
             "next_attempt_at": now - timedelta(seconds=1), "attempts": 0, "claimed_by": None, "claim_until": None,
             "version": 0, "history": []} for i in range(count)]
    store.db[DELIVERIES].insert_many(docs)
    ids = [d["_id"] for d in docs]
    store.transaction(lambda tx: commands.claim(tx, ids, TOKEN, utc_now(), utc_now() + timedelta(minutes=2)))
    return list(store.db[DELIVERIES].find({"_id": {"$in": ids}}).sort("_id", 1))


def accepted_together(recorder: usecases.OutcomeRecorder, deliveries: list[dict]) -> list:
    """Each delivery's outcome recorded from its own green thread, as the sending pool does."""
    threads = [eventlet.spawn(recorder.record, (d, "delivered", "250 2.0.0 queued", 1, utc_now()))
               for d in deliveries]
    return [t.wait() for t in threads]


def delivered_events(store: Store) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in store.db[OUTBOX].find({"routing_key": "delivered"}):
        counts[record["event"]["data"]["delivery_id"]] = counts.get(record["event"]["data"]["delivery_id"], 0) + 1
    return counts


def test_sends_accepted_while_a_record_commits_are_recorded_in_one_more_transaction(counted):
    store, settings, listener = counted
    deliveries = claimed_emails(store, 4)
    listener.names.clear()

    updates = accepted_together(usecases.OutcomeRecorder(store, settings), deliveries)
    sent = list(listener.names)

    assert all(u and u["status"] == "delivered" for u in updates)
    stored = list(store.db[DELIVERIES].find({"_id": {"$in": [d["_id"] for d in deliveries]}}))
    assert {(d["status"], d["claimed_by"], d["attempts"], len(d["history"])) for d in stored} == {
        ("delivered", None, 1, 1)}
    assert delivered_events(store) == {str(d["_id"]): 1 for d in deliveries}
    # the first commits alone; the three accepted meanwhile go together in the next one
    assert sent == ["update", "insert", "commitTransaction"] * 2, sent


def test_a_delivery_whose_claim_was_lost_is_not_recorded_and_the_others_of_its_group_are(counted):
    store, settings, _ = counted
    deliveries = claimed_emails(store, 4)
    # the third one's claim expired and another replica took it over
    store.db[DELIVERIES].update_one({"_id": deliveries[2]["_id"]}, {"$set": {"claimed_by": "replica-b/batch7"}})

    updates = accepted_together(usecases.OutcomeRecorder(store, settings), deliveries)

    assert [u is None for u in updates] == [False, False, True, False]
    taken_over = store.db[DELIVERIES].find_one({"_id": deliveries[2]["_id"]})
    assert (taken_over["status"], taken_over["claimed_by"], taken_over["history"]) == (
        "sending", "replica-b/batch7", [])
    assert delivered_events(store) == {str(d["_id"]): 1 for i, d in enumerate(deliveries) if i != 2}
