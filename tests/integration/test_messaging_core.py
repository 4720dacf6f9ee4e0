"""The reliable messaging core against real RabbitMQ and SecantusDB: outbox, relay,
reliable handler, retries, dead letters, idempotency and replicas."""
from __future__ import annotations

import copy
import json
import time
import uuid

import pytest
from nameko.extensions import DependencyProvider

from shared import topology
from shared.events import registry
from shared.handler import reliable_handler
from shared.outbox import Relay
from shared.store import Mongo, Store, connect
from tests.support import (body_json, get_messages, make_settings, publish_event, publish_raw,
                           queue_depth, wait_for)

COMPLETED = registry.latest("enrollment", "completed")
QUEUE = topology.consumer_queue_name("certification", "enrollment", "completed")


class ReplicaId(DependencyProvider):
    def get_dependency(self, worker_ctx):
        return id(self.container)


class CompletionProducer:
    """Stands in for enrollment: owns the outbox whose relay publishes `completed`."""
    name = "enrollment"
    store = Mongo()


class CompletionConsumer:
    """Stands in for certification: applies each `completed` once, fails on request."""
    name = "certification"
    store = Mongo()
    replica = ReplicaId()

    @reliable_handler("enrollment", "completed")
    def on_completed(self, event):
        db = self.store.db
        db.deliveries.insert_one({"event_id": event.id, "at": time.time(), "replica": self.replica})
        mode = event.data["participant"]["name"]
        if mode == "fail-twice" and db.deliveries.count_documents({"event_id": event.id}) <= 2:
            raise RuntimeError("transient failure")
        if mode == "always-fail":
            raise RuntimeError("the certificate template is missing")
        self.store.apply_once(event, lambda tx: tx.db.applied.insert_one(
            {"event_id": event.id, "replica": self.replica}, session=tx.session))


def completion(name: str = "Rahmat Hidayat", enrolment_id: str = "e1") -> dict:
    data = copy.deepcopy(COMPLETED.example)
    data["participant"]["name"] = name
    data["enrolment_id"] = enrolment_id
    return data


@pytest.fixture
def settings(service_env):
    fast = dict(retry_delays_ms=(100, 300), retry_max_attempts=3, relay_poll_interval_s=0.1)
    env = {**service_env, "MONGO_DB_PREFIX": f"{service_env['MONGO_DB_PREFIX']}{uuid.uuid4().hex[:6]}_"}
    s = {svc: make_settings(svc, env, **fast) for svc in ("enrollment", "certification")}
    topology.declare_service(s["enrollment"], [])
    topology.declare_service(s["certification"], [("enrollment", "completed")])
    return s


@pytest.fixture
def consumer_db(settings):
    client = connect(settings["certification"])
    yield client[settings["certification"].db_name]
    client.close()


@pytest.fixture
def start(container_factory, settings):
    def start(cls, service):
        container = container_factory(cls, settings[service].nameko_config())
        container.start()
        return container
    return start


def write_through_outbox(settings, data: dict, subject: str = "e1") -> dict:
    client = connect(settings)
    try:
        return Store(client, settings).transaction(lambda tx: (
            tx.db.enrolments.update_one({"_id": subject}, {"$set": {"status": "completed"}},
                                        upsert=True, session=tx.session),
            tx.emit("completed", subject, data))[1])
    finally:
        client.close()


def test_an_event_written_through_the_outbox_reaches_a_consumer_in_another_service_exactly_once(
        start, settings, consumer_db):
    start(CompletionConsumer, "certification")
    start(CompletionProducer, "enrollment")
    event = write_through_outbox(settings["enrollment"], completion())

    wait_for(lambda: consumer_db.applied.count_documents({"event_id": event["id"]}) == 1, message="applied")
    time.sleep(0.5)  # a second delivery would arrive well within this
    assert consumer_db.applied.count_documents({"event_id": event["id"]}) == 1
    assert consumer_db.deliveries.count_documents({"event_id": event["id"]}) == 1


def test_a_relay_that_crashed_before_marking_sent_republishes_and_the_consumer_applies_once(
        start, settings, consumer_db):
    start(CompletionConsumer, "certification")
    event = write_through_outbox(settings["enrollment"], completion())

    class CrashBeforeMarking(Relay):
        def _mark_sent(self, routed, returned):
            raise SystemExit("killed between publish and mark-sent")

    crashed = CrashBeforeMarking(settings["enrollment"], holder="crashing-relay")
    with pytest.raises(SystemExit):
        crashed.run_once()
    crashed.lease.release()  # the lease would expire after a real crash
    crashed.close()
    wait_for(lambda: consumer_db.applied.count_documents({"event_id": event["id"]}) == 1, message="first copy")

    restarted = Relay(settings["enrollment"], holder="restarted-relay")
    assert restarted.flush() == 1  # still unsent in the store, so it goes out again
    restarted.close()

    wait_for(lambda: consumer_db.deliveries.count_documents({"event_id": event["id"]}) == 2,
             message="the duplicate delivered")
    wait_for(lambda: consumer_db.processed_events.count_documents({"event_id": event["id"]}) == 1)
    assert consumer_db.applied.count_documents({"event_id": event["id"]}) == 1


def test_a_handler_failing_twice_is_retried_with_a_delay_and_applied_once(start, settings, consumer_db):
    start(CompletionConsumer, "certification")
    event = publish_event(settings["certification"].amqp_uri, "enrollment", "completed", completion("fail-twice"))

    wait_for(lambda: consumer_db.applied.count_documents({"event_id": event["id"]}) == 1, message="applied")
    attempts = sorted(d["at"] for d in consumer_db.deliveries.find({"event_id": event["id"]}))
    assert len(attempts) == 3
    # delays come from the TTL queues (100 ms, then 300 ms), not a hot requeue loop
    assert attempts[1] - attempts[0] >= 0.09
    assert attempts[2] - attempts[1] >= 0.27
    assert queue_depth(settings["certification"].amqp_uri, "certification.dlq") == 0


