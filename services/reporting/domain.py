"""The rules of reporting as plain functions: no nameko, no pymongo, no I/O.

Read models are built from every public event, idempotently and whatever the order. Each
event is merged into a *state document* (an enrolment, a certificate, an ASN, a programme)
by rules that do not depend on arrival order: per event type the record with the latest
domain time wins; snapshots (names, agency, programme details) follow the latest
CloudEvents ``time``; an ASN's roster entry follows the highest roster ``version`` and, for an
ASN on the roster, is the authority on their identity and agency. Everything else is
*derived* from the state document by the pure functions below: the ledger entry and the
counters it contributes to. A state document
stores what it last contributed; applying an event recomputes the contribution and moves
only the difference. So a duplicate changes nothing, ``completed`` before ``enrolled`` ends
in the same figures, and a full replay gives the same figures again
(docs/decisions/0040-order-independent-projections.md). ``commands.Projector`` writes them.

Also here: the shortfall checkpoints' calendar and suggestions, the figures of an answer
(compliance rows, ledger years, programme rates) and who may read whose ledger. Agency
names come from the reference data shipped with the code (``shared.reference``).
"""
from __future__ import annotations

import math
import zlib
from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from fractions import Fraction

from shared.auth import ADMIN, ASN, OPERATOR, Principal
from shared.errors import Forbidden, Invalid
from shared.events.common import COMPETENCY_TYPES, PARTICIPATION_ROLES, PROGRAMME_KINDS
from shared.paging import decode_cursor, encode_cursor
from shared.timefmt import period_label_id
from shared.reference import agencies as reference_agencies
from shared.timefmt import WIB, iso, parse_time, wib_month, wib_year

from services.reporting.config import Checkpoint, ReportingConfig

PROGRAMME_EVENTS = ("programme_published", "programme_updated", "programme_cancelled")
ENROLMENT_EVENTS = ("enrolled", "waitlisted", "cancelled", "completed")
CERTIFICATE_EVENTS = ("certified", "revoked", "expiring", "expired")
# The roster (daftar ASN): who counts in an agency's figures, and each ASN's identity.
ROSTER_EVENTS = ("asn_registered", "asn_updated", "asn_left")
CONSUMED = tuple(("enrollment", n) for n in PROGRAMME_EVENTS + ENROLMENT_EVENTS + ROSTER_EVENTS) + tuple(
    ("certification", n) for n in CERTIFICATE_EVENTS)

# Seminars and workshops credit JP for attendance; the rest for a pass.
ATTENDANCE_KINDS = ("seminar", "lokakarya")
# An enrolment's role (issue 24): a narasumber (speaker) takes no seat, so a programme's seat,
# fill and result figures count peserta only; speakers are counted apart (``speakers_<status>``).
# Their JP still count for them.
PESERTA, NARASUMBER = PARTICIPATION_ROLES
ROLE_LABELS = {PESERTA: "Peserta", NARASUMBER: "Narasumber"}
STATUS_RANK = {"waitlisted": 0, "enrolled": 1, "cancelled": 2}
# Counter documents every event of a programme, month or agency would otherwise rewrite are
# split into shards; a source document always adds to the same shard, queries sum them.
# This keeps concurrent handlers from conflicting on one hot document (docs/performance.md).
# A programme's and a month's counters take every event of a burst; an agency-year slice
# only its own ASN's, and an all-agency compliance answer reads every shard of 31 agencies
# (4 shards: 124 documents, half the read time of 8 at 1,000,000 ledger entries).
COUNTER_SHARDS = 8  # shard_of's range; each collection uses shard_of % its own count (a divisor)
SHARDS = {"programme_stats": 8, "monthly": 8, "agency_years": 4}
PROGRAMME_FIELDS = ("code", "title", "kind", "competency_type", "jp", "organisers", "speakers", "starts_at",
                    "ends_at", "location", "grants_certificate", "certificate_validity_months",
                    "certification_line")


# -- ordering of events ------------------------------------------------------------------------
def version(event) -> list:
    """The "latest wins" key of an event: its CloudEvents time, then its id for ties."""
    return [parse_time(event.time), event.id]


def newer(candidate: list | None, current: list | None) -> bool:
    if current is None:
        return True
    if candidate is None:
        return False
    return (candidate[0], candidate[1]) > (current[0], current[1])


def later_record(current: dict | None, candidate: dict) -> dict:
    """Of two records of one event type, the one with the later domain time (then event id)."""
    if current is None or (candidate["at"], candidate["event_id"]) > (current["at"], current["event_id"]):
        return candidate
    return current


def slim_programme(snapshot: dict) -> dict:
    return {k: snapshot.get(k) for k in PROGRAMME_FIELDS}


# -- pure derivations ------------------------------------------------------------------------
def enrolment_status(doc: dict) -> str | None:
    """completed dominates; otherwise the latest of waitlisted/enrolled/cancelled."""
    if doc.get("completed"):
        return "completed"
    records = [(doc[k]["at"], STATUS_RANK[k], k) for k in STATUS_RANK if doc.get(k)]
    return max(records)[2] if records else None


def role_of(doc: dict) -> str:
    """The enrolment's role: the completion's when completed, else the latest enrolment's
    (a role changes only by cancelling and enrolling again); peserta for events without one."""
    record = doc.get("completed") or doc.get("enrolled") or {}
    return record.get("role") or PESERTA


def role_label(role: str | None) -> str:
    """``Peserta`` or ``Narasumber`` (an entry written before roles existed: Peserta)."""
    return ROLE_LABELS.get(role or PESERTA, ROLE_LABELS[PESERTA])


def credited_jp(doc: dict) -> int:
    """JP this enrolment credits to the ledger (enrollment computed ``jp_earned``)."""
    completion = doc.get("completed")
    programme = doc.get("programme")
    if not completion or not programme:
        return 0
    kind = programme.get("kind")
    earned = int(completion.get("jp_earned") or 0)
    if completion.get("passed") or (kind in ATTENDANCE_KINDS and completion.get("attended")):
        return earned
    return 0


