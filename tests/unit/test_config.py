from __future__ import annotations

import pytest

from shared import config


def test_a_service_prefixed_variable_overrides_the_generic_one(monkeypatch):
    monkeypatch.setenv("HTTP_ADDRESS", "0.0.0.0:9000")
    monkeypatch.setenv("REPORTING_HTTP_ADDRESS", "0.0.0.0:9004")
    assert config.load("reporting").http_address == "0.0.0.0:9004"
    assert config.load("enrollment").http_address == "0.0.0.0:9000"


def test_defaults_give_each_service_its_own_port_and_database(monkeypatch):
    for name in ("HTTP_ADDRESS", "MONGO_DB", "MONGO_DB_PREFIX", "ENROLLMENT_HTTP_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    settings = config.load("enrollment")
    assert settings.http_address == "127.0.0.1:8001"
    assert settings.db_name == "asn_enrollment"
    assert "retryWrites=false" in config.DEFAULT_MONGO_URI


def test_retry_delays_are_read_as_a_list(monkeypatch):
    monkeypatch.setenv("RETRY_DELAYS_MS", "100, 500,2000")
    assert config.load("notification").retry_delays_ms == (100, 500, 2000)


def test_an_unknown_service_is_refused():
    with pytest.raises(ValueError, match="unknown service"):
        config.load("payroll")
