"""examples/subscriber.py, run as another government system would run it, against the real
broker, receiving real events published by the platform's outbox relay."""
from __future__ import annotations

import json
import sqlite3
import uuid

import pytest

from shared.events import envelope
from tests.contract.running import QUEUE, RunningExample, example, publish_through_outbox
from tests.support import get_messages, publish_raw

pytestmark = pytest.mark.integration  # real broker and store


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