def credit_year(programme: dict | None, completed_at: datetime) -> int:
    """The year a JP entry counts in: the (WIB) year the programme ended, so a December course
    recorded in January belongs to December's year; the completion's year when the programme
    has no end (self-paced)."""
    ends_at = parse_time((programme or {}).get("ends_at"))
    return wib_year(ends_at or completed_at)


def ledger_entry(doc: dict, agency: str | None) -> dict | None:
    """The JP ledger entry of an enrolment, or None when it credits nothing."""
    jp = credited_jp(doc)
    if jp <= 0 or not doc.get("participant"):
        return None
    completion, programme, participant = doc["completed"], doc["programme"], doc["participant"]
    certificate = doc.get("certificate") or {}
    return {
        "_id": doc["_id"],
        "nip": participant["nip"],
        "name": participant.get("name"),
        "agency": agency or participant.get("agency"),
        "agency_at_completion": participant.get("agency"),
        "year": credit_year(programme, completion["at"]),
        "completed_at": completion["at"],
        "programme_code": programme["code"],
        "programme_title": programme.get("title"),
        "kind": programme.get("kind"),
        "competency_type": programme.get("competency_type"),
        "organisers": programme.get("organisers") or [],
        "location": programme.get("location"),
        "starts_at": parse_time(programme.get("starts_at")),
        "ends_at": parse_time(programme.get("ends_at")),
        "jp": jp,
        "role": role_of(doc),
        "score": completion.get("score"),
        "certificate_number": certificate.get("number"),
        "certificate_status": certificate.get("status"),
    }


def enrolment_contribution(doc: dict) -> dict:
    """{(collection, _id): {field: n}} this enrolment adds to the counters."""
    out: dict = defaultdict(dict)
    status = enrolment_status(doc)
    programme, participant = doc.get("programme"), doc.get("participant")
    if status is None or not programme or not participant:
        return {}
    stats = out[("programme_stats", programme["code"])]
    speaker = role_of(doc) == NARASUMBER
    # A speaker takes no seat: counted apart, their result in no pass or no-show rate.
    stats[f"speakers_{status}" if speaker else status] = 1
    completion = doc.get("completed")
    if completion:
        if not speaker:
            stats[completion["result"]] = 1
        month = out[("monthly", f"{wib_month(completion['at'])}|{participant['agency']}")]
        month["completions"] = 1
        jp = credited_jp(doc)
        if completion.get("passed"):
            month["passed"] = 1
        if jp > 0:
            month["jp_credited"] = jp
            key = f"{programme.get('kind')}|{programme.get('competency_type')}"
            year = out[("asn_years", f"{participant['nip']}|{credit_year(programme, completion['at'])}")]
            year.update({"jp_total": jp, "entries": 1, f"jp_by.{key}": jp})
    return dict(out)


def certificate_status(doc: dict) -> str:
    if doc.get("revoked"):
        return "revoked"
    if doc.get("expired"):
        return "expired"
    return "valid"


def certificate_contribution(doc: dict) -> dict:
    out: dict = defaultdict(dict)
    holder = doc.get("holder")
    if not holder:
        return {}
    agency = holder["agency"]
    if doc.get("issued_on"):
        out[("monthly", f"{wib_month(doc['issued_on'])}|{agency}")]["certificates_issued"] = 1
    valid_until = doc.get("valid_until")
    if doc.get("revoked"):
        out[("monthly", f"{wib_month(doc['revoked']['at'])}|{agency}")]["certificates_revoked"] = 1
    elif doc.get("expired") and valid_until:
        out[("monthly", f"{wib_month(valid_until)}|{agency}")]["certificates_expired"] = 1
    elif valid_until:
        # Forward-looking: valid certificates whose validity ends in that month.
        out[("monthly", f"{wib_month(valid_until)}|{agency}")]["certificates_expiring"] = 1
    return dict(out)


def asn_contribution(doc: dict) -> dict:
    """What an ASN on the roster adds to their agency's headcount document, as year-keyed
    counters: on the roster from the year of their TMT (``ROSTERED_SINCE_EVER`` when unknown)
    until the year they left, and never enrolled from then until the year of their first
    enrolment (or leaving). "Active in year Y" is then the sum of the ``*_from`` years <= Y minus
    the sum of the ``*_until`` years <= Y: one document read per agency, whatever the year.

    An ASN not on the roster adds nothing here: they count (``unlisted.<Y>``) through the years
    in which they earned JP (``asn_year_contribution``). The document moves only when an ASN
    joins, leaves, first enrols or changes agency, so it is not a hot document and is not sharded.
    """
    window = roster_window(doc)
    if not doc.get("agency") or window is None:
        return {}
    start, until = window
    if until <= start:
        return {}  # left before their TMT's year: never active
    fields = {f"rostered_from.{start}": 1}
    if until != FOREVER:
        fields[f"rostered_until.{until}"] = 1
    never_until = min(until, doc.get("first_seen_year") or FOREVER)
    if never_until > start:
        fields[f"never_from.{start}"] = 1
        if never_until != FOREVER:
            fields[f"never_until.{never_until}"] = 1
    return {("agency_headcounts", doc["agency"]): fields}


# -- the roster (daftar ASN) -------------------------------------------------------------------
# An ASN's state document merges two sources: enrolment events (``enrolled_as``, the latest by
# CloudEvents time; ``first_seen``: the earliest enrolment event) and roster events
# (``roster_entry``, the highest roster version). The roster is the authority on identity and
# agency for an ASN on it; an ASN never seen on it keeps the identity of their enrolments.
# Everything else on the document is derived from those by ``derive_asn``, so any arrival
# order ends in the same document.
IDENTITY_FIELDS = ("name", "agency", "agency_name", "id_kind", "position")
ROSTER_FIELDS = ("status", "jenis_asn", "tmt", "supervisor_nip", "golongan", "version")
ROSTERED_SINCE_EVER = 0  # the "from" year of an ASN whose TMT is not known: active in every year
FOREVER = 9999  # the "until" year of an ASN who has not left (or never enrolled, for never_until)


