"""The projector's bookkeeping helpers: summing deltas, and telling a no-op write from a real one."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.reporting.domain import add_deltas, same_document


def test_deltas_add_field_by_field_and_zero_sums_disappear():
    total = {("monthly", "2026-03|SETDA#1"): {"completions": 1, "jp_credited": 24}}
    add_deltas(total, {("monthly", "2026-03|SETDA#1"): {"completions": -1, "passed": 1},
                       ("agency_years", "2026|SETDA|all#2"): {"asn": 1}})
    add_deltas(total, {("agency_years", "2026|SETDA|all#2"): {"asn": -1}})
    assert total == {("monthly", "2026-03|SETDA#1"): {"jp_credited": 24, "passed": 1}}


def test_a_document_equals_its_stored_form_to_the_millisecond():
    aware = datetime(2026, 3, 5, 9, 30, 0, 123456, tzinfo=timezone.utc)
    stored = datetime(2026, 3, 5, 9, 30, 0, 123000)  # what a client without tz_aware reads back
    wib = aware.astimezone(timezone(timedelta(hours=7)))
    assert same_document({"_id": "e", "at": aware, "v": (aware, "id")}, {"_id": "e", "at": stored, "v": [wib, "id"]})
    assert not same_document({"at": aware}, {"at": aware + timedelta(milliseconds=1)})


def test_a_change_of_type_or_a_missing_document_counts_as_a_change():
    assert not same_document({"jp": 24}, {"jp": 24.0})
    assert not same_document({"passed": True}, {"passed": 1})
    assert not same_document(None, {"_id": "e"})
    assert not same_document({"_id": "e", "status": None}, {"_id": "e"})
    assert same_document({"a": {"b": [1, "x"]}}, {"a": {"b": [1, "x"]}})
