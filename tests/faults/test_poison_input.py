"""Poison input: messages no consumer can ever process go to its dead-letter queue, with the reason.

Every consumer of `enrollment.completed` (certification, notification, reporting) runs as a
process. Onto the exchange, as a careless or hostile publisher might, go: an oversized
message, a wrong content type, a wrong event version, an unknown event type, binary
garbage, data that breaks its schema and an event of another type under this routing key.
Each must land once in each consumer's DLQ with ``x-reason: malformed`` and an ``x-error``
that says what is wrong, and a valid event published right after must still be applied.
"""
from __future__ import annotations

import copy
import json
import os
import time
import uuid

from shared.events import envelope, registry
import pytest

from tests.faults.harness import nip
from tests.support import get_messages, publish_event, publish_raw, queue_depth, wait_for

CONSUMERS = ("certification", "notification", "reporting")
COMPLETED = registry.latest("enrollment", "completed")
CERTIFIED = registry.latest("certification", "certified")
CASE_HEADER = "x-fault-case"

pytestmark = pytest.mark.timeout(300)  # a bound for a loaded machine


def completed_event(**envelope_changes) -> dict:
    event = envelope.new_event(COMPLETED, "6752c1f0a4b1c2d3e4f50607", copy.deepcopy(COMPLETED.example))
    event.update(envelope_changes)
    return event


def body(event: dict) -> bytes:
    return json.dumps(event).encode("utf-8")


def poison_cases() -> dict[str, tuple[bytes, str, str]]:
    """case -> (body, content type, what the DLQ's x-error must say)."""
    oversized = completed_event(padding="x" * (envelope.MAX_EVENT_BYTES + 1024))
    broken_data = completed_event()
    del broken_data["data"]["participant"]
    other_type = envelope.new_event(CERTIFIED, "c1", copy.deepcopy(CERTIFIED.example))
    return {
        "oversized": (body(oversized), "application/json", "exceeds the"),
        "wrong content type": (body(completed_event()), "text/plain", "wrong content type"),
        "wrong event version": (body(completed_event(type=COMPLETED.type.replace(".v1", ".v9"))),
                                "application/json", "unknown event type"),
        "unknown event type": (body(completed_event(type="id.go.bkn.bangkom.enrollment.graduated.v1")),
                               "application/json", "unknown event type"),
        "binary garbage": (b"\x00\xff\xfe" + os.urandom(509), "application/json", "not valid JSON"),
        "data breaking its schema": (body(broken_data), "application/json", "data does not match"),
        "another event type on this route": (body(other_type), "application/json", "arrived on the queue"),
    }


def valid_completion(participant_nip: str) -> dict:
    data = copy.deepcopy(COMPLETED.example)
    data["enrolment_id"] = uuid.uuid4().hex[:24]
    data["participant"]["nip"] = participant_nip
    data["completed_at"] = envelope.utc_now_rfc3339()
    data["programme"]["code"] = "FLT-POISON"
    return data


def test_poison_messages_land_in_each_consumers_dead_letter_queue_with_their_reason_and_service_goes_on(
        launch, figures):
    with launch(CONSUMERS) as platform:
        amqp = platform.stack.amqp_uri
        pids = {s: platform.stack.pid(s) for s in CONSUMERS}
        cases = poison_cases()
        sent = time.monotonic()
        for case, (raw, content_type, _) in cases.items():
            publish_raw(amqp, COMPLETED.exchange, COMPLETED.name, raw, content_type=content_type,
                        headers={CASE_HEADER: case})
        reached = {}
        for service in CONSUMERS:
            wait_for(lambda: platform.dead_lettered(service) >= len(cases), timeout=60, interval=0.1,
                     message=f"{len(cases)} poison messages in {service}.dlq")
            reached[service] = round(time.monotonic() - sent, 2)

        # The services go on: a valid completion right after is applied by every consumer.
        participant = nip(4242)
        valid = publish_event(amqp, "enrollment", "completed", valid_completion(participant))
        for service in CONSUMERS:
            wait_for(lambda: platform.db(service).processed_events.count_documents({"event_id": valid["id"]}) == 1,
                     timeout=60, message=f"{service} applying a valid event after the poison")
        # Applying the completion queues the certificate; the numbering loop issues it a moment later (ADR 0025).
        certificates = wait_for(lambda: (page := platform.http.get(
            platform.url("certification", "/certificates"), params={"nip": participant}, timeout=30).json())["items"]
            and page, timeout=60, message="the valid completion's certificate")
        ready = {s: platform.ready(s) for s in CONSUMERS}
        alive = {s: platform.stack.pid(s) == pids[s] for s in CONSUMERS}
        left_in_queues = {s: queue_depth(amqp, f"{s}.enrollment.completed") for s in CONSUMERS}
        dead = {s: get_messages(amqp, f"{s}.dlq", len(cases) + 1, timeout=2) for s in CONSUMERS}

    outcome = {s: {m.headers[CASE_HEADER]: {"reason": m.headers["x-reason"], "error": m.headers["x-error"][:160],
                                            "queue": m.headers["x-original-queue"]} for m in messages}
               for s, messages in dead.items()}
    figures("poison-input", "Poison input on every consumer's queue", row={
        "completions": 1, "events_sent": len(cases) * len(CONSUMERS),
        "applied": f"{sum(len(m) for m in dead.values())} poison messages dead-lettered with their reason; "
                   f"the valid event after them applied by {len(CONSUMERS)} consumers",
        "lost": 0, "duplicate_effects": 0, "recovery_s": reached,
    }, details={"dead_letters": outcome["certification"], "seconds_to_dlq": reached, "ready": ready,
                "same_process": alive})

    for service, messages in dead.items():
        assert len(messages) == len(cases), (service, sorted(m.headers[CASE_HEADER] for m in messages))
        for case, (_, _, expected_error) in cases.items():
            record = outcome[service][case]
            assert record["reason"] == "malformed", (service, case, record)
            assert expected_error in record["error"], (service, case, record)
            assert record["queue"] == f"{service}.enrollment.completed"
    assert [c["holder"]["nip"] for c in certificates["items"]] == [participant]
    assert ready == {s: True for s in CONSUMERS}
    assert alive == {s: True for s in CONSUMERS}
    assert left_in_queues == {s: 0 for s in CONSUMERS}
