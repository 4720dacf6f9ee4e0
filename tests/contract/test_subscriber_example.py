"""examples/subscriber.py, run as another government system would run it, against the real
broker, receiving real events published by the platform's outbox relay."""
from __future__ import annotations

import copy
import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from shared import topology
from shared.events import envelope, registry
from shared.outbox import Relay
from shared.store import Store, connect
from tests.support import get_messages, make_settings, publish_raw, wait_for

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "subscriber.py"
QUEUE = "ext.bkd-sumbar.bangkom"
BINDINGS = ["enrollment.events:completed", "enrollment.events:enrolled",
            "certification.events:certified", "certification.events:revoked"]


@pytest.fixture
def settings(service_env):
    env = {**service_env, "MONGO_DB_PREFIX": f"{service_env['MONGO_DB_PREFIX']}{uuid.uuid4().hex[:6]}_"}
    s = {svc: make_settings(svc, env) for svc in ("enrollment", "certification")}
    for one in s.values():  # the platform's exchanges exist before anyone binds to them
        topology.declare_service(one, [])
    return s


class RunningExample:
    """The example as a separate process; its JSON lines land in a file we poll."""

    def __init__(self, amqp_uri: str, folder: Path, *extra: str):
        self.out = folder / f"out-{uuid.uuid4().hex[:6]}.jsonl"
        url = amqp_uri.replace("pyamqp://", "amqp://", 1)  # kombu's alias; pika knows amqp(s)://
        args = [sys.executable, str(EXAMPLE), "--url", url, "--queue", QUEUE,
                "--state", str(folder / "state.sqlite3"), "--json", "--idle-timeout", "60", *extra]
        for b in BINDINGS:
            args += ["--bind", b]
        self.stdout = self.out.open("w")
        self.process = subprocess.Popen(args, stdout=self.stdout, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.wait_for_outcome("listening")

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    def outcomes(self, outcome: str) -> list[dict]:
        return [r for r in self.records() if r["outcome"] == outcome]

    def wait_for_outcome(self, outcome: str, count: int = 1) -> list[dict]:
        def seen():
            if self.process.poll() is not None and len(self.outcomes(outcome)) < count:
                raise AssertionError(f"the example exited early: {self.process.stderr.read()}")
            return len(self.outcomes(outcome)) >= count
        wait_for(seen, timeout=20, message=f"{count} x {outcome} from the example")
        return self.outcomes(outcome)

    def stop(self) -> dict:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=15) == 0, self.process.stderr.read()
        self.stdout.close()
        return self.outcomes("stopped")[-1]


def publish_through_outbox(settings, emits: list[tuple[str, str, dict]]) -> list[dict]:
    """Commit events the way a service does (outbox in a transaction), then run its relay."""
    client = connect(settings)
    try:
        events = Store(client, settings).transaction(
            lambda tx: [tx.emit(name, subject, data) for name, subject, data in emits])
    finally:
        client.close()
    relay = Relay(settings, holder=f"test-{uuid.uuid4().hex[:6]}")
    try:
        assert relay.flush() == len(emits)
        assert relay.unroutable == 0  # the example's queue is bound to every one of them
    finally:
        relay.lease.release()  # as a relay does at shutdown: the next one may publish at once
        relay.close()
        relay.client.close()
    return events


def example(service: str, name: str, **changes) -> dict:
    data = copy.deepcopy(registry.latest(service, name).example)
    data.update(changes)
    return data


def test_the_example_subscriber_handles_real_platform_events_once_in_any_order_and_survives_bad_ones(
        settings, tmp_path):
    amqp = settings["enrollment"].amqp_uri
    subscriber = RunningExample(amqp, tmp_path)
    certificate = {"certificate_id": "6752c3aa0b1c2d3e4f50aaaa", "number": "0007/BKN-BKT/SERT-PBJ/2026"}
    # the revocation is committed before the issue it revokes: the example must not resurrect it
    revoked, certified = publish_through_outbox(settings["certification"], [
        ("revoked", certificate["certificate_id"], example("certification", "revoked", **certificate)),
        ("certified", certificate["certificate_id"], example("certification", "certified", **certificate)),
    ])
    enrolled, completed = publish_through_outbox(settings["enrollment"], [
        ("enrolled", "e-42", example("enrollment", "enrolled", enrolment_id="e-42")),
        ("completed", "e-42", example("enrollment", "completed", enrolment_id="e-42")),
    ])
    handled = subscriber.wait_for_outcome("handled", 4)
    assert sorted(r["id"] for r in handled) == sorted(e["id"] for e in (revoked, certified, enrolled, completed))
    by_id = {r["id"]: r for r in handled}
    assert "status=revoked" in by_id[certified["id"]]["detail"]
    assert by_id[completed["id"]]["detail"] == "nip=198503122010011002 programme=PBJ-2026-01 result=passed jp=32"

    # a redelivery of the same event (same id) is acknowledged and not applied again
    publish_raw(amqp, "enrollment.events", "completed", envelope.encode(completed))
    [duplicate] = subscriber.wait_for_outcome("duplicate")
    assert duplicate["id"] == completed["id"]

    # a future major version published beside v1 is skipped, not an error
    v9 = {**completed, "id": str(uuid.uuid4()), "type": completed["type"].replace(".v1", ".v9")}
    publish_raw(amqp, "enrollment.events", "completed", json.dumps(v9).encode())
    [skipped] = subscriber.wait_for_outcome("skipped")
    assert skipped["id"] == v9["id"]

    # a message that is not a CloudEvent goes to the subscriber's own dead-letter queue
    publish_raw(amqp, "enrollment.events", "completed", b"{not json")
    subscriber.wait_for_outcome("rejected")
    [dead] = get_messages(amqp, f"{QUEUE}.rejected", 1)
    assert dead.body == b"{not json"

    counts = subscriber.stop()
    assert counts == {"outcome": "stopped", "handled": 4, "duplicate": 1, "skipped": 1, "rejected": 1}
    with sqlite3.connect(tmp_path / "state.sqlite3") as db:
        assert db.execute("SELECT status, reason FROM certificates").fetchall() == [
            ("revoked", "Data peserta tidak sesuai")]
        assert db.execute("SELECT enrolment_id, jp_earned FROM completions").fetchall() == [("e-42", 32)]


def test_events_published_while_the_example_is_down_wait_in_its_queue_and_duplicates_stay_dropped(
        settings, tmp_path):
    amqp = settings["enrollment"].amqp_uri
    first = RunningExample(amqp, tmp_path)
    [completed] = publish_through_outbox(settings["enrollment"], [
        ("completed", "e-1", example("enrollment", "completed", enrolment_id="e-1"))])
    first.wait_for_outcome("handled")
    first.stop()

    # while the subscriber is down: a new event, and the relay sending the old one again
    [later] = publish_through_outbox(settings["enrollment"], [
        ("completed", "e-2", example("enrollment", "completed", enrolment_id="e-2", result="failed",
                                     passed=False, jp_earned=0))])
    publish_raw(amqp, "enrollment.events", "completed", envelope.encode(completed))

    second = RunningExample(amqp, tmp_path, "--max-events", "2")
    assert second.process.wait(timeout=20) == 0  # stops by itself after the two waiting messages
    assert [r["id"] for r in second.outcomes("handled")] == [later["id"]]
    assert [r["id"] for r in second.outcomes("duplicate")] == [completed["id"]]
    second.stop()
