"""Certificate rules as plain functions: who gets one, its number, code, validity and status,
what it says per kind and role, who signs it (the programme's organisers' signatories), what
a public verifier may see, and how big the next numbering batch is. Organisers come from the
reference list (``shared.reference.organisers``).

No broker, store or I/O here; ``commands.py`` applies these rules inside transactions.
Times come from ``shared.timefmt`` (UTC stored, WIB shown, Indonesian dates on Babel).
"""
from __future__ import annotations

import calendar
import re
import secrets
from dataclasses import dataclass
from datetime import date, datetime

from shared.nip import printed as printed_nip
from shared.reference import COMPETENCY_LABELS, organisers
from shared.timefmt import long_date_id, wib_date

VALID, REVOKED, EXPIRED, SUPERSEDED, UNKNOWN = "valid", "revoked", "expired", "superseded", "unknown"

# Crockford base32: no I, L, O or U, so a code read aloud or typed from paper survives.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_BITS = 90  # >= 80 bits required; 90 bits are exactly 18 characters
CODE_LENGTH = CODE_BITS // 5
_CODE_ALIASES = str.maketrans({"I": "1", "L": "1", "O": "0"})

STATUS_LABELS_ID = {
    VALID: "Sah (berlaku)",
    REVOKED: "Dicabut",
    EXPIRED: "Kedaluwarsa",
    SUPERSEDED: "Digantikan oleh sertifikat yang lebih baru",
    UNKNOWN: "Tidak ditemukan",
}
# The platform is the city's: a programme that names no organiser is the city's own.
HOME_ORGANISER = "PEMKOT_BUKITTINGGI"
PESERTA, NARASUMBER = "peserta", "narasumber"
ROLE_LABELS_ID = {PESERTA: "Peserta", NARASUMBER: "Narasumber"}
MAX_SIGNATORIES = 3  # what fits side by side on an A4 landscape page


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months`` calendar months; the 31st becomes the month's last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def date_id(day: date | str | None) -> str:
    """``5 Maret 2026`` for a date or the ISO date a certificate stores (``issued_on``,
    ``valid_until``); ``-`` for none."""
    return long_date_id(date.fromisoformat(day) if isinstance(day, str) else day)


def organiser_names(programme: dict) -> list[str]:
    """The programme's organisers by their full names (shared/reference/organisers.csv)."""
    known = organisers()
    return [known[o].name if o in known else o for o in programme.get("organisers", [])]


def competency_label(competency_type: str) -> str:
    """``Kompetensi Teknis``: the competency type as a certificate names its field."""
    return f"Kompetensi {COMPETENCY_LABELS.get(competency_type, competency_type)}"


def number_issuer(programme: dict) -> str:
    """The ``{issuer}`` of a certificate number: the issuer codes of the programme's organisers
    joined by ``-`` in the programme's order (``BKN-BKT`` for BKN with the city, ``BKT`` for
    the city alone, ``LKPP`` for LKPP); the city's for a programme that names none."""
    known = organisers()
    codes = programme.get("organisers") or [HOME_ORGANISER]
    return "-".join(known[c].issuer_code if c in known else c for c in codes)


def role_of(certificate_or_completion: dict) -> str:
    """``peserta`` or ``narasumber``; documents and events from before roles are ``peserta``."""
    return certificate_or_completion.get("role") or PESERTA


# -- wording (issue 24) ----------------------------------------------------------------------

@dataclass(frozen=True)
class Wording:
    """What a certificate says the holder did, around the programme's title:
    ``intro`` / title / ``role_line`` (None: no role line)."""
    intro: str
    role_line: str | None = None


# The word of a kind printed before the title, unless the title already starts with it
# ("Seminar Nasional …" is not printed as "Seminar Seminar Nasional …").
_KIND_WORDS = {"seminar": ("Seminar", ("seminar",)), "lokakarya": ("Lokakarya", ("lokakarya", "workshop")),
               "coaching": ("Coaching", ("coaching",)), "mentoring": ("Mentoring", ("mentoring",)),
               "e-learning": ("e-learning", ("e-learning", "elearning"))}