def _tmt_text(value) -> str | None:
    if value is None or value == "":
        return None
    return value.isoformat()[:10] if hasattr(value, "isoformat") else str(value)[:10]


def merge_enrolment_identity(doc: dict, participant: dict, v: list, seen_at: datetime) -> None:
    """Merge the participant of an enrolment event into the ASN's state document ``doc``."""
    if "enrolled_as" not in doc and doc.get("snapshot_v") is not None:
        # Stored before the roster: the top-level identity is the enrolments' own.
        doc["enrolled_as"] = {k: doc.get(k) for k in IDENTITY_FIELDS}
    if newer(v, doc.get("snapshot_v")):
        doc["snapshot_v"] = v
        doc["enrolled_as"] = {k: participant.get(k) for k in IDENTITY_FIELDS}
    if doc.get("first_seen") is None or seen_at < doc["first_seen"]:
        doc["first_seen"] = seen_at
        doc["first_seen_year"] = wib_year(seen_at)
    derive_asn(doc)


def merge_roster_event(doc: dict, name: str, data: dict) -> None:
    """Merge an ``asn_registered``/``asn_updated``/``asn_left`` event into the ASN's state
    document ``doc``. Every merge keeps a maximum (of roster versions), so a repeat or any
    arrival order ends in the same document."""
    entry = data["asn"]
    version = int(entry["version"])
    at = parse_time(data.get("left_at") or data.get("updated_at") or data.get("registered_at"))
    doc["listed"] = True
    if name == "asn_left" and version > (doc.get("left") or {}).get("version", 0):
        doc["left"] = {"version": version, "at": at}
    if entry["status"] == "aktif" and version > doc.get("aktif_version", 0):
        doc["aktif_version"] = version  # back (or still) on the roster from this version on
    if version > (doc.get("roster_entry") or {}).get("version", 0):
        doc["roster_entry"] = {**{k: entry.get(k) for k in IDENTITY_FIELDS + ROSTER_FIELDS},
                               "tmt": _tmt_text(entry.get("tmt")), "version": version, "at": at}
    derive_asn(doc)


def derive_asn(doc: dict) -> None:
    """The derived fields of an ASN's state document: identity (the roster's for an ASN on it),
    ``roster`` (status, jenis_asn, tmt, supervisor_nip, golongan, version, left_at) and the
    years it counts in (``count_from`` <= Y < ``count_until``; never enrolled while Y <
    ``never_until``), which the never-enrolled list queries."""
    entry = doc.get("roster_entry")
    identity = entry if entry else doc.get("enrolled_as")
    if identity:
        doc.update({k: identity.get(k) for k in IDENTITY_FIELDS if k in identity})
    if not entry:
        for key in ("roster", "count_from", "count_until", "never_until"):
            doc.pop(key, None)
        return
    left_at = None
    if entry["status"] != "aktif":
        left = doc.get("left")
        # The asn_left that began this absence; a later non-aktif update keeps its date.
        left_at = left["at"] if left and left["version"] > doc.get("aktif_version", 0) else entry["at"]
    doc["roster"] = {**{k: entry.get(k) for k in ROSTER_FIELDS}, "left_at": left_at}
    start, until = roster_window(doc)
    doc["count_from"], doc["count_until"] = start, until
    doc["never_until"] = max(start, min(until, doc.get("first_seen_year") or FOREVER))


def roster_window(doc: dict) -> tuple[int, int] | None:
    """(from, until) years of an ASN on the roster: active in Y when from <= Y < until (left in
    or before Y: out of Y's figures); None for an ASN not on it."""
    roster = doc.get("roster") if doc.get("listed") else None
    if not roster:
        return None
    tmt = roster.get("tmt")
    start = int(str(tmt)[:4]) if tmt else ROSTERED_SINCE_EVER
    until = wib_year(roster["left_at"]) if roster.get("left_at") else FOREVER
    return start, until


def counts_in(asn: dict, year: int) -> bool:
    """Whether the ASN's JP of ``year`` count in ``year``'s figures: an ASN on the roster only
    while active in it; one not on it wherever they earned JP."""
    window = roster_window(asn)
    return window is None or window[0] <= year < window[1]


def asn_year_standing(asn: dict | None, year: int) -> dict:
    """What an ASN-year document keeps of its ASN for its contribution: on the roster or not,
    whether that year counts, and what their own target depends on (jenis_asn, TMT)."""
    asn = asn or {}
    roster = asn.get("roster") if asn.get("listed") else None
    return {"listed": bool(asn.get("listed")), "counted": counts_in(asn, year),
            "jenis_asn": (roster or {}).get("jenis_asn"), "tmt": (roster or {}).get("tmt")}


def standing_changed(before: dict | None, after: dict) -> bool:
    """Whether what an ASN's years count (the years, jenis_asn, TMT) changed: their ASN-year
    documents must follow."""
    def standing(doc: dict) -> tuple:
        roster = (doc.get("roster") or {}) if doc.get("listed") else {}
        return bool(doc.get("listed")), roster_window(doc), roster.get("jenis_asn"), roster.get("tmt")

    return standing(before or {}) != standing(after)


def own_target(cfg: ReportingConfig, year: int, jenis_asn: str | None, tmt) -> int:
    """The yearly JP target an ASN is measured against in ``year``: by jenis_asn (PNS
    ``JP_TARGET``, PPPK ``JP_TARGET_PPPK``), pro-rated from a TMT in that year as at the
    checkpoints (``yearly_target_of``)."""
    if tmt is not None and not isinstance(tmt, date):
        tmt = date.fromisoformat(str(tmt)[:10])
    if tmt is not None and tmt.year > year:
        tmt = None  # not yet appointed: measured (if at all) against the full target
    return yearly_target_of(cfg, year, jenis_asn, tmt) or cfg.yearly_target(jenis_asn)


def headcount(doc: dict | None, year: int) -> dict:
    """An agency's headcount in ``year`` from its headcount document (see ``asn_contribution``)."""
    doc = doc or {}

    def upto(name: str) -> int:
        return sum(n for y, n in (doc.get(name) or {}).items() if int(y) <= year)

    rostered = upto("rostered_from") - upto("rostered_until")
    never = upto("never_from") - upto("never_until")
    return {"rostered": rostered, "never_enrolled": never,
            "unlisted": (doc.get("unlisted") or {}).get(str(year), 0)}


