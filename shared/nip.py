"""Structural validation of ASN identifiers: the NIP of a PNS and the NI PPPK of contract staff.

Neither has a check digit, so validation can only prove the structure is possible; it
proves no one exists. Layouts (18 digits each; docs/reference-data.md, "Nomor identitas
ASN", has the sources):

NIP      ``YYYYMMDD`` birth date · ``YYYYMM`` month of the first appointment as CPNS (TMT) ·
         ``G`` gender (1 male, 2 female) · ``NNN`` sequence (≥ 001).
         Peraturan Kepala BKN 43/2007 (the 18-digit NIP), as public descriptions read it.
NI PPPK  ``YYYYMMDD`` birth date · ``YYYY`` year of the first appointment as PPPK ·
         ``2`` the PPPK code · ``K`` the count of work agreements (perjanjian kerja, 1-9) ·
         ``G`` gender · ``NNN`` sequence. E.g. ``199009132025242014`` (published as an
         example): born 1990-09-13, appointed 2025, code 2, count 4, female, number 14.
         Public descriptions of BKN's rule for the NI PPPK (birth date, year of first
         appointment, number of work agreements, gender, sequence).

Digit 13 is the first digit of a NIP's appointment month (0 or 1) and the PPPK code 2 in
an NI PPPK, so ``kind="auto"`` tells them apart; a NIP never has a month 2x.

Ages at the first appointment: NIP 18-59 (PP 11/2017 Pasal 23; honorer under PP 48/2005),
NI PPPK 20-64 (PP 49/2018 Pasal 16; BUP 65 of JF Ahli Utama). A structural check refuses only
numbers no rule could have issued; MIN_APPOINTMENT_AGE / MAX_APPOINTMENT_AGE give the reasons.

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
# NI PPPK digit 13. In a NIP that digit starts the appointment month (0 or 1), never 2.
PPPK_CODE = "2"
# NI PPPK digit 14: the count of the holder's work agreements (perjanjian kerja).
CONTRACT_DIGITS = "123456789"

# Ages at the first appointment, checked against the birth date. Limits are those of the
# rules that ever admitted someone, not today's hiring rules alone: a structural check must
# not refuse a number BKN really issued.
MIN_APPOINTMENT_AGE = {
    # PP 11/2017 Pasal 23 ayat (1) huruf a (and PP 98/2000 Pasal 6 before it): 18 at the
    # application, so at least 18 at the appointment.
    "nip": 18,
    # PP 49/2018 Pasal 16 huruf a: at least 20 at the application.
    "ni_pppk": 20,
}
MAX_APPOINTMENT_AGE = {
    # A CPNS applies at 35 at most, 40 for some positions (PP 11/2017 Pasal 23 ayat (1) huruf a
    # and ayat (2)), but honorer appointed under PP 48/2005 Pasal 3 (as amended by PP 43/2007
    # and PP 56/2012) could be 46 on 1 January 2006 and were appointed as late as the mid-2010s,
    # in their mid-50s. Nobody is appointed CPNS at or past the retirement age (BUP) of the
    # position entered: 58 for administrative and entry functional positions (UU 5/2014
    # Pasal 90; PP 11/2017 Pasal 239 ayat (2) as amended by PP 17/2020), 60 for guru (UU 14/2005
    # Pasal 30 ayat (4)); dosen retire at 65 (Pasal 67 ayat (4)) but apply at 40 at most. So
    # 59 refuses no real NIP and still catches a mistyped birth or appointment year.
    "nip": 59,
    # PP 49/2018 Pasal 16 huruf a: at most one year before the retirement age of the position
    # applied for; the highest is 65 (JF Ahli Utama, PP 11/2017 Pasal 239 ayat (2) as amended
    # by PP 17/2020), so 64. The NI PPPK carries only the year: refused only when the holder
    # was 65 on 1 January of it.
    "ni_pppk": 64,
}
_WHO = {"nip": "a CPNS", "ni_pppk": "a PPPK"}
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
    contract: int | None = None  # NI PPPK: the count of work agreements (digit 14); None for a NIP

    @property
    def gender_digit(self) -> str:
        return "1" if self.gender == "male" else "2"


def detect_kind(identifier: str) -> str:
    """``"ni_pppk"`` when digit 13 is the PPPK code 2 and digit 14 a contract count 1-9 (a
    NIP's appointment month never starts with 2), else ``"nip"``."""
    if (isinstance(identifier, str) and len(identifier) == LENGTH and identifier[12] == PPPK_CODE
            and identifier[13] in CONTRACT_DIGITS):
        return "ni_pppk"
    return "nip"


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
    contract = None
    if kind == "nip":
        year, month = int(identifier[8:12]), int(identifier[12:14])
        if not 1 <= month <= 12:
            hint = " (a 2 in digit 13 marks an NI PPPK)" if identifier[12] == PPPK_CODE else ""
            raise Invalid(f"NIP appointment month {identifier[12:14]} (digits 13-14) is not a month 01-12{hint}",
                          field=field, part="appointment_month")
        appointed_from = date(year, month, 1)
        appointed_until = _month_end(year, month)
        where = f"appointment {identifier[8:12]}-{identifier[12:14]} (digits 9-14)"
    else:
        year, month = int(identifier[8:12]), None
        if identifier[12] != PPPK_CODE:
            raise Invalid(f"NI PPPK must carry the PPPK code {PPPK_CODE} in digit 13, got {identifier[12]}",
                          field=field, part="pppk_code")
        if identifier[13] not in CONTRACT_DIGITS:
            raise Invalid(f"NI PPPK count of work agreements (digit 14) must be 1-9, got {identifier[13]}",
                          field=field, part="contract")
        contract = int(identifier[13])
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
    youngest, oldest = MIN_APPOINTMENT_AGE[kind], MAX_APPOINTMENT_AGE[kind]
    # The appointment is known to the month (NIP) or the year (NI PPPK): refused only when
    # no day of that month or year fits the age limits.
    if _add_years(birth, youngest) > appointed_until:
        raise Invalid(f"{label} {where} is before the holder turned {youngest} (born {birth.isoformat()}); "
                      f"{_WHO[kind]} is appointed at {youngest} or older", field=field, part="appointment_date")
    if _add_years(birth, oldest + 1) <= appointed_from:
        raise Invalid(f"{label} {where} is when the holder was already {_age(birth, appointed_from)} "
                      f"(born {birth.isoformat()}); {_WHO[kind]} is appointed at {oldest} at the latest",
                      field=field, part="appointment_date")

    gender_digit = identifier[14]
    if gender_digit not in GENDERS:
        raise Invalid(f"{label} gender digit (digit 15) must be 1 (male) or 2 (female), got {gender_digit}",
                      field=field, part="gender")
    sequence = int(identifier[15:])
    if sequence < 1:
        raise Invalid(f"{label} sequence (digits 16-18) must be 001 or more", field=field, part="sequence")
    return ParsedIdentifier(identifier=identifier, kind=kind, birth_date=birth, appointment_year=year,
                            appointment_month=month, gender=GENDERS[gender_digit], sequence=sequence,
                            contract=contract)


def _age(birth: date, on: date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


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
