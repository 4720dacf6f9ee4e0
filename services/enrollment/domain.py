"""Business rules of enrolment: plain functions on plain dicts, no nameko, no pymongo, no I/O.

Documents are the dicts stored in the ``programmes``, ``participants`` and ``enrolments``
collections (see store.py); the commands load them, ask these rules, and write.
"""
from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from babel.dates import format_date

from shared import nip as nip_rules
from shared.auth import Principal
from shared.errors import Conflict, Forbidden, Invalid
from shared.events.common import LEFT_STATUSES, PARTICIPATION_ROLES, PROGRAMME_KINDS
from shared.reference import agencies
from shared.timefmt import LOCALE, parse_time, stamp_id, wib_date

# Programme lifecycle: draft -> published -> cancelled (a draft may be cancelled too).
DRAFT, PUBLISHED, CANCELLED = "draft", "published", "cancelled"
PROGRAMME_STATUSES = (DRAFT, PUBLISHED, CANCELLED)

# Enrolment lifecycle: waitlisted -> enrolled -> completed; enrolled/waitlisted -> cancelled.
# A self-enrolment in a programme requiring the supervisor's approval starts awaiting_approval
# (holding a seat or a waitlist place), then enrolled/waitlisted when approved, or cancelled
# when declined, lapsed or withdrawn (ADR 0092).
ENROLLED, WAITLISTED, COMPLETED, ENROLMENT_CANCELLED = "enrolled", "waitlisted", "completed", "cancelled"
AWAITING = "awaiting_approval"
ENROLMENT_STATUSES = (ENROLLED, WAITLISTED, COMPLETED, ENROLMENT_CANCELLED, AWAITING)
ACTIVE = (ENROLLED, WAITLISTED, AWAITING)

# Kinds where being there is the achievement: attendance alone passes (no exam).
ATTENDANCE_KINDS = ("seminar", "lokakarya")
SPEAKER_KINDS = ("seminar", "lokakarya")
# Scheduled kinds run on their dates: completions once the programme has ended (attendance during
# it), automatic waitlist promotion until it starts; self-paced kinds complete each participant
# when they finish and promote while they run (issue 24's programme rules, ADR 0012).
SCHEDULED_KINDS = ("pelatihan", "sertifikasi", "seminar", "lokakarya")
SELF_PACED_KINDS = ("e-learning", "coaching", "mentoring")
CANCELLED_BY = ("participant", "operator")

# What a command did with a request (API answers and bulk rows carry it as ``outcome``).
CREATED, REACTIVATED, UNCHANGED, COMPLETED_NOW = "created", "reactivated", "unchanged", "completed"
# The note on an ``unchanged`` result whose enrolment stays cancelled (a bulk row, ADR 0011).
CANCELLED_EARLIER = "cancelled_earlier"


@dataclass(frozen=True)
class Actor:
    """Who issues a command, recorded with it: the authenticated caller of the HTTP API
    (admin, operator of one agency, asn), or ``system`` for scheduled work (the cascade of a
    programme cancellation), which never passes an access check."""

    role: str = "system"  # admin, operator, asn or system
    agency: str | None = None
    nip: str | None = None
    subject: str | None = None

    @classmethod
    def system(cls) -> "Actor":
        return cls()

    def may_access(self, nip: str | None, agency: str | None) -> bool:
        """Whether the actor may act on ASN ``nip`` of ``agency`` (see ``check_access``)."""
        return self.role == "admin" or Principal(subject=self.subject or "", role=self.role, agency=self.agency,
                                                 nip=self.nip).may_access(nip=nip, agency=agency)

    def check_access(self, nip: str | None, agency: str | None, what: str = "this enrolment") -> None:
        """Forbidden unless the actor may act on ASN ``nip`` of ``agency`` (an admin: anyone;
        an operator: its own agency's staff; an ASN: themself). Any other role is refused."""
        if self.role == "admin":
            return
        Principal(subject=self.subject or "", role=self.role, agency=self.agency, nip=self.nip).require_scope(
            nip=nip, agency=agency, what=what)

    def as_dict(self) -> dict:
        return {"role": self.role, "agency": self.agency, "nip": self.nip, "subject": self.subject}


def list_scope(filters: dict, actor: Actor) -> dict:
    """The filters of an enrolment list as ``actor`` may see it: an operator lists its own agency
    only, an ASN themself only; asking for others is 403."""
    if actor.role == "operator":
        if filters.get("agency") and filters["agency"].upper() != actor.agency:
            actor.check_access(None, filters["agency"].upper(), what="that agency's list")
        return {**filters, "agency": actor.agency}
    if actor.role == "asn":
        if filters.get("nip") and filters["nip"] != actor.nip:
            actor.check_access(filters["nip"], None, what="that list")
        return {**filters, "nip": actor.nip}
    return filters


def iso(value: datetime | None) -> str | None:
    """RFC 3339 UTC with ``Z`` and always milliseconds (the store's precision), as enrollment's
    events and API have carried times since v1.

    Not ``shared.timefmt.iso``: that one prints microseconds, or no fraction at all, so an
    event's ``enrolled_at`` (from the clock) and the stored one read back through the API would
    differ in text. To go once the shared formatter prints milliseconds."""
    if value is None:
        return None
    return parse_time(value).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- JP (jam pelajaran) derived from a duration ---------------------------------------------

@dataclass(frozen=True)
class JpRules:
    """Conversion rules from a duration to JP: configuration data (jp_rules.yaml, read by
    config.py), not constants in code."""

    minutes_per_jp: int
    jp_per_day: dict[str, float] = field(default_factory=dict)

    def per_day(self, kind: str) -> float:
        return self.jp_per_day.get(kind, self.jp_per_day["default"])

    def derive(self, kind: str, duration_minutes: int | None = None, duration_days: float | None = None) -> int:
        """JP for a programme of ``kind`` lasting the given minutes or days.

        Partial JP are not credited (rounded down), as a 30-minute session is not a JP.
        """
        if duration_minutes is not None:
            return duration_minutes // self.minutes_per_jp
        if duration_days is not None:
            return math.floor(duration_days * self.per_day(kind) + 1e-9)
        raise Invalid("give jp, or a duration (duration_minutes or duration_days) to derive it from",
                      field="jp")


def parse_rules(raw: dict) -> JpRules:
    """Check a rules document and build the rules (ValueError saying what is wrong)."""
    if not isinstance(raw, dict):
        raise ValueError("JP rules must be a mapping")
    minutes = raw.get("minutes_per_jp")
    if not isinstance(minutes, int) or minutes <= 0:
        raise ValueError("JP rules: minutes_per_jp must be a positive integer")
    per_day = raw.get("jp_per_day") or {}
    if not isinstance(per_day, dict) or "default" not in per_day:
        raise ValueError("JP rules: jp_per_day must be a mapping with a 'default' entry")
    for kind, value in per_day.items():
        if kind != "default" and kind not in PROGRAMME_KINDS:
            raise ValueError(f"JP rules: unknown programme kind {kind!r} in jp_per_day")
        if not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"JP rules: jp_per_day.{kind} must be a positive number")
    return JpRules(minutes_per_jp=minutes, jp_per_day={k: float(v) for k, v in per_day.items()})


# -- programmes ---------------------------------------------------------------------------

# The fields a client defines; the rest (status, counters, timestamps) the service keeps.
DEFINITION = ("title", "description", "kind", "competency_type", "jp", "duration_minutes", "duration_days",
              "organisers", "speakers", "starts_at", "ends_at", "location", "enrolment_opens_at",
              "enrolment_closes_at", "capacity", "passing_score", "grants_certificate",
              "certificate_validity_months", "certification_line", "requires_supervisor_approval")
DEFINITION_DEFAULTS = {"description": None, "jp": None, "duration_minutes": None, "duration_days": None,
                       "speakers": [], "location": None, "passing_score": None, "grants_certificate": None,
                       "certificate_validity_months": None, "certification_line": None,
                       "requires_supervisor_approval": False}


def programme_code(code: str) -> str:
    """One programme per code, whatever the case typed."""
    return code.strip().upper()


def complete_definition(fields: dict, rules: JpRules) -> dict:
    """Defaults, JP from the duration when not given, certificates for certifications."""
    p = {**DEFINITION_DEFAULTS, **fields}
    if p["jp"] is None:
        p["jp"] = rules.derive(p["kind"], p["duration_minutes"], p["duration_days"])
        p["jp_source"] = "derived"
    else:
        p["jp_source"] = "given"
    if p["grants_certificate"] is None:
        p["grants_certificate"] = p["kind"] == "sertifikasi"
    return p


def same_value(a, b) -> bool:
    if isinstance(a, datetime) and isinstance(b, datetime):  # the store keeps milliseconds
        return iso(a) == iso(b)
    return a == b