def never_enrolled_item(asn: dict) -> dict:
    """An ASN of the never-enrolled list, from their state document."""
    roster = asn.get("roster") or {}
    return {"nip": asn["_id"], "name": asn.get("name"), "agency": asn.get("agency"),
            "agency_name": asn.get("agency_name") or agency_name(asn.get("agency")),
            "position": asn.get("position"), "golongan": roster.get("golongan"),
            "jenis_asn": roster.get("jenis_asn"), "tmt": roster.get("tmt"),
            "supervisor_nip": roster.get("supervisor_nip")}


def distribution_bucket(jp: int, bounds: tuple[int, ...]) -> str:
    """``"0"``, ``"1-4"``, ``"5-9"``, … ``"40+"`` for bounds (5, 10, …, 40)."""
    if jp <= 0:
        return "0"
    low = 1
    for bound in bounds:
        if jp < bound:
            return f"{low}-{bound - 1}"
        low = bound
    return f"{low}+"


def bucket_labels(bounds: tuple[int, ...]) -> list[str]:
    labels, low = ["0"], 1
    for bound in bounds:
        labels.append(f"{low}-{bound - 1}")
        low = bound
    return labels + [f"{low}+"]


def slices_of(jp_by: dict) -> dict[str, dict]:
    """JP of one ASN-year per slice (all, per kind, per competency type, per kind×type), each
    with its own breakdown by competency type and by kind."""
    slices: dict[str, dict] = {}
    for key, jp in (jp_by or {}).items():
        if jp <= 0:
            continue
        kind, _, ctype = key.partition("|")
        for name in ("all", f"k:{kind}", f"t:{ctype}", f"kt:{kind}:{ctype}"):
            s = slices.setdefault(name, {"jp": 0, "by_type": defaultdict(int), "by_kind": defaultdict(int)})
            s["jp"] += jp
            s["by_type"][ctype] += jp
            s["by_kind"][kind] += jp
    return slices


def asn_year_contribution(doc: dict, cfg: ReportingConfig) -> dict:
    """One small counter document per (year, agency, slice), so a compliance answer reads one
    document per agency whatever the filter.

    The document keeps its ASN's standing (``asn_year_standing``): an ASN on the roster who is
    not active in the year (left in or before it, or not yet appointed) adds nothing to it; an
    ASN not on the roster who earned JP adds one ``unlisted.<year>`` to their agency's headcount.
    """
    if not doc.get("agency") or (doc.get("listed") and not doc.get("counted", True)):
        return {}
    out = {}
    target = own_target(cfg, doc["year"], doc.get("jenis_asn"), doc.get("tmt"))
    for name, s in slices_of(doc.get("jp_by")).items():
        fields = {"asn": 1, "jp": s["jp"], f"d.{distribution_bucket(s['jp'], cfg.distribution_bounds)}": 1}
        if s["jp"] >= target:
            fields["met"] = 1
        fields.update({f"by_type.{t}": jp for t, jp in s["by_type"].items()})
        fields.update({f"by_kind.{k}": jp for k, jp in s["by_kind"].items()})
        out[("agency_years", f"{doc['year']}|{doc['agency']}|{name}")] = fields
        if name == "all" and not doc.get("listed"):
            out[("agency_headcounts", doc["agency"])] = {f"unlisted.{doc['year']}": 1}
    return out


# -- contribution bookkeeping ------------------------------------------------------------------
def encode_contribution(contribution: dict) -> list:
    # Field names hold dots, so store [[collection, id, [[field, n], ...]], ...].
    return [[coll, _id, sorted([f, n] for f, n in fields.items())]
            for (coll, _id), fields in sorted(contribution.items())]


def decode_contribution(stored: list | None) -> dict:
    return {(coll, _id): {f: n for f, n in fields} for coll, _id, fields in (stored or [])}


def difference(old: dict, new: dict) -> dict:
    delta: dict = defaultdict(dict)
    for key in set(old) | set(new):
        before, after = old.get(key, {}), new.get(key, {})
        for field in set(before) | set(after):
            change = after.get(field, 0) - before.get(field, 0)
            if change:
                delta[key][field] = change
    return dict(delta)


def add_deltas(total: dict, delta: dict) -> dict:
    """``total`` plus ``delta`` field by field (zero sums dropped), so several deltas go to the
    store as one write per collection."""
    for key, fields in delta.items():
        into = total.setdefault(key, {})
        for field, n in fields.items():
            into[field] = into.get(field, 0) + n
            if not into[field]:
                del into[field]
        if not into:
            del total[key]
    return total


