"""Counter deltas folded by one replica (the counter-folding loop, services/reporting/usecases.py):
every event's increments reach the counters exactly once, whoever folds and however often."""
from __future__ import annotations

import threading

from services.reporting import commands, queries, usecases
from services.reporting.store import ReadModels, create_read_model_indexes, current_models
from services.reporting.usecases import apply_event
from shared.background import LEASES, Lease
from shared.store import Store
from tests.integration.reporting.conftest import processed_count, publish, scenario_events
from tests.support import wait_for
from tests.unit.reporting import factory as f


def burst(agency_of, n: int, code: str = "PEL-F") -> list:
    prog = f.programme(code, jp=24)
    items = [f.published(prog, capacity=n + 10)]
    for i in range(n):
        person = f.participant(i, agency_of(i))
        items += [f.enrolled(f"{code}-{i}", prog, person), f.completed(f"{code}-{i}", prog, person, "passed")]
    return items


def figures(store: Store, cfg, code: str = "PEL-F") -> tuple:
    rm = current_models(store.db)
    stats = queries.programme_stats(rm, code)
    rows = {r["agency"]: r for r in queries.compliance(rm, cfg, 2026)["agencies"]}
    march = {m["month"]: m for m in queries.monthly(rm, 2026)}.get("2026-03", {})
    return (stats["completed"], stats["passed"], rows["SETDA"]["known_asn"], rows["SETDA"]["jp_total"],
            rows["DINKES"]["met_target"], march.get("completions", 0))


def test_counters_move_only_when_folded_and_a_second_fold_changes_nothing(fresh_store, cfg):
    for event in scenario_events(burst(lambda i: "SETDA" if i % 2 else "DINKES", 40)):
        apply_event(fresh_store, f.parsed(event), cfg)
    rm = current_models(fresh_store.db)
    # The ledger is written in the event's transaction; the shared counters wait for the folder.
    assert rm.ledger_entries.count_documents({}) == 40
    assert queries.pending_deltas(fresh_store.db) == 80  # one per enrolment event (publishing counts nothing)
    assert queries.programme_stats(rm, "PEL-F")["completed"] == 0

    assert usecases.fold_all(fresh_store, 1, limit=7) == 80  # batches of 7, the last one short
    assert queries.pending_deltas(fresh_store.db) == 0
    folded = figures(fresh_store, cfg)
    assert folded == (40, 40, 20, 480, 20, 40)
    assert usecases.fold_all(fresh_store, 1) == 0
    assert figures(fresh_store, cfg) == folded


def test_the_folder_folds_a_generation_a_rebuild_starts_after_its_last_pass(fresh_store, cfg):
    """The folding job keeps the pointer between passes; each fold reads it again with its
    deltas, so a building generation's deltas are folded from the next pass on."""
    job = usecases.CounterFolding(fresh_store)
    events = scenario_events(burst(lambda i: "SETDA", 3, code="PEL-R"))
    apply_event(fresh_store, f.parsed(events[0]), cfg)
    assert job.run_once() == 0  # generation 1 alone, as the job now knows
    create_read_model_indexes(fresh_store.db, 2)
    commands.start_building(fresh_store.db, 2)
    for event in events[1:]:
        assert apply_event(fresh_store, f.parsed(event), cfg) == 2

    assert job.run_once() == 12  # 6 enrolment events' deltas in each generation
    assert (queries.pending_deltas(fresh_store.db, 1), queries.pending_deltas(fresh_store.db, 2)) == (0, 0)
    stats = queries.programme_stats(ReadModels(fresh_store.db, 2), "PEL-R")
    assert (stats["completed"], stats["passed"]) == (3, 3)


def test_two_folders_at_once_count_every_delta_once(fresh_store, cfg):
    for event in scenario_events(burst(lambda i: "SETDA" if i % 2 else "DINKES", 100)):
        apply_event(fresh_store, f.parsed(event), cfg)
    assert queries.pending_deltas(fresh_store.db) == 200

    # Two folds of overlapping batches (as after a lease expired under a slow holder): they
    # conflict on the deltas both delete, and the loser retries on what is left.
    errors: list = []

    def fold() -> None:
        try:
            while fresh_store.transaction(lambda tx: commands.fold_batch(tx, 1, limit=25)):
                pass
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=fold) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    assert queries.pending_deltas(fresh_store.db) == 0
    assert figures(fresh_store, cfg) == (100, 100, 50, 1200, 50, 100)


def test_only_the_lease_holder_folds_and_another_takes_over_when_it_stops(fresh_store, cfg):
    for event in scenario_events(burst(lambda i: "SETDA" if i % 2 else "DINKES", 4)):
        apply_event(fresh_store, f.parsed(event), cfg)
    # Two replicas' loops: each runs a pass only while it holds the lease (shared.background).
    leases = [Lease(fresh_store.db[LEASES], usecases.FOLD_LEASE, holder, 30) for holder in ("replica-a", "replica-b")]
    folder = usecases.CounterFolding(fresh_store)

    def loop_pass(replica: int) -> int:
        return folder.run_once() if leases[replica].held() else 0

    assert loop_pass(0) == 8
    for event in scenario_events(burst(lambda i: "SETDA", 2, code="PEL-G")):
        apply_event(fresh_store, f.parsed(event), cfg)
    assert loop_pass(1) == 0  # not the holder: folds nothing
    assert queries.pending_deltas(fresh_store.db) == 4
    leases[0].release()  # a graceful stop hands the lease over at once
    assert loop_pass(1) == 4
    assert figures(fresh_store, cfg)[:2] == (4, 4)
    assert queries.programme_stats(current_models(fresh_store.db), "PEL-G")["completed"] == 2


def test_two_service_replicas_fold_a_burst_over_the_broker_into_exact_figures(start, settings, store, cfg):
    start()
    start(http_address=f"127.0.0.1:{_port()}")
    events = scenario_events(burst(lambda i: "SETDA" if i % 2 else "DINKES", 60))
    publish(settings.amqp_uri, events)
    wait_for(lambda: processed_count(store) == len(events), timeout=90, message="every event applied once")
    wait_for(lambda: queries.pending_deltas(store.db) == 0, timeout=30, message="every delta folded")
    assert figures(store, cfg) == (60, 60, 30, 720, 30, 60)


def _port() -> int:
    from tests.integration.reporting.conftest import free_port
    return free_port()