def new_programme(data: dict, rules: JpRules, now: datetime, actor: Actor) -> dict:
    """The draft programme a create request describes (``data``: the loaded request)."""
    definition = complete_definition({k: v for k, v in data.items() if k != "code"}, rules)
    check_programme(definition)
    return {"_id": data["code"], **definition, "status": DRAFT, "seats_taken": 0, "waitlisted": 0, "arrivals": 0,
            "cascade_pending": False, "version": 1, "revision": 1, "created_at": now, "updated_at": now,
            "published_at": None, "cancelled_at": None, "cancel_reason": None,
            "created_by": actor.as_dict()}


def same_definition(existing: dict, programme: dict) -> bool:
    """Whether a create request repeats ``existing`` (a retry) rather than claiming its code."""
    # a field added since (requires_supervisor_approval) is compared by its default
    return all(same_value(existing.get(k, DEFINITION_DEFAULTS.get(k)), programme.get(k)) for k in DEFINITION)


def revision(current: dict, changes: dict, rules: JpRules) -> dict:
    """The fields of ``current`` that ``changes`` (a PATCH) alters, checked as a whole.

    A JP derived before is derived again when the duration or kind changes; a capacity below
    the seats already taken is refused; a cancelled programme no longer changes.
    """
    if current["status"] == CANCELLED:
        raise Conflict(f"programme {current['_id']} is cancelled and can no longer change", field="status")
    merged = {k: current.get(k, DEFINITION_DEFAULTS.get(k)) for k in DEFINITION}
    merged.update(changes)
    if "jp" not in changes and ({"duration_minutes", "duration_days", "kind"} & changes.keys()) \
            and current.get("jp_source") == "derived":
        merged["jp"] = None  # derived before: derive again from the new duration or kind
    updated = complete_definition(merged, rules)
    check_programme(updated)
    if current["status"] == PUBLISHED:
        check_publishable(updated)
    if updated["capacity"] < current["seats_taken"]:
        raise Invalid(f"capacity {updated['capacity']} is below the {current['seats_taken']} seats "
                      f"already taken", field="capacity", seats_taken=current["seats_taken"])
    return {k: v for k, v in updated.items() if not same_value(current.get(k, DEFINITION_DEFAULTS.get(k)), v)}


def check_programme(p: dict) -> None:
    """Rules across fields of a programme (the schema checks each field alone)."""
    if p.get("duration_minutes") is not None and p.get("duration_days") is not None:
        raise Invalid("give duration_minutes or duration_days, not both", field="duration_days")
    if p["starts_at"] >= p["ends_at"]:
        raise Invalid("ends_at must be after starts_at", field="ends_at")
    if p["enrolment_opens_at"] >= p["enrolment_closes_at"]:
        raise Invalid("enrolment_closes_at must be after enrolment_opens_at", field="enrolment_closes_at")
    if p["enrolment_closes_at"] > p["ends_at"]:
        raise Invalid("enrolment must close by the end of the programme (ends_at)", field="enrolment_closes_at")
    if len(set(p["organisers"])) != len(p["organisers"]):
        raise Invalid("organisers are listed twice", field="organisers")
    if p["speakers"] and p["kind"] not in SPEAKER_KINDS:
        raise Invalid(f"speakers (narasumber) belong to {' and '.join(SPEAKER_KINDS)} programmes, "
                      f"not {p['kind']}", field="speakers")
    if p["certificate_validity_months"] is not None and not p["grants_certificate"]:
        raise Invalid("certificate_validity_months needs grants_certificate", field="certificate_validity_months")
    if p["certification_line"] is not None and not p["grants_certificate"]:
        raise Invalid("certification_line needs grants_certificate", field="certification_line")


def check_publishable(p: dict) -> None:
    """What a programme must have before ASN can enrol in it."""
    if p["kind"] in SPEAKER_KINDS and not p["speakers"]:
        raise Invalid(f"a {p['kind']} lists its speakers (narasumber) before it is published", field="speakers")
    if p["kind"] == "sertifikasi" and p["passing_score"] is None:
        raise Invalid("a sertifikasi programme needs a passing_score before it is published",
                      field="passing_score")


def check_can_publish(p: dict, now: datetime) -> None:
    """A draft may open for enrolment: not cancelled, complete, and its window not yet closed."""
    if p["status"] == CANCELLED:
        raise Conflict(f"programme {p['_id']} is cancelled and cannot be published", field="status")
    check_publishable(p)
    if parse_time(p["enrolment_closes_at"]) <= now:
        raise Invalid(f"enrolment would already be closed ({iso(p['enrolment_closes_at'])}); "
                      f"move enrolment_closes_at first", field="enrolment_closes_at")


def window_open(p: dict, now: datetime) -> bool:
    return parse_time(p["enrolment_opens_at"]) <= now <= parse_time(p["enrolment_closes_at"])


def check_can_enrol(p: dict, now: datetime) -> None:
    if p["status"] != PUBLISHED:
        raise Conflict(f"programme {p['_id']} is {p['status']}, not open for enrolment", field="programme")
    if now < parse_time(p["enrolment_opens_at"]):
        raise Conflict(f"enrolment in {p['_id']} opens at {iso(p['enrolment_opens_at'])}",
                       field="programme", opens_at=iso(p["enrolment_opens_at"]))
    if now > parse_time(p["enrolment_closes_at"]):
        raise Conflict(f"enrolment in {p['_id']} closed at {iso(p['enrolment_closes_at'])}",
                       field="programme", closed_at=iso(p["enrolment_closes_at"]))


def enrolment_open(p: dict, now: datetime) -> bool:
    """Whether ASN can enrol right now (the ``enrolment_open`` of a programme's answer)."""
    return p["status"] == PUBLISHED and window_open(p, now)


def self_paced(p: dict) -> bool:
    return p["kind"] in SELF_PACED_KINDS


def promotes_waitlist(p: dict, now: datetime) -> bool:
    """Whether a freed seat goes to the waitlist by itself (ADR 0012).

    A scheduled programme (pelatihan, sertifikasi, seminar, lokakarya) promotes until it starts:
    someone moved in after the first session has missed part of it and may not be free on the
    remaining days, so once it has started an operator decides (POST /enrolments/<id>/promote).
    A self-paced programme (e-learning, coaching, mentoring) has no first session to miss and
    runs for weeks or months: each participant learns at their own pace, so a seat freed while it
    runs still goes to the next on the waitlist, until it ends."""
    if p["status"] != PUBLISHED:
        return False
    until = p["ends_at"] if self_paced(p) else p["starts_at"]
    return now < parse_time(until)


# What a cancellation's answer says when it frees a seat that nobody takes automatically.
NOT_PROMOTED_STARTED = ("Program sudah dimulai: kursi yang kosong tidak otomatis diberikan kepada daftar tunggu; "
                        "operator dapat menaikkan peserta daftar tunggu secara manual")
NOT_PROMOTED_ENDED = "Program sudah berakhir: daftar tunggu tidak dinaikkan lagi"


def waitlist_note(p: dict, now: datetime) -> str | None:
    """Why a freed seat of ``p`` stays free at ``now`` (None when the waitlist moves up by itself)."""
    if p["status"] != PUBLISHED or promotes_waitlist(p, now):
        return None
    return NOT_PROMOTED_ENDED if now >= parse_time(p["ends_at"]) else NOT_PROMOTED_STARTED


def programme_snapshot(p: dict) -> dict:
    """The programme as every event carries it (shared/events/common.py ProgrammeSnapshot)."""
    return {
        "code": p["_id"], "title": p["title"], "kind": p["kind"], "competency_type": p["competency_type"],
        "jp": p["jp"], "organisers": list(p["organisers"]), "speakers": list(p["speakers"]),
        "starts_at": iso(p["starts_at"]), "ends_at": iso(p["ends_at"]), "location": p.get("location"),
        "grants_certificate": p["grants_certificate"],
        "certificate_validity_months": p.get("certificate_validity_months"),
        "certification_line": p.get("certification_line"),
        "requires_supervisor_approval": bool(p.get("requires_supervisor_approval")),
    }


def programme_state_event(p: dict) -> dict:
    """Data of programme_published / programme_updated: the full state consumers keep."""
    return {"programme": programme_snapshot(p), "capacity": p["capacity"],
            "enrolment_opens_at": iso(p["enrolment_opens_at"]),
            "enrolment_closes_at": iso(p["enrolment_closes_at"]), "passing_score": p.get("passing_score")}


# -- participants -------------------------------------------------------------------------