# Kinds where a person takes part rather than passes: the certificate says in which role.
PARTICIPATION_KINDS = ("seminar", "lokakarya")


def _kind_word(kind: str, title: str) -> str:
    word, prefixes = _KIND_WORDS[kind]
    return "" if title.strip().casefold().startswith(prefixes) else f" {word}"


def wording(programme: dict, role: str = PESERTA) -> Wording:
    """What the certificate of ``programme`` says, per kind and role. Only training and
    certification are examined (``dinyatakan LULUS``); a seminar or workshop says the person
    took part, as a participant or as a speaker; e-learning, coaching and mentoring say the
    person completed them. A speaker is never said to have passed, whatever the kind."""
    kind, title = programme.get("kind"), programme.get("title") or ""
    if kind in PARTICIPATION_KINDS or role == NARASUMBER:
        word = _kind_word(kind, title) if kind in _KIND_WORDS else ""
        return Wording(f"yang telah mengikuti{word}", f"sebagai {ROLE_LABELS_ID.get(role, ROLE_LABELS_ID[PESERTA])}")
    if kind == "sertifikasi":
        return Wording("yang telah mengikuti uji kompetensi dan dinyatakan LULUS")
    if kind == "e-learning":
        return Wording(f"yang telah menyelesaikan pembelajaran{_kind_word(kind, title)}")
    if kind in ("coaching", "mentoring"):
        return Wording(f"yang telah mengikuti dan menyelesaikan{_kind_word(kind, title)}")
    return Wording("yang telah mengikuti dan dinyatakan LULUS")  # pelatihan


def criteria(kind: str) -> str:
    """What a programme of ``kind`` asks of the people it certifies (the credential's criteria)."""
    if kind in PARTICIPATION_KINDS:
        return "Mengikuti seluruh rangkaian kegiatan sebagai peserta atau narasumber."
    if kind in ("pelatihan", "sertifikasi"):
        return "Peserta mengikuti seluruh rangkaian program dan dinyatakan lulus."
    return "Peserta menyelesaikan seluruh rangkaian program."


# -- the holder as printed -----------------------------------------------------------------

# Pangkat of a PNS by golongan/ruang (PP 99/2000 jo. PP 12/2002, Lampiran): printed beside it.
PANGKAT = {
    "I/a": "Juru Muda", "I/b": "Juru Muda Tingkat I", "I/c": "Juru", "I/d": "Juru Tingkat I",
    "II/a": "Pengatur Muda", "II/b": "Pengatur Muda Tingkat I", "II/c": "Pengatur", "II/d": "Pengatur Tingkat I",
    "III/a": "Penata Muda", "III/b": "Penata Muda Tingkat I", "III/c": "Penata", "III/d": "Penata Tingkat I",
    "IV/a": "Pembina", "IV/b": "Pembina Tingkat I", "IV/c": "Pembina Utama Muda", "IV/d": "Pembina Utama Madya",
    "IV/e": "Pembina Utama",
}
ID_LABELS = {"nip": "NIP", "ni_pppk": "NI PPPK"}


def id_line(holder: dict) -> str:
    """``NIP 19850312 201001 1 002`` or ``NI PPPK 19900913 202524 2 014``: as printed."""
    return f"{ID_LABELS.get(holder.get('id_kind'), 'NIP')} {printed_nip(holder['nip'])}"


def holder_lines(holder: dict) -> tuple[str, str]:
    """The two lines under the holder's name: ``NIP 19850312 201001 1 002 · Pangkat/Golongan
    Penata (III/c)`` (the rank when the roster knows it) and ``Pranata Komputer Ahli Muda –
    Dinas Komunikasi dan Informatika`` (jabatan and unit, when known)."""
    first = id_line(holder)
    golongan = (holder.get("golongan") or "").strip()
    if golongan in PANGKAT:
        first += f" \u00b7 Pangkat/Golongan {PANGKAT[golongan]} ({golongan})"
    elif golongan:  # a PPPK's golongan (I-XVII) has no pangkat
        first += f" \u00b7 Golongan {golongan}"
    second = " \u2013 ".join(p for p in (holder.get("position"), holder.get("agency_name") or holder.get("agency"))
                              if p)
    return first, second


