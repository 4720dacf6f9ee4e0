"""SIGTERM in the middle of a burst loses nothing.

A service runs as a real process (``python -m services``), consuming a burst of
events and answering a burst of HTTP commands, each of which commits state and an outbox
event. It gets SIGTERM half-way. It must stop consuming, let the workers in flight
finish, publish everything it committed, and exit 0; after a restart every event is
applied exactly once.
"""
from __future__ import annotations

import copy
import json
import os
import sys
import threading
import uuid
from pathlib import Path

import eventlet
import pytest
import requests
from kombu import Connection, Exchange, Producer, Queue
from pymongo import MongoClient

from deploy.processes import free_port, spawn, tail
from shared.broker_security import user_of
from shared.auth import PUBLIC
from shared.events import envelope, registry
from shared.handler import reliable_handler
from shared.http import api, json_body
from shared.openapi import OpenApi
from shared.service_base import ServiceBase
from shared.store import Mongo
from tests.support import queue_depth, wait_for

ROOT = Path(__file__).resolve().parents[2]
COMPLETED = registry.latest("enrollment", "completed")
CERTIFIED = registry.latest("certification", "certified")
REVOKED = registry.latest("certification", "revoked")
BURST = 300
HANDLER_SECONDS = 0.1  # long enough for SIGTERM to find workers in flight
WORK_QUEUE = "certification.enrollment.completed"


class CertificationUnderTest(ServiceBase):
    """Consumes `completed` and takes revocations over HTTP, like certification does."""

    name = "certification"
    store = Mongo()
    openapi = OpenApi("certification (graceful shutdown test)")

    @reliable_handler("enrollment", "completed")
    def on_completed(self, event):
        eventlet.sleep(HANDLER_SECONDS)
        enrolment_id = event.data["enrolment_id"]

        def issue(tx):
            tx.db.certificates.insert_one({"_id": enrolment_id}, session=tx.session)
            tx.emit("certified", enrolment_id, {**CERTIFIED.example, "enrolment_id": enrolment_id,
                                                "certificate_id": enrolment_id})
        self.store.apply_once(event, issue)

    # A stand-in: access rules are tested on the real services (tests/security).
    @api("POST", "/revocations", auth=PUBLIC)
    def revoke(self, request):
        certificate_id = json_body(request)["certificate_id"]

        def revoke(tx):
            tx.db.revocations.insert_one({"_id": certificate_id}, session=tx.session)
            tx.emit("revoked", certificate_id, {**REVOKED.example, "certificate_id": certificate_id})
        self.store.transaction(revoke)
        return 201, {"certificate_id": certificate_id}


@pytest.fixture
def env(service_env) -> dict:
    return {**service_env, "MONGO_DB_PREFIX": f"{service_env['MONGO_DB_PREFIX']}{uuid.uuid4().hex[:6]}_",
            "CERTIFICATION_HTTP_ADDRESS": f"127.0.0.1:{free_port()}", "MAX_WORKERS": "10",
            "RELAY_POLL_INTERVAL_S": "0.1", "LOG_LEVEL": "INFO"}


@pytest.fixture
def db(env):
    client = MongoClient(env["MONGO_URI"])
    yield client[f"{env['MONGO_DB_PREFIX']}certification"]
    client.close()


def start(env: dict, log_path: Path):
    proc = spawn([sys.executable, "-m", "services", "certification", "--module", __name__],
                 log_path=log_path, env={**os.environ, **env}, cwd=ROOT)
    base = f"http://{env['CERTIFICATION_HTTP_ADDRESS']}"

    def ready():
        assert proc.poll() is None, f"the service exited:\n{tail(log_path)}"
        try:
            return requests.get(f"{base}/health/ready", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False
    wait_for(ready, timeout=60, interval=0.2, message="service ready")
    return proc


def drain(amqp: str, queue: str) -> list[str]:
    """Event ids of every message in ``queue`` (consumed)."""
    ids = []
    with Connection(amqp) as conn:
        channel = conn.channel()
        while (message := channel.basic_get(queue, no_ack=True)) is not None:
            ids.append(json.loads(message.body)["id"])
    return ids


def test_sigterm_in_the_middle_of_a_burst_loses_no_event_and_publishes_every_committed_one(env, db, tmp_path):
    amqp = env["AMQP_URI"]
    with Connection(amqp) as conn:  # a subscriber of everything the service publishes
        Queue("observer.certification", Exchange("certification.events", "topic", durable=True),
              routing_key="#", durable=True)(conn.channel()).declare()
    proc = start(env, tmp_path / "first.log")

    accepted, refused = [], []

    def revocations():  # HTTP commands keep arriving until the service stops answering
        for i in range(10_000):
            try:
                response = requests.post(f"http://{env['CERTIFICATION_HTTP_ADDRESS']}/revocations",
                                         json={"certificate_id": f"r{i:05d}"}, timeout=10)
            except requests.ConnectionError:
                refused.append(i)
                return
            if response.status_code == 201:
                accepted.append(response.json()["certificate_id"])
    client = threading.Thread(target=revocations)
    client.start()
    wait_for(lambda: len(accepted) >= 5, message="HTTP commands under way")
    completions = []
    with Connection(amqp) as conn:  # one connection: the whole burst is queued in a blink
        producer = Producer(conn.channel())
        for i in range(BURST):
            data = copy.deepcopy(COMPLETED.example)
            data["enrolment_id"] = f"e{i:04d}"
            event = envelope.new_event(COMPLETED, data["enrolment_id"], data)
            producer.publish(envelope.encode(event), exchange="enrollment.events", routing_key="completed",
                             content_type="application/json", content_encoding="utf-8", delivery_mode=2,
                             user_id=user_of(amqp))
            completions.append(event)
    wait_for(lambda: db.certificates.count_documents({}) >= 40, message="events under way")
    proc.terminate()  # SIGTERM
    assert proc.wait(60) == 0, tail(tmp_path / "first.log")
    client.join(30)

    log = (tmp_path / "first.log").read_text()
    assert "stopping gracefully" in log
    applied_before_restart = db.certificates.count_documents({})
    assert applied_before_restart < BURST  # the signal did arrive mid-burst
    assert queue_depth(amqp, WORK_QUEUE) > 0  # the rest waits in the queue, not lost
    # everything committed was published before the process exited
    assert db.outbox.count_documents({"sent": False}) == 0
    assert db.outbox.count_documents({"event.type": CERTIFIED.type}) == applied_before_restart
    assert set(accepted) <= {r["_id"] for r in db.revocations.find()}  # a 201 means committed
    assert refused, "the HTTP burst outlived the service"
    published = set(drain(amqp, "observer.certification"))
    assert published == {r["event"]["id"] for r in db.outbox.find()}

    proc = start(env, tmp_path / "second.log")
    wait_for(lambda: db.certificates.count_documents({}) == BURST, timeout=60, message="the rest applied")
    wait_for(lambda: db.outbox.count_documents({"sent": False}) == 0, message="published")
    proc.terminate()
    assert proc.wait(60) == 0

    assert db.processed_events.count_documents({}) == BURST
    assert sorted(p["event_id"] for p in db.processed_events.find()) == sorted(e["id"] for e in completions)
    assert db.outbox.count_documents({"event.type": CERTIFIED.type}) == BURST  # once each, no duplicates
    published |= set(drain(amqp, "observer.certification"))
    assert published == {r["event"]["id"] for r in db.outbox.find()}