def resolve_participant(given: dict, known: dict | None, today: date | None = None) -> dict:
    """The participant record for an enrolment request.

    ``given``: nip, optional id_kind (``nip``/``ni_pppk``; told apart when absent), name,
    agency (OPD code), position. ``known``: the stored participant, whose details fill what
    the request leaves out (enrol a known ASN by NIP alone); what the request gives wins.
    """
    identifier = nip_rules.digits_only(given.get("nip") or "")  # the printed form has spaces
    parsed = nip_rules.validate(identifier, given.get("id_kind") or "auto", field="nip", today=today)
    known = known or {}
    name = (given.get("name") or "").strip() or known.get("name")
    if not name:
        raise Invalid("name is required for an ASN not enrolled before", field="name")
    agency = (given.get("agency") or "").strip().upper() or known.get("agency")
    if not agency:
        raise Invalid("agency (OPD code) is required for an ASN not enrolled before", field="agency")
    opd = agencies().get(agency)
    if opd is None:
        raise Invalid(f"agency {agency!r} is not an OPD of Kota Bukittinggi", field="agency")
    position = (given.get("position") or "").strip() or known.get("position")
    return {"_id": parsed.identifier, "id_kind": parsed.kind, "name": name, "agency": opd.code,
            "agency_name": opd.name, "position": position,
            "birth_date": parsed.birth_date.isoformat(), "gender": parsed.gender}


# Whether an ASN not on the roster, or not aktif on it, may be enrolled (ENROLLMENT_UNLISTED):
# BKN and central-government offices in the city (Kantor Imigrasi, BPS, ...) send staff to the
# city's programmes, and they are on no OPD's roster.
ACCEPT, REFUSE = "accept", "refuse"
UNLISTED_POLICIES = {"terima": ACCEPT, "accept": ACCEPT, "tolak": REFUSE, "refuse": REFUSE}


def parse_unlisted_policy(text: str) -> str:
    """``terima``/``accept`` or ``tolak``/``refuse`` (ValueError otherwise, for shared.config.setting)."""
    value = (text or "").strip().lower()
    if value not in UNLISTED_POLICIES:
        raise ValueError(f"must be one of {', '.join(UNLISTED_POLICIES)}")
    return UNLISTED_POLICIES[value]


# One answer for "not on the roster", "not aktif on it" and "on another agency's roster": an
# operator must not learn from the refusal who works elsewhere (issue 17).
NOT_ON_ROSTER = ("ASN ini tidak ada di daftar ASN aktif OPD {agency}: operator hanya dapat mendaftarkan ASN aktif "
                 "OPD-nya sendiri; daftar ASN diperbarui lewat menu Unggah (impor daftar ASN) di portal atau oleh "
                 "admin BKPSDM")
SELF_ONLY = "seorang ASN hanya dapat mendaftarkan dirinya sendiri (NIP-nya sendiri)"
SELF_NOT_ON_ROSTER = ("Anda tidak tercatat aktif di daftar ASN, sehingga belum dapat mendaftar sendiri; hubungi "
                      "operator OPD Anda")
UNLISTED_REFUSED = ("ASN ini tidak ada (atau tidak aktif) di daftar ASN, dan pendaftaran ASN di luar daftar ASN "
                    "ditolak (ENROLLMENT_UNLISTED=tolak); tambahkan dulu ke daftar ASN")


def participant_for(actor: Actor, given: dict, entry: dict | None, known: dict | None,
                    today: date | None = None, unlisted: str = ACCEPT) -> dict:
    """The participant record ``actor``'s enrolment request stands for, or why it may not enrol them.

    The roster (``entry``, the ASN's roster document) is the source of an ASN's name, agency,
    jabatan and golongan (issue 19): what a request sends for the name and jabatan of a
    rostered ASN is ignored, an agency that contradicts the roster is refused (an operator
    403, an admin 409: an ASN moves through a roster import). An operator enrols only ASN
    aktif on its own agency's roster. An ASN not on the roster, or not aktif on it, is enrolled
    by an admin when ``unlisted`` is ACCEPT, from the request's data (``known``: the
    participant stored by an earlier enrolment fills what it leaves out), and marked
    ``listed=False``; operators never enrol them.
    """
    check_participant_text(given)
    if actor.role not in ("admin", "operator", "asn"):
        raise Forbidden(f"role {actor.role} may not enrol ASN", field="role")
    # A malformed NIP is refused alike whatever is stored, so this reveals nothing.
    parsed = nip_rules.validate(nip_rules.digits_only(given.get("nip") or ""), given.get("id_kind") or "auto",
                                field="nip", today=today)
    listed = entry is not None and entry.get("status") == ROSTER_ACTIVE
    claimed = (given.get("agency") or "").strip().upper()
    if actor.role == "asn":  # self-enrolment (issue 20): themself only, as the roster knows them
        if parsed.identifier != actor.nip:
            raise Forbidden(SELF_ONLY, field="nip")
        if not listed:
            raise Forbidden(SELF_NOT_ON_ROSTER, field="nip")
        if claimed and claimed != entry["agency"]:
            raise Forbidden(f"OPD seorang ASN diambil dari daftar ASN ({entry['agency']}), bukan {claimed}",
                            field="agency")
        return participant_from_roster(entry, parsed)
    if actor.role == "operator":
        if not listed or entry.get("agency") != actor.agency:
            raise Forbidden(NOT_ON_ROSTER.format(agency=actor.agency), field="nip")
        if claimed and claimed != entry["agency"]:
            raise Forbidden(f"operator tidak dapat memindahkan ASN ke OPD lain ({claimed}); OPD seorang ASN "
                            f"diambil dari daftar ASN", field="agency")
        return participant_from_roster(entry, parsed)
    if listed:
        if claimed and claimed != entry["agency"]:
            raise Conflict(f"daftar ASN mencatat ASN ini di OPD {entry['agency']}, bukan {claimed}: OPD seorang ASN "
                           f"diambil dari daftar ASN (pindahkan lewat impor daftar ASN)", field="agency",
                           roster_agency=entry["agency"])
        return participant_from_roster(entry, parsed)
    if unlisted == REFUSE:
        raise Invalid(UNLISTED_REFUSED, field="nip")
    fallback = {**(participant_from_roster(entry, parsed) if entry else {}), **(known or {})}
    person = resolve_participant(given, fallback or None, today)
    return {**person, "golongan": None, "jenis_asn": jenis_of_id_kind(person["id_kind"]), "listed": False}


def participant_from_roster(entry: dict, parsed: nip_rules.ParsedIdentifier) -> dict:
    """The participant record of an ASN as the roster knows them (``listed``)."""
    opd = agencies().get(entry["agency"])
    return {"_id": entry["_id"], "id_kind": entry["id_kind"], "name": entry["name"], "agency": entry["agency"],
            "agency_name": entry.get("agency_name") or (opd.name if opd else None),
            "position": entry.get("position"), "golongan": entry.get("golongan"), "jenis_asn": entry["jenis_asn"],
            "listed": True, "birth_date": parsed.birth_date.isoformat(), "gender": parsed.gender}


def jenis_of_id_kind(id_kind: str) -> str:
    """PPPK for an NI PPPK, PNS for a NIP (a CPNS counts as PNS)."""
    return "PPPK" if id_kind == "ni_pppk" else "PNS"


# -- free text that ends up in exports ----------------------------------------------------

NAME_MAX, TEXT_MAX = 200, 200
# A cell beginning with one of these is run as a formula by Excel/LibreOffice when an
# export is opened (CSV/formula injection, OWASP); tab and CR hide such a start.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A person's name: letters (any script), then letters, digits, spaces and the marks of
# names and academic titles: "Dr. Siti Aminah, S.Kom., M.T.", "Nur'aini", "Siti Nur-Halimah".
_NAME = re.compile(r"[^\W\d_](?:[^\W_]|[ .,'\u2019-])*")


_TEXT_PROBLEMS = {
    "en": {"tab": "a tab", "cr": "a carriage return",
           "formula": "must not begin with {shown}: a spreadsheet opening an export would run the value as a formula",
           "control": "must not contain control characters (line breaks, tabs)",
           "length": "is longer than {max_length} characters",
           "name": "must begin with a letter and contain only letters, digits, spaces and . , ' -"},
    # what an operator reads in the per-row results of a roster upload
    "id": {"tab": "tab", "cr": "carriage return",
           "formula": "tidak boleh diawali {shown}: spreadsheet yang membuka ekspor akan menjalankannya sebagai rumus",
           "control": "tidak boleh berisi karakter kendali (baris baru, tab)",
           "length": "lebih dari {max_length} karakter",
           "name": "harus diawali huruf dan hanya berisi huruf, angka, spasi, serta . , ' -"},
}


def text_problem(value: str, max_length: int | None = TEXT_MAX, person_name: bool = False,
                 lang: str = "en") -> str | None:
    """Why ``value`` may not be stored as free text (None when it may): a spreadsheet formula
    start, a control character, a length over ``max_length`` (None: the caller checks it),
    or (``person_name``) a character no name has. ``lang``: ``en`` (the API) or ``id``
    (Bahasa Indonesia, the roster upload's row reasons)."""
    words = _TEXT_PROBLEMS[lang]
    for candidate in (value, value.strip()):
        if candidate.startswith(FORMULA_START):
            shown = {"\t": words["tab"], "\r": words["cr"]}.get(candidate[0], repr(candidate[0]))
            return words["formula"].format(shown=shown)
    if any(unicodedata.category(c) == "Cc" for c in value):
        return words["control"]
    if max_length is not None and len(value) > max_length:
        return words["length"].format(max_length=max_length)
    if person_name and value.strip() and _NAME.fullmatch(value.strip()) is None:
        return words["name"]
    return None


