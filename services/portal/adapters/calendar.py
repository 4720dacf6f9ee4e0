"""iCalendar (RFC 5545) for an ASN's enrolments: one ``.ics`` file per enrolment and the
personal calendar feed behind a secret link (issue 20).

Pure functions over the enrollment API's views (programme and enrolment as JSON dicts):
no I/O, the clock is passed in. The ``icalendar`` library writes the text (escaping, line
folding at 75 octets, CRLF), so nothing here builds content lines by hand.

What keeps a subscribed calendar in step (RFC 5545 3.8.4.7, 3.8.7.4, 3.8.1.11):

- UID is one per enrolment and never changes, so every refresh updates the same event
  instead of adding a copy.
- SEQUENCE is the programme's ``revision`` (raised by enrollment on every change of a
  published programme, cancellation included), plus 1 once the enrolment itself has ended
  (cancelled, declined, lapsed): a cancellation is a significant change, and a calendar
  that compares SEQUENCE must not take it for an old copy. A re-enrolment after a
  cancellation (the same enrolment id, reactivated) adds 2 per earlier cycle when the view
  says how many there were (``history``/``reactivations``), so it is never lower than the
  cancellation it replaces.
- STATUS: CONFIRMED for a seat (and a completed enrolment), TENTATIVE while waiting
  (waitlist, or the supervisor's approval), CANCELLED when the enrolment ended or the
  programme was cancelled. A cancelled event stays in the feed (rather than vanishing) so
  the subscribed calendar strikes or drops it.

Times are written in UTC (``...Z``), so no VTIMEZONE is needed; the calendar names
Asia/Jakarta (X-WR-TIMEZONE) for clients that show a feed in its own zone, and the
description gives the times in WIB for people.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Mapping
from urllib.parse import quote

import icalendar

from shared.reference import COMPETENCY_LABELS, KIND_LABELS, ORGANISER_LABELS
from shared.timefmt import WIB, long_date_id, parse_time, stamp_id

PRODID = "-//BKN Bukittinggi//Bangkom ASN//ID"
UID_DOMAIN = "bangkom.bukittinggi"
TIMEZONE = "Asia/Jakarta"
REFRESH = timedelta(hours=1)  # REFRESH-INTERVAL (RFC 7986) and X-PUBLISHED-TTL for older clients
MEDIA_TYPE = "text/calendar; charset=utf-8"

# Enrolment statuses, as enrollment names them (plus the approval ones of issue 20).
ENROLLED, WAITLISTED, COMPLETED, CANCELLED = "enrolled", "waitlisted", "completed", "cancelled"
AWAITING_APPROVAL, DECLINED, LAPSED = "awaiting_approval", "declined", "lapsed"
# An enrolment that ended without the programme: a request declined or lapsed may be kept as
# its own status or as ``cancelled`` with the approval's decision, so both are read.
ENDED = (CANCELLED, DECLINED, LAPSED)
WAITING = (WAITLISTED, AWAITING_APPROVAL)

STATUS_CONFIRMED, STATUS_TENTATIVE, STATUS_CANCELLED = "CONFIRMED", "TENTATIVE", "CANCELLED"



def event_uid(enrolment_id: str) -> str:
    """The UID of an enrolment's event: the same in the single file and in the feed, forever."""
    return f"enrolment-{enrolment_id}@{UID_DOMAIN}"


def _decision(enrolment: Mapping) -> str | None:
    approval = enrolment.get("approval") or {}
    return approval.get("decision")


def enrolment_ended(enrolment: Mapping) -> bool:
    """Cancelled, declined by the supervisor, or lapsed without a decision."""
    status = enrolment.get("status")
    if status in ENDED:
        return True
    return status not in (ENROLLED, COMPLETED, *WAITING) and _decision(enrolment) in (DECLINED, LAPSED)


def programme_cancelled(programme: Mapping) -> bool:
    return programme.get("status") == CANCELLED


def event_status(enrolment: Mapping, programme: Mapping) -> str:
    """STATUS of the event (RFC 5545 3.8.1.11): CONFIRMED, TENTATIVE or CANCELLED."""
    if programme_cancelled(programme) or enrolment_ended(enrolment):
        return STATUS_CANCELLED
    if enrolment.get("status") in WAITING:
        return STATUS_TENTATIVE
    return STATUS_CONFIRMED


def event_sequence(enrolment: Mapping, programme: Mapping) -> int:
    """SEQUENCE (RFC 5545 3.8.7.4): never lower than any earlier copy of the same UID."""
    revision = int(programme.get("revision") or 0)
    cycles = enrolment.get("reactivations")
    if cycles is None:
        cycles = len(enrolment.get("history") or ())
    return revision + 2 * int(cycles) + (1 if enrolment_ended(enrolment) else 0)