def _stored_form(value):
    """``value`` as BSON keeps it (UTC milliseconds, naive; tuples as lists), for comparing a
    merged document with the stored one without a round trip."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if isinstance(value, dict):
        return {k: _stored_form(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_stored_form(v) for v in value]
    return value


def same_document(a: dict | None, b: dict | None) -> bool:
    """Whether writing ``b`` over the stored ``a`` would change nothing a reader sees.

    Types count (1 vs 1.0, True vs 1 are different), so a doubt always means a write.
    """
    def typed(value):
        if isinstance(value, dict):
            return {k: typed(v) for k, v in value.items()}
        if isinstance(value, list):
            return [typed(v) for v in value]
        return (type(value).__name__, value)

    return typed(_stored_form(a)) == typed(_stored_form(b))


def shard_of(source_id: str) -> int:
    """The counter shard a state document adds to (stable across processes and restarts)."""
    return zlib.crc32(source_id.encode()) % COUNTER_SHARDS


def physical(contribution: dict, shard: int) -> dict:
    """Contribution keys as stored: ``<id>#<shard>`` for sharded counters. A state document
    keeps these stored keys, so one written before sharding still takes back exactly what it
    added to the unsharded document, or to a shard of an earlier shard count."""
    return {(coll, f"{_id}#{shard % SHARDS[coll]}" if coll in SHARDS else _id): fields
            for (coll, _id), fields in contribution.items()}


def logical_id(collection: str, _id: str) -> str:
    if collection in SHARDS:
        head, sep, tail = _id.rpartition("#")
        if sep and tail.isdigit():
            return head
    return _id


def counter_identity(collection: str, _id: str) -> dict:
    """The fields a counter document is created with, read from its ``_id``: what queries filter on."""
    _id = logical_id(collection, _id)
    left, _, right = _id.partition("|")
    if collection == "agency_years":
        agency, _, slice_ = right.partition("|")
        return {"year": int(left), "agency": agency, "slice": slice_}
    if collection == "agency_headcounts":
        return {"agency": _id}
    if collection == "monthly":
        return {"month": left, "year": int(left[:4]), "agency": right}
    if collection == "programme_stats":
        return {"code": _id}
    return {}



def ledger_entry_without_agency(doc: dict | None) -> dict | None:
    """The ledger entry of ``doc`` minus its ``agency``: what a change of the enrolment can change.

    The agency is the ASN's current one; a move rewrites it on every entry of the ASN
    (``Projector._merge_asn``), so comparing entries without it needs no read of ``asns``.
    """
    entry = ledger_entry(doc, None) if doc else None
    if entry is not None:
        entry.pop("agency")
    return entry


# -- shortfall checkpoints -------------------------------------------------------------------
STATUSES_HOLDING_A_PLACE = ("enrolled", "waitlisted", "completed")


def checkpoint_id(year: int, checkpoint: Checkpoint) -> str:
    return f"{year}-{checkpoint.label}"


def checkpoint_at(year: int, checkpoint: Checkpoint) -> datetime:
    """The moment a checkpoint is due: the end of its day in WIB."""
    day_end = datetime(year, checkpoint.month, checkpoint.day, tzinfo=WIB) + timedelta(days=1)
    return day_end.astimezone(timezone.utc)


def parse_checkpoint(value: str, cfg: ReportingConfig) -> tuple[int, Checkpoint]:
    year, _, label = value.partition("-")
    checkpoint = cfg.checkpoint(label)
    if not year.isdigit() or len(year) != 4 or checkpoint is None:
        labels = ", ".join(c.label for c in cfg.checkpoints)
        raise Invalid(f"checkpoint {value!r} is not YEAR-LABEL with a label among {labels}", field="checkpoint")
    return int(year), checkpoint


def previous_checkpoint(year: int, checkpoint: Checkpoint, cfg: ReportingConfig) -> str:
    index = cfg.checkpoints.index(checkpoint)
    if index == 0:
        return checkpoint_id(year - 1, cfg.checkpoints[-1])
    return checkpoint_id(year, cfg.checkpoints[index - 1])


def due_checkpoints(now: datetime, cfg: ReportingConfig) -> list[str]:
    """Checkpoints whose moment has passed, within the catch-up window, oldest first."""
    window = timedelta(days=cfg.shortfall_catch_up_days)
    due = []
    for year in (now.astimezone(WIB).year - 1, now.astimezone(WIB).year):
        for checkpoint in cfg.checkpoints:
            at = checkpoint_at(year, checkpoint)
            if at <= now <= at + window:
                due.append((at, checkpoint_id(year, checkpoint)))
    return [cid for _, cid in sorted(due)]


def suggest(programmes: list[dict], jp_missing: int, exclude: set[str], limit: int) -> list[dict]:
    """Programmes that close the gap in one go first, the closest fit first."""
    candidates = [p for p in programmes if p["_id"] not in exclude and (p.get("jp") or 0) > 0]
    candidates.sort(key=lambda p: (p["jp"] < jp_missing, abs(p["jp"] - jp_missing),
                                   p.get("enrolment_closes_at") or datetime.max.replace(tzinfo=timezone.utc), p["_id"]))
    return [{"code": p["_id"], "title": p["title"], "kind": p["kind"], "competency_type": p["competency_type"],
             "jp": p["jp"], "starts_at": iso(p.get("starts_at")),
             "enrolment_closes_at": iso(p.get("enrolment_closes_at"))} for p in candidates[:limit]]


def participant_of(asn: dict) -> dict:
    """The ``participant`` of a ``shortfall_detected`` event, from the ASN's state document
    (identity from the roster when the ASN is on it)."""
    roster = asn.get("roster") or {}
    return {"nip": asn["_id"], "id_kind": asn.get("id_kind") or "nip", "name": asn.get("name") or "",
            "agency": asn["agency"], "agency_name": asn.get("agency_name") or agency_name(asn["agency"]),
            "position": asn.get("position"), "golongan": roster.get("golongan") or asn.get("golongan"),
            "jenis_asn": jenis_of(asn), "listed": bool(asn.get("listed"))}


# Pro-rated targets: a full-year PNS owes ``cfg.checkpoint_targets[label]`` JP at a checkpoint
# (5/10/15/20 by default); another ``jenis_asn`` the same table scaled to its yearly target; an
# ASN whose TMT falls in the checkpoint's year owes the share of the months served since the
# TMT's month (inclusive) among the months elapsed by the checkpoint, rounded up to whole JP.
def jenis_of(asn: dict) -> str | None:
    return (asn.get("roster") or {}).get("jenis_asn") or asn.get("jenis_asn")


def tmt_of(asn: dict) -> date | None:
    """The ASN's start of service (TMT) from the roster, as a date; None when unknown."""
    value = (asn.get("roster") or {}).get("tmt")
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def checkpoint_day(year: int, checkpoint: Checkpoint) -> date:
    """The (WIB) day of a checkpoint: an ASN whose TMT is later is not checked at it."""
    return date(year, checkpoint.month, checkpoint.day)