def check_text(value: str | None, field: str, max_length: int = TEXT_MAX, person_name: bool = False) -> None:
    """Invalid (422, naming ``field``) when ``value`` may not be stored (see text_problem)."""
    if value is None:
        return
    problem = text_problem(value, max_length, person_name)
    if problem:
        raise Invalid(f"{field} {problem}", field=field)


def check_participant_text(given: dict) -> None:
    """The free text of a participant as an API body or a CSV row gives it (a CSV row skips
    the schema, so the rules live here)."""
    check_text(given.get("name"), "name", NAME_MAX, person_name=True)
    check_text(given.get("position"), "position", TEXT_MAX)


def participant_snapshot(participant: dict) -> dict:
    return {"nip": participant["_id"] if "_id" in participant else participant["nip"],
            "id_kind": participant["id_kind"], "name": participant["name"], "agency": participant["agency"],
            "agency_name": participant.get("agency_name"), "position": participant.get("position"),
            "golongan": participant.get("golongan"), "jenis_asn": participant.get("jenis_asn"),
            "listed": participant.get("listed")}


PARTICIPANT_FIELDS = ("id_kind", "name", "agency", "agency_name", "position", "golongan", "jenis_asn", "listed")


def participant_changed(stored: dict | None, resolved: dict) -> bool:
    if stored is None:
        return True
    return any(stored.get(k) != resolved.get(k) for k in PARTICIPANT_FIELDS)


# -- enrolment ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Seat:
    status: str  # enrolled or waitlisted
    position: int | None  # waitlist position at arrival


def allocate_seat(capacity: int, seats_taken: int, waitlisted: int) -> Seat:
    """A seat while there is one, else the end of the waitlist (arrival order)."""
    if seats_taken < capacity:
        return Seat(ENROLLED, None)
    return Seat(WAITLISTED, waitlisted + 1)


def cancelled_by(actor: Actor) -> str:
    """``participant`` when the ASN cancels their own enrolment, else ``operator`` (staff):
    taken from the authenticated caller, never from what a request body claims."""
    return "participant" if actor.role == "asn" else "operator"


def default_cancel_reason(by: str) -> str:
    # The reason reaches the participant: Bahasa Indonesia.
    return "Dibatalkan oleh peserta" if by == "participant" else "Dibatalkan oleh operator"


def held_counter(enrolment: dict) -> str | None:
    """The programme counter an active enrolment counts in: an enrolled one or an awaiting request
    holding a seat in ``seats_taken``, a waitlisted one or a request holding a waitlist place in
    ``waitlisted``; a narasumber in neither (they take no seat)."""
    if role_of(enrolment) == NARASUMBER:
        return None
    if enrolment["status"] == ENROLLED or (enrolment["status"] == AWAITING and enrolment.get("holds") == "seat"):
        return "seats_taken"
    return "waitlisted"


# -- participation role: peserta or narasumber (issue 24) ---------------------------------------
#
# A narasumber (speaker) of a seminar or lokakarya is enrolled by staff (an operator of their OPD,
# or an admin), never by themself: they take no seat, are never waitlisted, need no supervisor's
# approval, and complete like a participant (same result rules, same JP). Enrolments written
# before roles existed have no ``role``: they are peserta.

PESERTA, NARASUMBER = PARTICIPATION_ROLES
_ROLE_WORDS = {"peserta": PESERTA, "participant": PESERTA, "narasumber": NARASUMBER, "speaker": NARASUMBER,
               "pembicara": NARASUMBER}


def role_of(enrolment: dict) -> str:
    return enrolment.get("role") or PESERTA


def parse_role(text: str | None) -> str:
    """The ``peran``/``role`` cell of an enrolment file: peserta (also blank) or narasumber."""
    value = (text or "").strip().lower()
    if not value:
        return PESERTA
    if value not in _ROLE_WORDS:
        raise Invalid(f"peran {text!r} tidak dikenal: peserta atau narasumber", field="role")
    return _ROLE_WORDS[value]


def check_role(actor: Actor, p: dict, role: str) -> None:
    """Whether ``actor`` may enrol someone as ``role`` in ``p``: an ASN enrols themself as peserta
    only (403); a narasumber belongs to a seminar or lokakarya (422)."""
    if role == PESERTA:
        return
    if actor.role not in ("admin", "operator"):
        raise Forbidden("seorang ASN hanya dapat mendaftarkan dirinya sebagai peserta; narasumber didaftarkan oleh "
                        "operator OPD atau admin", field="role")
    if p["kind"] not in SPEAKER_KINDS:
        raise Invalid(f"narasumber hanya untuk program {' dan '.join(SPEAKER_KINDS)}, bukan {p['kind']}",
                      field="role", kind=p["kind"])


def role_conflict(enrolment: dict, role: str) -> Conflict | None:
    """The refusal of enrolling, as ``role``, an ASN whose active enrolment has the other role
    (cancel it first); None when the roles agree (a retry returns the enrolment unchanged)."""
    if role_of(enrolment) == role:
        return None
    return Conflict(f"ASN ini sudah terdaftar sebagai {role_of(enrolment)} pada program "
                    f"{enrolment['programme_code']} (status {enrolment['status']}); batalkan pendaftaran itu dahulu "
                    f"untuk mendaftarkannya sebagai {role}", field="role", enrolment_id=enrolment["_id"],
                    role=role_of(enrolment))


def check_cancellable(enrolment: dict) -> None:
    if enrolment["status"] == COMPLETED:
        raise Conflict(f"enrolment {enrolment['_id']} is completed and can no longer be cancelled",
                       field="status")


@dataclass(frozen=True)
class Outcome:
    result: str  # passed, failed, no_show
    passed: bool
    attended: bool
    score: float | None
    jp_earned: int

    def as_fields(self) -> dict:
        return {"result": self.result, "passed": self.passed, "attended": self.attended,
                "score": self.score, "jp_earned": self.jp_earned}


def completion_outcome(p: dict, enrolment: dict, score: float | None = None,
                       attended: bool | None = None) -> Outcome:
    """Pass, fail or no-show for one enrolment, and the JP it earns.

    Attendance defaults to what was recorded earlier, and a score implies attendance.
    Seminars and workshops pass on attendance; other programmes with a passing score pass
    on a score at or above it; programmes without one pass on attendance.
    """
    if attended is None:
        attended = enrolment.get("attended")
    if attended is None and score is not None:
        attended = True
    if attended is None:
        raise Invalid("give a score or attended (true/false) to complete an enrolment", field="attended")
    if not attended:
        if score is not None:
            raise Invalid("a participant who did not attend has no score", field="score")
        return Outcome("no_show", False, False, None, 0)
    if p["kind"] in ATTENDANCE_KINDS or p.get("passing_score") is None:
        passed = True
    else:
        if score is None:
            raise Invalid(f"a score is required: {p['_id']} has a passing score of {p['passing_score']:g}",
                          field="score")
        passed = score >= p["passing_score"]
    return Outcome("passed" if passed else "failed", passed, True, score, p["jp"] if passed else 0)


def completion_opens_at(p: dict) -> datetime:
    """From when completions of ``p`` are recorded: a scheduled kind once it has ended (the result
    of a pelatihan or a sertifikasi is known at its end; a seminar's attendance too), a self-paced
    kind from its start, each participant when they finish (issue 24's programme rules)."""
    return parse_time(p["starts_at"] if self_paced(p) else p["ends_at"])


def check_completion_open(p: dict, now: datetime, field: str = "programme") -> None:
    """The one rule every completion path follows (POST /enrolments/<id>/completion, each row of
    the bulk completion upload, a marking with ``complete``): Conflict (409) naming ``field``
    before ``completion_opens_at``, in Bahasa Indonesia (the operator reads it on the portal's
    upload results). Attendance is not concerned: it is recorded from the start."""
    opens = completion_opens_at(p)
    if now >= opens:
        return
    if self_paced(p):
        raise Conflict(f"program {p['_id']} baru dimulai {stamp_id(opens)}: belum ada peserta yang dapat dicatat "
                       f"selesai", field=field, completions_from=iso(opens))
    raise Conflict(f"program {p['_id']} ({p['kind']}) belum selesai: kelulusan dicatat setelah program berakhir "
                   f"({stamp_id(opens)}); kehadiran dapat dicatat selama program berlangsung",
                   field=field, completions_from=iso(opens))


def check_completable(p: dict, enrolment: dict, now: datetime) -> None:
    if enrolment["status"] != ENROLLED:
        raise Conflict(f"enrolment {enrolment['_id']} is {enrolment['status']}; only an enrolled "
                       f"participant can be completed", field="status")
    check_completion_open(p, now)


def same_outcome(enrolment: dict, outcome: Outcome) -> bool:
    return all(enrolment.get(k) == v for k, v in outcome.as_fields().items())


