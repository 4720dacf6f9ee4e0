"""Pure derivations of the read models: status, JP credit, buckets, slices and deltas."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from services.reporting.config import load, parse_checkpoints
from services.reporting.domain import (asn_year_contribution, credited_jp, difference, distribution_bucket,
                                       enrolment_status, ledger_entry)
from shared.timefmt import parse_time, wib_year

T = lambda h: datetime(2026, 3, 1, h, tzinfo=timezone.utc)  # noqa: E731


def record(at, **extra):
    return {"at": at, "event_id": "e", **extra}


def test_completion_outranks_every_other_state_whatever_its_time():
    doc = {"enrolled": record(T(5)), "cancelled": record(T(9)), "completed": record(T(1), result="passed")}
    assert enrolment_status(doc) == "completed"


def test_the_latest_of_waitlisted_enrolled_cancelled_is_the_status():
    assert enrolment_status({"waitlisted": record(T(1)), "enrolled": record(T(2))}) == "enrolled"  # promoted
    assert enrolment_status({"enrolled": record(T(2)), "cancelled": record(T(3))}) == "cancelled"
    assert enrolment_status({"cancelled": record(T(2)), "enrolled": record(T(3))}) == "enrolled"  # re-enrolled
    assert enrolment_status({"enrolled": record(T(2)), "cancelled": record(T(2))}) == "cancelled"  # same instant
    assert enrolment_status({}) is None


def test_seminars_credit_jp_for_attendance_and_trainings_only_for_a_pass():
    seminar = {"programme": {"kind": "seminar"}, "completed": {"passed": False, "attended": True, "jp_earned": 4}}
    training = {"programme": {"kind": "pelatihan"}, "completed": {"passed": False, "attended": True, "jp_earned": 12}}
    passed = {"programme": {"kind": "pelatihan"}, "completed": {"passed": True, "attended": True, "jp_earned": 12}}
    assert (credited_jp(seminar), credited_jp(training), credited_jp(passed)) == (4, 0, 12)


def test_a_completion_at_01_00_wib_on_new_years_day_counts_for_the_new_year():
    at = parse_time("2025-12-31T18:00:00Z")
    assert wib_year(at) == 2026
    doc = {"_id": "e1", "programme": {"code": "P", "kind": "lokakarya", "jp": 5},
           "participant": {"nip": "1" * 18, "agency": "DINKES"},
           "completed": {"at": at, "passed": True, "attended": True, "jp_earned": 5}}
    assert ledger_entry(doc, "DINKES")["year"] == 2026


@pytest.mark.parametrize("jp, bucket", [(0, "0"), (1, "1-4"), (4, "1-4"), (5, "5-9"), (19, "15-19"), (20, "20-29"),
                                        (39, "30-39"), (40, "40+"), (120, "40+")])
def test_jp_falls_in_its_distribution_bucket(jp, bucket):
    assert distribution_bucket(jp, (5, 10, 15, 20, 30, 40)) == bucket


def test_an_asn_year_counts_in_each_slice_it_has_jp_in_with_the_target_per_slice():
    cfg = load()
    doc = {"year": 2026, "agency": "SETDA", "jp_by": {"pelatihan|teknis": 24, "seminar|manajerial": 4}}
    out = asn_year_contribution(doc, cfg)
    everything = out[("agency_years", "2026|SETDA|all")]
    assert (everything["jp"], everything["met"], everything["d.20-29"]) == (28, 1, 1)
    assert (everything["by_type.teknis"], everything["by_kind.seminar"]) == (24, 4)
    seminar = out[("agency_years", "2026|SETDA|k:seminar")]
    assert (seminar["jp"], "met" in seminar, seminar["d.1-4"]) == (4, False, 1)
    assert ("agency_years", "2026|SETDA|kt:pelatihan:teknis") in out
    assert ("agency_years", "2026|SETDA|t:pemerintahan") not in out


def test_the_difference_of_two_contributions_moves_counts_between_documents():
    old = {("agency_years", "2026|SETDA|all"): {"asn": 1, "jp": 12}}
    new = {("agency_years", "2026|DISKOMINFO|all"): {"asn": 1, "jp": 12}}
    assert difference(old, new) == {("agency_years", "2026|SETDA|all"): {"asn": -1, "jp": -12},
                                    ("agency_years", "2026|DISKOMINFO|all"): {"asn": 1, "jp": 12}}
    assert difference(new, new) == {}


def test_checkpoints_are_read_in_calendar_order_and_bad_ones_refused():
    assert [c.label for c in parse_checkpoints("Q4=12-31,Q1=03-31")] == ["Q1", "Q4"]
    for bad in ("Q1=13-01", "Q1", "Q1=03-31,Q1=06-30"):
        with pytest.raises(ValueError):
            parse_checkpoints(bad)