def checkpoint_target(cfg: ReportingConfig, year: int, checkpoint: Checkpoint, jenis_asn: str | None,
                      tmt: date | None) -> int | None:
    """JP an ASN owes at ``checkpoint`` of ``year``; None when their TMT is after it (not checked).

    ceil(table[cp] × yearly_target(jenis) / table[last] × months served / months elapsed),
    months counted from the TMT's month inclusive when the TMT falls in ``year``.
    """
    table = cfg.checkpoint_targets
    last = cfg.checkpoints[-1].label
    owed = Fraction(table[checkpoint.label]) * cfg.yearly_target(jenis_asn) / table[last]
    if tmt is not None and tmt > checkpoint_day(year, checkpoint):
        return None
    if tmt is not None and tmt.year == year:
        owed = owed * (checkpoint.month - tmt.month + 1) / checkpoint.month
    return math.ceil(owed)


def yearly_target_of(cfg: ReportingConfig, year: int, jenis_asn: str | None, tmt: date | None) -> int:
    """The ASN's own target of ``year``: what they owe at its last checkpoint (pro-rated from a
    TMT in that year)."""
    last = cfg.checkpoints[-1]
    return checkpoint_target(cfg, year, last, jenis_asn, tmt) or 0


def learning_mode(kind: str | None, cfg: ReportingConfig) -> str:
    """``klasikal`` for the programme kinds of ``REPORTING_KLASIKAL_KINDS``, else ``non-klasikal``."""
    return "klasikal" if kind in cfg.klasikal_kinds else "non-klasikal"


def checked_target(asn: dict, year: int, checkpoint: Checkpoint, cfg: ReportingConfig) -> int | None:
    """The target of ``asn`` at ``checkpoint``, or None when the checkpoint does not check them:
    a rostered ASN no longer ``aktif``, or whose TMT is after the checkpoint. (An ASN not on the
    roster is checked when seen in the year: the query decides that.)"""
    if asn.get("listed") and (asn.get("roster") or {}).get("status") != "aktif":
        return None
    return checkpoint_target(cfg, year, checkpoint, jenis_of(asn), tmt_of(asn))


def peer_figures(counts: dict[str, list[int]], minimum: int) -> dict[str, dict | None]:
    """Per agency, {agency_asn, met_share} from [active rostered ASN checked, of whom met their
    target]; None for an agency with fewer than ``minimum`` (a share of a few singles people out)."""
    return {agency: ({"agency_asn": asn, "met_share": round(met / asn, 4)} if asn >= minimum else None)
            for agency, (asn, met) in counts.items()}


def escalation(consecutive: int, supervisor_known: bool, threshold: int) -> list[str]:
    """Who gets a summary listing the ASN: the supervisor (atasan langsung) after a first miss,
    the OPD operator as well from ``threshold`` misses in a row; the OPD alone when the
    supervisor is not known."""
    if not supervisor_known:
        return ["agency"]
    return ["supervisor", "agency"] if consecutive >= threshold else ["supervisor"]


def shortfall_data(checkpoint: str, year: int, asn: dict, jp: int, target: int, yearly_target: int,
                   consecutive: int, suggestions: list, peers: dict | None, supervisor: dict | None,
                   escalate_to: list[str]) -> dict:
    """The ``data`` of a ``shortfall_detected`` event."""
    return {"participant": participant_of(asn), "year": year, "checkpoint": checkpoint, "jp_total": jp,
            "jp_target": target, "jp_missing": max(target - jp, 0), "yearly_target": yearly_target,
            "never_enrolled": asn.get("first_seen") is None, "consecutive_shortfalls": consecutive,
            "suggested_programmes": suggestions, "peers": peers, "supervisor": supervisor,
            "escalate_to": escalate_to}


def job_progress(run: dict) -> float | None:
    """Share of the checkpoint's population checked (1.0 once done); None before it is counted."""
    if run.get("status") == "done":
        return 1.0
    total = run.get("total")
    if not total:
        return None
    return round(min(run.get("checked", 0) / total, 1.0), 4)


# -- figures of the answers --------------------------------------------------------------------
SORTS = ("agency", "met_rate", "average_jp", "known_asn", "never_enrolled")
MONTH_COUNTERS = ("completions", "passed", "jp_credited", "certificates_issued", "certificates_revoked",
                  "certificates_expiring", "certificates_expired")
CERTIFICATE_COUNTERS = ("certificates_issued", "certificates_revoked", "certificates_expiring",
                        "certificates_expired")


def slice_name(kind: str | None = None, competency_type: str | None = None) -> str:
    if kind and competency_type:
        return f"kt:{kind}:{competency_type}"
    if kind:
        return f"k:{kind}"
    if competency_type:
        return f"t:{competency_type}"
    return "all"


def agency_name(code: str | None) -> str | None:
    agency = reference_agencies().get(code) if code else None
    return agency.name if agency else None


