"""Enrollment's configuration: one object built at start, a bad value named by its variable."""
from __future__ import annotations

import pytest

from services.enrollment import config
from shared.config import load as load_settings


def test_the_defaults_need_no_environment():
    loaded = config.load(load_settings("enrollment"))
    assert (loaded.bulk_chunk_rows, loaded.bulk_max_bytes, loaded.bulk_max_rows, loaded.cascade_sweep_interval_s) \
        == (250, 64 * 1024 * 1024, 10_000, 30.0)


def test_the_service_prefixed_variable_wins(monkeypatch):
    monkeypatch.setenv("BULK_MAX_ROWS", "20")
    monkeypatch.setenv("ENROLLMENT_BULK_MAX_ROWS", "30")
    assert config.load(load_settings("enrollment")).bulk_max_rows == 30


@pytest.mark.parametrize("variable, value, words", [
    ("ENROLLMENT_BULK_MAX_ROWS", "banyak", "whole number"),
    ("ENROLLMENT_BULK_CHUNK_ROWS", "0", "between 1"),
    ("BULK_MAX_BYTES", str(config.BULK_BODY_CEILING + 1), "between 1"),
    ("ENROLLMENT_CASCADE_SWEEP_INTERVAL_S", "soon", "a number"),
])
def test_a_bad_value_stops_the_service_naming_its_variable(monkeypatch, variable, value, words):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError) as err:
        config.load(load_settings("enrollment"))
    assert variable in str(err.value) and words in str(err.value)


def test_nothing_is_read_at_import():
    """The bulk routes' cap in their declaration is a constant; the configured one is read at start."""
    assert not hasattr(config, "bulk_max_bytes") and isinstance(config.BULK_BODY_CEILING, int)
