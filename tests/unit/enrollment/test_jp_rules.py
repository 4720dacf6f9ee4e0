"""JP conversion rules are data: the shipped file, and a broken file fails loudly."""
from __future__ import annotations

import pytest

from services.enrollment import config
from services.enrollment.domain import parse_rules
from shared.config import load as load_settings
from shared.errors import Invalid


def test_the_shipped_rules_count_a_seminar_day_as_4_jp_and_a_workshop_day_as_5():
    rules = config.load(load_settings("enrollment")).jp_rules
    assert rules.derive("seminar", duration_days=1) == 4
    assert rules.derive("lokakarya", duration_days=1) == 5
    assert rules.derive("pelatihan", duration_days=2) == 16
    assert rules.derive("pelatihan", duration_minutes=45 * 32) == 32


def test_partial_jp_are_not_credited():
    rules = parse_rules({"minutes_per_jp": 45, "jp_per_day": {"default": 8}})
    assert rules.derive("pelatihan", duration_minutes=89) == 1
    assert rules.derive("seminar", duration_days=0.5) == 4


def test_another_rules_file_is_picked_up_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "rules.yaml"
    path.write_text("minutes_per_jp: 60\njp_per_day:\n  seminar: 3\n  default: 6\n")
    monkeypatch.setenv("ENROLLMENT_JP_RULES", str(path))
    rules = config.load(load_settings("enrollment")).jp_rules
    assert rules.derive("seminar", duration_days=1) == 3
    assert rules.derive("pelatihan", duration_minutes=120) == 2


@pytest.mark.parametrize("raw", [
    {"jp_per_day": {"default": 8}},
    {"minutes_per_jp": 0, "jp_per_day": {"default": 8}},
    {"minutes_per_jp": 45, "jp_per_day": {"seminar": 4}},
    {"minutes_per_jp": 45, "jp_per_day": {"default": 8, "kursus": 2}},
    {"minutes_per_jp": 45, "jp_per_day": {"default": -1}},
])
def test_a_broken_rules_file_is_refused(raw):
    with pytest.raises(ValueError):
        parse_rules(raw)


def test_a_broken_rules_file_stops_the_service_at_start_naming_the_variable(tmp_path, monkeypatch):
    path = tmp_path / "rules.yaml"
    path.write_text("minutes_per_jp: 0\njp_per_day:\n  default: 8\n")
    monkeypatch.setenv("ENROLLMENT_JP_RULES", str(path))
    with pytest.raises(ValueError) as err:
        config.load(load_settings("enrollment"))
    assert "ENROLLMENT_JP_RULES" in str(err.value) and "minutes_per_jp" in str(err.value)


def test_without_jp_or_a_duration_there_is_nothing_to_derive():
    with pytest.raises(Invalid) as err:
        parse_rules({"minutes_per_jp": 45, "jp_per_day": {"default": 8}}).derive("pelatihan")
    assert err.value.field == "jp"
