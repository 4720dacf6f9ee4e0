"""Shortfall checkpoints over the roster (issue 19): every active ASN below their pro-rated target
is nudged once, the never-enrolled included; who left or has not started yet is not counted;
colleague figures only for an agency of 5 or more; the supervisor first, the OPD after repeated
misses or when no supervisor is known. Checkpoints run as jobs (202, progress, done).

The roster (hand-computed, year 2026; Q1 target 5 JP, Q2 10 JP for a full-year PNS):

DISKOMINFO  S 24 JP (supervisor of K1, K2, M) · K1 6 · K2 never enrolled · K3 2 (supervisor L, who
            left) · K4 10 · M joined in May, 3 JP (Q2 target 4) · L left in May · T starts in August
DINKES      D1 never enrolled · D2 12 · D3 4 · D4 never enrolled (4 rostered: no colleague figure)
SETDA       U not on the roster, enrolled in 2026, no JP yet

Q1: checks 10 (M, T not started, L left), nudges K2 K3 D1 D3 D4 U (K1's 6 JP meet 5).
Q2: checks 11 (6 + 4 + U), nudges K1 K2 K3 M D1 D3 D4 U; K1 and M for the first time.
"""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
import requests

from services.reporting import commands, usecases
from services.reporting.usecases import ShortfallDetector
from tests.integration.reporting.conftest import ADMIN, apply_directly, free_port, scenario_events
from tests.support import auth_headers, body_json, get_messages, queue_depth, wait_for
from tests.unit.reporting import factory as f

AFTER_Q1 = datetime(2026, 3, 31, 17, 30, tzinfo=timezone.utc)  # 1 April 00:30 WIB
AFTER_Q2 = datetime(2026, 6, 30, 17, 30, tzinfo=timezone.utc)  # 1 July 00:30 WIB

S, K1, K2, K3, K4, M, L, T = (f.participant(i, "DISKOMINFO") for i in range(101, 109))
D1, D2, D3, D4 = (f.participant(i, "DINKES") for i in range(121, 125))
U = f.participant(131, "SETDA")
ROSTER = [f.roster_entry(S), f.roster_entry(K1, supervisor=S["nip"]), f.roster_entry(K2, supervisor=S["nip"]),
          f.roster_entry(K3, supervisor=L["nip"]), f.roster_entry(K4),
          f.roster_entry(M, supervisor=S["nip"], tmt="2026-05-01"), f.roster_entry(L),
          f.roster_entry(T, tmt="2026-08-01"), *(f.roster_entry(d) for d in (D1, D2, D3, D4))]
JP = {"S": (S, 24), "K1": (K1, 6), "K3": (K3, 2), "K4": (K4, 10), "M": (M, 3), "D2": (D2, 12), "D3": (D3, 4)}
NAMES = {p["nip"]: n for n, p in dict(S=S, K1=K1, K2=K2, K3=K3, K4=K4, M=M, L=L, T=T, D1=D1, D2=D2, D3=D3, D4=D4,
                                       U=U).items()}
Q1_NUDGED = {"K2", "K3", "D1", "D3", "D4", "U"}
Q2_NUDGED = {"K1", "K2", "K3", "M", "D1", "D3", "D4", "U"}


def roster_events() -> list[tuple[str, dict]]:
    items = [f.registered(entry) for entry in ROSTER]
    items.append(f.left(f.roster_entry(L, version=2, status="pensiun"), at="2026-05-10T02:00:00Z"))
    for key, (person, jp) in JP.items():
        programme = f.programme(f"PEL-{key}", jp=jp)
        items += [f.published(programme), f.enrolled(f"{key}-pel", programme, person),
                  f.completed(f"{key}-pel", programme, person, "passed", "2026-03-05T09:30:00Z")]
    open_training = f.programme("PEL-U", jp=24, starts_at="2026-08-03T01:00:00Z", ends_at="2026-08-07T09:00:00Z")
    items += [f.published(open_training), f.enrolled("u-pel", open_training, U, at="2026-02-10T02:00:00Z")]
    return items


@pytest.fixture
def roster(store, cfg):
    apply_directly(store, scenario_events(roster_events()), cfg)