def add_counters(into: dict, doc: dict) -> dict:
    """Sum the counters of one shard of a counter document into ``into`` (nested too)."""
    for field, value in doc.items():
        if isinstance(value, dict):
            add_counters(into.setdefault(field, {}), value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and field != "year":
            into[field] = into.get(field, 0) + value
    return into


def ratio(part: float, whole: float, digits: int = 4) -> float | None:
    return round(part / whole, digits) if whole else None


def agency_row(code: str, heads: dict | None, s: dict | None, cfg: ReportingConfig, kind: str | None,
               ctype: str | None) -> dict:
    """An agency's compliance figures from its headcount of the year ``heads`` (``headcount``) and
    its summed agency-year counters ``s``: ``known_asn`` are the ASN active on the roster plus
    those not on it who earned JP; the figures are over them (never enrolled count as 0 JP)."""
    s, heads = s or {}, heads or {}
    rostered, unlisted = heads.get("rostered", 0), heads.get("unlisted", 0)
    known = rostered + unlisted
    with_jp, met, jp_total = s.get("asn", 0), s.get("met", 0), s.get("jp", 0)
    distribution = {label: s.get("d", {}).get(label, 0) for label in bucket_labels(cfg.distribution_bounds)}
    distribution["0"] = max(known - with_jp, 0)
    by_type, by_kind = s.get("by_type", {}), s.get("by_kind", {})
    return {
        "agency": code,
        "agency_name": agency_name(code),
        "known_asn": known,
        "rostered_asn": rostered,
        "unlisted_asn": unlisted,
        "never_enrolled": heads.get("never_enrolled", 0),
        "asn_with_jp": with_jp,
        "met_target": met,
        "below_target": max(known - met, 0),
        "met_rate": ratio(met, known),
        "jp_total": jp_total,
        "average_jp": ratio(jp_total, known, 2),
        "distribution": distribution,
        "jp_by_competency_type": {t: by_type.get(t, 0) for t in COMPETENCY_TYPES if not ctype or t == ctype},
        "jp_by_kind": {k: by_kind.get(k, 0) for k in PROGRAMME_KINDS if not kind or k == kind},
    }


def sort_rows(rows: list[dict], sort: str) -> list[dict]:
    """Agencies by ``sort`` (highest first; in code order for ``agency``), ties by code."""
    if sort != "agency":
        rows.sort(key=lambda r: (r[sort] is None, -(r[sort] or 0), r["agency"]))
    return rows


def compliance_totals(rows: list[dict], cfg: ReportingConfig) -> dict:
    known = sum(r["known_asn"] for r in rows)
    met = sum(r["met_target"] for r in rows)
    jp_total = sum(r["jp_total"] for r in rows)
    distribution = {label: sum(r["distribution"][label] for r in rows)
                    for label in bucket_labels(cfg.distribution_bounds)}
    heads = {k: sum(r[k] for r in rows) for k in ("rostered_asn", "unlisted_asn", "never_enrolled")}
    return {"known_asn": known, **heads, "asn_with_jp": sum(r["asn_with_jp"] for r in rows), "met_target": met,
            "below_target": known - met, "met_rate": ratio(met, known), "jp_total": jp_total,
            "average_jp": ratio(jp_total, known, 2), "distribution": distribution}


def page_rows(rows: list[dict], key: str, limit: int, cursor: str | None,
              page: int | None = None) -> tuple[list[dict], str | None]:
    """One page of rows computed in memory (in their order), after the row whose ``key`` the
    cursor names; the deprecated ``page`` counts whole pages from the start."""
    if cursor:
        [last] = decode_cursor(cursor, 1)
        keys = [str(r[key]) for r in rows]
        if last not in keys:
            raise Invalid("cursor is not one this service returned", field="cursor")
        start = keys.index(last) + 1
    else:
        start = ((page or 1) - 1) * limit
    items = rows[start:start + limit]
    more = start + limit < len(rows)
    return items, (encode_cursor(items[-1][key]) if more and items else None)


def ledger_year(year: int, doc: dict | None, entries: list[dict], cfg: ReportingConfig,
                target: int | None = None) -> dict:
    """One year of an ASN's ledger: its entries, JP total against their own ``target`` of that
    year (``own_target``; the PNS target when not given), JP by type and kind."""
    doc = doc or {}
    target = cfg.jp_target if target is None else target
    total = doc.get("jp_total", 0)
    by_type: dict[str, int] = defaultdict(int)
    by_kind: dict[str, int] = defaultdict(int)
    for key, jp in (doc.get("jp_by") or {}).items():
        kind, _, ctype = key.partition("|")
        by_type[ctype] += jp
        by_kind[kind] += jp
    # klasikal or non-klasikal by programme kind (REPORTING_KLASIKAL_KINDS): labelled when
    # answering, so a change of the setting needs no rebuild.
    by_mode = {"klasikal": 0, "non-klasikal": 0}
    for entry in entries:
        entry["learning_mode"] = learning_mode(entry.get("kind"), cfg)
        by_mode[entry["learning_mode"]] += entry.get("jp") or 0
    return {"year": year, "jp_total": total, "target_jp": target, "target_met": total >= target,
            "jp_missing": max(target - total, 0),
            "jp_by_competency_type": {t: by_type.get(t, 0) for t in COMPETENCY_TYPES},
            "jp_by_kind": {k: v for k, v in sorted(by_kind.items()) if v},
            "jp_by_learning_mode": by_mode,
            "entries": entries}


def programme_figures(prog: dict | None, stats: dict | None, code: str) -> dict:
    """A programme's catalogue entry with its enrolment and result counts and rates: of its
    peserta (the seats); its narasumber apart (``speakers``: enrolled or completed)."""
    prog, stats = prog or {}, stats or {}
    enrolled, completed = stats.get("enrolled", 0), stats.get("completed", 0)
    passed, failed, no_show = stats.get("passed", 0), stats.get("failed", 0), stats.get("no_show", 0)
    capacity = prog.get("capacity")
    seats_taken = enrolled + completed
    status = "cancelled" if prog.get("cancelled") else ("published" if prog.get("published") else "unknown")
    return {
        "code": code, "title": prog.get("title"), "kind": prog.get("kind"),
        "competency_type": prog.get("competency_type"), "jp": prog.get("jp"), "status": status,
        "starts_at": prog.get("starts_at"), "capacity": capacity,
        "enrolment_opens_at": prog.get("enrolment_opens_at"), "enrolment_closes_at": prog.get("enrolment_closes_at"),
        "enrolled": enrolled, "waitlisted": stats.get("waitlisted", 0), "cancelled": stats.get("cancelled", 0),
        "completed": completed, "passed": passed, "failed": failed, "no_shows": no_show,
        # Of those who sat the assessment; no-shows count in no_show_rate instead.
        "pass_rate": ratio(passed, passed + failed), "no_show_rate": ratio(no_show, completed),
        "seats_taken": seats_taken, "fill_rate": ratio(seats_taken, capacity) if capacity else None,
        "speakers": stats.get("speakers_enrolled", 0) + stats.get("speakers_completed", 0),
        "speakers_completed": stats.get("speakers_completed", 0),
    }


def year_months(year: int, counters: tuple[str, ...]) -> dict[str, dict]:
    """``{"2026-01": {counter: 0, ...}, ...}``: twelve empty months."""
    return {f"{year}-{m:02d}": dict.fromkeys(counters, 0) for m in range(1, 13)}


def certificate_months(months: dict[str, dict]) -> list[dict]:
    """Months of certificate counters as answered: ``issued``, ``revoked``, ... per month."""
    return [{"month": m, **{c.removeprefix("certificates_"): v[c] for c in CERTIFICATE_COUNTERS}}
            for m, v in months.items()]


# -- tim saya: a supervisor's staff against their targets ---------------------------------------
def current_checkpoint(cfg: ReportingConfig, year: int, today: date) -> Checkpoint:
    """The checkpoint an ASN is measured against in ``year`` as of ``today`` (WIB): the next one
    not yet past in the current year; the last of a past year; the first of a future year."""
    if year < today.year:
        return cfg.checkpoints[-1]
    if year > today.year:
        return cfg.checkpoints[0]
    return next((c for c in cfg.checkpoints if checkpoint_day(year, c) >= today), cfg.checkpoints[-1])


def checkpoint_label(year: int, checkpoint: Checkpoint) -> str:
    """``triwulan IV tahun 2026`` (a label of another calendar: ``<label> tahun 2026``)."""
    return period_label_id(f"{year}-{checkpoint.label}")


def target_share(cfg: ReportingConfig, checkpoint: Checkpoint) -> float:
    """The share of the yearly target owed at ``checkpoint`` (0.25 at Q1 by default)."""
    table = cfg.checkpoint_targets
    return round(table[checkpoint.label] / table[cfg.checkpoints[-1].label], 4)


def _tmt_date(tmt) -> date | None:
    if tmt is None or isinstance(tmt, date):
        return tmt
    return date.fromisoformat(str(tmt)[:10])


def targets_of(cfg: ReportingConfig, year: int, checkpoint: Checkpoint, jenis_asn: str | None,
               tmt) -> tuple[int, int]:
    """(yearly target, target at ``checkpoint``) of an ASN in ``year``: by jenis_asn, pro-rated from
    a TMT in that year (the rules of the shortfall checkpoints). Appointed after the checkpoint:
    nothing owed at it yet."""
    tmt = _tmt_date(tmt)
    if tmt is not None and tmt.year > year:
        tmt = None  # as own_target: not yet appointed, measured (if at all) against the full target
    return own_target(cfg, year, jenis_asn, tmt), checkpoint_target(cfg, year, checkpoint, jenis_asn, tmt) or 0


def checkpoint_view(cfg: ReportingConfig, year: int, checkpoint: Checkpoint) -> dict:
    """The checkpoint of a ``GET /team`` answer: id, label in Bahasa Indonesia, target share."""
    return {"id": checkpoint_id(year, checkpoint), "label": checkpoint_label(year, checkpoint),
            "target_share": target_share(cfg, checkpoint)}


def team_member(asn: dict, jp: int, cfg: ReportingConfig, year: int, checkpoint: Checkpoint) -> dict:
    """One staff member of "tim saya": their JP of ``year`` against their own yearly target and
    the pro-rated target of ``checkpoint``."""
    target, at_checkpoint = targets_of(cfg, year, checkpoint, jenis_of(asn), tmt_of(asn))
    roster = asn.get("roster") or {}
    return {"nip": asn["_id"], "name": asn.get("name"), "position": asn.get("position"),
            "golongan": roster.get("golongan"), "jp": jp, "target": target, "checkpoint_target": at_checkpoint,
            "met_target": jp >= target, "on_track": jp >= at_checkpoint}


def team_members(staff: list[dict], jp: dict[str, int], cfg: ReportingConfig, year: int,
                 checkpoint: Checkpoint) -> list[dict]:
    """The members in name order (then NIP): never ranked by JP, so no one is singled out."""
    members = [team_member(asn, jp.get(asn["_id"], 0), cfg, year, checkpoint) for asn in staff]
    return sorted(members, key=lambda m: ((m["name"] or "").casefold(), m["nip"]))


def team_summary(members: list[dict], minimum: int) -> dict | None:
    """{count, met_target, on_track} of the team; None for fewer than ``minimum`` members
    (REPORTING_PEERS_MIN_ASN, never below 5): a share of a few people singles them out."""
    if len(members) < minimum:
        return None
    return {"count": len(members), "met_target": sum(m["met_target"] for m in members),
            "on_track": sum(m["on_track"] for m in members)}


def require_team_access(principal: Principal, supervisor_nip: str | None,
                        supervisor_agency: str | None) -> None:
    """Forbidden (403) unless ``principal`` may see the team of ``supervisor_nip``: an ASN only
    their own, an operator a supervisor of its own agency (one answer for another agency's NIP and
    an unknown one, as for ledgers), an admin anyone."""
    if principal.role == ADMIN:
        return
    if principal.role == OPERATOR:
        if supervisor_agency is None or supervisor_agency.upper() != principal.agency:
            raise Forbidden(f"an operator of {principal.agency} may see only the teams of its own staff; "
                            f"NIP {supervisor_nip} is not one of them", field="supervisor")
        return
    if supervisor_nip != principal.nip:
        raise Forbidden("an ASN may see only their own team", field="supervisor")


# -- access --------------------------------------------------------------------------------------
def require_ledger_access(principal: Principal, nip: str, agency: str | None, supervised: bool = False) -> None:
    """Forbidden (403) unless ``principal`` may read the ledger of ``nip`` (whose current agency
    is ``agency``, None when unknown; only an operator's check needs it). ``supervised``: the
    caller is the ASN's supervisor (atasan langsung) on the roster and the ASN is aktif.

    An operator may read its own agency's staff, an ASN themself and their own staff, an admin
    anyone. An operator asking for any other NIP gets one answer, whether the NIP belongs to
    another agency or to nobody: a 404 for unknown NIPs (or naming the agency it belongs to)
    would let any operator probe which NIPs the platform knows, and where they work; an ASN
    likewise gets the same 403 for a stranger's NIP and an unknown one.
    """
    if principal.role == ADMIN or principal.may_access(nip=nip, agency=agency):
        return
    if principal.role == ASN and supervised:
        return
    if principal.role == OPERATOR:
        raise Forbidden(f"an operator of {principal.agency} may see only the ledgers of its own staff; "
                        f"NIP {nip} is not one of them", field="nip")
    raise Forbidden("an ASN may see only their own ledger", field="nip")
