"""SIGKILL the producer between its store commit and its relay publishing.

Enrollment commits 1,000 completions (bulk CSV) and their `completed` events in the same
transactions (the outbox). Its relay is slowed to one record per batch, so when the HTTP
answer says "committed" most events are still unpublished; enrollment is then killed
with SIGKILL. After a restart every committed event must reach a subscriber; the one the
relay had in flight may arrive twice (at least once, consumers are idempotent).
"""
from __future__ import annotations

import time

import pytest

from tests.faults.harness import COMPLETED, bind_tap, drain_event_ids
from tests.support import queue_depth, wait_for

BURST = 1_000
CODE = "FLT-PROD"

pytestmark = pytest.mark.timeout(600)  # a bound for a loaded machine


def test_a_producer_killed_after_commit_and_before_publishing_sends_every_event_after_restart(launch, figures):
    # One record per relay batch: the relay trails the commits by hundreds of events.
    with launch(("enrollment",), env={"ENROLLMENT_RELAY_BATCH_SIZE": "1"}) as platform:
        amqp = platform.stack.amqp_uri
        tap = bind_tap(amqp, "enrollment.events", "completed")  # an outside subscriber
        burst = platform.prepare_burst(CODE, BURST, recipients=False)
        platform.fire(burst)  # answered once all 1,000 completions are committed
        assert burst.accepted == BURST

        platform.stack.kill("enrollment")
        killed = time.monotonic()
        committed = platform.completions_committed(CODE)
        published_before_kill = platform.completions_sent(CODE)
        on_tap_before_restart = queue_depth(amqp, tap)

        platform.stack.extra_env["ENROLLMENT_RELAY_BATCH_SIZE"] = "200"  # restarted with the default
        ready_s = platform.restart("enrollment")
        wait_for(lambda: queue_depth(amqp, tap) >= BURST, timeout=180, interval=0.2,
                 message="every committed completion on the subscriber's queue")
        recovered_s = time.monotonic() - killed
        wait_for(lambda: platform.completions_sent(CODE) == BURST, timeout=60, message="outbox marked sent")
        expected = {r["event"]["id"] for r in platform.db("enrollment").outbox.find(
            {"event.type": COMPLETED.type}, {"event.id": 1})}
        received = drain_event_ids(amqp, tap)

    distinct = set(received)
    figures("producer-crash", "SIGKILL of the producer between commit and publish, then restart", row={
        "completions": BURST, "events_sent": len(distinct),
        "applied": f"{len(distinct & expected)} committed events received by a subscriber",
        "lost": len(expected - distinct), "duplicate_effects": 0,
        "event_duplicates": len(received) - len(distinct),
        "unpublished_at_kill": committed - published_before_kill,
        "recovery_s": round(recovered_s, 2),
    }, details={"committed": committed, "published_before_kill": published_before_kill,
                "on_tap_before_restart": on_tap_before_restart, "ready_after_restart_s": round(ready_s, 2),
                "received_messages": len(received), "marks_s": burst.marks,
                "relay_lease_s": "10 (the killed relay's lease must expire before the new one publishes)"})

    assert committed == BURST
    assert committed - published_before_kill > 0, "the kill did not land between commit and publish"
    assert distinct == expected  # every committed event went out, nothing else
    # Only a record published but not yet marked sent can go out twice: one per relay batch.
    assert len(received) - len(distinct) <= 1