def join_id(names: list[str]) -> str:
    """``A``, ``A dan B``, ``A, B, dan C``: a list as a sentence says it."""
    if len(names) <= 2:
        return " dan ".join(names)
    return ", ".join(names[:-1]) + ", dan " + names[-1]


# -- signatories ---------------------------------------------------------------------------

def signatories_for(programme: dict, by_organiser: dict) -> list[dict]:
    """Who signs the certificate of ``programme``: the signatories configured for each of its
    organisers (``by_organiser``: code → signatories with ``role``, ``name``, ``nip``; ``*``
    for any organiser without its own), at most MAX_SIGNATORIES. Every organiser's first
    signatory comes before anyone's second; the page shows them in the programme's order.
    A signatory configured for several organisers signs once."""
    codes = programme.get("organisers") or [HOME_ORGANISER]
    ranked: list[tuple[int, int, str, object]] = []
    seen: set[tuple] = set()
    for index, code in enumerate(codes):
        for rank, signatory in enumerate(by_organiser.get(code) or by_organiser.get("*") or ()):
            key = (signatory.role, signatory.name, signatory.nip)
            if key not in seen:
                seen.add(key)
                ranked.append((rank, index, code, signatory))
    chosen = sorted(sorted(ranked, key=lambda r: (r[0], r[1]))[:MAX_SIGNATORIES], key=lambda r: (r[1], r[0]))
    return [{"organiser": code, "role": s.role, "name": s.name, "nip": s.nip} for _, _, code, s in chosen]


def verification_url(base_url: str, code: str) -> str:
    """The public page of a certificate (printed as the QR code, sent in ``certified``)."""
    return f"{base_url.rstrip('/')}/verify/{code}"


def pdf_filename(number: str) -> str:
    """``sertifikat-0042-BKN-BKT-SERT-PBJ-2026.pdf``: the number without its slashes."""
    return "sertifikat-" + re.sub(r"[^A-Za-z0-9]+", "-", number).strip("-") + ".pdf"


# -- issuing -------------------------------------------------------------------------------

def grants_certificate(completion: dict) -> bool:
    """Only a passed completion of a certifying programme earns a certificate."""
    return completion["result"] == "passed" and bool(completion["programme"].get("grants_certificate"))


def competency_line(programme: dict) -> str:
    """The competency line a certificate belongs to (recertification supersedes within it)."""
    return (programme.get("certification_line") or programme["code"]).strip().upper()


# A programme code often ends with its year and batch (``SERT-PKI-2026-01``, ``PBJ-2029-B``):
# a year segment and everything after it, or bare number segments (``BENCH-01``).
_YEAR_AND_AFTER = re.compile(r"[-_.](?:19|20)\d{2}(?:[-_.][A-Z0-9]+)*$")
_TRAILING_NUMBERS = re.compile(r"(?:[-_.]\d+)+$")
_PREFIX_BEFORE_LINE = re.compile(r"([A-Z0-9]+[-_.])$")


def number_line(programme: dict, number_format: str) -> str:
    """The ``{line}`` printed in a certificate number.

    The programme's ``certification_line`` when it has one. Otherwise its code without the
    trailing year and batch (the number prints the issue year already) and without a
    leading word the format already prints before ``{line}``: ``SERT-PKI-2026-01`` under
    ``.../SERT-{line}/{year}`` prints ``SERT-PKI``, not ``SERT-SERT-PKI-2026-01``. Purely
    cosmetic: uniqueness comes from the per-year sequence (ADR 0020), and recertification
    keeps using ``competency_line``.
    """
    if (programme.get("certification_line") or "").strip():
        return competency_line(programme)
    code = programme["code"].strip().upper()
    line = _TRAILING_NUMBERS.sub("", _YEAR_AND_AFTER.sub("", code))
    before = _PREFIX_BEFORE_LINE.search(number_format.split("{line", 1)[0].upper())
    if before and line.startswith(before.group(1)) and len(line) > len(before.group(1)):
        line = line[len(before.group(1)):]
    return line or code


