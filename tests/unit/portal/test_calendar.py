"""The portal's iCalendar output (issue 20): what a subscribed calendar sees.

Every check parses the bytes back with icalendar, as a calendar client would, instead of
looking at the text the adapter wrote.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import icalendar
import pytest

from services.portal.adapters import calendar as ics
from shared.timefmt import WIB

NOW = datetime(2026, 2, 3, 4, 5, 6, 789000, tzinfo=timezone.utc)
PORTAL = "https://portal.example.test/"


def programme(**changes) -> dict:
    """A programme as the enrollment API shows it (ProgrammeSchema + revision)."""
    base = {
        "code": "PKP-2026-01", "title": "Pelatihan Kepemimpinan Pengawas", "kind": "pelatihan",
        "competency_type": "manajerial", "jp": 24, "organisers": ["BKN", "PEMKOT_BUKITTINGGI"], "speakers": [],
        # 08.00-16.00 WIB on 5 March 2026
        "starts_at": "2026-03-05T01:00:00.000Z", "ends_at": "2026-03-05T09:00:00.000Z",
        "location": "Aula Balai Kota Bukittinggi", "status": "published", "revision": 1,
        "capacity": 30, "seats_taken": 30, "waitlisted": 4,
        "created_at": "2026-01-10T02:00:00.000Z", "updated_at": "2026-01-10T02:00:00.000Z",
        "cancelled_at": None, "cancel_reason": None,
    }
    return {**base, **changes}


def enrolment(**changes) -> dict:
    base = {
        "id": "6650f1a2b3c4d5e6f7a8b9c0", "programme_code": "PKP-2026-01", "nip": "198501012010011001",
        "status": "enrolled", "waitlist_position": None, "created_at": "2026-01-20T03:00:00.000Z",
        "updated_at": "2026-01-20T03:00:00.000Z", "cancelled_at": None, "cancel_reason": None,
    }
    return {**base, **changes}


def parsed_event(enrol: dict | None = None, prog: dict | None = None) -> icalendar.Event:
    data = ics.single_enrolment_file(enrol or enrolment(), prog or programme(), portal_url=PORTAL, now=NOW)
    events = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert len(events) == 1
    return events[0]


def description(event: icalendar.Event) -> str:
    return str(event["description"])


def test_the_uid_is_one_per_enrolment_and_survives_every_change():
    first = parsed_event()
    later = parsed_event(enrolment(status="cancelled", cancelled_at="2026-02-01T00:00:00.000Z"),
                         programme(revision=4, title="Judul baru", starts_at="2026-03-06T01:00:00.000Z",
                                   ends_at="2026-03-06T09:00:00.000Z"))
    assert str(first["uid"]) == str(later["uid"]) == "enrolment-6650f1a2b3c4d5e6f7a8b9c0@bangkom.bukittinggi"
    other = parsed_event(enrolment(id="6650f1a2b3c4d5e6f7a8b9c1"))
    assert str(other["uid"]) != str(first["uid"])


def test_the_sequence_follows_the_programme_revision():
    before = parsed_event(prog=programme(revision=2))
    after = parsed_event(prog=programme(revision=3, starts_at="2026-03-12T01:00:00.000Z",
                                        ends_at="2026-03-12T09:00:00.000Z"))
    assert int(before["sequence"]) == 2
    assert int(after["sequence"]) == 3


def test_a_cancellation_raises_the_sequence_so_calendars_take_it():
    active = parsed_event(prog=programme(revision=2))
    cancelled = parsed_event(enrolment(status="cancelled", cancelled_at="2026-02-01T00:00:00.000Z",
                                       cancel_reason="Tugas dinas luar kota"), programme(revision=2))
    assert int(cancelled["sequence"]) == int(active["sequence"]) + 1
    # ... and a programme change after the cancellation raises it again, never lowers it
    changed = parsed_event(enrolment(status="cancelled"), programme(revision=3))
    assert int(changed["sequence"]) > int(cancelled["sequence"])


def test_a_re_enrolment_after_a_cancellation_never_goes_below_the_cancellation():
    cancelled = parsed_event(enrolment(status="cancelled"), programme(revision=2))
    again = parsed_event(enrolment(status="enrolled", history=[{"status": "cancelled"}]), programme(revision=2))
    assert int(again["sequence"]) > int(cancelled["sequence"])
    assert str(again["status"]) == "CONFIRMED"


def test_a_seat_is_confirmed_and_blocks_the_time():
    event = parsed_event()
    assert str(event["status"]) == "CONFIRMED"
    assert str(event["transp"]) == "OPAQUE"
    assert "Status pendaftaran: Terdaftar" in description(event)


@pytest.mark.parametrize("enrol, text", [
    (enrolment(status="waitlisted", waitlist_position=3), "Daftar tunggu (urutan 3)"),
    (enrolment(status="awaiting_approval", holds="seat",
               approval={"approver_nip": "197001011995031001", "decision": None,
                         "expires_at": "2026-02-06T03:00:00.000Z"}),
     "Menunggu persetujuan atasan (kursi ditahan)"),
    (enrolment(status="awaiting_approval", holds="waitlist", position=2,
               approval={"approver_nip": "197001011995031001", "decision": None,
                         "expires_at": "2026-02-06T03:00:00.000Z"}),
     "Menunggu persetujuan atasan (daftar tunggu urutan 2)"),
])
def test_waiting_is_tentative_and_says_what_it_waits_for(enrol, text):
    event = parsed_event(enrol)
    assert str(event["status"]) == "TENTATIVE"
    assert str(event["transp"]) == "TRANSPARENT"
    assert f"Status pendaftaran: {text}" in description(event)
    if enrol["status"] == "awaiting_approval":
        # the approval deadline, in WIB: 03.00Z is 10.00 WIB
        assert "Batas persetujuan atasan: 6 Februari 2026 10.00 WIB" in description(event)


@pytest.mark.parametrize("enrol, text", [
    (enrolment(status="cancelled", cancelled_at="2026-02-01T00:00:00.000Z", cancel_reason="Sakit"),
     "Dibatalkan"),
    (enrolment(status="declined", approval={"decision": "declined", "reason": "Beban kerja akhir triwulan"}),
     "Ditolak atasan"),
    (enrolment(status="cancelled", approval={"decision": "declined", "reason": "Beban kerja akhir triwulan"}),
     "Ditolak atasan"),
    (enrolment(status="lapsed", approval={"decision": "lapsed"}),
     "Kedaluwarsa (atasan belum memutuskan sampai batas waktu)"),
])
def test_an_ended_enrolment_is_cancelled_in_the_calendar(enrol, text):
    event = parsed_event(enrol)
    assert str(event["status"]) == "CANCELLED"
    assert f"Status pendaftaran: {text}" in description(event)
    reason = enrol.get("cancel_reason") or (enrol.get("approval") or {}).get("reason")
    if reason:
        assert f"Alasan: {reason}" in description(event)


def test_a_cancelled_programme_cancels_every_enrolment_in_it():
    prog = programme(status="cancelled", revision=5, cancelled_at="2026-02-02T00:00:00.000Z",
                     cancel_reason="Narasumber berhalangan")
    for enrol in (enrolment(), enrolment(status="waitlisted", waitlist_position=1)):
        event = parsed_event(enrol, prog)
        assert str(event["status"]) == "CANCELLED"
        assert int(event["sequence"]) == 5  # the programme's cancellation raised its revision
        assert "Status pendaftaran: Program dibatalkan" in description(event)
        assert "Alasan: Narasumber berhalangan" in description(event)


def test_times_are_utc_in_the_file_and_wib_for_people():
    event = parsed_event()
    start, end = event.decoded("dtstart"), event.decoded("dtend")
    assert start == datetime(2026, 3, 5, 1, 0, tzinfo=timezone.utc)
    assert end == datetime(2026, 3, 5, 9, 0, tzinfo=timezone.utc)
    assert start.utcoffset() == timedelta(0)
    assert start.astimezone(WIB).hour == 8
    assert "Waktu: 5 Maret 2026 08.00 – 16.00 WIB" in description(event)
    assert event.decoded("dtstamp") == NOW.replace(microsecond=0)  # whole seconds: no fraction in DATE-TIME
    raw = ics.single_enrolment_file(enrolment(), programme(), portal_url=PORTAL, now=NOW).decode()
    assert "DTSTART:20260305T010000Z\r\n" in raw


def test_a_programme_over_several_days_shows_both_ends_in_wib():
    # starts 23.00 UTC on 4 March = 06.00 WIB on 5 March: the WIB day, not the UTC one
    event = parsed_event(prog=programme(starts_at="2026-03-04T23:00:00.000Z", ends_at="2026-03-07T05:00:00.000Z"))
    assert "Waktu: 5 Maret 2026 06.00 WIB – 7 Maret 2026 12.00 WIB" in description(event)


def test_a_programme_with_dates_only_is_all_day_with_an_exclusive_end():
    event = parsed_event(prog=programme(starts_at="2026-03-05", ends_at="2026-03-07"))
    assert event.decoded("dtstart") == date(2026, 3, 5)
    assert event.decoded("dtend") == date(2026, 3, 8)  # RFC 5545: DTEND of an all-day event is the day after
    assert "Waktu: 5 Maret 2026 – 7 Maret 2026" in description(event)


def test_the_description_is_in_indonesian_and_the_event_links_to_the_catalogue():
    event = parsed_event(prog=programme(kind="seminar", speakers=["Dr. Siti Aminah, S.Kom."]))
    text = description(event)
    for line in ("Jenis: Seminar", "Jenis kompetensi: Manajerial", "JP: 24",
                 "Penyelenggara: Badan Kepegawaian Negara, Pemerintah Kota Bukittinggi",
                 "Narasumber: Dr. Siti Aminah, S.Kom.",
                 "Rincian: https://portal.example.test/katalog/PKP-2026-01"):
        assert line in text.splitlines()
    assert str(event["summary"]) == "Pelatihan Kepemimpinan Pengawas"
    assert str(event["location"]) == "Aula Balai Kota Bukittinggi"
    assert str(event["url"]) == "https://portal.example.test/katalog/PKP-2026-01"


def test_no_location_when_the_programme_has_none():
    assert "location" not in parsed_event(prog=programme(location=None))


def test_last_modified_is_the_latest_change():
    event = parsed_event(enrolment(updated_at="2026-01-25T00:00:00.000Z"),
                         programme(updated_at="2026-01-30T06:00:00.000Z"))
    assert event.decoded("last-modified") == datetime(2026, 1, 30, 6, 0, tzinfo=timezone.utc)


def test_the_calendar_header():
    data = ics.calendar([], name="Bangkom ASN – Dr. Siti Aminah, S.Kom.")
    cal = icalendar.Calendar.from_ical(data)
    assert str(cal["prodid"]) == "-//BKN Bukittinggi//Bangkom ASN//ID"
    assert str(cal["version"]) == "2.0"
    assert str(cal["calscale"]) == "GREGORIAN"
    assert str(cal["method"]) == "PUBLISH"
    assert str(cal["x-wr-timezone"]) == "Asia/Jakarta"
    assert str(cal["x-published-ttl"]) == "PT1H"
    assert cal.decoded("refresh-interval") == timedelta(hours=1)
    # a TEXT value: the comma is escaped on the wire and comes back whole
    assert "X-WR-CALNAME:Bangkom ASN – Dr. Siti Aminah\\, S.Kom.\r\n" in data.decode()
    assert "\r\nNAME:Bangkom ASN – Dr. Siti Aminah\\, S.Kom.\r\n" in data.decode()  # RFC 7986 NAME too


def test_the_feed_holds_every_enrolment_once_in_order_of_start():
    late = programme(code="B", starts_at="2026-05-01T01:00:00.000Z", ends_at="2026-05-01T09:00:00.000Z")
    early = programme(code="A", starts_at="2026-04-01T01:00:00.000Z", ends_at="2026-04-01T09:00:00.000Z")
    data = ics.feed([(enrolment(id="e2", programme_code="B"), late),
                     (enrolment(id="e1", programme_code="A", status="cancelled"), early)],
                    name="Bangkom", portal_url=PORTAL, now=NOW)
    events = icalendar.Calendar.from_ical(data).walk("VEVENT")
    assert [str(e["uid"]) for e in events] == ["enrolment-e1@bangkom.bukittinggi", "enrolment-e2@bangkom.bukittinggi"]
    assert [str(e["status"]) for e in events] == ["CANCELLED", "CONFIRMED"]


def test_long_and_odd_text_survives_the_round_trip():
    title = "Pelatihan; Teknis, Lanjutan \\ " + "Tata Kelola Arsip Digital " * 8
    event = parsed_event(prog=programme(title=title))
    assert str(event["summary"]) == title
    raw = ics.single_enrolment_file(enrolment(), programme(title=title), portal_url=PORTAL, now=NOW)
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))  # folded at 75 octets (RFC 5545 3.1)


def test_the_output_has_no_errors_for_icalendar():
    data = ics.single_enrolment_file(enrolment(status="waitlisted", waitlist_position=2), programme(),
                                     portal_url=PORTAL, now=NOW)
    cal = icalendar.Calendar.from_ical(data)
    assert all(not component.errors for component in cal.walk())
    assert data.endswith(b"END:VCALENDAR\r\n")


def test_a_second_parser_reads_the_same_event():
    """vobject, when installed (it is not a project dependency), reads it too."""
    vobject = pytest.importorskip("vobject")
    data = ics.feed([(enrolment(), programme()),
                     (enrolment(id="x2", status="cancelled"), programme(code="B", revision=2))],
                    name="Bangkom ASN – Dr. Siti Aminah, S.Kom.", portal_url=PORTAL, now=NOW)
    cal = vobject.readOne(data.decode("utf-8"), validate=True)
    events = list(cal.vevent_list)
    assert [e.uid.value for e in events] == ["enrolment-6650f1a2b3c4d5e6f7a8b9c0@bangkom.bukittinggi",
                                             "enrolment-x2@bangkom.bukittinggi"]
    assert events[0].dtstart.value == datetime(2026, 3, 5, 1, 0, tzinfo=timezone.utc)
    assert [e.status.value for e in events] == ["CONFIRMED", "CANCELLED"]
    assert [int(e.sequence.value) for e in events] == [1, 3]
    assert "Status pendaftaran: Terdaftar" in events[0].description.value
