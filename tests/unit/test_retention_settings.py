"""The retention settings (ADR 0091): defaults that keep the event log reporting rebuilds
from, processed-event records that outlive the replay window, and values that would break
either refused at start-up naming their variable."""
from __future__ import annotations

import pytest

from shared import config
from shared.mongo import retention_seconds

VARIABLES = ("OUTBOX_RETENTION_DAYS", "PROCESSED_EVENT_RETENTION_DAYS",
             "REPORTING_OUTBOX_RETENTION_DAYS", "REPORTING_PROCESSED_EVENT_RETENTION_DAYS")


@pytest.fixture(autouse=True)
def clean(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_by_default_the_event_log_is_kept_forever_and_processed_records_outlive_the_replay_window():
    settings = config.load("enrollment")
    assert settings.outbox_retention_days == 0
    assert retention_seconds(settings.outbox_retention_days) is None  # no TTL index on the log
    assert settings.processed_retention_days == 45
    assert settings.processed_retention_days > config.REPLAY_WINDOW_DAYS
    assert retention_seconds(settings.processed_retention_days) == 45 * 86_400


def test_a_service_may_keep_its_own_retention(monkeypatch):
    monkeypatch.setenv("OUTBOX_RETENTION_DAYS", "3650")
    monkeypatch.setenv("REPORTING_OUTBOX_RETENTION_DAYS", "400")
    monkeypatch.setenv("PROCESSED_EVENT_RETENTION_DAYS", "60.5")
    assert config.load("reporting").outbox_retention_days == 400
    assert config.load("enrollment").outbox_retention_days == 3650
    assert retention_seconds(config.load("enrollment").processed_retention_days) == 60 * 86_400 + 43_200


@pytest.mark.parametrize("name, value, reason", [
    ("OUTBOX_RETENTION_DAYS", "7", "at least the 30-day replay window"),
    ("OUTBOX_RETENTION_DAYS", "-1", "between 0 and"),
    ("OUTBOX_RETENTION_DAYS", "forever", "a number"),
    ("PROCESSED_EVENT_RETENTION_DAYS", "29", "between 30 and"),
    ("PROCESSED_EVENT_RETENTION_DAYS", "0", "between 30 and"),
])
def test_a_retention_shorter_than_the_replay_window_stops_the_service_naming_its_variable(
        monkeypatch, name, value, reason):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=reason) as error:
        config.load("certification")
    assert str(error.value).startswith(f"{name} = ")
