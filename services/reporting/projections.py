"""Read models built from every public event: idempotent and order-independent.

Each event is merged into a *state document* (an enrolment, a certificate, an ASN, a
programme) by rules that do not depend on arrival order: per event type the record with
the latest domain time wins; snapshots (names, agency, programme details) follow the
latest CloudEvents ``time``. Everything else is *derived* from the state document by pure
functions: the ledger entry and the counters it contributes to. A state document stores
what it last contributed; applying an event recomputes the contribution and ``$inc``s only
the difference. So a duplicate changes nothing, ``completed`` before ``enrolled`` ends in
the same figures, and a full replay gives the same figures again
(docs/decisions/0040-order-independent-projections.md).
"""
from __future__ import annotations

import copy
import zlib
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone

from pymongo import UpdateOne

from services.reporting.config import ReportingConfig
from services.reporting.store import ReadModels
from services.reporting.timefmt import parse_time, wib_month, wib_year

PROGRAMME_EVENTS = ("programme_published", "programme_updated", "programme_cancelled")
ENROLMENT_EVENTS = ("enrolled", "waitlisted", "cancelled", "completed")
CERTIFICATE_EVENTS = ("certified", "revoked", "expiring", "expired")
CONSUMED = tuple(("enrollment", n) for n in PROGRAMME_EVENTS + ENROLMENT_EVENTS) + tuple(
    ("certification", n) for n in CERTIFICATE_EVENTS)

# Seminars and workshops credit JP for attendance; the rest for a pass.
ATTENDANCE_KINDS = ("seminar", "lokakarya")
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


