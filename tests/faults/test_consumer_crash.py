"""SIGKILL each consumer in the middle of a burst of 1,000 completions, then restart it.

The four services run as processes. Enrollment commits 1,000 completions (bulk CSV); while
certification, notification and reporting work through them, each in turn is killed with
SIGKILL (no graceful shutdown: in-flight handlers die between commit and ack, emails die
between the SMTP reply and the recorded outcome) and started again. Afterwards every
completion must have exactly one certificate, one email and one JP ledger entry.
"""
from __future__ import annotations

import time

import pytest

from tests.faults.harness import Burst, Platform
from tests.support import wait_for

BURST = 1_000
CONSUMERS = ("certification", "notification", "reporting")
KILL_AFTER = 100  # completions applied (emails received, for notification) before the kill
EMAIL_CLAIM_BATCH = 16  # DELIVERY_CONCURRENCY (8) x 2: the most emails one replica has in flight

pytestmark = pytest.mark.timeout(1800)  # a bound for a loaded machine


def progress(platform: Platform, service: str) -> int:
    return platform.emails_received() if service == "notification" else platform.handled(service)


def crash_and_restart(platform: Platform, burst: Burst, service: str) -> dict:
    """SIGKILL ``service`` once it is under way, restart it, time its recovery."""
    wait_for(lambda: progress(platform, service) >= KILL_AFTER, timeout=240, interval=0.1,
             message=f"{service} under way")
    platform.stack.kill(service)
    killed = time.monotonic()
    at_kill = progress(platform, service)
    platform.restart(service)
    ready = time.monotonic()
    wait_for(lambda: progress(platform, service) > at_kill, timeout=120, interval=0.1,
             message=f"{service} applying again after the restart")
    resumed = time.monotonic()
    return {"killed_at_s": round(killed - burst.started, 2), "applied_at_kill": at_kill,
            "ready_after_s": round(ready - killed, 2), "recovery_s": round(resumed - killed, 2)}


def test_each_consumer_killed_mid_burst_still_gives_every_completion_one_certificate_one_email_one_ledger_entry(
        launch, smtp, figures):
    with launch(("enrollment", *CONSUMERS), smtp=smtp) as platform:
        burst = platform.prepare_burst("FLT-KILL", BURST)
        platform.fire(burst)
        assert burst.accepted == BURST

        crashes = {service: crash_and_restart(platform, burst, service) for service in CONSUMERS}
        platform.wait_all_effects(burst, timeout=600)
        effects = platform.effects(burst)
        sent = platform.completions_sent(burst.code)
        handled = {s: platform.handled(s) for s in CONSUMERS}
        # Redeliveries of events applied before the kill but not acknowledged: skipped by
        # the restarted process (its counters start at the restart).
        skipped = {s: int(platform.metric(s, "asn_events_duplicate_total")) for s in CONSUMERS}
        dead = {s: platform.dead_lettered(s) for s in CONSUMERS}

    figures("consumer-crash", "SIGKILL of each consumer mid-burst, then restart", row={
        "completions": BURST, "events_sent": sent,
        "applied": f"{effects['certificates']['with_effect']} certificates, {effects['emails']['with_effect']} "
                   f"emails, {effects['ledger_entries']['with_effect']} ledger entries",
        "lost": sum(e["missing"] for e in effects.values()),
        "duplicate_effects": sum(e["duplicates"] for e in effects.values()),
        "email_resends": effects["emails"]["resent_copies"],
        "redeliveries_skipped": sum(skipped.values()),
        "recovery_s": {s: c["recovery_s"] for s, c in crashes.items()},
        "all_applied_s": max(burst.marks.values()),
    }, details={"crashes": crashes, "effects": effects, "processed_events": handled, "dead_lettered": dead,
                "redeliveries_skipped": skipped, "marks_s": burst.marks})

    assert sent == BURST
    for service, crash in crashes.items():
        assert 0 < crash["applied_at_kill"] < BURST, f"{service} was not killed mid-burst: {crash}"
    for name in ("certificates", "emails", "ledger_entries"):
        assert effects[name]["missing"] == 0, (name, effects[name])
        assert effects[name]["duplicates"] == 0, (name, effects[name])
        assert effects[name]["unexpected"] == 0, (name, effects[name])
    assert handled == {s: BURST for s in CONSUMERS}  # each event applied once per consumer
    assert dead == {s: 0 for s in CONSUMERS}
    # An email whose SMTP reply arrived but whose outcome the killed replica never recorded
    # is sent again with the same delivery id (at least once); never more than were in flight.
    assert effects["emails"]["resent_copies"] <= EMAIL_CLAIM_BATCH
