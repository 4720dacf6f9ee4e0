"""Configuration from the environment, recipient input checks, CSV reading and webhook signing."""
from __future__ import annotations

import time as clock
from dataclasses import replace
from datetime import time, timedelta

import pytest
from marshmallow import ValidationError
from standardwebhooks.webhooks import WebhookVerificationError

from services.notification import config, schemas
from services.notification.adapters import recipients_csv
from services.notification.adapters.channels import new_secret, secret_key, signature_headers, verify
from shared.config import load as load_settings
from shared.errors import Invalid

NIP = "198503122010011002"


def test_quiet_hours_reminder_lead_and_nudge_period_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("NOTIFICATION_QUIET_HOURS", "22:30-05:00")
    monkeypatch.setenv("NOTIFICATION_REMINDER_BEFORE", "12h")
    monkeypatch.setenv("NUDGE_PERIOD", "14d")
    monkeypatch.setenv("NOTIFICATION_DELIVERY_BACKOFF_S", "5, 10")
    loaded = config.from_env()
    assert (loaded.quiet_start, loaded.quiet_end) == (time(22, 30), time(5, 0))
    assert loaded.reminder_before == timedelta(hours=12)
    assert loaded.nudge_period == timedelta(days=14)
    assert loaded.backoff_s == (5.0, 10.0)


@pytest.mark.parametrize("name, value", [("NOTIFICATION_DELIVERY_MAX_ATTEMPTS", "lima"),
                                         ("QUIET_HOURS", "malam"), ("NOTIFICATION_TIMEZONE", "Asia/Bukittinggi")])
def test_a_setting_that_does_not_parse_is_refused_naming_its_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=name.removeprefix("NOTIFICATION_")):
        config.from_env()


def test_a_test_can_override_settings_and_rejects_a_misspelt_one():
    settings = load_settings("notification")
    tuned = replace(settings, extra={"notification": {"max_attempts": 2}})
    assert config.load(tuned).max_attempts == 2
    with pytest.raises(ValueError, match="max_atempts"):
        config.load(replace(settings, extra={"notification": {"max_atempts": 2}}))


def test_a_recipient_with_an_impossible_nip_is_refused_naming_the_wrong_part():
    with pytest.raises(Invalid) as caught:
        schemas.load_recipient("198513122010011002", {"email": "a@b.go.id"})
    assert caught.value.field == "nip"
    assert caught.value.details["part"] == "birth_date"


def test_choosing_a_channel_without_its_contact_is_refused():
    with pytest.raises(ValidationError) as caught:
        schemas.load_recipient(NIP, {"channels": ["email", "webhook"]})
    assert caught.value.messages["channels"] == [
        "email is chosen but no email address is given",
        "webhook (SMS/WhatsApp) is chosen but no phone or whatsapp number is given"]


def test_unknown_agencies_channels_and_message_kinds_are_refused():
    with pytest.raises(ValidationError) as caught:
        schemas.load_recipient(NIP, {"agency": "DINAS-X", "channels": ["fax"], "opt_outs": ["spam"]})
    assert set(caught.value.messages) == {"channels", "opt_outs"}
    with pytest.raises(ValidationError) as caught:
        schemas.load_recipient(NIP, {"agency": "dinas-x"})
    assert "unknown OPD code 'DINAS-X'" in caught.value.messages["agency"][0]


def test_a_pppk_number_is_accepted_as_its_own_kind():
    fields = schemas.load_recipient("199203152021212003", {"email": "siti@bukittinggikota.go.id"})
    assert fields["id_kind"] == "ni_pppk"


def test_a_csv_exported_by_excel_in_indonesian_with_semicolons_and_a_bom_is_read():
    raw = ("\ufeffNIP;Name;Email;Channels;Opt_outs\r\n"
           f"{NIP};Rahmat Hidayat;rahmat@bukittinggikota.go.id;email|webhook;nudge\r\n"
           ";;;;\r\n").encode("utf-8")
    [(line, row)] = recipients_csv.parse_csv(raw)
    assert line == 2
    assert row["nip"] == NIP and row["channels"] == "email|webhook"


def test_a_csv_without_a_nip_column_or_with_an_unknown_column_is_refused():
    with pytest.raises(Invalid, match="column nip"):
        recipients_csv.parse_csv(b"name,email\nA,a@b.go.id\n")
    with pytest.raises(Invalid, match="unknown column"):
        recipients_csv.parse_csv(b"nip,fax\n198503122010011002,123\n")


def test_the_webhook_signature_verifies_only_for_the_same_secret_id_time_and_body():
    secret, body, now = new_secret(), b'{"text":"Bangkom ASN"}', int(clock.time())
    headers = signature_headers(secret, "d-1", now, body)
    assert headers["webhook-signature"].startswith("v1,") and headers["webhook-id"] == "d-1"
    assert verify(secret, body, headers) == {"text": "Bangkom ASN"}
    for changed_body, changed_headers, changed_secret in [
            (body + b" ", headers, secret), (body, {**headers, "webhook-id": "d-2"}, secret),
            (body, {**headers, "webhook-timestamp": str(now + 1)}, secret), (body, headers, new_secret()),
            (body, {k: v for k, v in headers.items() if k != "webhook-signature"}, secret)]:
        with pytest.raises(WebhookVerificationError):
            verify(changed_secret, changed_body, changed_headers)


@pytest.mark.parametrize("secret, reason", [
    ("rahasia", "whsec_"), ("whsec_bukan base64!", "base64"), ("whsec_" + "QUJD", "at least 24")])
def test_a_webhook_secret_not_in_the_standard_form_is_refused_naming_the_setting(secret, reason):
    with pytest.raises(ValueError, match=reason) as caught:
        secret_key(secret)
    assert "WEBHOOK_SECRET" in str(caught.value)