def test_a_handler_that_always_fails_ends_in_the_dlq_and_the_service_keeps_consuming(
        start, settings, consumer_db):
    amqp = settings["certification"].amqp_uri
    start(CompletionConsumer, "certification")
    poison = publish_event(amqp, "enrollment", "completed", completion("always-fail"))
    healthy = publish_event(amqp, "enrollment", "completed", completion("Siti Aminah", "e2"))

    wait_for(lambda: consumer_db.applied.count_documents({"event_id": healthy["id"]}) == 1)
    [dead] = get_messages(amqp, "certification.dlq", 1)
    assert body_json(dead)["id"] == poison["id"]
    assert dead.headers["x-reason"] == "failed"
    assert dead.headers["x-attempts"] == 3
    assert "the certificate template is missing" in dead.headers["x-error"]
    assert "RuntimeError" in dead.headers["x-traceback"]
    assert dead.headers["x-original-queue"] == QUEUE
    assert consumer_db.deliveries.count_documents({"event_id": poison["id"]}) == 3
    assert consumer_db.applied.count_documents({"event_id": poison["id"]}) == 0


@pytest.mark.parametrize("body, reason", [
    (b"{not json", "not valid JSON"),
    (json.dumps({"specversion": "1.0", "id": "x", "type": COMPLETED.type, "source": "/asn/enrollment",
                 "time": "2026-01-01T00:00:00Z", "data": {}}).encode(), "missing CloudEvents attribute(s): subject"),
    (json.dumps({"specversion": "1.0", "id": "x", "type": COMPLETED.type, "source": "/asn/enrollment",
                 "time": "2026-01-01T00:00:00Z", "subject": "e1",
                 "data": {**COMPLETED.example, "jp_earned": "banyak"}}).encode(), "jp_earned"),
], ids=["invalid-json", "missing-attribute", "data-fails-schema"])
def test_malformed_messages_go_to_the_dlq_at_once_without_a_crash(start, settings, consumer_db, body, reason):
    amqp = settings["certification"].amqp_uri
    start(CompletionConsumer, "certification")
    publish_raw(amqp, "enrollment.events", "completed", body)
    [dead] = get_messages(amqp, "certification.dlq", 1)
    assert dead.body == body
    assert dead.headers["x-reason"] == "malformed"
    assert reason in dead.headers["x-error"]
    assert consumer_db.deliveries.count_documents({}) == 0  # never reached the handler

    healthy = publish_event(amqp, "enrollment", "completed", completion())
    wait_for(lambda: consumer_db.applied.count_documents({"event_id": healthy["id"]}) == 1,
             message="the service still consumes")


def test_two_replicas_on_one_queue_apply_each_of_200_events_exactly_once(start, settings, consumer_db):
    amqp = settings["certification"].amqp_uri
    start(CompletionConsumer, "certification")
    start(CompletionConsumer, "certification")
    events = [publish_event(amqp, "enrollment", "completed", completion(enrolment_id=f"e{i}"))
              for i in range(200)]
    for event in events[::2]:  # every other event is delivered twice
        publish_raw(amqp, "enrollment.events", "completed", json.dumps(event).encode())

    wait_for(lambda: consumer_db.deliveries.count_documents({}) == 300, timeout=60, message="all deliveries")
    wait_for(lambda: consumer_db.applied.count_documents({}) == 200, timeout=30)
    applied = list(consumer_db.applied.find({}, {"event_id": 1, "replica": 1}))
    assert sorted(a["event_id"] for a in applied) == sorted(e["id"] for e in events)
    assert len({a["replica"] for a in applied}) == 2  # both replicas did work


def test_an_event_on_the_wire_parses_with_the_official_cloudevents_sdk(start, settings):
    from cloudevents.v1.http import from_json

    amqp = settings["enrollment"].amqp_uri
    start(CompletionProducer, "enrollment")
    # an external subscriber's own queue, bound like any government system would
    from kombu import Connection, Exchange, Queue
    with Connection(amqp) as conn:
        Queue("external.completed", Exchange("enrollment.events", "topic", durable=True),
              routing_key="completed", durable=True)(conn.channel()).declare()
    event = write_through_outbox(settings["enrollment"], completion(), subject="e77")

    [message] = get_messages(amqp, "external.completed", 1)
    parsed = from_json(message.body)
    assert parsed["id"] == event["id"]
    assert parsed["type"] == "id.go.bkn.bangkom.enrollment.completed.v1"
    assert parsed["source"] == "/asn/enrollment"
    assert parsed["subject"] == "e77"
    assert parsed.data["participant"]["nip"] == "198503122010011002"
    assert message.properties["content_type"] == "application/json"
    assert message.properties["delivery_mode"] == 2


def test_an_event_no_queue_is_bound_for_is_counted_as_unroutable_and_kept(settings):
    amqp_settings = settings["enrollment"]
    client = connect(amqp_settings)
    store = Store(client, amqp_settings)
    event = store.transaction(lambda tx: tx.emit("programme_cancelled", "P1", registry.latest(
        "enrollment", "programme_cancelled").example))
    relay = Relay(amqp_settings)
    relay.flush()
    relay.close()
    record = store.db.outbox.find_one({"event.id": event["id"]})
    assert record["sent"] is True and record["unroutable"] is True
    assert relay.unroutable == 1
    client.close()
