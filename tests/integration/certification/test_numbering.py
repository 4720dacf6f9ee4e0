"""Batched certificate numbering (ADR 0025) against the real broker and store: pending
issues, one transaction per batch, the numbering lease passing to another replica."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from services.certification import commands, queries, usecases
from services.certification import config as certification_config
from services.certification.dependencies import NUMBERING_LEASE
from services.certification.store import COUNTERS, create_indexes
from shared.background import LEASES, Lease
from shared.store import ensure_base_indexes
from tests.integration.certification.helpers import PUBLIC_BASE_URL, completion, free_port, numbering_of
from tests.support import publish_event, wait_for

NOW = datetime(2026, 3, 6, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def direct(store):
    """The certification database without a running service, to drive the passes by hand."""
    ensure_base_indexes(store.db)
    create_indexes(store.db)
    return store


def record(store, *completions: dict) -> None:
    for data in completions:
        assert store.transaction(lambda tx, data=data: commands.record_pending_issue(tx, data, NOW))


def number(store, limit: int | None = None) -> list[dict]:
    return usecases.number_pending(store, config(), NOW, limit or config().numbering_batch)


def config() -> certification_config.CertificationConfig:
    return replace(certification_config.load(), base_url=PUBLIC_BASE_URL)


def seq_of(db, enrolment_id: str) -> tuple[int, int]:
    c = db.certificates.find_one({"enrolment_id": enrolment_id})
    return c["year"], c["seq"]


def test_a_batch_is_numbered_in_completion_order_per_year_of_the_wib_issue_day(direct):
    db = direct.db
    # S: an earlier certificate of the holder of e-c and e-b (same line PBJ)
    record(direct, completion("s", completed_at="2025-06-01T03:00:00Z"))
    record(direct, completion("e-dup", nip="199001012015032001", certification_line="DUP"))
    # e-dup gets its certificate another way meanwhile (the naive path issues at once)
    data = completion("e-dup", nip="199001012015032001", certification_line="DUP")
    commands.prepare_issue(db, data)
    direct.transaction(lambda tx: commands.issue_certificate(tx, data, config(), NOW))
    assert [c["enrolment_id"] for c in number(direct)] == ["s"]  # e-dup's pending issue is dropped
    assert db.pending_issues.count_documents({}) == 0
    assert db.certificates.count_documents({"enrolment_id": "e-dup"}) == 1
    assert seq_of(db, "s") == (2025, 1) and seq_of(db, "e-dup") == (2026, 1)

    other = dict(nip="199203042019031005", certification_line="K3")
    record(direct,
           completion("e-b"),                                                   # 2026-03-05 09:30Z
           completion("e-a", **other),                                          # same time: a before b
           completion("e-c", completed_at="2026-01-02T00:00:00Z"),
           completion("e-2025", completed_at="2025-12-31T16:30:00Z", **other),  # 23:30 WIB: 2025
           completion("e-wib", completed_at="2025-12-31T17:30:00Z", **other),   # 00:30 WIB: 2026
           completion("e-2027", completed_at="2027-01-04T02:00:00Z", **other))
    assert db.counters.find_one({"_id": "certificate-number:2026"})["seq"] == 1  # nothing moved yet
    assert [c["enrolment_id"] for c in number(direct, limit=2)] == ["e-2025", "e-wib"]
    issued = number(direct)
    assert [c["enrolment_id"] for c in issued] == ["e-c", "e-a", "e-b", "e-2027"]
    assert [seq_of(db, e) for e in ("e-wib", "e-c", "e-a", "e-b")] == [(2026, n) for n in (2, 3, 4, 5)]
    assert seq_of(db, "e-2025") == (2025, 2) and seq_of(db, "e-2027") == (2027, 1)
    assert db.certificates.find_one({"enrolment_id": "e-b"})["number"] == "0005/BKN-BKT/SERT-PBJ/2026"
    assert sorted(c["status_index"] for c in db.certificates.find()) == list(range(1, 9))
    assert {c["_id"]: c["seq"] for c in db[COUNTERS].find()} == {
        "certificate-number:2025": 2, "certificate-number:2026": 5, "certificate-number:2027": 1, "status-list": 8}
    # recertification across passes and inside the batch: s <- e-c <- e-b on line PBJ
    by_enrolment = {c["enrolment_id"]: c for c in db.certificates.find()}
    assert by_enrolment["s"]["superseded_by"] == by_enrolment["e-c"]["_id"]
    assert by_enrolment["e-c"]["supersedes"] == by_enrolment["s"]["_id"]
    assert by_enrolment["e-c"]["superseded_by"] == by_enrolment["e-b"]["_id"]
    assert by_enrolment["e-b"]["superseded_by"] is None
    # one certified event per certificate, in numbering order, with its number
    records = list(db.outbox.find().sort("_id", 1))
    assert [r["event"]["data"]["enrolment_id"] for r in records] == ["e-dup", "s", "e-2025", "e-wib", "e-c", "e-a",
                                                                     "e-b", "e-2027"]
    assert records[-2]["event"]["data"]["supersedes"] == by_enrolment["e-c"]["_id"]
    assert db.pending_issues.count_documents({}) == 0


def test_a_failed_batch_rolls_back_every_number_and_keeps_its_pending_issues(direct, monkeypatch):
    db = direct.db
    record(direct, completion("first"))
    number(direct)
    record(direct, completion("x1", nip="199001012015032001"), completion("x2", nip="199001012015032002"))

    def broken(*args, **kwargs):
        raise RuntimeError("the outbox write fails")
    with monkeypatch.context() as m:
        m.setattr(commands, "_emit_certified", broken)
        with pytest.raises(RuntimeError):
            number(direct)
    assert db.pending_issues.count_documents({}) == 2
    assert db.certificates.count_documents({}) == 1
    assert db.counters.find_one({"_id": "certificate-number:2026"})["seq"] == 1
    assert db.counters.find_one({"_id": "status-list"})["seq"] == 1
    number(direct)
    assert sorted(c["seq"] for c in db.certificates.find()) == [1, 2, 3]


def test_a_completion_recorded_twice_under_new_event_ids_stays_one_pending_issue_and_one_certificate(direct):
    db = direct.db
    record(direct, completion("twice"))
    later = NOW + timedelta(minutes=5)
    assert not direct.transaction(lambda tx: commands.record_pending_issue(
        tx, completion("twice", completed_at="2026-03-05T10:00:00Z"), later))
    assert not direct.transaction(lambda tx: commands.record_pending_issue(
        tx, completion("failed", result="failed"), NOW))
    assert db.pending_issues.count_documents({}) == 1
    kept = db.pending_issues.find_one({"_id": "twice"})  # the second event left it as it was
    assert kept["recorded_at"] == NOW and kept["completion"]["completed_at"] == "2026-03-05T09:30:00Z"
    number(direct)
    # Once numbered, another event of the enrolment is recorded without a look at the
    # certificates (one store command less per event); the next pass drops it.
    direct.transaction(lambda tx: commands.record_pending_issue(tx, completion("twice"), NOW))
    assert number(direct) == []
    assert db.certificates.count_documents({}) == 1 and db.pending_issues.count_documents({}) == 0
    assert db.counters.find_one({"_id": "status-list"})["seq"] == 1  # no number was used for it


def test_a_batch_whose_pending_issues_another_pass_took_writes_nothing_and_the_pass_reads_again(direct, monkeypatch):
    db = direct.db
    record(direct, completion("a1", nip="199001012015032001"), completion("a2", nip="199001012015032002"))
    stale = queries.pending_head(db, 10)
    assert [c["enrolment_id"] for c in number(direct, limit=1)] == ["a1"]  # another pass took a1
    with pytest.raises(commands.PendingTaken):
        direct.transaction(lambda tx: commands.issue_batch(tx, stale, config(), NOW))
    assert db.pending_issues.count_documents({}) == 1  # a2's delete was rolled back with the rest
    assert db.certificates.count_documents({}) == 1 and db.counters.find_one({"_id": "status-list"})["seq"] == 1
    # a pass that read the head before the other committed reads it again and numbers the rest
    heads = iter([stale])
    real_head = queries.pending_head
    monkeypatch.setattr(queries, "pending_head", lambda d, limit: next(heads, None) or real_head(d, limit))
    assert [c["enrolment_id"] for c in number(direct)] == ["a2"]
    assert sorted((c["enrolment_id"], c["seq"], c["status_index"]) for c in db.certificates.find()) == [
        ("a1", 1, 1), ("a2", 2, 2)]


def test_two_replicas_with_four_workers_each_number_300_completions_gaplessly_by_one_lease_holder(
        start, settings, db, probe):
    replicas = [start(max_workers=4), start(max_workers=4, http_address=f"127.0.0.1:{free_port()}")]
    for i in range(300):
        publish_event(settings.amqp_uri, "enrollment", "completed",
                      completion(f"enr-{i}", nip=f"19850312201001{i:04d}", certification_line=f"L{i % 5}",
                                 completed_at=f"2026-03-05T09:{i % 60:02d}:00Z"))
    wait_for(lambda: db.certificates.count_documents({}) == 300, timeout=90, message="300 certificates")
    assert sorted(c["seq"] for c in db.certificates.find()) == list(range(1, 301))
    assert sorted(c["status_index"] for c in db.certificates.find()) == list(range(1, 301))
    assert db.counters.find_one({"_id": "certificate-number:2026"})["seq"] == 300
    assert db.pending_issues.count_documents({}) == 0
    issued = [numbering_of(r).job.issued for r in replicas]
    assert sum(issued) == 300 and max(issued) == 300  # the lease holder numbered them all
    numbers = sorted(json.loads(m.body)["data"]["number"] for m in probe.take(300, timeout=30))
    assert numbers == sorted(c["number"] for c in db.certificates.find())


def test_pending_issues_wait_for_a_dead_lease_holder_and_are_numbered_once_its_lease_expires(
        start, settings, db):
    lease_until = time.time() + 3
    # a replica that took the lease and died: nobody renews or releases it
    assert Lease(db[LEASES], NUMBERING_LEASE, "dead-replica", 3).acquire()
    start()
    publish_event(settings.amqp_uri, "enrollment", "completed", completion("orphan"))
    wait_for(lambda: db.pending_issues.find_one({"_id": "orphan"}), message="the pending issue")
    time.sleep(max(0.0, lease_until - time.time() - 1.0))
    assert db.certificates.find_one({"enrolment_id": "orphan"}) is None  # the lease still holds
    certificate = wait_for(lambda: db.certificates.find_one({"enrolment_id": "orphan"}), timeout=10,
                           message="the certificate after the lease expired")
    assert certificate["number"] == "0001/BKN-BKT/SERT-PBJ/2026"
    assert certificate["issued_at"].timestamp() >= lease_until - 0.5
    assert db[LEASES].find_one({"_id": NUMBERING_LEASE})["holder"] != "dead-replica"


def test_when_the_numbering_replica_is_killed_another_takes_over_its_lease(start, settings, db, monkeypatch):
    monkeypatch.setenv("CERTIFICATION_NUMBERING_LEASE_S", "2")
    first = start()
    holder = numbering_of(first).lease.holder
    wait_for(lambda: (db[LEASES].find_one({"_id": NUMBERING_LEASE}) or {}).get("holder") == holder,
             message="the first replica holding the numbering lease")
    second = start(http_address=f"127.0.0.1:{free_port()}")
    first.kill()  # SIGKILL-like: no final pass, no lease release
    for i in range(5):
        publish_event(settings.amqp_uri, "enrollment", "completed",
                      completion(f"after-kill-{i}", nip=f"19850312201001{i:04d}"))
    wait_for(lambda: db.certificates.count_documents({}) == 5, timeout=15, message="5 certificates")
    assert sorted(c["seq"] for c in db.certificates.find()) == [1, 2, 3, 4, 5]
    assert numbering_of(second).job.issued == 5
    assert db[LEASES].find_one({"_id": NUMBERING_LEASE})["holder"] == \
        numbering_of(second).lease.holder


def test_a_replica_stopping_gracefully_numbers_what_was_recorded_publishes_it_and_hands_the_lease_over(
        start, settings, db, store, probe, monkeypatch):
    monkeypatch.setenv("CERTIFICATION_NUMBERING_INTERVAL_S", "600")  # no pass but the first, unless woken
    replica = start()
    holder = numbering_of(replica).lease.holder
    wait_for(lambda: (db[LEASES].find_one({"_id": NUMBERING_LEASE}) or {}).get("holder") == holder,
             message="the replica holding the numbering lease")
    # recorded behind the loop's back: nothing wakes it before the stop
    record(store, completion("late-1"), completion("late-2", nip="199001012015032001"))
    time.sleep(0.5)
    assert db.certificates.count_documents({}) == 0
    replica.stop()
    assert db.pending_issues.count_documents({}) == 0
    assert sorted(c["enrolment_id"] for c in db.certificates.find()) == ["late-1", "late-2"]
    # the relay's last flush published the final pass's events (it stops after the numbering)
    assert sorted(json.loads(m.body)["data"]["enrolment_id"] for m in probe.take(2, timeout=5)) == ["late-1", "late-2"]
    assert db.outbox.count_documents({"sent": False}) == 0
    lease = db[LEASES].find_one({"_id": NUMBERING_LEASE})
    assert lease["holder"] == holder and lease["until"].year == 1970  # handed over at once