def format_number(number_format: str, seq: int, year: int, line: str, issuer: str = "") -> str:
    """The printed certificate number, e.g. ``0042/BKN-BKT/SERT-PBJ/2026`` (``issuer``: see
    ``number_issuer``; a format without ``{issuer}`` prints its own fixed text)."""
    return number_format.format(seq=seq, year=year, line=line, issuer=issuer)


def valid_until(issued_on: date, validity_months: int | None) -> date | None:
    """The last day a periodic certification is valid; None: it does not expire."""
    if not validity_months:
        return None
    return add_months(issued_on, validity_months)


def new_verification_code() -> str:
    """A random, unguessable code of 90 bits in Crockford base32 (18 characters)."""
    value = secrets.randbits(CODE_BITS)
    return "".join(CROCKFORD[(value >> shift) & 31] for shift in range(CODE_BITS - 5, -1, -5))


def normalise_code(text: str) -> str | None:
    """A code as typed by a person (lower case, dashes, spaces, O for 0) in canonical form;
    None when it cannot be a code at all."""
    cleaned = re.sub(r"[\s\-]", "", text or "").upper().translate(_CODE_ALIASES)
    if len(cleaned) != CODE_LENGTH or any(c not in CROCKFORD for c in cleaned):
        return None
    return cleaned


def display_code(code: str) -> str:
    """Grouped for reading: ``K7Q2-M9XW-4RTD-8HVB-3N``."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def is_newer(a: dict, b: dict) -> bool:
    """Whether certificate ``a`` was earned after ``b`` (by completion time, then issue order)."""
    return (a["completed_at"], a["issued_at"]) > (b["completed_at"], b["issued_at"])


# -- batched numbering (ADR 0025) ----------------------------------------------------------

def numbering_order(pending: dict) -> tuple:
    """The order pending issues are numbered in: completion time, then enrolment id, so a
    batch numbers the same way whichever replica takes it."""
    return (pending["completed_at"], pending["_id"])


def year_counts(years: list[int]) -> dict[int, int]:
    """How far each year's counter moves for a batch whose certificates fall in ``years``."""
    counts: dict[int, int] = {}
    for year in years:
        counts[year] = counts.get(year, 0) + 1
    return counts


def assign_sequences(years: list[int], ends: dict[int, int]) -> list[int]:
    """Consecutive numbers for a batch, in its order: ``years`` are the certificates' years
    and ``ends[year]`` is that year's counter after it was incremented by the batch's count,
    so the year's certificates take ``end - count + 1 .. end``."""
    counts = year_counts(years)
    following = {year: ends[year] - count + 1 for year, count in counts.items()}
    sequences = []
    for year in years:
        sequences.append(following[year])
        following[year] += 1
    return sequences


