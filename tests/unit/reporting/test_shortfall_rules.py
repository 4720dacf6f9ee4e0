"""Checkpoint timing and programme suggestions, without I/O."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from services.reporting.config import load
from services.reporting.domain import checkpoint_at, due_checkpoints, parse_checkpoint, previous_checkpoint, suggest
from shared.errors import Invalid


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


def test_a_quarter_checkpoint_is_due_at_midnight_wib_after_its_last_day():
    cfg = load()
    year, q2 = parse_checkpoint("2026-Q2", cfg)
    assert checkpoint_at(year, q2) == utc(2026, 6, 30, 17, 0)  # 1 July 00:00 WIB
    assert due_checkpoints(utc(2026, 6, 30, 16, 59), cfg) == []
    assert due_checkpoints(utc(2026, 6, 30, 17, 0), cfg) == ["2026-Q2"]


def test_a_checkpoint_missed_beyond_the_catch_up_window_is_not_run_by_the_scheduler():
    cfg = load()
    assert due_checkpoints(utc(2026, 7, 20), cfg) == []  # 20 days after Q2, window 14
    assert due_checkpoints(utc(2027, 1, 3), cfg) == ["2026-Q4"]  # the year's last checkpoint, next January


def test_the_checkpoint_before_the_first_of_a_year_is_the_last_of_the_previous_year():
    cfg = load()
    assert previous_checkpoint(*parse_checkpoint("2026-Q1", cfg), cfg) == "2025-Q4"
    assert previous_checkpoint(*parse_checkpoint("2026-Q3", cfg), cfg) == "2026-Q2"


@pytest.mark.parametrize("value", ["2026-Q5", "26-Q1", "2026", "Q1-2026"])
def test_an_unknown_checkpoint_names_the_field(value):
    with pytest.raises(Invalid) as raised:
        parse_checkpoint(value, load())
    assert raised.value.field == "checkpoint"


def programme(code, jp, closes=utc(2026, 7, 15)):
    return {"_id": code, "title": code, "kind": "pelatihan", "competency_type": "teknis", "jp": jp,
            "starts_at": None, "enrolment_closes_at": closes}


def test_suggestions_close_the_gap_in_one_go_first_then_the_closest_fit():
    programmes = [programme("SMALL", 4), programme("EXACT", 12), programme("BIG", 40), programme("NEAR", 10)]
    assert [s["code"] for s in suggest(programmes, 12, set(), 3)] == ["EXACT", "BIG", "NEAR"]


def test_suggestions_skip_programmes_the_asn_already_holds_a_place_in():
    programmes = [programme("EXACT", 12), programme("BIG", 40)]
    assert [s["code"] for s in suggest(programmes, 12, {"EXACT"}, 3)] == ["BIG"]