# -- ordering helpers ------------------------------------------------------------------------
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
        "year": wib_year(completion["at"]),
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
    stats[status] = 1
    completion = doc.get("completed")
    if completion:
        stats[completion["result"]] = 1
        month = out[("monthly", f"{wib_month(completion['at'])}|{participant['agency']}")]
        month["completions"] = 1
        jp = credited_jp(doc)
        if completion.get("passed"):
            month["passed"] = 1
        if jp > 0:
            month["jp_credited"] = jp
            key = f"{programme.get('kind')}|{programme.get('competency_type')}"
            year = out[("asn_years", f"{participant['nip']}|{wib_year(completion['at'])}")]
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
    """An ASN counts once, in their current agency, from the year the platform first saw them.

    One headcount document per agency holds the ASN first seen in each year, so "ASN known in
    year Y" is one document read per agency. It moves only when an ASN is first seen or
    changes agency, so it is not a hot document and is not sharded.
    """
    if not doc.get("agency") or doc.get("first_seen_year") is None:
        return {}
    return {("agency_headcounts", doc["agency"]): {f"new_asn.{doc['first_seen_year']}": 1}}


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
    document per agency whatever the filter."""
    if not doc.get("agency"):
        return {}
    out = {}
    for name, s in slices_of(doc.get("jp_by")).items():
        fields = {"asn": 1, "jp": s["jp"], f"d.{distribution_bucket(s['jp'], cfg.distribution_bounds)}": 1}
        if s["jp"] >= cfg.jp_target:
            fields["met"] = 1
        fields.update({f"by_type.{t}": jp for t, jp in s["by_type"].items()})
        fields.update({f"by_kind.{k}": jp for k, jp in s["by_kind"].items()})
        out[("agency_years", f"{doc['year']}|{doc['agency']}|{name}")] = fields
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


def _on_insert(collection: str, _id: str) -> dict:
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


def increment_counters(rm: ReadModels, session, delta: dict) -> None:
    """``$inc`` the shared counters by ``delta``: one command per collection, documents in
    ``_id`` order (so concurrent writers take them in the same order)."""
    groups: dict[str, list] = defaultdict(list)
    for (collection, _id), fields in sorted(delta.items()):
        groups[collection].append(UpdateOne({"_id": _id}, {"$inc": fields,
                                                           "$setOnInsert": _on_insert(collection, _id)}, upsert=True))
    for collection in sorted(groups):
        getattr(rm, collection).bulk_write(groups[collection], ordered=False, session=session)


# -- applying events ---------------------------------------------------------------------------
# Programmes whose catalogue entry already holds a snapshot, per (store, database, generation,
# code). A snapshot is never removed and a current generation's number is never reused (a
# rebuild always picks a higher one), so once read the fact needs no further round trip.
_CATALOGUED: set[tuple] = set()
_CATALOGUED_MAX = 100_000
_UNREAD = object()  # the ASN's agency has not been read in this event yet


def _without_agency(doc: dict | None) -> dict | None:
    """The ledger entry of ``doc`` minus its ``agency``: what a change of the enrolment can change.

    The agency is the ASN's current one; a move rewrites it on every entry of the ASN
    (``_merge_asn``), so comparing entries without it needs no read of ``asns``.
    """
    entry = ledger_entry(doc, None) if doc else None
    if entry is not None:
        entry.pop("agency")
    return entry


class Projector:
    """Applies one event to one generation of read models inside a transaction.

    Every command is a round trip to a store that serialises them all, so the projector
    skips writes that would change nothing, batches the counter increments of a collection
    into one command and reads each document at most once per event. It reads by ``_id``
    with ``find`` and never uses ``findAndModify``, which SecantusDB answers by a collection scan.
    """

    def __init__(self, rm: ReadModels, session, cfg: ReportingConfig, cache_catalogue: bool = False,
                 fold_counters: bool = True):
        self.rm, self.s, self.cfg = rm, session, cfg
        # Only for a current generation: a building one may be dropped and its number reused.
        self.cache_catalogue = cache_catalogue
        # Shared counters (all but asn_years) go to one delta document per event instead of ``$inc``.
        self.fold_counters = fold_counters
        self.deferred: dict = {}

    def apply(self, event) -> None:
        name = event.name
        if name in PROGRAMME_EVENTS:
            self.programme_event(event)
        elif name in ENROLMENT_EVENTS:
            self.enrolment_event(event)
        elif name in CERTIFICATE_EVENTS:
            self.certificate_event(event)
        self.flush()

    def flush(self) -> None:
        """Record the counter increments of this event (if any) for the folder."""
        if self.deferred:
            self.rm.counter_deltas.insert_one({"d": encode_contribution(self.deferred)}, session=self.s)
            self.deferred = {}

    # programmes
    def programme_event(self, event) -> None:
        data, v = event.data, version(event)
        code = data["programme"]["code"]
        stored = self.rm.programmes.find_one({"_id": code}, session=self.s)
        doc = copy.deepcopy(stored) if stored else {"_id": code}
        self._merge_programme_snapshot(doc, data["programme"], v)
        if event.name == "programme_cancelled":
            # Terminal whatever arrives after it.
            record = {"at": parse_time(data["cancelled_at"]), "event_id": event.id, "reason": data["reason"]}
            doc["cancelled"] = later_record(doc.get("cancelled"), record)
        elif newer(v, doc.get("window_v")):
            doc.update({"window_v": v, "published": True, "capacity": data["capacity"],
                        "enrolment_opens_at": parse_time(data["enrolment_opens_at"]),
                        "enrolment_closes_at": parse_time(data["enrolment_closes_at"]),
                        "passing_score": data.get("passing_score")})
        if not same_document(stored, doc):
            self.rm.programmes.replace_one({"_id": code}, doc, upsert=True, session=self.s)

    def _merge_programme_snapshot(self, doc: dict, snapshot: dict, v: list) -> bool:
        if not newer(v, doc.get("snapshot_v")):
            return False
        programme = slim_programme(snapshot)
        doc.update({"snapshot_v": v, "programme": programme, "title": programme["title"],
                    "kind": programme["kind"], "competency_type": programme["competency_type"],
                    "jp": programme["jp"], "starts_at": parse_time(programme["starts_at"]),
                    "year": wib_year(parse_time(programme["starts_at"])) if programme["starts_at"] else None})
        return True

    def _catalogue_key(self, code: str) -> tuple | None:
        if not self.cache_catalogue:
            return None
        db = self.rm.db
        return (tuple(sorted(getattr(db.client, "nodes", ()) or ())), db.name, self.rm.generation, code)

    def _catalogue_snapshot(self, snapshot: dict, v: list) -> None:
        """Enrolment and certificate events carry the programme too: they fill the catalogue
        until a programme event arrives, and never rewrite it afterwards.

        Every change of a programme emits a programme event with the full new state, so the
        latest programme event's snapshot is the programme's latest content; a later
        enrolment event carries the same content. Rewriting the catalogue on every event
        made it a document all handlers of a programme conflicted on.
        """
        code = snapshot["code"]
        key = self._catalogue_key(code)
        if key is not None and key in _CATALOGUED:
            return
        if self.rm.programmes.find_one({"_id": code, "snapshot_v": {"$exists": True}}, {"_id": 1},
                                       session=self.s):
            # Read in this transaction before it wrote the catalogue: committed, so it stays true.
            if key is not None:
                if len(_CATALOGUED) >= _CATALOGUED_MAX:
                    _CATALOGUED.clear()
                _CATALOGUED.add(key)
            return
        doc = self.rm.programmes.find_one({"_id": code}, session=self.s) or {"_id": code}
        if self._merge_programme_snapshot(doc, snapshot, v):
            self.rm.programmes.replace_one({"_id": code}, doc, upsert=True, session=self.s)

    # enrolments
    def enrolment_event(self, event) -> None:
        data, v = event.data, version(event)
        name = event.name
        at = parse_time(data[f"{name}_at"])
        self._catalogue_snapshot(data["programme"], v)
        asn_agency = self._merge_asn(data["participant"], v, at)
        record = {"at": at, "event_id": event.id}
        if name == "enrolled":
            record["promoted_from_waitlist"] = data["promoted_from_waitlist"]
        elif name == "waitlisted":
            record["position"] = data["position"]
        elif name == "cancelled":
            record.update(previous_status=data["previous_status"], reason=data["reason"], by=data["cancelled_by"])
        else:
            record.update(result=data["result"], passed=data["passed"], attended=data["attended"],
                          score=data.get("score"), jp_earned=data["jp_earned"])

        def merge(doc: dict) -> None:
            if newer(v, doc.get("snapshot_v")):
                doc.update(snapshot_v=v, programme=slim_programme(data["programme"]),
                           participant=dict(data["participant"]), nip=data["participant"]["nip"],
                           programme_code=data["programme"]["code"])
            doc[name] = later_record(doc.get(name), record)

        # The enrolment's ASN is the event's participant: _merge_asn just read their agency.
        self.reproject_enrolment(data["enrolment_id"], merge, asn_agency)

    def reproject_enrolment(self, enrolment_id: str, merge: Callable[[dict], None],
                            asn_agency: str | None | object = _UNREAD) -> None:
        """Merge into the enrolment's state and move its counters and ledger entry along.

        ``asn_agency`` is the ASN's current agency when the caller knows it; otherwise it is
        read only if a new ledger entry or a new ASN-year document needs it.
        """
        stored = self.rm.enrolments.find_one({"_id": enrolment_id}, session=self.s)
        doc = copy.deepcopy(stored) if stored else {"_id": enrolment_id}
        old = decode_contribution(doc.get("contrib"))
        merge(doc)
        new = physical(enrolment_contribution(doc), shard_of(enrolment_id))
        doc["status"] = enrolment_status(doc)
        doc["contrib"] = encode_contribution(new)
        if not same_document(stored, doc):
            self.rm.enrolments.replace_one({"_id": enrolment_id}, doc, upsert=True, session=self.s)

        def agency() -> str | None:
            nonlocal asn_agency
            if asn_agency is _UNREAD:
                asn = self.rm.asns.find_one({"_id": doc["nip"]}, {"agency": 1}, session=self.s) \
                    if doc.get("nip") else None
                asn_agency = asn and asn.get("agency")
            return asn_agency

        delta = difference(old, new)
        self.apply_delta(delta, agency() if any(c == "asn_years" for c, _ in delta) else None)
        # The entry of the state before this event is what the ledger holds: write only what differs.
        before, after = _without_agency(stored), _without_agency(doc)
        if after is None:
            if before is not None:
                self.rm.ledger_entries.delete_one({"_id": enrolment_id}, session=self.s)
            return
        changes = {} if before is None else {
            k: v for k, v in after.items() if not same_document({"v": before.get(k)}, {"v": v})}
        if before is not None and not changes:
            return
        if before is not None and self.rm.ledger_entries.update_one(
                {"_id": enrolment_id}, {"$set": changes}, session=self.s).matched_count:
            return
        # A new entry (or one missing from the ledger): written whole, with the ASN's agency.
        self.rm.ledger_entries.replace_one({"_id": enrolment_id}, ledger_entry(doc, agency()),
                                           upsert=True, session=self.s)

    def apply_delta(self, delta: dict, asn_agency: str | None) -> None:
        """Move the counters by ``delta``: the ASN-year documents at once (one per ASN, not
        hot), then the shared counters those move, with the rest of ``delta``: recorded as
        this event's delta for the folder (services.reporting.folding), or incremented now
        when the projector does not fold."""
        groups: dict[str, list] = defaultdict(list)
        for (collection, _id), fields in sorted(delta.items()):
            groups[collection].append((_id, fields))
        follow: dict = {}
        for collection in sorted(groups):
            if collection == "asn_years":
                for _id, fields in groups[collection]:
                    add_deltas(follow, self._increment_asn_year(_id, fields, asn_agency))
                continue
            part = {(collection, _id): fields for _id, fields in groups[collection]}
            if self.fold_counters:
                add_deltas(self.deferred, part)
            else:
                increment_counters(self.rm, self.s, part)
        if follow:
            self.apply_delta(follow, None)

    def _increment_asn_year(self, _id: str, fields: dict, asn_agency: str | None) -> dict:
        """``$inc`` one ASN-year document and store its new contribution in the same command
        (derived from the document as read plus the increment); returns the change of the
        agency-year counters.

        Not ``findAndModify``: SecantusDB answers it by scanning the collection (~15 ms at
        1,000 documents, ~60 ms at 4,000), where a find and an update by ``_id`` cost ~1 ms each.
        """
        stored = self.rm.asn_years.find_one({"_id": _id}, session=self.s)
        nip, _, year = _id.partition("|")
        insert = {"nip": nip, "year": int(year), "agency": asn_agency}
        doc = copy.deepcopy(stored) if stored else {"_id": _id, **insert}
        for path, n in fields.items():
            *parents, leaf = path.split(".")
            into = doc
            for part in parents:
                into = into.setdefault(part, {})
            into[leaf] = into.get(leaf, 0) + n
        old = decode_contribution(doc.get("contrib"))
        new = physical(asn_year_contribution(doc, self.cfg), shard_of(_id))
        update = {"$inc": fields, "$set": {"contrib": encode_contribution(new)}}
        if stored is None:
            update["$setOnInsert"] = insert
        self.rm.asn_years.update_one({"_id": _id}, update, upsert=True, session=self.s)
        return difference(old, new)

    def _recontribute_asn_years(self, docs: list, agency: str | None = None) -> dict:
        """Store each ASN-year document's new contribution (and ``agency`` when it moves),
        in one command; returns the summed change of the agency-year counters."""
        ops, delta = [], {}
        for doc in sorted((d for d in docs if d is not None), key=lambda d: d["_id"]):
            before_agency = doc.get("agency")
            if agency is not None:
                doc["agency"] = agency
            old = decode_contribution(doc.get("contrib"))
            new = physical(asn_year_contribution(doc, self.cfg), shard_of(doc["_id"]))
            encoded = encode_contribution(new)
            if doc.get("agency") != before_agency or not same_document({"v": doc.get("contrib")}, {"v": encoded}):
                ops.append(UpdateOne({"_id": doc["_id"]}, {"$set": {"agency": doc.get("agency"),
                                                                    "contrib": encoded}}))
            add_deltas(delta, difference(old, new))
        if ops:
            self.rm.asn_years.bulk_write(ops, ordered=False, session=self.s)
        return delta

    # ASN identity and agency
    def _merge_asn(self, participant: dict, v: list, seen_at: datetime) -> str | None:
        """Merge the participant into their ASN document; returns the ASN's current agency."""
        nip = participant["nip"]
        identity = dict(snapshot_v=v, name=participant["name"], agency=participant["agency"],
                        agency_name=participant.get("agency_name"), id_kind=participant["id_kind"],
                        position=participant.get("position"))
        stored = self.rm.asns.find_one({"_id": nip}, session=self.s)
        doc = copy.deepcopy(stored) if stored else {"_id": nip}
        old = decode_contribution(doc.get("contrib"))
        before_agency = doc.get("agency")
        if newer(v, doc.get("snapshot_v")):
            doc.update(identity)
        if doc.get("first_seen") is None or seen_at < doc["first_seen"]:
            doc["first_seen"] = seen_at
            doc["first_seen_year"] = wib_year(seen_at)
        new = physical(asn_contribution(doc), shard_of(nip))
        doc["contrib"] = encode_contribution(new)
        # Unchanged for an older or repeated event of a known ASN: nothing to write.
        if not same_document(stored, doc):
            self.rm.asns.replace_one({"_id": nip}, doc, upsert=True, session=self.s)
        self.apply_delta(difference(old, new), None)
        if before_agency is not None and doc["agency"] != before_agency:
            # The ASN moved: their years and ledger follow them to the new agency.
            years = list(self.rm.asn_years.find({"nip": nip}, session=self.s))
            self.apply_delta(self._recontribute_asn_years(years, agency=doc["agency"]), None)
            self.rm.ledger_entries.update_many({"nip": nip}, {"$set": {"agency": doc["agency"]}}, session=self.s)
        return doc.get("agency")

    # certificates
    def certificate_event(self, event) -> None:
        data, v = event.data, version(event)
        cid = data["certificate_id"]
        self._catalogue_snapshot(data["programme"], v)
        stored = self.rm.certificates.find_one({"_id": cid}, session=self.s)
        doc = copy.deepcopy(stored) if stored else {"_id": cid}
        old = decode_contribution(doc.get("contrib"))
        if newer(v, doc.get("snapshot_v")):
            doc.update(snapshot_v=v, number=data["number"], holder=dict(data["holder"]), nip=data["holder"]["nip"],
                       programme=slim_programme(data["programme"]))
        name = event.name
        if name == "certified":
            doc.update(enrolment_id=data["enrolment_id"], issued_on=parse_time(data["issued_on"]),
                       jp=data["jp"], supersedes=data.get("supersedes"))
            self._merge_validity(doc, data.get("valid_until"), v)
        elif name == "revoked":
            doc["revoked"] = later_record(doc.get("revoked"), {"at": parse_time(data["revoked_at"]),
                                                               "event_id": event.id, "reason": data["reason"]})
        elif name == "expiring":
            doc["expiring_notice"] = {"days_left": data["days_left"]}
            self._merge_validity(doc, data["valid_until"], v)
        elif name == "expired":
            doc["expired"] = True
            self._merge_validity(doc, data["valid_until"], v)
        doc["status"] = certificate_status(doc)
        new = physical(certificate_contribution(doc), shard_of(cid))
        doc["contrib"] = encode_contribution(new)
        if not same_document(stored, doc):
            self.rm.certificates.replace_one({"_id": cid}, doc, upsert=True, session=self.s)
        self.apply_delta(difference(old, new), None)
        if doc.get("enrolment_id"):
            summary = {"certificate_id": cid, "number": doc["number"], "status": doc["status"],
                       "issued_on": doc.get("issued_on"), "valid_until": doc.get("valid_until")}

            def attach(enrolment: dict) -> None:
                enrolment["certificate"] = summary

            self.reproject_enrolment(doc["enrolment_id"], attach)

    @staticmethod
    def _merge_validity(doc: dict, valid_until, v: list) -> None:
        if newer(v, doc.get("validity_v")):
            doc["validity_v"] = v
            doc["valid_until"] = parse_time(valid_until)


def apply_event(store, event, cfg: ReportingConfig, generations: tuple[int, ...] | None = None,
                fold_counters: bool = True) -> int:
    """Apply ``event`` once to every active generation; returns how many applied it anew.

    The shared counters move when the folder folds the event's delta (services.reporting.folding);
    ``fold_counters=False`` increments them in the event's transaction instead."""
    from services.reporting.store import consumer_of, pointer

    if generations:
        targets, current = generations, None  # a rebuild filling its own generation: no cache
    else:
        active = pointer(store.db)
        targets, current = active.active, active.current
    applied = 0
    for generation in targets:
        done, _ = store.apply_once(
            event, lambda tx, g=generation: Projector(ReadModels(tx.db, g), tx.session, cfg,
                                                      cache_catalogue=g == current,
                                                      fold_counters=fold_counters).apply(event),
            consumer=consumer_of(generation))
        applied += int(done)
    return applied