def nudges(settings, captured, expected: int) -> dict[str, dict]:
    events = [body_json(m)["data"] for m in get_messages(settings.amqp_uri, captured, expected, timeout=30)]
    by_name = {NAMES[e["participant"]["nip"]]: e for e in events}
    assert len(by_name) == len(events)  # nobody twice
    return by_name


def done_job(api, checkpoint: str) -> dict:
    return wait_for(lambda: (j := api.get(f"/admin/shortfall/{checkpoint}").json()).get("status") == "done" and j,
                    timeout=60, message=f"{checkpoint} done")


def test_a_q2_checkpoint_nudges_every_rostered_asn_below_their_pro_rated_target_once(
        start, settings, roster, captured, api):
    now = {"t": AFTER_Q1}
    start(clock=lambda: now["t"])
    second_port = free_port()
    start(clock=lambda: now["t"], http_address=f"127.0.0.1:{second_port}")

    first = api.post("/admin/shortfall/2026-Q1/run")
    assert first.status_code in (200, 202)  # the loop's start-up pass may have run the due Q1 already
    q1 = done_job(api, "2026-Q1")
    assert (q1["total"], q1["checked"], q1["nudged"]) == (10, 10, len(Q1_NUDGED))
    assert set(nudges(settings, captured, len(Q1_NUDGED))) == Q1_NUDGED  # K1's 6 JP meet Q1's 5

    now["t"] = AFTER_Q2
    answers = []

    def trigger(port):
        response = requests.post(f"http://127.0.0.1:{port}/admin/shortfall/2026-Q2/run", headers=ADMIN, timeout=30)
        answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=trigger, args=(p,)) for p in (settings.http_port, second_port)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert {code for code, _ in answers} <= {200, 202}
    assert all(job["status"] in ("queued", "running", "done") for _, job in answers)

    q2 = done_job(api, "2026-Q2")
    # L left in May and T starts in August: neither is in Q2's population
    assert (q2["total"], q2["checked"], q2["progress"]) == (11, 11, 1.0)
    assert (q2["nudged"], q2["escalated"], q2["supervisor_summaries"]) == (8, 6, 3)
    assert q2["targets"] == {"PNS": 10, "PPPK": 10}
    got = nudges(settings, captured, len(Q2_NUDGED))
    assert set(got) == Q2_NUDGED

    # Run again, on either replica: done already, nobody nudged twice.
    for port in (settings.http_port, second_port):
        again = requests.post(f"http://127.0.0.1:{port}/admin/shortfall/2026-Q2/run", headers=ADMIN, timeout=30)
        assert (again.status_code, again.json()["status"], again.json()["nudged"]) == (200, "done", 8)
    assert queue_depth(settings.amqp_uri, captured) == 0

    k1, k2, k3, m = got["K1"], got["K2"], got["K3"], got["M"]
    assert (k1["jp_total"], k1["jp_target"], k1["jp_missing"], k1["yearly_target"]) == (6, 10, 4, 20)
    # joined in May: 2 of 6 months of 10 JP, rounded up; 8 of 12 months of 20 JP for the year
    assert (m["jp_total"], m["jp_target"], m["jp_missing"], m["yearly_target"]) == (3, 4, 1, 14)
    assert (k2["never_enrolled"], k1["never_enrolled"], got["U"]["never_enrolled"]) == (True, False, False)
    assert got["D1"]["never_enrolled"] and got["D4"]["never_enrolled"]
    assert k2["suggested_programmes"] == [] and k2["participant"]["listed"] is True
    supervisor = {"nip": S["nip"], "name": S["name"]}
    assert (k1["supervisor"], k1["consecutive_shortfalls"], k1["escalate_to"]) == (supervisor, 1, ["supervisor"])
    assert (m["supervisor"], m["escalate_to"]) == (supervisor, ["supervisor"])
    # missed Q1 and Q2: the OPD hears of it as well
    assert (k2["supervisor"], k2["consecutive_shortfalls"], k2["escalate_to"]) == \
        (supervisor, 2, ["supervisor", "agency"])
    # K3's supervisor (L) has left: unknown, so the OPD is told
    assert (k3["supervisor"], k3["escalate_to"]) == (None, ["agency"])
    assert {got[n]["escalate_to"][0] for n in ("D1", "D3", "D4", "U")} == {"agency"}
    # DISKOMINFO: 6 active rostered ASN checked, S and K4 met 10 JP; DINKES has only 4
    assert {got[n]["peers"]["agency_asn"] for n in ("K1", "K2", "K3", "M")} == {6}
    assert k1["peers"]["met_share"] == pytest.approx(2 / 6, abs=1e-4)
    assert [got[n]["peers"] for n in ("D1", "D3", "D4", "U")] == [None] * 4