def next_batch_size(limit: int, issued: int | None, most: int) -> int:
    """The size of the numbering batch after one of ``limit`` that issued ``issued``
    certificates (None: it failed). A big batch is one long transaction: after a replica was
    killed inside one, or under a loaded store, it kept losing write conflicts (the
    2,000-completion scale proof with three replicas stalled at 851 certificates with 200 per
    batch). Smaller ones get through; they grow back, up to ``most``, after full ones."""
    if issued is None:
        return max(1, limit // 2)
    if issued >= limit:
        return min(most, limit * 2)
    return limit


def number_ranges(certificates: list[dict]) -> str:
    """``2026: 41-240`` for the log line of a batch."""
    by_year: dict[int, list[int]] = {}
    for c in certificates:
        by_year.setdefault(c["year"], []).append(c["seq"])
    return ", ".join(f"{year}: {min(seqs)}-{max(seqs)}" for year, seqs in sorted(by_year.items()))


def _latest(certificates: list[dict]) -> dict:
    return max(certificates, key=lambda c: (c["completed_at"], c["issued_at"]))


def supersede_in_order(stored: list[dict], batch: list[dict], now: datetime) -> dict[str, list[str]]:
    """Recertification for a batch, as if its certificates were issued one after the other.

    ``stored``: certificates already in the store of the batch's holders (any line, any
    state); ``batch``: the new certificates in numbering order, updated in place
    (``supersedes``, ``superseded_by``, ``superseded_at``). The newest certificate of a
    holder's competency line supersedes the others; completions may arrive out of order, so
    a new certificate may itself be the older one. Returns, per new certificate id, the
    stored certificates it supersedes (to update in the store).
    """
    live: dict[tuple[str, str], list[dict]] = {}
    for certificate in stored:
        if not certificate.get("revoked") and not certificate.get("superseded_by"):
            live.setdefault((certificate["holder"]["nip"], certificate["line"]), []).append(certificate)
    stored_ids = {c["_id"] for c in stored}
    updates: dict[str, list[str]] = {}
    for certificate in batch:
        key = (certificate["holder"]["nip"], certificate["line"])
        current = live.get(key, [])
        newer = [c for c in current if is_newer(c, certificate)]
        older = [c for c in current if not is_newer(c, certificate)]
        if newer:
            certificate["superseded_by"] = _latest(newer)["_id"]
            certificate["superseded_at"] = now
        if older:
            certificate["supersedes"] = _latest(older)["_id"]
            for previous in older:
                previous["superseded_by"], previous["superseded_at"] = certificate["_id"], now
                if previous["_id"] in stored_ids:
                    updates.setdefault(certificate["_id"], []).append(previous["_id"])
        live[key] = newer or [certificate]
    return updates


# -- status --------------------------------------------------------------------------------

def is_expired(certificate: dict, today: date) -> bool:
    """Valid through ``valid_until`` inclusive (a WIB day)."""
    until = certificate.get("valid_until")
    return until is not None and today > date.fromisoformat(until)


def status_of(certificate: dict, today: date) -> str:
    if certificate.get("revoked"):
        return REVOKED
    if certificate.get("superseded_by"):
        return SUPERSEDED
    if is_expired(certificate, today):
        return EXPIRED
    return VALID


def expiring_due(certificate: dict, today: date, notice_days: int) -> bool:
    """Within the notice period before valid_until and not expired yet."""
    until = certificate.get("valid_until")
    if until is None or certificate.get("revoked") or certificate.get("superseded_by"):
        return False
    days_left = (date.fromisoformat(until) - today).days
    return 0 <= days_left <= notice_days


def expired_due(certificate: dict, today: date) -> bool:
    if certificate.get("revoked") or certificate.get("superseded_by"):
        return False
    return is_expired(certificate, today)


def days_left(certificate: dict, today: date) -> int:
    return (date.fromisoformat(certificate["valid_until"]) - today).days


def verification_view(certificate: dict | None, successor: dict | None, today: date,
                      verify_url) -> dict:
    """What a public verifier may see: status, name, programme, JP, dates. No NIP, no contact
    data, no internal ids. ``verify_url(code)`` builds the link to another certificate."""
    if certificate is None:
        return {"status": UNKNOWN, "status_label": STATUS_LABELS_ID[UNKNOWN]}
    status = status_of(certificate, today)
    programme = certificate["programme"]
    view = {
        "status": status,
        "status_label": STATUS_LABELS_ID[status],
        "number": certificate["number"],
        "holder_name": certificate["holder"]["name"],
        "programme_title": programme["title"],
        "programme_kind": programme["kind"],
        "competency_type": programme["competency_type"],
        "organisers": organiser_names(programme),
        "role": role_of(certificate),
        "role_label": ROLE_LABELS_ID.get(role_of(certificate), ROLE_LABELS_ID[PESERTA]),
        "jp": certificate["jp"],
        "issued_on": certificate["issued_on"],
        "valid_until": certificate.get("valid_until"),
        "revoked_on": None,
        "revocation_reason": None,
        "superseded_by": None,
    }
    if certificate.get("revoked"):
        view["revoked_on"] = wib_date(certificate["revoked"]["at"]).isoformat()
        view["revocation_reason"] = certificate["revoked"]["reason"]
    if status == SUPERSEDED and successor is not None:
        view["superseded_by"] = {"number": successor["number"],
                                 "issued_on": successor["issued_on"],
                                 "verification_url": verify_url(successor["verification_code"])}
    return view
