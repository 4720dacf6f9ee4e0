"""Structural validation of ASN identifiers: the NIP of a PNS and the NI PPPK of contract staff.

Neither has a check digit, so validation can only prove the structure is possible; it
proves no one exists. Layouts (18 digits each):

NIP      ``YYYYMMDD`` birth date · ``YYYYMM`` month of appointment as CPNS (TMT) ·
         ``G`` gender (1 male, 2 female) · ``NNN`` sequence (≥ 001)
NI PPPK  ``YYYYMMDD`` birth date · ``YYYY`` year of appointment · ``21`` the PPPK code ·
         ``G`` gender · ``NNN`` sequence

The PPPK code sits where a NIP has its appointment month, and 21 is never a month, so
the two kinds cannot be confused: ``kind="auto"`` tells them apart.

Errors raise ``shared.errors.Invalid`` with ``field`` (the input field) and ``part`` (the
part of the identifier that is wrong), so callers can answer 422 with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from marshmallow import fields

from shared.errors import Invalid

KINDS = ("nip", "ni_pppk")
LENGTH = 18
# The stored and published form: 18 digits, no spaces (events, tokens, URLs).
PATTERN = r"^\d{18}$"
PPPK_CODE = "21"
MIN_WORKING_AGE = 18
# Nobody is appointed after the retirement age (at most 60 for functional positions, BUP).
MAX_APPOINTMENT_AGE = 60
EARLIEST_BIRTH_YEAR = 1900
# PPPK exists since PP 49/2018; the first NI PPPK were issued for 2019 appointments.
EARLIEST_PPPK_YEAR = 2019
GENDERS = {"1": "male", "2": "female"}


@dataclass(frozen=True)
class ParsedIdentifier:
    identifier: str
    kind: str  # "nip" or "ni_pppk"
    birth_date: date
    appointment_year: int
    appointment_month: int | None  # None for NI PPPK: its layout carries only the year
    gender: str  # "male" / "female"
    sequence: int

    @property
    def gender_digit(self) -> str:
        return "1" if self.gender == "male" else "2"


def detect_kind(identifier: str) -> str:
    """``"ni_pppk"`` when digits 13–14 carry the PPPK code, else ``"nip"``."""
    return "ni_pppk" if len(identifier) == LENGTH and identifier[12:14] == PPPK_CODE else "nip"


def validate(identifier: str, kind: str = "nip", *, field: str = "nip",
             today: date | None = None) -> ParsedIdentifier:
    """Check the structure of ``identifier`` as ``kind`` ("nip", "ni_pppk" or "auto").

    Raises ``Invalid(message, field=field, part=...)`` naming the wrong part.
    """
    today = today or date.today()
    if kind == "auto":
        kind = detect_kind(identifier if isinstance(identifier, str) else "")
    if kind not in KINDS:
        raise Invalid(f"unknown identifier kind {kind!r}; expected one of {', '.join(KINDS)}",
                      field="id_kind", part="kind")
    label = "NIP" if kind == "nip" else "NI PPPK"
    if not isinstance(identifier, str):
        raise Invalid(f"{label} must be a string of {LENGTH} digits", field=field, part="format")
    if len(identifier) != LENGTH:
        raise Invalid(f"{label} must have {LENGTH} digits, got {len(identifier)}", field=field, part="length")
    if not identifier.isascii() or not identifier.isdigit():
        raise Invalid(f"{label} must contain digits only", field=field, part="format")

    birth = _birth_date(identifier[:8], label, field, today)
    if kind == "nip":
        year, month = int(identifier[8:12]), int(identifier[12:14])
        if not 1 <= month <= 12:
            raise Invalid(f"NIP appointment month {identifier[12:14]} (digits 13-14) is not a month 01-12",
                          field=field, part="appointment_month")
        appointed_from = date(year, month, 1)
        appointed_until = _month_end(year, month)
        where = f"appointment {identifier[8:12]}-{identifier[12:14]} (digits 9-14)"
    else:
        year, month = int(identifier[8:12]), None
        if identifier[12:14] != PPPK_CODE:
            raise Invalid(f"NI PPPK must carry the PPPK code {PPPK_CODE} in digits 13-14, "
                          f"got {identifier[12:14]}", field=field, part="pppk_code")
        if year < EARLIEST_PPPK_YEAR:
            raise Invalid(f"NI PPPK appointment year {year} (digits 9-12) is before PPPK existed "
                          f"({EARLIEST_PPPK_YEAR})", field=field, part="appointment_year")
        appointed_from, appointed_until = date(year, 1, 1), date(year, 12, 31)
        where = f"appointment year {year} (digits 9-12)"
    if appointed_from > _add_years(today, 1):
        raise Invalid(f"{label} {where} lies in the future", field=field, part="appointment_date")
    if appointed_until <= birth:
        raise Invalid(f"{label} {where} is not after the birth date {birth.isoformat()}",
                      field=field, part="appointment_date")
    if _add_years(birth, MIN_WORKING_AGE) > appointed_until:
        raise Invalid(f"{label} {where} is before the holder turned {MIN_WORKING_AGE} "
                      f"(born {birth.isoformat()})", field=field, part="appointment_date")
    if _add_years(birth, MAX_APPOINTMENT_AGE + 1) <= appointed_from:
        raise Invalid(f"{label} {where} is after the holder turned {MAX_APPOINTMENT_AGE} "
                      f"(born {birth.isoformat()})", field=field, part="appointment_date")

    gender_digit = identifier[14]
    if gender_digit not in GENDERS:
        raise Invalid(f"{label} gender digit (digit 15) must be 1 (male) or 2 (female), got {gender_digit}",
                      field=field, part="gender")
    sequence = int(identifier[15:])
    if sequence < 1:
        raise Invalid(f"{label} sequence (digits 16-18) must be 001 or more", field=field, part="sequence")
    return ParsedIdentifier(identifier=identifier, kind=kind, birth_date=birth, appointment_year=year,
                            appointment_month=month, gender=GENDERS[gender_digit], sequence=sequence)


def _birth_date(digits: str, label: str, field: str, today: date) -> date:
    try:
        birth = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        raise Invalid(f"{label} birth date {digits[:4]}-{digits[4:6]}-{digits[6:8]} (digits 1-8) "
                      f"is not a real date", field=field, part="birth_date") from None
    if birth.year < EARLIEST_BIRTH_YEAR or birth > today:
        raise Invalid(f"{label} birth date {birth.isoformat()} (digits 1-8) is not possible",
                      field=field, part="birth_date")
    return birth


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a non-leap year
        return day.replace(year=day.year + years, day=28)


def _month_end(year: int, month: int) -> date:
    next_month = date(year + month // 12, month % 12 + 1, 1)
    return date.fromordinal(next_month.toordinal() - 1)


def digits_only(value: str) -> str:
    """The NIP as typed or printed (``19850312 201001 1 002``) without its spaces."""
    return "".join(str(value).split())


def printed(identifier: str) -> str:
    """The form printed on documents: ``19850312 201001 1 002`` (birth date, appointment,
    gender, sequence); an NI PPPK the same way (``19900913 202524 2 014``). Anything that is not
    18 digits comes back unchanged."""
    digits = digits_only(identifier)
    if len(digits) != LENGTH or not (digits.isascii() and digits.isdigit()):
        return identifier
    return f"{digits[:8]} {digits[8:14]} {digits[14]} {digits[15:]}"


# What a request may send: 18 ASCII digits, spaced as printed or not (the OpenAPI pattern).
TYPED_PATTERN = r"^\s*([0-9]\s*){18}$"


class NipField(fields.Str):
    """A NIP (or NI PPPK) in a request: the printed form with spaces is accepted; 18 digits
    come out. Structure is not checked here (``validate`` does that where it matters)."""

    default_error_messages = {"invalid_nip": "must be an 18-digit NIP or NI PPPK"}

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {})
        kwargs["metadata"] = {"pattern": TYPED_PATTERN, **kwargs["metadata"]}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = digits_only(super()._deserialize(value, attr, data, **kwargs))
        # isdigit alone takes other scripts' digits ("١٩٨٥…"): a NIP is ASCII
        if len(text) != LENGTH or not (text.isascii() and text.isdigit()):
            raise self.make_error("invalid_nip")
        return text


def appointment_month(identifier: str) -> date | None:
    """The first day of the month a PNS was appointed CPNS (TMT CPNS), from NIP digits 9-14
    (``YYYYMM``); None for an NI PPPK (its layout carries only the year) or a number whose
    digits 9-14 are not a month. The structure is not checked here: ``validate`` does that."""
    digits = digits_only(identifier)
    if len(digits) != LENGTH or not (digits.isascii() and digits.isdigit()) or detect_kind(digits) != "nip":
        return None
    year, month = int(digits[8:12]), int(digits[12:14])
    if not 1 <= month <= 12 or year < 1:
        return None
    return date(year, month, 1)
