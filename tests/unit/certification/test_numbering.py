"""Batched numbering rules without I/O: the order of a batch, its consecutive numbers per
year and recertification inside a batch (ADR 0025)."""
from __future__ import annotations

from datetime import datetime, timezone

from services.certification import domain

T = datetime(2026, 3, 5, 9, 30, tzinfo=timezone.utc)
NOW = datetime(2026, 3, 6, tzinfo=timezone.utc)


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=timezone.utc)


def cert(_id: str, nip: str = "1", line: str = "PBJ", completed_at: datetime = T, issued_at: datetime = NOW,
         **extra) -> dict:
    return {"_id": _id, "holder": {"nip": nip}, "line": line, "completed_at": completed_at,
            "issued_at": issued_at, "revoked": None, "superseded_by": None, "supersedes": None, **extra}


def test_a_batch_is_ordered_by_completion_time_then_enrolment_id():
    pending = [{"_id": "b", "completed_at": T}, {"_id": "c", "completed_at": at(1)}, {"_id": "a", "completed_at": T}]
    assert [p["_id"] for p in sorted(pending, key=domain.numbering_order)] == ["c", "a", "b"]


def test_each_year_takes_the_consecutive_numbers_below_its_counter_in_batch_order():
    years = [2026, 2025, 2026, 2026, 2027]
    assert domain.year_counts(years) == {2026: 3, 2025: 1, 2027: 1}
    # counters after the batch's increments: 2026 went 40 -> 43, 2025 9 -> 10, 2027 0 -> 1
    assert domain.assign_sequences(years, {2026: 43, 2025: 10, 2027: 1}) == [41, 10, 42, 43, 1]
    assert domain.assign_sequences([], {}) == []


def test_a_newer_certificate_in_the_batch_supersedes_a_stored_one_and_an_earlier_one_of_the_batch():
    stored = [cert("s", completed_at=at(1), issued_at=at(1)),
              cert("other-line", line="K3", completed_at=at(1), issued_at=at(1)),
              cert("revoked", completed_at=at(1), issued_at=at(1), revoked={"reason": "x"})]
    batch = [cert("n1", completed_at=at(2)), cert("n2", completed_at=at(3))]
    updates = domain.supersede_in_order(stored, batch, NOW)
    assert updates == {"n1": ["s"]}  # the stored one stays superseded by the first, as issued one by one
    assert batch[0]["supersedes"] == "s" and batch[0]["superseded_by"] == "n2"
    assert batch[1]["supersedes"] == "n1" and batch[1]["superseded_by"] is None
    assert stored[1]["superseded_by"] is None and stored[2]["superseded_by"] is None


def test_an_older_completion_in_the_batch_is_issued_already_superseded_by_the_stored_newer_one():
    stored = [cert("s", completed_at=at(10), issued_at=at(10))]
    batch = [cert("late", completed_at=at(2))]
    assert domain.supersede_in_order(stored, batch, NOW) == {}
    assert batch[0]["superseded_by"] == "s" and batch[0]["superseded_at"] == NOW
    assert batch[0]["supersedes"] is None and stored[0]["superseded_by"] is None


def test_different_holders_and_lines_do_not_touch_each_other():
    batch = [cert("a", nip="1"), cert("b", nip="2"), cert("c", nip="1", line="K3")]
    assert domain.supersede_in_order([], batch, NOW) == {}
    assert all(c["supersedes"] is None and c["superseded_by"] is None for c in batch)


def test_a_failed_numbering_pass_halves_the_next_batch_and_full_passes_double_it_back(monkeypatch):
    from dataclasses import replace
    from types import SimpleNamespace

    from services.certification import dependencies, usecases
    from services.certification.config import load

    sizes, outcomes = [], iter(["fail", "fail", "full", "full", "full"])

    def number_pending(store, config, now, limit):
        sizes.append(limit)
        if next(outcomes) == "fail":
            raise RuntimeError("WriteConflict")
        return [{"year": 2026, "seq": i} for i in range(limit)]

    monkeypatch.setattr(usecases, "number_pending", number_pending)
    monkeypatch.setattr(dependencies.queries, "pending_count", lambda db: 0)
    job = dependencies.NumberingJob(SimpleNamespace(db=None), replace(load(), numbering_batch=200), lambda: None)
    done = []
    for _ in range(5):  # a failed pass raises: the shared loop logs it, backs off, tries again
        try:
            done.append(job.run_once())
        except RuntimeError:
            done.append("failed")
    assert sizes == [200, 100, 50, 100, 200]
    assert done == ["failed", "failed", 50, 100, 200] and job.issued == 350


def test_the_batch_size_rule():
    assert domain.next_batch_size(200, None, 200) == 100
    assert domain.next_batch_size(1, None, 200) == 1
    assert domain.next_batch_size(50, 50, 200) == 100
    assert domain.next_batch_size(150, 150, 200) == 200
    assert domain.next_batch_size(100, 7, 200) == 100