def plan_completion(p: dict, enrolment: dict, score: float | None, attended: bool | None,
                    now: datetime) -> tuple[str, Outcome]:
    """(``completed`` or ``unchanged``, outcome); raises the reason it cannot be completed."""
    if enrolment["status"] == COMPLETED:
        outcome = completion_outcome(p, enrolment, score, attended)
        if same_outcome(enrolment, outcome):
            return UNCHANGED, outcome
        raise Conflict(f"enrolment {enrolment['_id']} is already completed as {enrolment['result']}",
                       field="status", result=enrolment["result"])
    check_completable(p, enrolment, now)
    return COMPLETED_NOW, completion_outcome(p, enrolment, score, attended)


def check_attendance(p: dict, enrolment: dict, attended: bool, now: datetime) -> bool:
    """Whether attendance is to be recorded (False: a retry of what is recorded); raises why not."""
    if enrolment["status"] == COMPLETED:
        if enrolment.get("attended") == attended:
            return False
        raise Conflict(f"enrolment {enrolment['_id']} is completed as {enrolment['result']}; "
                       f"its attendance can no longer change", field="attended")
    if enrolment["status"] != ENROLLED:
        raise Conflict(f"enrolment {enrolment['_id']} is {enrolment['status']}; attendance is recorded "
                       f"for enrolled participants", field="status")
    if now < parse_time(p["starts_at"]):
        raise Conflict(f"programme {p['_id']} starts at {iso(p['starts_at'])}; "
                       f"attendance cannot be recorded before", field="programme")
    return True


# -- values in operators' CSV files -------------------------------------------------------

_TRUE = {"1", "true", "ya", "y", "yes", "hadir"}
_FALSE = {"0", "false", "tidak", "t", "no", "n", "tidak hadir", "absen"}


def parse_attended(text: str | None) -> bool | None:
    """``ya``/``hadir``/``1``/``true`` or ``tidak``/``tidak hadir``/``0``/``false``; blank is unknown."""
    value = (text or "").strip().lower()
    if not value:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise Invalid(f"attended {text!r} is not ya/tidak (or true/false, 1/0)", field="attended")


def parse_reenrol(text: str | None) -> bool:
    """The ``reenrol`` cell of an enrolment CSV: ``ya`` re-enrols an ASN whose enrolment was
    cancelled; blank or ``tidak`` leaves it cancelled."""
    value = (text or "").strip().lower()
    if not value or value in _FALSE:
        return False
    if value in _TRUE:
        return True
    raise Invalid(f"reenrol {text!r} is not ya/tidak (or true/false, 1/0)", field="reenrol")


def parse_score(text: str | None) -> float | None:
    """A score 0-100; a decimal comma (``86,5``, as Indonesian spreadsheets write it) is accepted."""
    value = (text or "").strip()
    if not value:
        return None
    try:
        score = float(value.replace(",", "."))
    except ValueError:
        raise Invalid(f"score {text!r} is not a number", field="score") from None
    if not 0 <= score <= 100:
        raise Invalid(f"score {score:g} is outside 0-100", field="score")
    return score


# -- the roster (daftar ASN) --------------------------------------------------------------
#
# One document per ASN (``_id`` = NIP / NI PPPK), written by roster imports. Its public fields
# travel in asn_registered / asn_updated / asn_left; its contact (e-mail, telephone) does not
# stay here at all: enrollment keeps a salted digest to notice a change and sends the values
# once, privately, to notification (asn_contact on enrollment.private; data minimisation,
# ADR 0080).

ROSTER_ACTIVE, NOT_LISTED = "aktif", "tidak_tercantum"
# The public fields of an entry, in the order of RosterEntrySnapshot (``changed`` names them).
ROSTER_FIELDS = ("id_kind", "name", "jenis_asn", "agency", "agency_name", "position", "golongan", "supervisor_nip",
                 "status", "tmt")
# The column each field is read from (a row's rejection names the column, as the file has it
# in its canonical spelling).
ROSTER_COLUMN_OF = {"nip": "nip", "name": "nama", "jenis_asn": "jenis_asn", "agency": "kode_opd",
                    "position": "jabatan", "golongan": "golongan", "supervisor_nip": "nip_atasan",
                    "status": "status", "email": "email", "phone": "telepon", "tmt": "tmt"}
PARTIAL, FULL = "sebagian", "penuh"
_MODES = {"sebagian": PARTIAL, "partial": PARTIAL, "penuh": FULL, "full": FULL}
_YES = {"ya", "y", "yes", "true", "1"}
_NO = {"tidak", "t", "no", "n", "false", "0", ""}


def parse_import_mode(text: str | None) -> str:
    value = (text or "").strip().lower() or PARTIAL
    if value not in _MODES:
        raise Invalid(f"mode {text!r} tidak dikenal: gunakan sebagian (partial) atau penuh (full)", field="mode")
    return _MODES[value]


def parse_yes(text: str | None, field: str) -> bool:
    """``ya``/``true``/``1`` or ``tidak``/``false``/``0``/blank (a query flag such as konfirmasi)."""
    value = (text or "").strip().lower()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise Invalid(f"{field} {text!r} bukan ya/tidak (atau true/false)", field=field)


@dataclass(frozen=True)
class RosterImport:
    """What one roster upload does: ``mode`` PARTIAL (adds and updates) or FULL (replaces the
    roster of ``agency``: its aktif ASN missing from the file are marked tidak_tercantum)."""

    actor: Actor
    mode: str = PARTIAL
    agency: str | None = None  # the agency a FULL import replaces
    confirmed: bool = False  # konfirmasi: mark more than the share as left


def roster_import(actor: Actor, mode: str | None, kode_opd: str | None, konfirmasi: str | None) -> RosterImport:
    """The upload's parameters checked against who uploads: an admin imports any agency, an
    operator its own only (a FULL import of another agency is 403)."""
    if actor.role not in ("admin", "operator"):
        raise Forbidden(f"role {actor.role} may not import the roster", field="role")
    mode = parse_import_mode(mode)
    agency = (kode_opd or "").strip().upper() or None
    confirmed = parse_yes(konfirmasi, "konfirmasi")
    if mode == PARTIAL:
        if agency:
            raise Invalid("kode_opd hanya untuk impor penuh (mode=penuh); impor sebagian mengambil OPD dari setiap "
                          "baris", field="kode_opd")
        return RosterImport(actor, PARTIAL, None, confirmed)
    if agency is None:
        raise Invalid("impor penuh (mode=penuh) memerlukan kode_opd: OPD yang daftar ASN-nya diganti",
                      field="kode_opd")
    if agency not in agencies():
        raise Invalid(f"kode_opd {agency} bukan OPD Kota Bukittinggi", field="kode_opd")
    if actor.role == "operator" and agency != actor.agency:
        raise Forbidden(f"operator OPD {actor.agency} hanya dapat mengimpor penuh daftar ASN OPD {actor.agency}",
                        field="kode_opd")
    return RosterImport(actor, FULL, agency, confirmed)


def check_full_import(plan: RosterImport, active: int, missing: int, share: float) -> None:
    """Conflict (409) when a FULL import would mark more than ``share`` of the agency's aktif ASN
    as left and was not confirmed; nothing has been written then."""
    if plan.mode != FULL or plan.confirmed or missing <= share * active:
        return
    raise Conflict(
        f"Impor penuh OPD {plan.agency} akan menandai {missing} dari {active} ASN aktif sebagai keluar "
        f"(tidak_tercantum) karena tidak ada di berkas. Tidak ada yang disimpan. Periksa berkasnya; bila memang "
        f"benar, kirim ulang berkas yang sama dengan konfirmasi=ya.",
        field="konfirmasi", kode_opd=plan.agency, would_mark_left=missing, active=active,
        confirm="konfirmasi=ya")


# The parts of a NIP as shared.nip.validate names them (``part``), in Bahasa Indonesia.
_NIP_PARTS = {
    "format": "harus berupa 18 angka",
    "length": "harus 18 angka",
    "birth_date": "tanggal lahirnya (angka 1-8) bukan tanggal yang mungkin",
    "appointment_month": "bulan pengangkatannya (angka 13-14) bukan bulan 01-12",
    "appointment_year": "tahun pengangkatannya (angka 9-12) tidak mungkin",
    "appointment_date": "tanggal pengangkatannya (angka 9-14) tidak mungkin untuk tanggal lahirnya",
    "pppk_code": "tidak memuat kode PPPK 2 pada angka ke-13",
    "contract": "angka ke-14 (perjanjian kerja ke-) harus 1-9",
    "gender": "angka ke-15 (jenis kelamin) harus 1 atau 2",
    "sequence": "nomor urutnya (angka 16-18) harus 001 atau lebih",
}
# A NIP Excel kept as a number: 1,98503E+17 or 1.98503122010011e+17 (its last digits are lost).
_NUMBER_FORM = re.compile(r"^\d+(?:[.,]\d+)?[eE][+]?\d+$")