def test_progress_is_saved_per_batch_and_a_stopped_run_resumes_without_nudging_twice(
        store, cfg, roster, monkeypatch):
    monkeypatch.setattr(usecases, "SHORTFALL_BATCH", 4)
    batches = {"n": 0}

    def stop_after_first_batch() -> bool:
        batches["n"] += 1
        return batches["n"] > 1

    first = ShortfallDetector(store, cfg, lambda: AFTER_Q2, stopping=stop_after_first_batch)
    assert first.run("2026-Q2") == usecases.STOPPED
    run = store.db.shortfall_runs.find_one({"_id": "2026-Q2"})
    # the first 4 ASN in NIP order, saved; the job waits for a replica to go on
    assert (run["status"], run["total"], run["checked"]) == ("queued", 11, 4)
    halfway = run["nudged"]
    assert 0 < halfway < 8

    assert ShortfallDetector(store, cfg, lambda: AFTER_Q2).run("2026-Q2") == usecases.DONE
    run = store.db.shortfall_runs.find_one({"_id": "2026-Q2"})
    assert (run["status"], run["checked"], run["nudged"]) == ("done", 11, 8)
    assert store.db.shortfalls.count_documents({"checkpoint": "2026-Q2"}) == 8
    assert store.db.outbox.count_documents({"event.type": {"$regex": "shortfall_detected"}}) == 8


def test_a_requested_run_that_no_replica_finished_is_taken_up_by_the_loop(start, store, roster, api):
    # Asked for, then the replica that took the request died before running it.
    commands.request_checkpoint_run(store.db, "2026-Q2", 2026, AFTER_Q2)
    # 20 August: Q2 is past its catch-up window, so only the request makes the loop run it.
    start(clock=lambda: datetime(2026, 8, 20, 3, 0, tzinfo=timezone.utc))
    job = done_job(api, "2026-Q2")
    assert (job["requested"], job["total"], job["nudged"]) == (True, 11, 8)


def test_the_ledger_labels_each_jp_entry_klasikal_or_not(start, roster, api):
    start(clock=lambda: AFTER_Q2)
    [year] = api.get(f"/ledger/{K1['nip']}").json()["years"]
    assert [e["learning_mode"] for e in year["entries"]] == ["klasikal"]  # a pelatihan
    assert year["jp_by_learning_mode"] == {"klasikal": 6, "non-klasikal": 0}


def test_checkpoint_jobs_are_for_admins_only(start, api):
    start(clock=lambda: AFTER_Q2)
    for headers in (auth_headers("operator", agency="DISKOMINFO"), auth_headers("asn", nip=K1["nip"])):
        assert api.post("/admin/shortfall/2026-Q2/run", headers=headers).status_code == 403
        assert api.get("/admin/shortfall/2026-Q2", headers=headers).status_code == 403
    anonymous = requests.post(f"{api.base_url}/admin/shortfall/2026-Q2/run", timeout=30)
    assert anonymous.status_code == 401
    assert requests.get(f"{api.base_url}/admin/shortfall/2026-Q2", timeout=30).status_code == 401
    paths = api.get("/openapi.json").json()["paths"]
    assert "202" in paths["/admin/shortfall/{checkpoint}/run"]["post"]["responses"]
    assert "403" in paths["/admin/shortfall/{checkpoint}"]["get"]["responses"]
    missing = api.get("/admin/shortfall/2025-Q3")
    assert missing.status_code == 404 and missing.json()["field"] == "checkpoint"
    assert api.get("/admin/shortfall/2026-Q7").status_code == 422
