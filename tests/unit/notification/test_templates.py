"""Every message kind renders in Bahasa Indonesia from its template files, times in WIB."""
from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest

from services.notification import domain
from services.notification.config import NotificationConfig
from services.notification.adapters.templates import PARTS, TEMPLATE_DIR, Renderer, angka
from shared.events import registry

CONFIG = NotificationConfig()
NOW = datetime(2026, 1, 5, 3, 0, tzinfo=timezone.utc)
RENDERER = Renderer()


def example(service: str, name: str, **changes) -> dict:
    data = copy.deepcopy(registry.latest(service, name).example)
    data.update(changes)
    return data


def render(kind: str, data: dict):
    return RENDERER.render(kind, domain.asn_context(kind, data, CONFIG, NOW))


def test_every_message_kind_has_all_four_template_files():
    for kind in domain.KINDS:
        for part in PARTS:
            assert (TEMPLATE_DIR / kind / part).is_file(), f"{kind}/{part} is missing"
    assert sorted(RENDERER.kinds()) == sorted(domain.KINDS)


@pytest.mark.parametrize("kind, service, name, changes, expected", [
    ("enrolled", "enrollment", "enrolled", {}, "Senin, 2 Maret 2026 pukul 08.00 WIB"),
    ("promoted", "enrollment", "enrolled", {"promoted_from_waitlist": True}, "naik dari daftar tunggu"),
    ("waitlisted", "enrollment", "waitlisted", {}, "urutan ke-3"),
    ("cancelled", "enrollment", "cancelled", {}, "Tugas dinas luar kota"),
    ("completed_passed", "enrollment", "completed", {}, "32 JP dicatat"),
    ("completed_failed", "enrollment", "completed",
     {"result": "failed", "passed": False, "jp_earned": 0, "score": 55.5}, "nilai 55,5"),
    ("completed_no_show", "enrollment", "completed",
     {"result": "no_show", "passed": False, "attended": False, "jp_earned": 0, "score": None}, "tidak hadir"),
    ("certified", "certification", "certified", {},
     "https://sertifikat.bukittinggikota.go.id/verify/K7Q2M9XW4RTD8HVB3N"),
    ("revoked", "certification", "revoked", {}, "Data peserta tidak sesuai"),
    ("expiring", "certification", "expiring", {}, "Senin, 5 Maret 2029"),
    ("reminder", "enrollment", "enrolled", {}, "akan segera dimulai"),
    ("nudge", "reporting", "shortfall_detected", {}, "Capaian Anda: 8 JP; target sampai akhir triwulan III tahun 2026: 20 JP"),
])
def test_each_kind_renders_subject_text_html_and_short_text(kind, service, name, changes, expected):
    out = render(kind, example(service, name, **changes))
    assert out.subject and "\n" not in out.subject
    assert expected in out.text
    assert out.html.startswith("<!DOCTYPE html>") and "Rahmat Hidayat" in out.html
    assert 0 < len(out.short) <= 320  # two SMS segments at most


def test_programme_times_are_shown_in_wib_not_utc():
    out = render("reminder", example("enrollment", "enrolled"))
    # starts_at is 2026-03-02T01:00:00Z, 08.00 in Bukittinggi
    assert out.subject == ("Pengingat: Sertifikasi Pengadaan Barang/Jasa Pemerintah Tingkat Dasar dimulai "
                           "Senin, 2 Maret 2026 pukul 08.00 WIB")


def test_a_cancellation_because_the_programme_was_cancelled_says_so():
    out = render("cancelled", example("enrollment", "cancelled", cancelled_by="programme_cancelled",
                                      reason="Narasumber berhalangan"))
    assert "dibatalkan oleh penyelenggara" in out.text


def test_names_are_escaped_in_html_but_not_in_plain_text():
    data = example("enrollment", "enrolled")
    data["participant"]["name"] = "Siti <b>Aminah</b> & Co"
    out = render("enrolled", data)
    assert "Siti &lt;b&gt;Aminah&lt;/b&gt; &amp; Co" in out.html
    assert "Siti <b>Aminah</b> & Co" in out.text


def test_the_nudge_lists_only_programmes_still_open_for_enrolment():
    data = example("reporting", "shortfall_detected")
    closed = dict(data["suggested_programmes"][0], code="OLD-1", title="Program Lama",
                  enrolment_closes_at="2025-12-01T00:00:00Z")
    data["suggested_programmes"].append(closed)
    out = render("nudge", data)
    assert "Seminar Transformasi Digital Pemerintahan" in out.text
    assert "Program Lama" not in out.text


def test_the_operator_summary_lists_each_asn_with_their_jp():
    context = domain.escalation_context(
        {"agency": "DISKOMINFO", "checkpoint": "2026-Q3", "year": 2026},
        [{"nip": "198503122010011002", "name": "Rahmat Hidayat", "jp_total": 8, "jp_target": 20, "jp_missing": 12,
          "consecutive_shortfalls": 2},
         {"nip": "199001012015032001", "name": "Siti Aminah", "jp_total": 0, "jp_target": 20, "jp_missing": 20,
          "consecutive_shortfalls": 3}],
        {"name": "Yulia Putri"}, "Dinas Komunikasi dan Informatika", CONFIG)
    out = RENDERER.render("escalation", context)
    assert out.subject == "2 ASN Dinas Komunikasi dan Informatika berulang kali di bawah target JP (triwulan III tahun 2026)"
    assert "Yth. Yulia Putri" in out.text
    assert "Siti Aminah (NIP 199001012015032001): 0 dari 20 JP" in out.text


def test_numbers_use_the_indonesian_decimal_comma():
    assert angka(86.5) == "86,5"
    assert angka(1234.25, 2) == "1.234,25"