def _identifier(text: str, column: str, today: date | None) -> nip_rules.ParsedIdentifier:
    """A NIP / NI PPPK cell, checked, or Invalid with the reason in Bahasa Indonesia."""
    raw = (text or "").strip()
    if _NUMBER_FORM.match(raw):
        raise Invalid(f"{column} {raw} tersimpan sebagai angka di spreadsheet sehingga angka terakhirnya hilang; "
                      f"format kolom {column} sebagai Teks dan ketik ulang NIP-nya", field=column)
    digits = nip_rules.digits_only(raw)
    if not digits:
        raise Invalid(f"{column} kosong", field=column)
    try:
        return nip_rules.validate(digits, "auto", field=column, today=today)
    except Invalid as exc:
        part = exc.details.get("part", "format")
        detail = _NIP_PARTS.get(part, "tidak sah")
        if part == "length":
            detail = f"harus 18 angka, bukan {len(digits)}"
        raise Invalid(f"{column} {digits} {detail}", field=column) from None


_PNS_GOLONGAN = re.compile(r"\b(IV|III|II|I)\s*/\s*([a-e])\b", re.IGNORECASE)
_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII", "XIV", "XV", "XVI",
          "XVII")
_PNS_LETTERS = {"I": "abcd", "II": "abcd", "III": "abcd", "IV": "abcde"}


def parse_golongan(text: str) -> str:
    """``III/c`` (PNS, also inside a pangkat: ``Penata (III/c)``) or a PPPK golongan ``I``..``XVII``."""
    value = " ".join(text.split())
    match = _PNS_GOLONGAN.search(value)
    if match:
        room, letter = match.group(1).upper(), match.group(2).lower()
        if letter not in _PNS_LETTERS[room]:
            raise Invalid(f"golongan {text} tidak ada: golongan {room} berjenjang {room}/a sampai "
                          f"{room}/{_PNS_LETTERS[room][-1]}", field="golongan")
        return f"{room}/{letter}"
    roman = re.sub(r"^golongan\s+", "", value, flags=re.IGNORECASE).upper()
    if roman in _ROMAN:
        return roman
    raise Invalid(f"golongan {text!r} tidak dikenal: PNS I/a sampai IV/e, PPPK I sampai XVII", field="golongan")


def check_golongan(golongan: str | None, jenis_asn: str) -> None:
    if golongan is None:
        return
    pns_form = "/" in golongan
    if jenis_asn == "PNS" and not pns_form:
        raise Invalid(f"golongan {golongan} bukan golongan PNS (I/a sampai IV/e)", field="golongan")
    if jenis_asn == "PPPK" and pns_form:
        raise Invalid(f"golongan {golongan} bukan golongan PPPK (I sampai XVII)", field="golongan")


def parse_jenis_asn(text: str) -> str:
    """PNS or PPPK; a CPNS counts as PNS (SIASN writes e.g. ``PNS``, ``CPNS``, ``PPPK``)."""
    value = " ".join(text.upper().split())
    if "PPPK" in value:
        return "PPPK"
    if value.startswith(("PNS", "CPNS")):
        return "PNS"
    raise Invalid(f"jenis_asn {text!r} tidak dikenal: PNS (termasuk CPNS) atau PPPK", field="jenis_asn")


# What a personnel file writes for each status (SIASN: kedudukan_hukum_nama).
_STATUS_WORDS = {
    "aktif": "aktif", "active": "aktif",
    # still in service: studying or preparing to retire (SIASN kedudukan hukum)
    "tugas belajar": "aktif", "masa persiapan pensiun": "aktif", "mpp": "aktif",
    "pensiun": "pensiun", "purna tugas": "pensiun", "retired": "pensiun",
    "pindah": "pindah", "mutasi": "pindah", "mutasi keluar": "pindah", "pindah keluar": "pindah",
    "pindah instansi": "pindah", "moved": "pindah",
    "berhenti": "berhenti", "diberhentikan": "berhenti", "stopped": "berhenti",
    "meninggal": "meninggal", "meninggal dunia": "meninggal", "wafat": "meninggal", "died": "meninggal",
}


def parse_roster_status(text: str) -> str:
    value = " ".join(text.lower().replace("_", " ").split())
    if not value:
        return ROSTER_ACTIVE
    if value in _STATUS_WORDS:
        return _STATUS_WORDS[value]
    if value.startswith(("diberhentikan", "berhenti dengan", "berhenti atas")):
        return "berhenti"
    if value.startswith(("pensiun", "meninggal")):
        return "pensiun" if value.startswith("pensiun") else "meninggal"
    raise Invalid(f"status {text!r} tidak dikenal: aktif, pensiun, pindah (mutasi keluar), berhenti "
                  f"(diberhentikan) atau meninggal (wafat)", field="status")


_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def normalise_email(text: str) -> str:
    value = text.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value) or ".." in value or value.split("@")[0].startswith("."):
        raise Invalid(f"email {text!r} bukan alamat surel yang sah", field="email")
    return value


def normalise_phone(text: str) -> str:
    """An Indonesian telephone number in E.164 (``+62…``): ``0812-6600-1122``, ``+62 812 6600 1122``,
    ``62812…`` and ``812…`` (a spreadsheet drops the leading 0 of a number) all give
    ``+6281266001122``."""
    value = re.sub(r"[\s\-.()/]", "", text.strip())
    if value.startswith("+"):
        if not value.startswith("+62"):
            raise Invalid(f"telepon {text!r} bukan nomor Indonesia (+62)", field="telepon")
        national = value[3:]
    elif value.startswith("62"):
        national = value[2:]
    elif value.startswith("0"):
        national = value[1:]
    else:
        national = value
    if not national.isascii() or not national.isdigit() or national.startswith("0") \
            or not 8 <= len(national) <= 12:
        raise Invalid(f"telepon {text!r} bukan nomor telepon yang sah (contoh: 0812-6600-1122 atau "
                      f"+6281266001122)", field="telepon")
    return "+62" + national


_DATE_FORMS = ((re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), (1, 2, 3)),
               (re.compile(r"^(\d{1,2})[-/](\d{1,2})[-/](\d{4})$"), (3, 2, 1)))


def parse_tmt(text: str, today: date) -> date:
    """TMT as YYYY-MM-DD, DD-MM-YYYY or DD/MM/YYYY: a real date, not in the future."""
    value = text.strip()
    if "T" in value or " " in value:  # a spreadsheet date cell read as a date and time
        value = value.replace("T", " ").split(" ")[0]
    for pattern, (y, m, d) in _DATE_FORMS:
        match = pattern.match(value)
        if match:
            try:
                day = date(int(match.group(y)), int(match.group(m)), int(match.group(d)))
            except ValueError:
                break
            if day > today:
                raise Invalid(f"tmt {text} ada di masa depan", field="tmt")
            if day.year < 1940:
                raise Invalid(f"tmt {text} tidak mungkin", field="tmt")
            return day
    raise Invalid(f"tmt {text!r} bukan tanggal yang sah (YYYY-MM-DD, DD-MM-YYYY atau DD/MM/YYYY)", field="tmt")


def agency_by_name(name: str) -> str | None:
    """The OPD code of an agency name (SIASN's unor_nama), ignoring case and spacing."""
    wanted = " ".join(name.lower().split())
    for code, opd in agencies().items():
        if " ".join(opd.name.lower().split()) == wanted:
            return code
    return None


@dataclass
class RosterRow:
    """A roster row read cell by cell: ``fields`` holds only what the file states (a column the
    file lacks leaves the stored value alone); ``contact`` is the (email, phone) pair when the
    file has a contact column, else None."""

    nip: str
    id_kind: str
    fields: dict
    contact: tuple[str | None, str | None] | None
    birth_date: date


