"""The count of emails the scale proof and the fault suite report (bench/email_copies.py): a
copy with a Message-ID already received is shown but allowed; a second Message-ID for one
expected email is a distinct duplicate, which fails the check."""
from __future__ import annotations

from bench.email_copies import count_copies, distinct_per_key

A, B = ("asn0001@uji.go.id", "passed"), ("asn0002@uji.go.id", "passed")


def test_one_email_each_is_clean():
    counted = count_copies([(A, "<1.bangkom@x.go.id>"), (B, "<2.bangkom@x.go.id>")])
    assert counted.as_dict() == {"received": 2, "expected_once": 2, "distinct_emails": 2,
                                 "same_message_id_copies": 0, "distinct_duplicates": 0,
                                 "with_distinct_duplicates": 0, "ok": True}


def test_a_resend_with_the_same_message_id_is_counted_apart_and_allowed():
    # The scale proof's "2 of 2,002 emails sent twice", after the Message-ID became stable.
    emails = [(A, "<1.bangkom@x.go.id>"), (A, " <1.bangkom@x.go.id>"), (B, "<2.bangkom@x.go.id>")]
    counted = count_copies(emails)
    assert (counted.received, counted.same_message_id_copies, counted.distinct_duplicates) == (3, 1, 0)
    assert counted.ok


def test_a_second_message_id_for_one_email_is_a_distinct_duplicate_and_fails():
    # What random Message-IDs per attempt made of every resend.
    emails = [(A, "<1.111@x>"), (A, "<1.222@x>"), (A, "<1.222@x>"), (B, "<2@x>")]
    counted = count_copies(emails)
    assert (counted.distinct_duplicates, counted.same_message_id_copies, counted.with_distinct_duplicates) == (1, 1, 1)
    assert not counted.ok
    assert distinct_per_key(emails) == {A: 2, B: 1}


def test_emails_without_a_message_id_cannot_be_dropped_so_each_is_distinct():
    counted = count_copies([(A, None), (A, ""), (B, "<2@x>")])
    assert (counted.distinct_duplicates, counted.same_message_id_copies) == (1, 0)
    assert not counted.ok


def test_the_same_message_id_for_two_different_emails_is_not_hidden():
    # Two recipients (or kinds) are two expected emails, whatever their ids say.
    counted = count_copies([(A, "<1@x>"), (B, "<1@x>")])
    assert (counted.expected_once, counted.distinct_emails, counted.same_message_id_copies) == (2, 2, 0)


def test_the_fault_suite_counts_a_same_id_resend_apart_from_a_distinct_duplicate():
    from tests.faults.harness import email_effects
    from tests.faults.report import render

    journal = [{"to": ["asn.1001@uji.go.id"], "delivery": "d1", "message_id": "<d1.bangkom@x.go.id>"},
               {"to": ["asn.1001@uji.go.id"], "delivery": "d1", "message_id": "<d1.bangkom@x.go.id>"},  # resend
               {"to": ["asn.1002@uji.go.id"], "delivery": "d2", "message_id": "<d2.bangkom@x.go.id>"}]
    clean = email_effects(journal, {"1001", "1002", "1003"})
    assert (clean["with_effect"], clean["missing"], clean["duplicates"], clean["resent_copies"]) == (2, 1, 0, 1)
    # The same delivery sent again under another Message-ID: a person reads it twice.
    twice = email_effects(journal + [{"to": ["asn.1002@uji.go.id"], "delivery": "d2", "message_id": "<other@x>"}],
                          {"1001", "1002"})
    assert (twice["duplicates"], twice["distinct_duplicates"], twice["resent_copies"]) == (1, 1, 1)

    table = render([{"title": "SIGKILL", "row": {"completions": 2, "duplicate_effects": 0, "email_resends": 1},
                     "recorded_at": "2026-12-01T00:00:00Z", "cores": 2}])
    assert "email copies with the same Message-ID (allowed, dropped by mail systems): 1" in table
