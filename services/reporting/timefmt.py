"""Times: stored in UTC, bucketed and shown in WIB (Asia/Jakarta), the ASN's own calendar."""
from __future__ import annotations

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")
MONTHS_ID = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September",
             "Oktober", "November", "Desember")
MONTHS_ID_SHORT = ("Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


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


def wib_year(dt: datetime) -> int:
    """The JP year of a moment: a completion at 01:00 WIB on 1 January counts for the new year."""
    return wib(dt).year


def wib_month(dt: datetime) -> str:
    return wib(dt).strftime("%Y-%m")


def wib_date(dt: datetime | None) -> str:
    return wib(dt).date().isoformat() if dt else ""


def long_date_id(dt: datetime | None) -> str:
    """``5 Maret 2026`` (WIB)."""
    if dt is None:
        return "-"
    local = wib(dt)
    return f"{local.day} {MONTHS_ID[local.month - 1]} {local.year}"


def stamp_id(dt: datetime) -> str:
    """``5 Maret 2026 16.30 WIB``."""
    local = wib(dt)
    return f"{long_date_id(dt)} {local:%H.%M} WIB"


def year_end_wib(year: int) -> datetime:
    return datetime(year, 12, 31, 23, 59, 59, tzinfo=WIB).astimezone(timezone.utc)
