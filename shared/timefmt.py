"""Times and numbers, one way for every service: stored and emitted in UTC (RFC 3339 with
``Z``), bucketed and shown in WIB (Asia/Jakarta), written for people in Indonesian with
Babel's ``id`` locale (``5 Maret 2026``, ``12.345,5``) instead of month tables of our own."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal

WIB = ZoneInfo("Asia/Jakarta")
LOCALE = "id"
# Shown after a time, by the zone a recipient lives in (Indonesia has three).
ZONE_LABELS = {"Asia/Jakarta": "WIB", "Asia/Pontianak": "WIB", "Asia/Makassar": "WITA", "Asia/Jayapura": "WIT"}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with ``Z`` and milliseconds (events, API answers: the store keeps
    milliseconds, so the text of a stored moment and of the event about it are the same)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value) -> datetime | None:
    """An RFC 3339 string, a date string or a datetime → an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        # A calendar date from an event (issued_on, valid_until) is a WIB date.
        return datetime(value.year, value.month, value.day, tzinfo=WIB).astimezone(timezone.utc)
    else:
        text = str(value).strip()
        if len(text) == 10:
            return parse_time(date.fromisoformat(text))
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    # MongoDB keeps milliseconds: truncate so a stored time equals a freshly parsed one.
    return dt.astimezone(timezone.utc).replace(microsecond=dt.microsecond // 1000 * 1000)


def wib(dt: datetime) -> datetime:
    return dt.astimezone(WIB)


def wib_date(dt: datetime | None) -> date | None:
    """The calendar day of a moment in Bukittinggi."""
    return wib(dt).date() if dt else None


def wib_year(dt: datetime) -> int:
    """The JP year of a moment: a completion at 01:00 WIB on 1 January counts for the new year."""
    return wib(dt).year


def wib_month(dt: datetime) -> str:
    return wib(dt).strftime("%Y-%m")


def end_of_day_wib(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), WIB).astimezone(timezone.utc)


def year_end_wib(year: int) -> datetime:
    return end_of_day_wib(date(year, 12, 31))


def long_date_id(value: date | datetime | None, zone: str = "Asia/Jakarta") -> str:
    """``5 Maret 2026`` (a moment is shown in ``zone``, WIB by default); ``-`` for none."""
    if value is None:
        return "-"
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(zone)).date()
    return format_date(value, format="long", locale=LOCALE)


def short_date_id(value: date | datetime) -> str:
    """``5 Mar 2026`` (WIB)."""
    if isinstance(value, datetime):
        value = wib(value).date()
    return format_date(value, format="d MMM y", locale=LOCALE)


def month_name_id(month: int, short: bool = False) -> str:
    """``Maret`` / ``Mar``."""
    return format_date(date(2000, month, 1), format="MMM" if short else "MMMM", locale=LOCALE)


def stamp_id(dt: datetime, zone: str = "Asia/Jakarta") -> str:
    """``5 Maret 2026 16.30 WIB``."""
    local = dt.astimezone(ZoneInfo(zone))
    return f"{format_datetime(local, 'd MMMM y HH.mm', locale=LOCALE)} {ZONE_LABELS.get(zone, zone)}"


def number_id(value: float | int, digits: int = 1) -> str:
    """``12.345,5``: Indonesian grouping and decimal comma; whole numbers without decimals."""
    pattern = "#,##0" if float(value).is_integer() else "#,##0." + "#" * digits
    return format_decimal(value, format=pattern, locale=LOCALE)


# Periods of a year as people read them. Checkpoint ids are ``YEAR-LABEL`` (reporting's
# REPORTING_SHORTFALL_CHECKPOINTS labels: Q1..Q4 by default; a city may configure half-years).
_ROMAN = ("I", "II", "III", "IV")
_PERIOD_WORDS = {"Q": ("triwulan", 4), "H": ("semester", 2), "S": ("semester", 2)}
_PERIOD_ID = re.compile(r"^(?P<year>\d{4})(?:-(?P<label>[^\s]+))?$")


def period_label_id(period_id: str, *, at_end: bool = False) -> str:
    """A checkpoint or period id as a person reads it: ``2026-Q2`` → ``triwulan II tahun 2026``,
    ``2026-H1`` / ``2026-S1`` → ``semester I tahun 2026``, ``2026`` → ``tahun 2026``; another
    label ``<label> tahun 2026``; anything else unchanged. ``at_end`` names the period's end
    (``akhir triwulan II tahun 2026``) for a quarter, a half-year or a year."""
    match = _PERIOD_ID.match(period_id.strip())
    if match is None:
        return period_id
    year, label = match["year"], match["label"]
    if label is None:
        return f"akhir tahun {year}" if at_end else f"tahun {year}"
    kind, number = label[:1].upper(), label[1:]
    if kind in _PERIOD_WORDS and number.isdigit() and 1 <= int(number) <= _PERIOD_WORDS[kind][1]:
        words = f"{_PERIOD_WORDS[kind][0]} {_ROMAN[int(number) - 1]} tahun {year}"
        return f"akhir {words}" if at_end else words
    return f"{label} tahun {year}"