def read_roster_row(row: dict, today: date) -> RosterRow:
    """Check each cell of a roster row (``row``: canonical column -> text, as the adapter reads
    it); Invalid names the column and says why in Bahasa Indonesia. A blank optional cell
    clears the value; a blank status is aktif."""
    parsed = _identifier(row.get("nip", ""), "nip", today)
    fields: dict = {}
    if (name := (row.get("nama") or "").strip()):
        problem = text_problem(name, NAME_MAX, person_name=True, lang="id")
        if problem:
            raise Invalid(f"nama {problem}", field="nama")
        fields["name"] = name
    if (jenis := (row.get("jenis_asn") or "").strip()):
        fields["jenis_asn"] = parse_jenis_asn(jenis)
    code = (row.get("kode_opd") or "").strip().upper()
    if code:
        if code not in agencies():
            raise Invalid(f"kode_opd {code} bukan OPD Kota Bukittinggi", field="kode_opd")
        fields["agency"] = code
    elif (opd_name := (row.get("nama_opd") or "").strip()):
        code = agency_by_name(opd_name)
        if code is None:
            raise Invalid(f"nama_opd {opd_name!r} bukan nama OPD Kota Bukittinggi", field="nama_opd")
        fields["agency"] = code
    if "agency" in fields:
        fields["agency_name"] = agencies()[fields["agency"]].name
    if "jabatan" in row:
        position = row["jabatan"].strip() or None
        if position:
            problem = text_problem(position, TEXT_MAX, lang="id")
            if problem:
                raise Invalid(f"jabatan {problem}", field="jabatan")
        fields["position"] = position
    if "golongan" in row:
        fields["golongan"] = parse_golongan(row["golongan"]) if row["golongan"].strip() else None
    if "nip_atasan" in row:
        supervisor = None
        if row["nip_atasan"].strip():
            supervisor = _identifier(row["nip_atasan"], "nip_atasan", today).identifier
            if supervisor == parsed.identifier:
                raise Invalid("nip_atasan sama dengan NIP ASN itu sendiri: atasan langsung adalah orang lain",
                              field="nip_atasan")
        fields["supervisor_nip"] = supervisor
    if "status" in row:
        fields["status"] = parse_roster_status(row["status"])
    if "tmt" in row:
        fields["tmt"] = parse_tmt(row["tmt"], today).isoformat() if row["tmt"].strip() else None
    contact = None
    if "email" in row or "telepon" in row:
        email = (row.get("email") or "").strip()
        phone = (row.get("telepon") or "").strip()
        contact = (normalise_email(email) if email else None, normalise_phone(phone) if phone else None)
    return RosterRow(parsed.identifier, parsed.kind, fields, contact, parsed.birth_date)


# An operator's row for an ASN aktif on another agency's roster (someone who moved is first
# marked pindah there, or moved by an admin of BKPSDM).
ON_ANOTHER_ROSTER = ("ASN ini tercatat aktif di daftar ASN OPD lain: perpindahan OPD dicatat oleh OPD asal "
                     "(status pindah) atau oleh admin BKPSDM")


def merge_roster_entry(existing: dict | None, row: RosterRow, plan: RosterImport) -> dict:
    """The public fields of the entry after ``row`` (``existing``: the stored entry or None), or
    Invalid/Forbidden for this row: the fields a new ASN needs, the agency the upload may
    write, jenis_asn against the identifier and golongan against jenis_asn."""
    existing = existing or {}
    fields = row.fields
    actor = plan.actor
    agency = fields.get("agency") or (plan.agency if plan.mode == FULL else None) or existing.get("agency") \
        or (actor.agency if actor.role == "operator" else None)
    if agency is None:
        raise Invalid("kode_opd wajib untuk ASN yang belum ada di daftar ASN", field="kode_opd")
    if plan.mode == FULL and agency != plan.agency:
        raise Invalid(f"bukan OPD {plan.agency}: impor penuh OPD {plan.agency} hanya memuat ASN OPD itu "
                      f"(baris ini {agency})", field="kode_opd")
    if actor.role == "operator":
        if agency != actor.agency:
            raise Forbidden(f"operator OPD {actor.agency} hanya dapat mengimpor ASN OPD {actor.agency}",
                            field="kode_opd")
        if existing.get("agency") not in (None, actor.agency) and existing.get("status") == ROSTER_ACTIVE:
            raise Forbidden(ON_ANOTHER_ROSTER, field="nip")
    name = fields.get("name") or existing.get("name")
    if not name:
        raise Invalid("nama wajib untuk ASN yang belum ada di daftar ASN", field="nama")
    jenis = fields.get("jenis_asn") or existing.get("jenis_asn") or jenis_of_id_kind(row.id_kind)
    if jenis != jenis_of_id_kind(row.id_kind):
        what = "NIP PNS" if row.id_kind == "nip" else "NI PPPK (kode 2 pada angka ke-13, perjanjian kerja ke- pada angka ke-14)"
        raise Invalid(f"jenis_asn {jenis} tidak cocok dengan nomornya, sebuah {what}", field="jenis_asn")
    golongan = fields["golongan"] if "golongan" in fields else existing.get("golongan")
    check_golongan(golongan, jenis)
    if "status" in fields:
        status = fields["status"]
    elif existing.get("status") not in (None, NOT_LISTED):
        status = existing["status"]
    else:  # new, or back in a file after a full import had missed them
        status = ROSTER_ACTIVE
    if fields.get("tmt") is not None:
        tmt = fields["tmt"]
    elif "tmt" in fields or not existing.get("tmt"):
        tmt = derived_tmt(row.nip)
    else:
        tmt = existing["tmt"]
    return {"id_kind": row.id_kind, "name": name, "jenis_asn": jenis, "agency": agency,
            "agency_name": agencies()[agency].name, "position": fields.get("position", existing.get("position")),
            "golongan": golongan, "supervisor_nip": fields.get("supervisor_nip", existing.get("supervisor_nip")),
            "status": status, "tmt": tmt}


def derived_tmt(identifier: str) -> str | None:
    """A PNS's TMT when the file gives none: the month of appointment as CPNS in the NIP
    (digits 9-14); an NI PPPK carries only a year, so none."""
    month = nip_rules.appointment_month(identifier)
    return month.isoformat() if month else None


def roster_changed_fields(existing: dict | None, entry: dict) -> list[str]:
    """The public fields ``entry`` changes (all of them for a new ASN)."""
    if existing is None:
        return list(ROSTER_FIELDS)
    return [k for k in ROSTER_FIELDS if existing.get(k) != entry.get(k)]


def roster_event(existing: dict | None, entry: dict) -> str | None:
    """The public event of a change: ``asn_registered`` for a new ASN, ``asn_left`` when an aktif
    ASN leaves (pensiun, pindah, berhenti, meninggal, tidak_tercantum), ``asn_updated`` for
    any other change (e.g. back to aktif), None when nothing public changed."""
    if existing is None:
        return "asn_registered"
    if not roster_changed_fields(existing, entry):
        return None
    if entry["status"] in LEFT_STATUSES and existing.get("status") == ROSTER_ACTIVE:
        return "asn_left"
    return "asn_updated"


def contact_digest(salt: str, contact: tuple[str | None, str | None]) -> str:
    """What enrollment keeps of a contact: a salted sha256 of the normalised (email, phone),
    enough to notice a change and nothing to read back (ADR 0080)."""
    email, phone = contact
    return hashlib.sha256(f"{salt}\n{email or ''}\n{phone or ''}".encode()).hexdigest()


def roster_snapshot(entry: dict) -> dict:
    """The entry as the public events carry it (RosterEntrySnapshot): no contact data."""
    return {"nip": entry["_id"], **{k: entry.get(k) for k in ROSTER_FIELDS}, "version": entry["version"]}


def name_key(name: str) -> str:
    """The form a name is searched by (``q`` of GET /roster): case and spacing ignored."""
    return " ".join(name.casefold().split())



# -- supervisor approval (izin atasan) and acting supervisors (Plt/Plh), ADR 0092 ----------------

APPROVED, DECLINED, LAPSED = "approved", "declined", "lapsed"
DECISIONS = (APPROVED, DECLINED)
SEAT, WAITLIST = "seat", "waitlist"
ACTING_KINDS = ("plt", "plh")
REASON_MAX = 500
# What the people concerned read (Bahasa Indonesia).
NO_SUPERVISOR = "Atasan langsung Anda belum tercatat di daftar ASN; hubungi operator OPD"
_DECIDED_WORDS = {APPROVED: "disetujui", DECLINED: "ditolak", LAPSED: "kedaluwarsa"}
LAPSED_REASON = "Permohonan izin atasan kedaluwarsa (tidak diputuskan tepat waktu)"
ACTING_MAX = timedelta(days=366)


class AlreadyDecided(Conflict):
    """A decision on an approval request that was decided (or lapsed) already: 409."""

    code = "already_decided"


def already_decided(decision: str) -> AlreadyDecided:
    return AlreadyDecided(f"Permohonan ini sudah diputuskan ({_DECIDED_WORDS.get(decision, decision)})",
                          field="decision", decision=decision)


def acting_in_force(acting: dict | None, now: datetime) -> dict | None:
    """The delegation while it lasts (until ``ends_at``), else None."""
    if acting is None or parse_time(acting["ends_at"]) <= now:
        return None
    return acting


def approver_for(entry: dict, supervisor: dict | None, acting: dict | None, now: datetime) -> dict:
    """Who decides an ASN's request at ``now``: the acting supervisor (Plt/Plh) while their
    delegation lasts, else the supervisor aktif on the roster; neither is 409 (Bahasa Indonesia).
    ``supervisor``: the roster entry of ``entry``'s supervisor_nip; ``acting``: its delegation."""
    acting = acting_in_force(acting, now) if entry.get("supervisor_nip") else None
    if acting is not None:
        return {"approver_nip": acting["acting_nip"], "approver_name": acting.get("acting_name"),
                "acting": acting["kind"]}
    if supervisor is None or supervisor.get("status") != ROSTER_ACTIVE:
        raise Conflict(NO_SUPERVISOR, field="supervisor_nip")
    return {"approver_nip": supervisor["_id"], "approver_name": supervisor.get("name"), "acting": None}


