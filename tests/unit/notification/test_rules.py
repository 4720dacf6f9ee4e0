"""Notification rules without I/O: quiet hours, back-off, reminders, nudges, channels."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services.notification import domain
from services.notification.config import NotificationConfig

WIB = ZoneInfo("Asia/Jakarta")
CONFIG = NotificationConfig()


def wib(*args) -> datetime:
    return datetime(*args, tzinfo=WIB).astimezone(timezone.utc)


def test_a_message_at_22_wib_waits_until_06_wib_the_next_morning():
    assert domain.send_at(wib(2026, 3, 1, 22, 15), "enrolled", "email", CONFIG) == wib(2026, 3, 2, 6, 0)


def test_a_message_just_after_midnight_waits_until_06_wib_the_same_morning():
    assert domain.send_at(wib(2026, 3, 2, 0, 30), "certified", "webhook", CONFIG) == wib(2026, 3, 2, 6, 0)


def test_a_message_in_working_hours_goes_at_once():
    assert domain.send_at(wib(2026, 3, 2, 9, 0), "enrolled", "email", CONFIG) == wib(2026, 3, 2, 9, 0)


def test_quiet_hours_end_exactly_at_06_00_and_start_exactly_at_21_00():
    assert domain.send_at(wib(2026, 3, 2, 6, 0), "nudge", "email", CONFIG) == wib(2026, 3, 2, 6, 0)
    assert domain.send_at(wib(2026, 3, 2, 20, 59), "nudge", "email", CONFIG) == wib(2026, 3, 2, 20, 59)
    assert domain.send_at(wib(2026, 3, 2, 21, 0), "nudge", "email", CONFIG) == wib(2026, 3, 3, 6, 0)


def test_urgent_kinds_and_the_inbox_ignore_quiet_hours():
    late = wib(2026, 3, 1, 23, 0)
    assert domain.send_at(late, "promoted", "webhook", CONFIG) == late
    assert domain.send_at(late, "revoked", "email", CONFIG) == late
    assert domain.send_at(late, "enrolled", "inbox", CONFIG) == late


def test_quiet_hours_within_one_day_are_configurable():
    config = replace(CONFIG, quiet_start=time(12, 0), quiet_end=time(13, 0))
    assert domain.send_at(wib(2026, 3, 2, 12, 30), "nudge", "email", config) == wib(2026, 3, 2, 13, 0)
    assert domain.send_at(wib(2026, 3, 2, 22, 0), "nudge", "email", config) == wib(2026, 3, 2, 22, 0)


def test_retries_back_off_more_each_time_and_stop_at_the_last_delay():
    now = wib(2026, 3, 2, 9, 0)
    delays = [(domain.retry_at(now, n, "enrolled", "email", CONFIG) - now).total_seconds() for n in range(1, 7)]
    assert delays == [30, 120, 600, 1800, 1800, 1800]


def test_a_retry_that_would_land_in_quiet_hours_waits_for_the_morning():
    assert domain.retry_at(wib(2026, 3, 2, 20, 50), 3, "enrolled", "email", CONFIG) == wib(2026, 3, 3, 6, 0)


def test_the_worker_gives_up_after_the_configured_attempts():
    assert not domain.gives_up(4, CONFIG)
    assert domain.gives_up(5, CONFIG)


def test_the_reminder_is_due_one_day_before_the_programme_starts():
    starts = wib(2026, 3, 10, 8, 0)
    assert domain.reminder_due(starts, wib(2026, 3, 1, 9, 0), CONFIG) == wib(2026, 3, 9, 8, 0)
    two_days = replace(CONFIG, reminder_before=timedelta(days=2))
    assert domain.reminder_due(starts, wib(2026, 3, 1, 9, 0), two_days) == wib(2026, 3, 8, 8, 0)


def test_no_reminder_when_the_enrolment_comes_after_the_reminder_time_or_without_a_schedule():
    assert domain.reminder_due(wib(2026, 3, 10, 8, 0), wib(2026, 3, 9, 10, 0), CONFIG) is None
    assert domain.reminder_due(None, wib(2026, 3, 1, 9, 0), CONFIG) is None


def test_an_enrolment_older_than_its_cancellation_is_stale_but_a_re_enrolment_is_not():
    cancelled = wib(2026, 2, 1, 10, 0)
    assert domain.superseded_by_cancellation(wib(2026, 1, 20, 10, 0), cancelled)
    assert not domain.superseded_by_cancellation(wib(2026, 2, 3, 10, 0), cancelled)
    assert not domain.superseded_by_cancellation(wib(2026, 1, 20, 10, 0), None)


def test_a_second_nudge_within_the_period_is_not_allowed():
    first = wib(2026, 7, 1, 9, 0)
    assert domain.nudge_allowed(None, first, CONFIG)
    assert not domain.nudge_allowed(first, first + timedelta(days=29), CONFIG)
    assert domain.nudge_allowed(first, first + timedelta(days=30), CONFIG)


def test_escalation_starts_at_the_configured_number_of_consecutive_shortfalls():
    assert not domain.escalates(1, CONFIG)
    assert domain.escalates(2, CONFIG)
    assert not domain.escalates(5, replace(CONFIG, escalation_threshold=0))  # 0 turns it off


def test_suggestions_leave_out_programmes_whose_enrolment_closed_and_put_the_soonest_first():
    now = wib(2026, 9, 1, 9, 0)
    programmes = [
        {"code": "LATE", "starts_at": "2026-11-01T02:00:00Z", "enrolment_closes_at": None},
        {"code": "CLOSED", "starts_at": "2026-10-01T02:00:00Z", "enrolment_closes_at": "2026-08-30T00:00:00Z"},
        {"code": "SOON", "starts_at": "2026-09-20T02:00:00Z", "enrolment_closes_at": "2026-09-15T00:00:00Z"},
    ]
    assert [p["code"] for p in domain.suggestions(programmes, now, 3)] == ["SOON", "LATE"]
    assert [p["code"] for p in domain.suggestions(programmes, now, 1)] == ["SOON"]


def test_an_asn_without_preferences_gets_the_default_channels_and_always_the_inbox():
    assert domain.channels_for(None, "enrolled", CONFIG) == [("email", None), ("inbox", None)]
    webhook_only = {"channels": ["webhook"], "opt_outs": []}
    assert domain.channels_for(webhook_only, "enrolled", CONFIG) == [("webhook", None), ("inbox", None)]


def test_an_opted_out_kind_is_not_pushed_but_still_reaches_the_inbox():
    recipient = {"channels": ["email", "webhook"], "opt_outs": ["nudge"]}
    assert domain.channels_for(recipient, "nudge", CONFIG) == [
        ("email", "opted out of nudge"), ("webhook", "opted out of nudge"), ("inbox", None)]
    assert domain.channels_for(recipient, "certified", CONFIG)[0] == ("email", None)


def test_a_promotion_from_the_waitlist_is_its_own_message_kind():
    assert domain.kind_of("enrollment", "enrolled", {"promoted_from_waitlist": True}) == "promoted"
    assert domain.kind_of("enrollment", "enrolled", {"promoted_from_waitlist": False}) == "enrolled"
    assert domain.kind_of("enrollment", "completed", {"result": "no_show"}) == "completed_no_show"
    assert domain.kind_of("reporting", "shortfall_detected", {}) == "nudge"


@pytest.mark.parametrize("raw, expected", [
    ("0812-3456-7890", "+6281234567890"), ("+62 812 3456 7890", "+6281234567890"),
    ("6281234567890", "+6281234567890"), ("(0752) 21234", "+6275221234"),
])
def test_indonesian_phone_numbers_are_stored_in_e164(raw, expected):
    assert domain.normalise_phone(raw) == expected


@pytest.mark.parametrize("raw, reason", [
    ("+1 415 555 0100", "Indonesian"), ("0812-abc", "digits"), ("0812", "10 to 15 digits"),
])
def test_an_unusable_phone_number_is_refused_with_the_reason(raw, reason):
    with pytest.raises(ValueError, match=reason):
        domain.normalise_phone(raw)


def test_the_missing_contact_reason_names_the_recipient_and_what_is_missing():
    assert domain.address_for("email", {"email": None, "phone": "+628123"}) is None
    assert domain.address_for("webhook", {"phone": "+6281234567890"}) == "+6281234567890"
    assert domain.missing_contact_reason("email", "ASN 198503122010011002") == (
        "undeliverable: ASN 198503122010011002 has no email address on record")


def test_failure_texts_lose_urls_query_strings_and_email_addresses():
    assert domain.redact("SMTP 550 5.1.1 <rahmat@bukittinggikota.go.id>: Recipient address rejected") == (
        "SMTP 550 5.1.1 <<email>>: Recipient address rejected")
    assert domain.redact("see https://gw.example/sms?token=abc for details") == "see <url> for details"
    assert domain.redact("Max retries exceeded with url: /gw?token=abc (Caused by x)") == (
        "Max retries exceeded with url: /gw?<redacted> (Caused by x)")
    kept = "undeliverable: ASN 198503122010011002 has no email address on record"
    assert domain.redact(kept) == kept
