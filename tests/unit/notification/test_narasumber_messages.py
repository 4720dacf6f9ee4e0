"""A narasumber (speaker) of a seminar is told so in every channel, in Bahasa Indonesia, and never
about seats or a waitlist; a peserta's messages (and an older event without role) read as before."""
from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest

from services.notification import domain
from services.notification.adapters.templates import Renderer
from services.notification.config import NotificationConfig
from shared.events import registry

CONFIG = NotificationConfig()
NOW = datetime(2026, 1, 5, 3, 0, tzinfo=timezone.utc)
RENDERER = Renderer()
SEMINAR = {"kind": "seminar", "title": "Seminar Integritas ASN", "code": "SEM-INT-2026", "jp": 4,
           "speakers": ["Dr. Rahmat Hidayat"], "grants_certificate": True}


def data(service: str, name: str, role: str | None, **changes) -> dict:
    out = copy.deepcopy(registry.latest(service, name).example)
    out["programme"].update(SEMINAR)
    out.update(changes)
    out.pop("role", None)
    if role is not None:
        out["role"] = role
    return out


def rendered(kind: str, event: dict):
    out = RENDERER.render(kind, domain.asn_context(kind, event, CONFIG, NOW))
    return {"subject": out.subject, "text": out.text, "html": out.html, "short": out.short}


SEAT_WORDS = ("kursi", "daftar tunggu", "LULUS", "lulus")
CASES = [("enrolled", "enrollment", "enrolled", {}, "terdaftar sebagai narasumber"),
         ("reminder", "enrollment", "enrolled", {}, "narasumber"),
         ("completed_passed", "enrollment", "completed", {"jp_earned": 4}, "narasumber"),
         ("certified", "certification", "certified", {"jp": 4}, "narasumber")]


@pytest.mark.parametrize("kind, service, name, changes, phrase", CASES)
def test_every_channel_tells_a_speaker_they_are_narasumber_and_nothing_of_seats(kind, service, name, changes,
                                                                               phrase):
    parts = rendered(kind, data(service, name, "narasumber", **changes))
    for part, text in parts.items():
        assert phrase in text.lower() or (part == "subject" and kind == "reminder"), (kind, part)
        assert not any(word in text for word in SEAT_WORDS), (kind, part, text)
    assert len(parts["short"]) <= 320


def test_the_enrolment_message_of_a_speaker_reads_as_the_issue_asks():
    parts = rendered("enrolled", data("enrollment", "enrolled", "narasumber"))
    assert "Anda terdaftar sebagai narasumber pada seminar berikut" in parts["text"]
    assert parts["subject"] == "Anda terdaftar sebagai narasumber: Seminar Integritas ASN"
    assert "Anda terdaftar sebagai narasumber pada \"Seminar Integritas ASN\"" in parts["short"]


@pytest.mark.parametrize("role", [None, "peserta"])
def test_a_participant_and_an_event_without_role_keep_the_participant_wording(role):
    enrolled = rendered("enrolled", data("enrollment", "enrolled", role))
    assert "Anda terdaftar sebagai peserta" in enrolled["text"] and "daftar tunggu" in enrolled["html"]
    assert "narasumber" not in enrolled["subject"].lower() + enrolled["short"].lower()
    passed = rendered("completed_passed", data("enrollment", "completed", role))
    assert passed["subject"].startswith("Selamat, Anda lulus") and "LULUS" in passed["text"]
    certified = rendered("certified", data("certification", "certified", role))
    assert certified["subject"].startswith("Sertifikat Anda terbit") and "Narasumber" not in certified["text"]


def test_the_speaker_s_completion_keeps_their_jp_and_certificate_note():
    parts = rendered("completed_passed", data("enrollment", "completed", "narasumber", jp_earned=4))
    assert "4 JP dicatat ke riwayat pengembangan kompetensi Anda tahun 2026 sebagai narasumber" in parts["text"]
    assert "Sertifikat Anda sebagai narasumber sedang diterbitkan" in parts["text"]
    certified = rendered("certified", data("certification", "certified", "narasumber", jp=4))
    assert "Peran          : Narasumber" in certified["text"]


def test_the_role_of_the_context_is_peserta_unless_the_event_says_narasumber():
    assert domain.participant_role({}) == "peserta"
    assert domain.participant_role({"role": "narasumber"}) == "narasumber"
    context = domain.asn_context("cancelled", data("enrollment", "cancelled", None), CONFIG, NOW)
    assert (context["role"], context["narasumber"]) == ("peserta", False)