def new_approval(approver: dict, now: datetime, hold_hours: float, reminder_hours: float) -> dict:
    """The ``approval`` object of a new request (EnrolmentSchema.approval) and its due times."""
    expires_at = now + timedelta(hours=hold_hours)
    return {**approver, "requested_at": now, "expires_at": expires_at,
            "remind_at": max(now, expires_at - timedelta(hours=reminder_hours)), "reminded_at": None,
            "decided_at": None, "decision": None, "reason": None}


def check_decision(enrolment: dict, approver_nip: str | None, now: datetime) -> None:
    """An approver may decide this request now: the request awaits, the caller is its approver
    (403 otherwise), and it has not expired (it lapses at ``expires_at``)."""
    approval = enrolment.get("approval")
    if approval is None:
        raise Conflict("pendaftaran ini tidak memerlukan persetujuan atasan", field="id")
    if approval.get("approver_nip") != approver_nip:
        raise Forbidden("hanya atasan (atau Plt/Plh) yang dimintai persetujuan yang dapat memutuskan permohonan ini",
                        field="nip")
    if approval.get("decision") is not None:
        raise already_decided(approval["decision"])
    if enrolment["status"] != AWAITING:
        raise Conflict(f"pendaftaran ini sudah {enrolment['status']} (dibatalkan sebelum diputuskan)",
                       field="status")
    if parse_time(approval["expires_at"]) <= now:
        raise already_decided(LAPSED)


def check_acting(supervisor_nip: str, acting_entry: dict | None, ends_at: datetime, now: datetime) -> None:
    """An acting supervisor: someone else, aktif on the roster, until a future date at most a
    year ahead."""
    if acting_entry is None or acting_entry.get("status") != ROSTER_ACTIVE:
        raise Invalid("acting_nip tidak tercatat aktif di daftar ASN", field="acting_nip")
    if acting_entry["_id"] == supervisor_nip:
        raise Invalid("acting_nip sama dengan atasan itu sendiri: Plt/Plh adalah orang lain", field="acting_nip")
    if ends_at <= now:
        raise Invalid("ends_at harus di masa depan", field="ends_at")
    if ends_at > now + ACTING_MAX:
        raise Invalid("ends_at paling lama satu tahun dari sekarang", field="ends_at")


# -- operator console: marking sessions, promotion by hand, JP preview (issue 21) ----------------

# A programme view lists at most this many sessions (a year of days): a longer one is no
# day-by-day programme, and its answer must stay small.
MAX_SESSIONS = 366
MARKING_MAX_ROWS = 2000


def programme_days(p: dict) -> list[date]:
    """The WIB calendar days from starts_at to ends_at (an end at 00.00 WIB closes the day before)."""
    first = wib_date(parse_time(p["starts_at"]))
    last = wib_date(parse_time(p["ends_at"]) - timedelta(microseconds=1))
    count = min(max((last - first).days + 1, 1), MAX_SESSIONS)
    return [first + timedelta(days=n) for n in range(count)]


@lru_cache(maxsize=4096)
def _day_words(day: date) -> str:
    # cached: a page of long programmes would otherwise format thousands of days per answer
    return format_date(day, format="EEEE, d MMMM y", locale=LOCALE)


def session_label(n: int, day: date) -> str:
    """``Hari 1 – Senin, 7 Juni 2027``: what the marking page's session picker shows."""
    return f"Hari {n} \u2013 {_day_words(day)}"


def programme_sessions(p: dict) -> list[dict]:
    """The sessions of a scheduled programme (its WIB days, labelled); none for a self-paced one."""
    if self_paced(p):
        return []
    return [{"date": day.isoformat(), "label": session_label(n, day)}
            for n, day in enumerate(programme_days(p), start=1)]


def marking_session(p: dict, session: date | None, now: datetime) -> str | None:
    """The day a marking records attendance for (``YYYY-MM-DD``), or None for a self-paced
    programme marked without a day (attendance as a whole, like POST /enrolments/<id>/attendance).

    A scheduled programme of several days names the session; a one-day programme defaults to its
    day. The day must be one of the programme's and must have begun (WIB)."""
    days = programme_days(p)
    if session is None:
        if self_paced(p):
            return None
        if len(days) != 1:
            raise Invalid(f"session is required: programme {p['_id']} runs {len(days)} days "
                          f"({days[0].isoformat()} to {days[-1].isoformat()})", field="session")
        session = days[0]
    if not days[0] <= session <= days[-1]:
        raise Invalid(f"session {session.isoformat()} is not a day of programme {p['_id']} "
                      f"({days[0].isoformat()} to {days[-1].isoformat()}, WIB)", field="session")
    if session > wib_date(now):
        raise Conflict(f"session {session.isoformat()} has not begun; attendance is marked on or after the day",
                       field="session")
    return session.isoformat()


def check_marking_completion(p: dict, now: datetime) -> None:
    """A marking with ``complete`` follows the completion rule of every path (check_completion_open),
    checked for the whole request and blamed on ``complete``."""
    check_completion_open(p, now, field="complete")


def day_attendance(p: dict, enrolment: dict, day: str, present: bool, now: datetime) -> dict | None:
    """The enrolment's changes for ``present`` on ``day`` (``attendance_days`` and ``attended`` =
    present on at least one session), None when that is recorded already; raises why it cannot be."""
    days = dict(enrolment.get("attendance_days") or {})
    if days.get(day) == present:
        return None
    if enrolment["status"] == COMPLETED:
        if day not in days and enrolment.get("attended") == present:
            return None  # completed (e.g. through the single route) as this marking says
        raise Conflict(f"enrolment {enrolment['_id']} is completed as {enrolment['result']}; "
                       f"its attendance can no longer change", field="present")
    check_attendance(p, enrolment, present, now)
    days[day] = present
    return {"attendance_days": days, "attended": any(days.values())}


def check_promotion(p: dict, enrolment: dict, now: datetime) -> None:
    """A waitlisted ASN may be moved into a seat by hand: a seat is free and the programme is
    published and has not ended (a started one too: automatic promotion is what stops there)."""
    if enrolment["status"] != WAITLISTED:
        raise Conflict(f"enrolment {enrolment['_id']} is {enrolment['status']}, not waitlisted: only a waitlisted "
                       f"participant can be promoted", field="status")
    if p["status"] != PUBLISHED:
        raise Conflict(f"programme {p['_id']} is {p['status']}, not published", field="programme")
    if now >= parse_time(p["ends_at"]):
        raise Conflict(f"programme {p['_id']} ended at {iso(p['ends_at'])}; nobody is promoted any more",
                       field="programme")
    if p["seats_taken"] >= p["capacity"]:
        raise Conflict(f"no seat is free in {p['_id']} ({p['seats_taken']} of {p['capacity']} taken)",
                       field="capacity")


@dataclass(frozen=True)
class JpPreview:
    jp: int | None
    rule: str  # the rule applied, in words (Bahasa Indonesia: the portal shows it)
    rule_key: str | None  # its key in jp_rules.yaml (minutes_per_jp, jp_per_day.<kind>, jp_per_day.default)
    duration_minutes: int | None = None
    duration_days: float | None = None


def _number(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def preview_jp(rules: JpRules, kind: str, duration_minutes: int | None = None, duration_days: float | None = None,
               starts_at: datetime | None = None, ends_at: datetime | None = None) -> JpPreview:
    """The JP a programme of ``kind`` gets from its duration (JpRules.derive, as at creation); with
    only its dates, from its number of WIB days. Input that determines no JP yet (a form half
    filled) gives ``jp`` None and says what is missing."""
    if duration_minutes is not None and duration_days is not None:
        return JpPreview(None, "isi durasi dalam menit atau dalam hari, tidak keduanya", None,
                         duration_minutes, duration_days)
    if duration_minutes is not None:
        jp = rules.derive(kind, duration_minutes=duration_minutes)
        return JpPreview(jp, f"{duration_minutes} menit \u00f7 {rules.minutes_per_jp} menit per JP = {jp} JP "
                             f"(sisa menit tidak dihitung)", "minutes_per_jp", duration_minutes, None)
    if duration_days is None and starts_at is not None and ends_at is not None:
        if ends_at <= starts_at:
            return JpPreview(None, "tanggal selesai harus setelah tanggal mulai", None)
        duration_days = float(len(programme_days({"starts_at": starts_at, "ends_at": ends_at})))
    if duration_days is None:
        return JpPreview(None, "isi durasi (menit atau hari) atau tanggal mulai dan selesai untuk menghitung JP", None)
    jp = rules.derive(kind, duration_days=duration_days)
    key = f"jp_per_day.{kind}" if kind in rules.jp_per_day else "jp_per_day.default"
    which = kind if kind in rules.jp_per_day else "bawaan untuk jenis lain"
    return JpPreview(jp, f"{_number(duration_days)} hari \u00d7 {_number(rules.per_day(kind))} JP per hari "
                         f"({which}) = {jp} JP", key, None, duration_days)
