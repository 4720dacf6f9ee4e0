"""Shortfall detection at checkpoints: once per ASN per checkpoint, with suggestions, on an injected clock."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from services.reporting.usecases import SHORTFALL_LOOP, ShortfallDetector
from shared.background import LeasedLoop
from tests.integration.reporting import scenario
from tests.integration.reporting.conftest import ADMIN, apply_directly, free_port, scenario_events
from tests.support import body_json, get_messages, queue_depth, wait_for
from tests.unit.reporting import factory as f

# 1 July 2026, 00:30 WIB: the end of Q2 has just passed.
AFTER_Q2 = datetime(2026, 6, 30, 17, 30, tzinfo=timezone.utc)
OPEN_TRAINING = f.programme("PEL-OPEN", kind="pelatihan", competency_type="teknis", jp=24,
                            starts_at="2026-08-03T01:00:00Z", ends_at="2026-08-07T09:00:00Z")
OPEN_SEMINAR = f.programme("SEM-OPEN", kind="seminar", competency_type="pemerintahan", jp=4,
                           starts_at="2026-07-20T01:00:00Z", ends_at="2026-07-20T08:00:00Z")
NEXT_YEAR = f.programme("PEL-2027", jp=40, starts_at="2027-01-11T01:00:00Z", ends_at="2027-01-15T09:00:00Z")
CANCELLED = f.programme("PEL-CANCEL", jp=20, starts_at="2026-09-01T01:00:00Z", ends_at="2026-09-03T09:00:00Z")
BELOW_TARGET = {scenario.A2["nip"]: 9, scenario.A3["nip"]: 0, scenario.A4["nip"]: 0, scenario.B2["nip"]: 4,
                scenario.B3["nip"]: 0, scenario.C1["nip"]: 0, scenario.C2["nip"]: 5}


@pytest.fixture
def seeded(store, cfg):
    window = dict(opens="2026-06-01T00:00:00Z", closes="2026-07-15T16:59:59Z")
    items = scenario.events() + [
        f.published(OPEN_TRAINING, **window), f.published(OPEN_SEMINAR, **window), f.published(NEXT_YEAR, **window),
        f.published(CANCELLED, **window),
        ("programme_cancelled", {"programme": CANCELLED, "reason": "Narasumber berhalangan",
                                 "cancelled_at": "2026-06-20T03:00:00Z"}),
        f.enrolled("c1-open", OPEN_TRAINING, scenario.C1, at="2026-06-15T02:00:00Z"),
    ]
    apply_directly(store, scenario_events(items), cfg)


def test_a_checkpoint_flags_each_asn_below_target_once_even_with_two_replicas_racing(
        start, settings, seeded, captured, api):
    clock = lambda: AFTER_Q2  # noqa: E731
    start(clock=clock)
    second_port = free_port()
    start(clock=clock, http_address=f"127.0.0.1:{second_port}")
    import requests
    answers = []

    def trigger(port):
        response = requests.post(f"http://127.0.0.1:{port}/admin/shortfall/2026-Q2/run", timeout=60, headers=ADMIN)
        answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=trigger, args=(p,)) for p in (settings.http_port, second_port)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    # Each answers at once with the job; the run goes on in the background.
    assert all(code in (200, 202) and job["checkpoint"] == "2026-Q2" for code, job in answers)
    assert all(job["status"] in ("queued", "running", "done") for _, job in answers)
    job = wait_for(lambda: (j := api.get("/admin/shortfall/2026-Q2").json())["status"] == "done" and j,
                   timeout=60, message="the checkpoint job done")
    assert (job["nudged"], job["checked"], job["progress"]) == (len(BELOW_TARGET), job["total"], 1.0)

    messages = get_messages(settings.amqp_uri, captured, len(BELOW_TARGET), timeout=30)
    events = [body_json(m) for m in messages]
    assert {e["data"]["participant"]["nip"]: e["data"]["jp_total"] for e in events} == BELOW_TARGET
    assert len(events) == len(BELOW_TARGET)  # once each, though two replicas ran the checkpoint
    a2 = next(e["data"] for e in events if e["data"]["participant"]["nip"] == scenario.A2["nip"])
    # Q2's target of a full-year PNS is 10 JP (the yearly 20 stays beside it)
    assert (a2["checkpoint"], a2["year"], a2["jp_target"], a2["jp_missing"], a2["yearly_target"],
            a2["consecutive_shortfalls"]) == ("2026-Q2", 2026, 10, 1, 20, 1)
    assert a2["participant"]["agency_name"] == "Dinas Komunikasi dan Informatika"
    # open now and starting this year; the one that closes the 1 JP gap most closely first
    assert [p["code"] for p in a2["suggested_programmes"]] == ["SEM-OPEN", "PEL-OPEN"]
    c1 = next(e["data"] for e in events if e["data"]["participant"]["nip"] == scenario.C1["nip"])
    assert [p["code"] for p in c1["suggested_programmes"]] == ["SEM-OPEN"]  # already enrolled in PEL-OPEN
    # Not on any roster: nobody to compare with and no supervisor known, so the OPD is told.
    assert (a2["peers"], a2["supervisor"], a2["escalate_to"], a2["participant"]["listed"]) == \
        (None, None, ["agency"], False)

    again = api.post("/admin/shortfall/2026-Q2/run")
    assert again.status_code == 200
    assert (again.json()["status"], again.json()["nudged"]) == ("done", len(BELOW_TARGET))
    assert queue_depth(settings.amqp_uri, captured) == 0


def test_the_scheduler_runs_the_checkpoint_that_just_passed_and_counts_consecutive_shortfalls(
        start, settings, seeded, captured, store, cfg):
    now = {"t": AFTER_Q2}
    container = start(clock=lambda: now["t"])
    loop = next(e for e in container.extensions if isinstance(e, LeasedLoop) and e.name == SHORTFALL_LOOP)

    def done(checkpoint: str) -> dict | None:
        return store.db.shortfall_runs.find_one({"_id": checkpoint, "status": "done"})

    # The service's loop runs the checkpoint that just passed, on its own.
    wait_for(lambda: done("2026-Q2"), timeout=30, message="the loop ran 2026-Q2")
    assert done("2026-Q2")["nudged"] == len(BELOW_TARGET)
    assert ShortfallDetector(store, cfg, lambda: now["t"]).run_due() == []  # done: the next pass does nothing
    get_messages(settings.amqp_uri, captured, len(BELOW_TARGET), timeout=30)

    now["t"] = datetime(2026, 10, 1, 3, 0, tzinfo=timezone.utc)  # 1 Oct 10:00 WIB: Q3 is due
    loop.wake()
    wait_for(lambda: done("2026-Q3"), timeout=30, message="the loop ran 2026-Q3")
    events = [body_json(m)["data"] for m in get_messages(settings.amqp_uri, captured, len(BELOW_TARGET), timeout=30)]
    assert {e["consecutive_shortfalls"] for e in events} == {2}
    assert {e["jp_target"] for e in events} == {15}  # Q3's step of the yearly 20
    assert all(e["suggested_programmes"] == [] for e in events)  # every window has closed by October


def test_an_unknown_checkpoint_is_refused_with_the_field(start, api):
    start(clock=lambda: AFTER_Q2)
    response = api.post("/admin/shortfall/2026-Q9/run")
    assert response.status_code == 422 and response.json()["field"] == "checkpoint"
