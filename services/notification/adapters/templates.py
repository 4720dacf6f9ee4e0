"""Rendering of messages from the Jinja2 files under ``templates/`` (Bahasa Indonesia).

Each message kind has a folder with four files a non-programmer can edit:
``subject.txt`` (email subject), ``body.txt`` (plain text), ``body.html`` (HTML email,
extends ``_layout.html``) and ``short.txt`` (SMS / WhatsApp via the webhook).
Dates and times are shown in WIB with the filters ``tanggal``, ``waktu`` and ``jam``;
numbers with ``angka`` (always with decimals) and ``bilangan`` (``shared.timefmt.number_id``);
a NIP as printed with ``nip_cetak``; a checkpoint id with ``periode`` (``2026-Q2`` → ``triwulan II
tahun 2026``, ``shared.timefmt.period_label_id``): a person never reads the raw id.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from shared.nip import LENGTH as NIP_LENGTH
from shared.nip import digits_only
from shared.timefmt import LOCALE, ZONE_LABELS, long_date_id, number_id, parse_time, period_label_id

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"
PARTS = ("subject.txt", "body.txt", "body.html", "short.txt")

PROGRAMME_KIND_LABELS = {
    "pelatihan": "Pelatihan", "sertifikasi": "Sertifikasi", "seminar": "Seminar", "lokakarya": "Lokakarya",
    "e-learning": "E-learning", "coaching": "Coaching", "mentoring": "Mentoring",
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    short: str


def angka(value, decimals: int = 1) -> str:
    """A number as Indonesians write it, always with ``decimals`` digits: ``1.234,5``, ``52,0``
    (a score reads as a score; ``shared.timefmt.number_id`` drops the decimals of whole numbers)."""
    pattern = "#,##0." + "0" * decimals if decimals > 0 else "#,##0"
    return format_decimal(value, format=pattern, locale=LOCALE)


def nip_cetak(value: str) -> str:
    """A NIP (or NI PPPK) as printed on an ASN's documents: ``19850312 201001 1 002`` (birth
    date, appointment, gender, sequence); anything else as it is."""
    digits = digits_only(value)
    if len(digits) != NIP_LENGTH or not digits.isdigit():
        return value
    return f"{digits[:8]} {digits[8:14]} {digits[14]} {digits[15:]}"


@lru_cache(maxsize=None)
def renderer(timezone: str = "Asia/Jakarta") -> "Renderer":
    """The renderer of a zone, built on first use and kept: its Jinja2 environment caches the
    compiled templates."""
    return Renderer(timezone)


class Renderer:
    def __init__(self, timezone: str = "Asia/Jakarta", directory: Path = TEMPLATE_DIR):
        self.tz = ZoneInfo(timezone)
        self.zone_label = ZONE_LABELS.get(timezone, timezone)
        self.env = Environment(
            loader=FileSystemLoader(str(directory)),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,  # a misspelt variable fails loudly instead of printing nothing
            trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
        )
        self.env.filters.update(tanggal=self.tanggal, waktu=self.waktu, jam=self.jam, angka=angka,
                                bilangan=number_id, nip_cetak=nip_cetak, periode=period_label_id,
                                jenis=lambda kind: PROGRAMME_KIND_LABELS.get(kind, kind))

    def kinds(self) -> list[str]:
        return sorted(p.name for p in Path(self.env.loader.searchpath[0]).iterdir()
                      if p.is_dir() and not p.name.startswith("_"))

    def render(self, kind: str, context: dict) -> Rendered:
        parts = [self.env.get_template(f"{kind}/{part}").render(**context).strip() for part in PARTS]
        subject = " ".join(parts[0].split())  # a subject is one line
        return Rendered(subject=subject, text=parts[1] + "\n", html=parts[2] + "\n", short=parts[3])

    # -- filters: people see WIB, in Indonesian ------------------------------------------
    def _local(self, value) -> datetime | date | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = parse_time(value) if "T" in value else date.fromisoformat(value)
        if isinstance(value, datetime):
            return value.astimezone(self.tz)
        return value

    def tanggal(self, value) -> str:
        """``Senin, 2 Maret 2026``."""
        local = self._local(value)
        if local is None:
            return "(belum ditentukan)"
        day = local.date() if isinstance(local, datetime) else local
        return f"{format_date(day, 'EEEE', locale=LOCALE)}, {long_date_id(day)}"

    def jam(self, value) -> str:
        """``08.00 WIB``."""
        local = self._local(value)
        if local is None or not isinstance(local, datetime):
            return ""
        return f"{local:%H.%M} {self.zone_label}"

    def waktu(self, value) -> str:
        """``Senin, 2 Maret 2026 pukul 08.00 WIB``."""
        local = self._local(value)
        if local is None:
            return "(belum ditentukan)"
        if not isinstance(local, datetime):
            return self.tanggal(local)
        return f"{self.tanggal(local)} pukul {self.jam(local)}"
