"""The issue's checkpoint over a roster of 1,000 ASN of whom 300 never enrolled: Q2 nudges each
ASN below 10 JP exactly once, all 300 included, run twice and on two replicas at once.

10 agencies of 100 ASN. By the last digit of their number: 0-2 never enrolled (300); 3 enrolled,
no JP yet; 4: 4 JP; 5: 9 JP; 6: 6 JP (those 400 are below 10 as well); 7: 10 JP; 8: 12 JP;
9: 24 JP (300 meet Q2's 10). Every agency: 30 of 100 met.
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import requests

from shared.reference import agencies
from tests.integration.reporting.conftest import ADMIN, apply_directly, free_port, scenario_events
from tests.support import body_json, get_messages, queue_depth, wait_for
from tests.unit.reporting import factory as f

AGENCIES = list(agencies())[:10]
PEOPLE = [f.participant(i, AGENCIES[i // 10 % 10]) for i in range(1000)]
JP_BY_DIGIT = {4: 4, 5: 9, 6: 6, 7: 10, 8: 12, 9: 24}
NEVER_ENROLLED = {p["nip"] for i, p in enumerate(PEOPLE) if i % 10 <= 2}
BELOW_10 = {p["nip"] for i, p in enumerate(PEOPLE) if i % 10 <= 6}
# 20 August 2026: Q2 is past the loop's catch-up window, so only the admin requests run it.
LATE = datetime(2026, 8, 20, 3, 0, tzinfo=timezone.utc)


def events() -> list[tuple[str, dict]]:
    programmes = {jp: f.programme(f"PEL-{jp:02d}", jp=jp) for jp in set(JP_BY_DIGIT.values())}
    items = [f.published(p, capacity=1000) for p in programmes.values()]
    for i, person in enumerate(PEOPLE):
        items.append(f.registered(f.roster_entry(person)))
        digit = i % 10
        if digit == 3:
            items.append(f.enrolled(f"e{i}", programmes[24], person))
        elif digit >= 4:
            programme = programmes[JP_BY_DIGIT[digit]]
            items += [f.enrolled(f"e{i}", programme, person),
                      f.completed(f"e{i}", programme, person, "passed", "2026-03-05T09:30:00Z")]
    return items


def test_a_q2_checkpoint_over_1000_rostered_asn_nudges_the_700_below_10_jp_once_the_300_never_enrolled_included(
        start, settings, store, cfg, captured, api):  # noqa: F811
    apply_directly(store, scenario_events(events(), times=False), cfg)
    start(clock=lambda: LATE)
    second_port = free_port()
    start(clock=lambda: LATE, http_address=f"127.0.0.1:{second_port}")

    answers = []

    def trigger(port):
        answers.append(requests.post(f"http://127.0.0.1:{port}/admin/shortfall/2026-Q2/run", headers=ADMIN,
                                     timeout=30).status_code)

    threads = [threading.Thread(target=trigger, args=(p,)) for p in (settings.http_port, second_port)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert set(answers) <= {200, 202}
    job = wait_for(lambda: (j := api.get("/admin/shortfall/2026-Q2").json())["status"] == "done" and j,
                   timeout=300, interval=0.5, message="the checkpoint over 1,000 ASN done")
    assert (job["total"], job["checked"], job["nudged"]) == (1000, 1000, 700)

    events_ = [body_json(m)["data"] for m in get_messages(settings.amqp_uri, captured, 700, timeout=120)]
    nudged = [e["participant"]["nip"] for e in events_]
    assert len(nudged) == len(set(nudged)) == 700
    assert set(nudged) == BELOW_10
    assert {e["participant"]["nip"] for e in events_ if e["never_enrolled"]} == NEVER_ENROLLED
    assert {(e["peers"]["agency_asn"], e["peers"]["met_share"]) for e in events_} == {(100, 0.3)}

    again = api.post("/admin/shortfall/2026-Q2/run")
    assert (again.status_code, again.json()["nudged"]) == (200, 700)
    assert queue_depth(settings.amqp_uri, captured) == 0
