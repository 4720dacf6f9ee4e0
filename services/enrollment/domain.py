"""Business rules of enrolment: plain functions on plain dicts, no nameko, no pymongo, no I/O.

Documents are the dicts stored in the ``programmes``, ``participants`` and ``enrolments``
collections (see store.py); the commands load them, ask these rules, and write.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime

from shared import nip as nip_rules
from shared.auth import Principal
from shared.errors import Conflict, Forbidden, Invalid
from shared.events.common import PROGRAMME_KINDS
from shared.reference import agencies
from shared.timefmt import parse_time

# Programme lifecycle: draft -> published -> cancelled (a draft may be cancelled too).
DRAFT, PUBLISHED, CANCELLED = "draft", "published", "cancelled"
PROGRAMME_STATUSES = (DRAFT, PUBLISHED, CANCELLED)

# Enrolment lifecycle: waitlisted -> enrolled -> completed; enrolled/waitlisted -> cancelled.
ENROLLED, WAITLISTED, COMPLETED, ENROLMENT_CANCELLED = "enrolled", "waitlisted", "completed", "cancelled"
ENROLMENT_STATUSES = (ENROLLED, WAITLISTED, COMPLETED, ENROLMENT_CANCELLED)
ACTIVE = (ENROLLED, WAITLISTED)

# Kinds where being there is the achievement: attendance alone passes (no exam).
ATTENDANCE_KINDS = ("seminar", "lokakarya")
SPEAKER_KINDS = ("seminar", "lokakarya")
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
              "certificate_validity_months", "certification_line")
DEFINITION_DEFAULTS = {"description": None, "jp": None, "duration_minutes": None, "duration_days": None,
                       "speakers": [], "location": None, "passing_score": None, "grants_certificate": None,
                       "certificate_validity_months": None, "certification_line": None}


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
            "cascade_pending": False, "version": 1, "created_at": now, "updated_at": now,
            "published_at": None, "cancelled_at": None, "cancel_reason": None,
            "created_by": actor.as_dict()}


def same_definition(existing: dict, programme: dict) -> bool:
    """Whether a create request repeats ``existing`` (a retry) rather than claiming its code."""
    return all(same_value(existing.get(k), programme.get(k)) for k in DEFINITION)


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
    return {k: v for k, v in updated.items() if not same_value(current.get(k), v)}


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


def promotes_waitlist(p: dict, now: datetime) -> bool:
    """A freed seat goes to the waitlist while the programme runs or is still to come."""
    return p["status"] == PUBLISHED and now < parse_time(p["ends_at"])


def programme_snapshot(p: dict) -> dict:
    """The programme as every event carries it (shared/events/common.py ProgrammeSnapshot)."""
    return {
        "code": p["_id"], "title": p["title"], "kind": p["kind"], "competency_type": p["competency_type"],
        "jp": p["jp"], "organisers": list(p["organisers"]), "speakers": list(p["speakers"]),
        "starts_at": iso(p["starts_at"]), "ends_at": iso(p["ends_at"]), "location": p.get("location"),
        "grants_certificate": p["grants_certificate"],
        "certificate_validity_months": p.get("certificate_validity_months"),
        "certification_line": p.get("certification_line"),
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


# One answer for "never registered" and "registered in another agency": an operator must
# not learn from the refusal who works elsewhere (issue 17).
NOT_REGISTERED = ("this ASN is not registered in {agency}: an admin of BKPSDM registers an ASN with their "
                  "agency before an operator can enrol them")


def participant_for(actor: Actor, given: dict, known: dict | None, today: date | None = None) -> dict:
    """The participant record ``actor``'s enrolment request stands for, or why it may not enrol them.

    An ASN's agency is never taken from an operator's word (issue 17): until the roster
    becomes the source, an admin registers a new participant with the agency given (and may
    move one); an operator enrols only an ASN already known in its own agency, and the data
    it sends cannot move them to another agency.
    """
    check_participant_text(given)
    if actor.role == "admin":
        return resolve_participant(given, known, today)
    if actor.role != "operator":
        raise Forbidden(f"role {actor.role} may not enrol ASN", field="role")
    # A malformed NIP is refused alike whatever is stored, so this reveals nothing.
    nip_rules.validate(nip_rules.digits_only(given.get("nip") or ""), given.get("id_kind") or "auto", field="nip",
                       today=today)
    if known is None or known.get("agency") != actor.agency:
        raise Forbidden(NOT_REGISTERED.format(agency=actor.agency), field="nip")
    claimed = (given.get("agency") or "").strip().upper()
    if claimed and claimed != known["agency"]:
        raise Forbidden(f"an operator may not move an ASN to another agency ({claimed}); an admin of BKPSDM "
                        f"can", field="agency")
    return resolve_participant({**given, "agency": known["agency"]}, known, today)


# -- free text that ends up in exports ----------------------------------------------------

NAME_MAX, TEXT_MAX = 200, 200
# A cell beginning with one of these is run as a formula by Excel/LibreOffice when an
# export is opened (CSV/formula injection, OWASP); tab and CR hide such a start.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# A person's name: letters (any script), then letters, digits, spaces and the marks of
# names and academic titles: "Dr. Siti Aminah, S.Kom., M.T.", "Nur'aini", "Siti Nur-Halimah".
_NAME = re.compile(r"[^\W\d_](?:[^\W_]|[ .,'\u2019-])*")


def text_problem(value: str, max_length: int | None = TEXT_MAX, person_name: bool = False) -> str | None:
    """Why ``value`` may not be stored as free text (None when it may): a spreadsheet formula
    start, a control character, a length over ``max_length`` (None: the caller checks it),
    or (``person_name``) a character no name has."""
    for candidate in (value, value.strip()):
        if candidate.startswith(FORMULA_START):
            shown = {"\t": "a tab", "\r": "a carriage return"}.get(candidate[0], repr(candidate[0]))
            return (f"must not begin with {shown}: a spreadsheet opening an export would run the value as a "
                    f"formula")
    if any(unicodedata.category(c) == "Cc" for c in value):
        return "must not contain control characters (line breaks, tabs)"
    if max_length is not None and len(value) > max_length:
        return f"is longer than {max_length} characters"
    if person_name and value.strip() and _NAME.fullmatch(value.strip()) is None:
        return "must begin with a letter and contain only letters, digits, spaces and . , ' -"
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
            "agency_name": participant.get("agency_name"), "position": participant.get("position")}


def participant_changed(stored: dict | None, resolved: dict) -> bool:
    if stored is None:
        return True
    return any(stored.get(k) != resolved.get(k) for k in ("id_kind", "name", "agency", "agency_name", "position"))


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


def check_completable(p: dict, enrolment: dict, now: datetime) -> None:
    if enrolment["status"] != ENROLLED:
        raise Conflict(f"enrolment {enrolment['_id']} is {enrolment['status']}; only an enrolled "
                       f"participant can be completed", field="status")
    if now < parse_time(p["starts_at"]):
        raise Conflict(f"programme {p['_id']} starts at {iso(p['starts_at'])}; nothing to complete yet",
                       field="programme")


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