def _position(enrolment: Mapping) -> int | None:
    return enrolment.get("waitlist_position") or enrolment.get("position")


def status_text(enrolment: Mapping, programme: Mapping) -> str:
    """The enrolment's state in a few Indonesian words (also usable on the portal's pages)."""
    if programme_cancelled(programme):
        return "Program dibatalkan"
    status, decision = enrolment.get("status"), _decision(enrolment)
    if status == DECLINED or (enrolment_ended(enrolment) and decision == DECLINED):
        return "Ditolak atasan"
    if status == LAPSED or (enrolment_ended(enrolment) and decision == LAPSED):
        return "Kedaluwarsa (atasan belum memutuskan sampai batas waktu)"
    if status == CANCELLED:
        return "Dibatalkan"
    if status == AWAITING_APPROVAL:
        holds = (enrolment.get("holds") or (enrolment.get("approval") or {}).get("holds"))
        if holds == "waitlist":
            position = _position(enrolment)
            place = f"daftar tunggu urutan {position}" if position else "daftar tunggu"
            return f"Menunggu persetujuan atasan ({place})"
        if holds == "seat":
            return "Menunggu persetujuan atasan (kursi ditahan)"
        return "Menunggu persetujuan atasan"
    if status == WAITLISTED:
        position = _position(enrolment)
        return f"Daftar tunggu (urutan {position})" if position else "Daftar tunggu"
    if status == COMPLETED:
        result = enrolment.get("result")
        if result == "no_show":
            return "Selesai (tidak hadir)"
        if result == "failed":
            return "Selesai (tidak lulus)"
        return "Selesai (lulus)" if result == "passed" else "Selesai"
    return "Terdaftar"


def _is_date_only(value) -> bool:
    """A date without a time: a ``date`` or a ``YYYY-MM-DD`` string."""
    if isinstance(value, datetime):
        return False
    return isinstance(value, date) or (isinstance(value, str) and len(value.strip()) == 10)


def _day(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value.strip())


def _utc(value) -> datetime | None:
    moment = parse_time(value)
    # Whole seconds: RFC 5545 DATE-TIME has no fraction.
    return moment.replace(microsecond=0) if moment else None


def _span(programme: Mapping) -> tuple[date | datetime, date | datetime]:
    """DTSTART and DTEND: UTC moments, or whole days (DTEND the day after the last one,
    RFC 5545 3.6.1: an all-day DTEND is exclusive) when the programme has dates only."""
    starts, ends = programme.get("starts_at"), programme.get("ends_at")
    if _is_date_only(starts):
        first = _day(starts)
        last = _day(ends) if ends and _is_date_only(ends) else (
            _utc(ends).astimezone(WIB).date() if ends else first)
        return first, max(last, first) + timedelta(days=1)
    start = _utc(starts)
    end = _utc(ends) if ends else None
    if end is None or end <= start:
        end = start + timedelta(hours=1)  # DTEND must be later than DTSTART
    return start, end


def _when_text(start: date | datetime, end: date | datetime) -> str:
    """``5 Maret 2026 08.00 – 16.00 WIB``, ``5 Maret 2026 08.00 WIB – 7 Maret 2026 12.00 WIB``,
    or for whole days ``5 Maret 2026 – 7 Maret 2026``."""
    if isinstance(start, datetime):
        if start.astimezone(WIB).date() == end.astimezone(WIB).date():
            return f"{stamp_id(start).removesuffix(' WIB')} – {end.astimezone(WIB):%H.%M} WIB"
        return f"{stamp_id(start)} – {stamp_id(end)}"
    last_day = end - timedelta(days=1)
    return long_date_id(start) if last_day == start else f"{long_date_id(start)} – {long_date_id(last_day)}"


def programme_url(portal_url: str, code: str) -> str:
    return f"{portal_url.rstrip('/')}/katalog/{quote(str(code), safe='')}"


def _description(enrolment: Mapping, programme: Mapping, start, end, url: str) -> str:
    lines = [f"Status pendaftaran: {status_text(enrolment, programme)}"]
    approval = enrolment.get("approval") or {}
    if enrolment.get("status") == AWAITING_APPROVAL and approval.get("expires_at"):
        lines.append(f"Batas persetujuan atasan: {stamp_id(parse_time(approval['expires_at']))}")
    reason = None
    if programme_cancelled(programme):
        reason = programme.get("cancel_reason")
    elif enrolment_ended(enrolment):
        reason = approval.get("reason") if _decision(enrolment) == DECLINED else enrolment.get("cancel_reason")
    if reason:
        lines.append(f"Alasan: {reason}")
    lines.append(f"Waktu: {_when_text(start, end)}")
    kind = programme.get("kind")
    if kind:
        lines.append(f"Jenis: {KIND_LABELS.get(kind, kind)}")
    competency = programme.get("competency_type")
    if competency:
        lines.append(f"Jenis kompetensi: {COMPETENCY_LABELS.get(competency, competency)}")
    if programme.get("jp") is not None:
        lines.append(f"JP: {programme['jp']}")
    organisers = [ORGANISER_LABELS.get(o, o) for o in programme.get("organisers") or ()]
    if organisers:
        lines.append(f"Penyelenggara: {', '.join(organisers)}")
    speakers = programme.get("speakers") or ()
    if speakers:
        lines.append(f"Narasumber: {', '.join(speakers)}")
    lines.append(f"Rincian: {url}")  # many clients ignore URL; the description shows everywhere
    return "\n".join(lines)


def _latest(*values) -> datetime | None:
    moments = [_utc(v) for v in values if v]
    return max(moments) if moments else None


def enrolment_event(enrolment: Mapping, programme: Mapping, *, portal_url: str, now: datetime) -> icalendar.Event:
    """The VEVENT of one enrolment in one programme (views of the enrollment API).

    ``programme`` needs code (or ``_id``), title, starts_at, ends_at; revision, status, kind,
    competency_type, jp, organisers, speakers, location, cancel_reason and updated_at are
    used when present. ``now`` is DTSTAMP (when this copy was made).
    """
    code = programme.get("code") or programme.get("_id") or enrolment.get("programme_code")
    enrolment_id = enrolment.get("id") or enrolment.get("_id")
    if not enrolment_id or not code or not programme.get("starts_at"):
        raise ValueError("an enrolment event needs the enrolment's id and the programme's code and starts_at")
    start, end = _span(programme)
    url = programme_url(portal_url, code)
    stamp = _utc(now)

    event = icalendar.Event()
    event.add("uid", event_uid(str(enrolment_id)))
    event.add("dtstamp", stamp)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", programme.get("title") or str(code))
    event.add("description", _description(enrolment, programme, start, end, url))
    if programme.get("location"):
        event.add("location", programme["location"])
    event.add("url", url)
    event.add("sequence", event_sequence(enrolment, programme))
    status = event_status(enrolment, programme)
    event.add("status", status)
    # Only a confirmed seat blocks time in a free/busy view.
    event.add("transp", "OPAQUE" if status == STATUS_CONFIRMED else "TRANSPARENT")
    if kind := programme.get("kind"):
        event.add("categories", [KIND_LABELS.get(kind, kind)])
    created = _utc(enrolment.get("created_at"))
    if created:
        event.add("created", created)
    modified = _latest(programme.get("updated_at"), programme.get("cancelled_at"), enrolment.get("updated_at"),
                       enrolment.get("cancelled_at"), (enrolment.get("approval") or {}).get("decided_at"))
    event.add("last-modified", min(modified, stamp) if modified else stamp)
    return event


def calendar(events: Iterable[icalendar.Event], *, name: str) -> bytes:
    """A whole VCALENDAR (the feed, or a single file) as UTF-8 bytes with CRLF lines."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    # NAME (RFC 7986) and X-WR-CALNAME are TEXT: written escaped (a name may carry a comma).
    cal.add("name", icalendar.vText(name))
    cal.add("x-wr-calname", icalendar.vText(name))
    cal.add("x-wr-timezone", TIMEZONE)
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    for event in events:
        cal.add_component(event)
    return cal.to_ical()


def single_enrolment_file(enrolment: Mapping, programme: Mapping, *, portal_url: str, now: datetime) -> bytes:
    """The ``.ics`` of one enrolment (GET /pendaftaran/<id>.ics): the same VEVENT as the feed's."""
    event = enrolment_event(enrolment, programme, portal_url=portal_url, now=now)
    return calendar([event], name=str(programme.get("title") or "Bangkom ASN"))


def feed(pairs: Iterable[tuple[Mapping, Mapping]], *, name: str, portal_url: str, now: datetime) -> bytes:
    """The personal feed from (enrolment, programme) pairs, ordered by start."""
    events = [enrolment_event(e, p, portal_url=portal_url, now=now) for e, p in pairs]
    events.sort(key=lambda ev: (_sort_key(ev.decoded("dtstart")), str(ev["uid"])))
    return calendar(events, name=name)


def _sort_key(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc)
    return datetime(value.year, value.month, value.day, tzinfo=WIB).astimezone(timezone.utc)


def filename(programme: Mapping) -> str:
    """A safe download name: ``bangkom-<CODE>.ics``."""
    code = str(programme.get("code") or programme.get("_id") or "program")
    return f"bangkom-{''.join(c if c.isalnum() or c in '._-' else '_' for c in code)}.ics"
