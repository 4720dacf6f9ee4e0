"""What changes the reporting database: functions and a class writing inside a transaction
(``tx``, or the session of one), plus the few single writes of shortfall runs and rebuilds.

- ``project``: one event into one generation of read models (``Projector``);
- ``fold_batch``: counter deltas into the counters (docs/decisions/0043-folded-counters.md);
- ``flag_shortfall`` and the checkpoint run records (docs/decisions/0042-shortfall-checkpoints.md);
- the generation pointer of a rebuild (docs/decisions/0041-read-model-rebuild.md).
"""
from __future__ import annotations

import copy
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime

from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.errors import DuplicateKeyError

from shared.timefmt import parse_time, wib_year

from services.reporting.config import ReportingConfig
from services.reporting.domain import (CERTIFICATE_EVENTS, ENROLMENT_EVENTS, PESERTA, PROGRAMME_EVENTS, ROSTER_EVENTS,
                                       add_deltas, asn_contribution, asn_year_contribution, asn_year_standing,
                                       credit_year,
                                       certificate_contribution, certificate_status, decode_contribution,
                                       difference, encode_contribution, enrolment_contribution, enrolment_status,
                                       later_record, ledger_entry, ledger_entry_without_agency,
                                       merge_enrolment_identity, merge_roster_event, newer, physical,
                                       same_document, shard_of, slim_programme, standing_changed, version)
from services.reporting.store import (LAYOUT, POINTER_ID, SHORTFALL_RUNS, SHORTFALLS, STATE, Pointer, ReadModels,
                                      counter_updates, pointer_of, write_all)

# -- projection ----------------------------------------------------------------------------------
# Programmes whose catalogue entry already holds a snapshot, per (store, database, generation,
# code). A snapshot is never removed and a current generation's number is never reused (a
# rebuild always picks a higher one), so once read the fact needs no further look.
_CATALOGUED: set[tuple] = set()
_CATALOGUED_MAX = 100_000
_UNREAD = object()  # the ASN's state has not been read in this event yet
_UNKNOWN = object()  # what a write leaves in a document is not known here: read it again if needed


class PointerMoved(Exception):
    """The generation pointer (read in the event's transaction) is not the one the caller
    applied the event for: a rebuild started or swapped. ``usecases.apply_event`` starts over."""

    def __init__(self, fresh: Pointer):
        super().__init__(f"read-model generations are now {fresh.active}")
        self.pointer = fresh


class Projector:
    """Applies one event to one generation of read models inside a transaction.

    Every command is a round trip to a store that serialises them all, so an event costs
    one read and one write command (plus ``apply_once``'s record and the commit):

    - ``prefetch`` reads, in one aggregate on the generation pointer's document, the pointer
      itself and every document the event merges into (its enrolment, certificate, ASN, the
      ASN's years, the ledger entry, the catalogue entry), each ``$lookup`` by an indexed
      field. Later reads of those come from ``seen``; anything else is found on demand.
    - writes are collected (``write``) and sent together (``send``): one ``bulkWrite`` across
      collections, in order. A read the prefetch did not cover sends what is pending first,
      so it sees this event's earlier writes.

    Writes that would change nothing are skipped, the counter increments of the event go to
    one delta document for the folder. It never uses ``findAndModify``, which SecantusDB
    answers by a collection scan.
    """

    def __init__(self, rm: ReadModels, session, cfg: ReportingConfig, cache_catalogue: bool = False,
                 fold_counters: bool = True, expected: tuple[int, ...] | None = None):
        self.rm, self.s, self.cfg = rm, session, cfg
        # Only for a current generation: a building one may be dropped and its number reused.
        self.cache_catalogue = cache_catalogue
        # Shared counters (all but asn_years) go to one delta document per event instead of ``$inc``.
        self.fold_counters = fold_counters
        # The generations the caller applies the event to; checked against the pointer as read
        # in this transaction (None: a rebuild naming its generation, no check).
        self.expected = expected
        self.deferred: dict = {}
        self.asns_written: set[str] = set()  # ASN documents this event wrote (see _increment_asn_year)
        self.seen: dict[tuple[str, str], dict | None] = {}  # (collection, _id) -> document as this transaction has it
        self.all_years: set[str] = set()  # NIPs whose every ASN-year document is in ``seen``
        self.writes: list = []  # write models not sent yet

    def apply(self, event) -> None:
        self.prefetch(event)
        name = event.name
        if name in PROGRAMME_EVENTS:
            self.programme_event(event)
        elif name in ENROLMENT_EVENTS:
            self.enrolment_event(event)
        elif name in CERTIFICATE_EVENTS:
            self.certificate_event(event)
        elif name in ROSTER_EVENTS:
            self.roster_event(event)
        self.flush()

    def flush(self) -> None:
        """Record the counter increments of this event (if any) for the folder, and send every
        write of the event."""
        if self.deferred:
            self.write("counter_deltas", InsertOne({"d": encode_contribution(self.deferred)},
                                                   namespace=self.rm.counter_deltas.full_name))
            self.deferred = {}
        self.send()

    # reads and writes
    def prefetch(self, event) -> None:
        """Read the pointer and what ``event`` merges into, in one command (see the class)."""
        data, name = event.data, event.name
        wanted: list[tuple] = []  # (as, collection, path of the key in an earlier lookup or None, foreign field)
        literals: dict[str, str] = {}

        def want(alias: str, collection: str, key: str | None, field: str = "_id", path: str | None = None) -> None:
            """Look ``collection`` up by ``field`` equal to ``key``, or to the first value at
            ``path`` of what an earlier lookup found."""
            if key is None and path is None:
                return
            if path is None:
                literals[alias] = key
            wanted.append((alias, collection, path, field))

        if name in PROGRAMME_EVENTS:
            want("programme", "programmes", data["programme"]["code"])
        elif name in ENROLMENT_EVENTS:
            eid, nip = data["enrolment_id"], data["participant"]["nip"]
            want("enrolment", "enrolments", eid)
            want("asn", "asns", nip)
            want("years", "asn_years", nip, field="nip")
            want("ledger", "ledger_entries", eid)
            self._want_catalogue(want, data["programme"]["code"])
        elif name in CERTIFICATE_EVENTS:
            nip = data["holder"]["nip"]
            want("certificate", "certificates", data["certificate_id"])
            # revoked, expiring and expired name no enrolment: the stored certificate does
            eid = data.get("enrolment_id")
            path = None if eid else "certificate.enrolment_id"
            want("enrolment", "enrolments", eid, path=path)
            want("ledger", "ledger_entries", eid, path=path)
            want("asn", "asns", nip)
            want("years", "asn_years", nip, field="nip")
            self._want_catalogue(want, data["programme"]["code"])
        elif name in ROSTER_EVENTS:
            nip = data["asn"]["nip"]
            want("asn", "asns", nip)
            want("years", "asn_years", nip, field="nip")
        pipeline: list = [{"$match": {"_id": POINTER_ID}}]
        if literals:
            pipeline.append({"$addFields": {"_k": {alias: {"$literal": key} for alias, key in literals.items()}}})
        for alias, collection, path, field in wanted:
            if path is not None:
                # A scalar key from the first document found: SecantusDB's indexed $lookup
                # matches no array-valued localField, nor resolves "$<array>.<field>".
                found, _, key_field = path.partition(".")
                pipeline += [{"$addFields": {"_f": {"$arrayElemAt": [f"${found}", 0]}}},
                             {"$addFields": {f"_k.{alias}": f"$_f.{key_field}"}}]
            pipeline.append({"$lookup": {"from": getattr(self.rm, collection).name, "localField": f"_k.{alias}",
                                         "foreignField": field, "as": alias}})
        row = next(iter(self.rm.db[STATE].aggregate(pipeline, session=self.s)), None)
        fresh = pointer_of(row)
        if self.expected is not None and fresh.active != self.expected:
            raise PointerMoved(fresh)
        if row is None:
            return  # no pointer document yet: nothing prefetched, reads go to the store
        certificate = next(iter(row.get("certificate") or []), None)
        for alias, collection, path, field in wanted:
            found = row.get(alias) or []
            if field == "nip":
                nip = literals[alias]
                for doc in found:
                    self.seen[(collection, doc["_id"])] = doc
                self.all_years.add(nip)
                continue
            key = literals.get(alias) or (certificate or {}).get("enrolment_id")
            if key is not None:
                self.seen[(collection, key)] = found[0] if found else None

    def _want_catalogue(self, want: Callable, code: str) -> None:
        key = self._catalogue_key(code)
        if key is None or key not in _CATALOGUED:
            want("programme", "programmes", code)

    def read(self, collection: str, _id: str) -> dict | None:
        """The document as this transaction has it: prefetched, written by this event, or
        found now (after sending this event's pending writes). Callers copy before changing it."""
        key = (collection, _id)
        if key in self.seen:
            return self.seen[key]
        if collection == "asn_years" and _id.partition("|")[0] in self.all_years:
            return None
        self.send()
        doc = getattr(self.rm, collection).find_one({"_id": _id}, session=self.s)
        self.seen[key] = doc
        return doc

    def years_of(self, nip: str) -> list[dict]:
        """Copies of every ASN-year document of ``nip``, in ``_id`` order."""
        if nip not in self.all_years:
            self.send()
            for doc in self.rm.asn_years.find({"nip": nip}, session=self.s):
                self.seen[("asn_years", doc["_id"])] = doc
            self.all_years.add(nip)
        return [copy.deepcopy(doc) for (collection, _id), doc in sorted(self.seen.items(), key=lambda kv: kv[0])
                if collection == "asn_years" and doc is not None and _id.partition("|")[0] == nip]

    def write(self, collection: str, model, _id: str | None = None, result=_UNKNOWN) -> None:
        """Queue ``model`` (made with its collection's ``namespace``); ``result`` is the document
        ``_id`` holds after it (None: deleted), when the caller knows it."""
        self.writes.append(model)
        if _id is None:
            return
        if result is _UNKNOWN:
            self.seen.pop((collection, _id), None)
            if collection == "asn_years":
                self.all_years.discard(_id.partition("|")[0])
        else:
            self.seen[(collection, _id)] = copy.deepcopy(result)

    def send(self) -> None:
        """Send the pending writes: one command."""
        if self.writes:
            write_all(self.rm.db.client, self.s, self.writes)
            self.writes = []

    def _ns(self, collection: str) -> str:
        return getattr(self.rm, collection).full_name

    def _replace(self, collection: str, doc: dict) -> None:
        self.write(collection, ReplaceOne({"_id": doc["_id"]}, doc, upsert=True, namespace=self._ns(collection)),
                   doc["_id"], doc)

    # programmes
    def programme_event(self, event) -> None:
        data, v = event.data, version(event)
        code = data["programme"]["code"]
        stored = self.read("programmes", code)
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
            self._replace("programmes", doc)

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
        stored = self.read("programmes", code)
        if stored is not None and "snapshot_v" in stored:
            # Read in this transaction before it wrote the catalogue: committed, so it stays true.
            if key is not None:
                if len(_CATALOGUED) >= _CATALOGUED_MAX:
                    _CATALOGUED.clear()
                _CATALOGUED.add(key)
            return
        doc = copy.deepcopy(stored) if stored else {"_id": code}
        if self._merge_programme_snapshot(doc, snapshot, v):
            self._replace("programmes", doc)

    # enrolments
    def enrolment_event(self, event) -> None:
        data, v = event.data, version(event)
        name = event.name
        at = parse_time(data[f"{name}_at"])
        self._catalogue_snapshot(data["programme"], v)
        asn = self._merge_asn(data["participant"], v, at)
        record = {"at": at, "event_id": event.id}
        if name == "enrolled":
            record.update(promoted_from_waitlist=data["promoted_from_waitlist"], role=data.get("role") or PESERTA)
        elif name == "waitlisted":
            record["position"] = data["position"]
        elif name == "cancelled":
            record.update(previous_status=data["previous_status"], reason=data["reason"], by=data["cancelled_by"])
        else:
            record.update(result=data["result"], passed=data["passed"], attended=data["attended"],
                          score=data.get("score"), jp_earned=data["jp_earned"], role=data.get("role") or PESERTA)

        def merge(doc: dict) -> None:
            if newer(v, doc.get("snapshot_v")):
                doc.update(snapshot_v=v, programme=slim_programme(data["programme"]),
                           participant=dict(data["participant"]), nip=data["participant"]["nip"],
                           programme_code=data["programme"]["code"])
            doc[name] = later_record(doc.get(name), record)

        # The enrolment's ASN is the event's participant: _merge_asn just read their state.
        self.reproject_enrolment(data["enrolment_id"], merge, asn)

    def reproject_enrolment(self, enrolment_id: str, merge: Callable[[dict], None],
                            asn: dict | None | object = _UNREAD) -> None:
        """Merge into the enrolment's state and move its counters and ledger entry along.

        ``asn`` is the ASN's state document when the caller has it; otherwise its agency and
        standing are read only if a new ledger entry or a new ASN-year document needs them.
        """
        stored = self.read("enrolments", enrolment_id)
        doc = copy.deepcopy(stored) if stored else {"_id": enrolment_id}
        old = decode_contribution(doc.get("contrib"))
        merge(doc)
        new = physical(enrolment_contribution(doc), shard_of(enrolment_id))
        doc["status"] = enrolment_status(doc)
        doc["contrib"] = encode_contribution(new)
        if not same_document(stored, doc):
            self._replace("enrolments", doc)

        def standing() -> dict | None:
            nonlocal asn
            if asn is _UNREAD:
                asn = self.read("asns", doc["nip"]) if doc.get("nip") else None
            return asn

        def agency() -> str | None:
            return (standing() or {}).get("agency")

        delta = difference(old, new)
        self.apply_delta(delta, standing() if any(c == "asn_years" for c, _ in delta) else None)
        # Write only what differs from the entry the ledger holds (its agency is the ASN's own,
        # moved with them: _update_asn).
        after = ledger_entry_without_agency(doc)
        current = self.read("ledger_entries", enrolment_id)
        if after is None:
            if current is not None:
                self.write("ledger_entries", DeleteOne({"_id": enrolment_id}, namespace=self._ns("ledger_entries")),
                           enrolment_id, None)
            return
        if current is not None:
            changes = {k: v for k, v in after.items() if not same_document({"v": current.get(k)}, {"v": v})}
            if changes:
                self.write("ledger_entries", UpdateOne({"_id": enrolment_id}, {"$set": changes},
                                                       namespace=self._ns("ledger_entries")),
                           enrolment_id, {**current, **changes})
            return
        # A new entry (or one missing from the ledger): written whole, with the ASN's agency.
        self._replace("ledger_entries", ledger_entry(doc, agency()))

    def apply_delta(self, delta: dict, asn: dict | None) -> None:
        """Move the counters by ``delta``: the ASN-year documents at once (one per ASN, not
        hot), then the shared counters those move, with the rest of ``delta``: recorded as
        this event's delta for the folder (``fold_batch``), or incremented in this transaction
        when the projector does not fold."""
        groups: dict[str, list] = defaultdict(list)
        for (collection, _id), fields in sorted(delta.items()):
            groups[collection].append((_id, fields))
        follow: dict = {}
        for collection in sorted(groups):
            if collection == "asn_years":
                for _id, fields in groups[collection]:
                    add_deltas(follow, self._increment_asn_year(_id, fields, asn))
                continue
            part = {(collection, _id): fields for _id, fields in groups[collection]}
            if self.fold_counters:
                add_deltas(self.deferred, part)
            else:
                self.writes.extend(counter_updates(self.rm, part))
        if follow:
            self.apply_delta(follow, None)

    def _increment_asn_year(self, _id: str, fields: dict, asn: dict | None) -> dict:
        """``$inc`` one ASN-year document and store its new contribution in the same write
        (derived from the document as read plus the increment); returns the change of the
        agency-year counters. A new document takes its ASN's (``asn``) agency and standing.

        Not ``findAndModify``: SecantusDB answers it by scanning the collection (~15 ms at
        1,000 documents, ~60 ms at 4,000), where a find and an update by ``_id`` cost ~1 ms each.
        """
        stored = self.read("asn_years", _id)
        nip, _, year = _id.partition("|")
        insert = {"nip": nip, "year": int(year), "agency": (asn or {}).get("agency"),
                  **asn_year_standing(asn, int(year))}
        doc = copy.deepcopy(stored) if stored else {"_id": _id, **insert}
        for path, n in fields.items():
            *parents, leaf = path.split(".")
            into = doc
            for part in parents:
                into = into.setdefault(part, {})
            into[leaf] = into.get(leaf, 0) + n
        old = decode_contribution(doc.get("contrib"))
        new = physical(asn_year_contribution(doc, self.cfg), shard_of(_id))
        encoded = encode_contribution(new)
        update = {"$inc": fields, "$set": {"contrib": encoded}}
        if stored is None:
            update["$setOnInsert"] = insert
            if nip not in self.asns_written:
                # A new ASN-year takes its ASN's standing: this transaction must write the ASN's
                # document, so that a roster event changing that standing at the same moment
                # (which writes it too) conflicts and retries, and sees the new year. Otherwise
                # neither would see the other's write and this year would keep a stale standing.
                held = self.seen.get(("asns", nip), _UNKNOWN)
                self.write("asns", UpdateOne({"_id": nip}, {"$inc": {"asn_years_created": 1}},
                                             namespace=self._ns("asns")), nip,
                           {**held, "asn_years_created": held.get("asn_years_created", 0) + 1}
                           if isinstance(held, dict) else _UNKNOWN)
        self.write("asn_years", UpdateOne({"_id": _id}, update, upsert=True, namespace=self._ns("asn_years")),
                   _id, {**doc, "contrib": encoded})
        return difference(old, new)

    def _recontribute_asn_years(self, docs: list, asn: dict) -> dict:
        """Store each ASN-year document's new contribution with its ASN's (``asn``) agency and
        standing; returns the summed change of the agency-year counters."""
        delta = {}
        for doc in sorted((d for d in docs if d is not None), key=lambda d: d["_id"]):
            follow = {**({"agency": asn["agency"]} if asn.get("agency") is not None else {}),
                      **asn_year_standing(asn, doc["year"])}
            kept = {k: doc.get(k) for k in follow}
            doc.update(follow)
            old = decode_contribution(doc.get("contrib"))
            new = physical(asn_year_contribution(doc, self.cfg), shard_of(doc["_id"]))
            encoded = encode_contribution(new)
            if any(doc.get(k) != kept[k] for k in kept) or not same_document({"v": doc.get("contrib")}, {"v": encoded}):
                self.write("asn_years", UpdateOne({"_id": doc["_id"]}, {"$set": {**follow, "contrib": encoded}},
                                                  namespace=self._ns("asn_years")),
                           doc["_id"], {**doc, "contrib": encoded})
            add_deltas(delta, difference(old, new))
        return delta

    # ASN identity, agency and roster standing
    def _merge_asn(self, participant: dict, v: list, seen_at: datetime) -> dict:
        """Merge the participant into their ASN document; returns the ASN's state document."""
        return self._update_asn(participant["nip"], lambda doc: merge_enrolment_identity(doc, participant, v, seen_at))

    def roster_event(self, event) -> None:
        """An ``asn_registered``/``asn_updated``/``asn_left``: the ASN's roster entry (the
        highest version wins), and the figures of every year their standing changes."""
        self._update_asn(event.data["asn"]["nip"], lambda doc: merge_roster_event(doc, event.name, event.data))

    def _update_asn(self, nip: str, merge: Callable[[dict], None]) -> dict:
        """Merge into the ASN's state document and move what follows it: their headcount
        contribution; when their agency or the years they count in change, their ASN-year
        documents (and, for a move, their ledger entries)."""
        stored = self.read("asns", nip)
        doc = copy.deepcopy(stored) if stored else {"_id": nip}
        old = decode_contribution(doc.get("contrib"))
        merge(doc)
        new = physical(asn_contribution(doc), shard_of(nip))
        doc["contrib"] = encode_contribution(new)
        # Unchanged for an older or repeated event of a known ASN: nothing to write.
        if not same_document(stored, doc):
            self._replace("asns", doc)
            self.asns_written.add(nip)
        self.apply_delta(difference(old, new), None)
        if stored is None:
            return doc  # no ASN-year document or ledger entry can exist before their ASN document
        moved = stored.get("agency") is not None and doc.get("agency") != stored.get("agency")
        if moved or standing_changed(stored, doc):
            # Their years follow them to the new agency, and count (or not) as their roster standing says.
            self.apply_delta(self._recontribute_asn_years(self.years_of(nip), doc), None)
        if moved:
            self.write("ledger_entries", UpdateMany({"nip": nip}, {"$set": {"agency": doc["agency"]}},
                                                    namespace=self._ns("ledger_entries")))
            for key, entry in list(self.seen.items()):
                if key[0] == "ledger_entries" and entry is not None and entry.get("nip") == nip:
                    self.seen[key] = {**entry, "agency": doc["agency"]}
        return doc

    # layout migration (migrate_to_roster_layout)
    def move_to_credit_year(self, enrolment_id: str) -> None:
        """Move an enrolment's ASN-year counters and ledger entry to the year its programme ended."""
        self.reproject_enrolment(enrolment_id, lambda doc: None)
        enrolment = self.read("enrolments", enrolment_id)
        entry = ledger_entry(enrolment, None) if enrolment else None
        if entry is not None:
            self.write("ledger_entries", UpdateOne({"_id": enrolment_id}, {"$set": {"year": entry["year"]}},
                                                   namespace=self._ns("ledger_entries")), enrolment_id)
        self.flush()

    def restand_asn_years(self, nip: str) -> None:
        """The ASN's years take their standing (and agency) from the ASN's document."""
        asn = self.read("asns", nip)
        if asn is not None:
            self.apply_delta(self._recontribute_asn_years(self.years_of(nip), asn), None)
        self.flush()

    def recontribute_asn(self, nip: str) -> None:
        """The ASN's headcount contribution recomputed from their document."""
        if self.read("asns", nip) is not None:
            self._update_asn(nip, lambda doc: None)
        self.flush()

    # certificates
    def certificate_event(self, event) -> None:
        data, v = event.data, version(event)
        cid = data["certificate_id"]
        self._catalogue_snapshot(data["programme"], v)
        stored = self.read("certificates", cid)
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
            self._replace("certificates", doc)
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



def project(tx, event, generation: int, cfg: ReportingConfig, cache_catalogue: bool = False,
            fold_counters: bool = True, expected: tuple[int, ...] | None = None) -> None:
    """Apply ``event`` to generation ``generation`` in transaction ``tx`` (``store.apply_once``
    records it as applied in the same transaction); ``expected``: the generations the caller
    applies it to, which the pointer read in this transaction must still name (``PointerMoved``)."""
    Projector(ReadModels(tx.db, generation), tx.session, cfg, cache_catalogue=cache_catalogue,
              fold_counters=fold_counters, expected=expected).apply(event)


# -- counter folding -------------------------------------------------------------------------------
def fold_batch(tx, generation: int, limit: int, expected: tuple[int, ...] | None = None) -> int:
    """Fold up to ``limit`` deltas of ``generation`` into its counters and delete them, in one
    transaction: a delta is counted exactly once. Returns how many were folded.

    Two commands besides the commit: one read of the generation pointer with the deltas
    (``expected``: the generations the folder folds, which the pointer must still name, else
    ``PointerMoved``), and one write with every counter's ``$inc`` and the deletion of the deltas."""
    rm = ReadModels(tx.db, generation)
    row = next(iter(tx.db[STATE].aggregate([
        {"$match": {"_id": POINTER_ID}},
        {"$lookup": {"from": rm.counter_deltas.name, "pipeline": [{"$limit": limit}], "as": "deltas"}}],
        session=tx.session)), None)
    fresh = pointer_of(row)
    if expected is not None and fresh.active != expected:
        raise PointerMoved(fresh)
    deltas = row["deltas"] if row is not None else list(rm.counter_deltas.find({}, session=tx.session).limit(limit))
    if not deltas:
        return 0
    total: dict = {}
    for delta in deltas:
        add_deltas(total, decode_contribution(delta["d"]))
    write_all(tx.db.client, tx.session, counter_updates(rm, total) + [
        DeleteMany({"_id": {"$in": [d["_id"] for d in deltas]}}, namespace=rm.counter_deltas.full_name)])
    return len(deltas)


# -- shortfall checkpoints ---------------------------------------------------------------------------
def flag_shortfall(tx, checkpoint: str, year: int, asn: dict, jp: int, consecutive: int, now: datetime,
                   data: dict) -> None:
    """The ASN's notice of ``checkpoint`` and its ``shortfall_detected`` event; a second notice
    of the same ASN and checkpoint is a DuplicateKeyError (``<checkpoint>|<nip>`` is unique).
    The notice keeps who is told (``escalate_to``) so the run's figures count from the notices."""
    nip = asn["_id"]
    tx.db[SHORTFALLS].insert_one({"_id": f"{checkpoint}|{nip}", "checkpoint": checkpoint, "nip": nip,
                                  "year": year, "jp_total": jp, "jp_target": data["jp_target"],
                                  "consecutive": consecutive, "checkpoint_at": now, "agency": asn["agency"],
                                  "never_enrolled": data["never_enrolled"],
                                  "supervisor_nip": (data["supervisor"] or {}).get("nip"),
                                  "escalate_to": data["escalate_to"]}, session=tx.session)
    tx.emit("shortfall_detected", nip, data)


def request_checkpoint_run(db, checkpoint: str, year: int, now: datetime) -> dict:
    """An admin asked for ``checkpoint``: the run document says so (``requested``) until a replica
    has done it, so a run that no replica finished (a crash) is taken up by the next loop pass."""
    update = {"$set": {"requested": True, "requested_at": now},
              "$setOnInsert": {"status": "queued", "year": year, "checked": 0}}
    try:
        db[SHORTFALL_RUNS].update_one({"_id": checkpoint}, update, upsert=True)
    except DuplicateKeyError:  # two requests inserting at once: the document exists now
        db[SHORTFALL_RUNS].update_one({"_id": checkpoint}, update, upsert=True)
    return db[SHORTFALL_RUNS].find_one({"_id": checkpoint})


def start_checkpoint_run(db, checkpoint: str, year: int, holder: str, now: datetime, total: int,
                         targets: dict, checked: int, first_start: bool) -> None:
    """The run starts (or resumes, after ``checked`` ASN) with its population counted."""
    fields = {"status": "running", "holder": holder, "year": year, "total": total, "checked": checked,
              "targets": targets}
    if first_start:
        fields["started_at"] = now
    db[SHORTFALL_RUNS].update_one({"_id": checkpoint}, {"$set": fields}, upsert=True)


def record_checkpoint_progress(db, checkpoint: str, holder: str, cursor: str, checked: int,
                               counts: dict) -> None:
    """Progress after a batch: where a resumed run goes on (``cursor``: the last NIP done)."""
    db[SHORTFALL_RUNS].update_one({"_id": checkpoint, "holder": holder, "status": "running"},
                                  {"$set": {"cursor": cursor, "checked": checked, **counts}})


def pause_checkpoint_run(db, checkpoint: str, holder: str) -> None:
    """A graceful stop ended the run after a batch: it waits (``queued``) for a replica to resume it."""
    db[SHORTFALL_RUNS].update_one({"_id": checkpoint, "holder": holder, "status": "running"},
                                  {"$set": {"status": "queued"}})


def finish_checkpoint_run(db, checkpoint: str, checked: int, counts: dict, jp_target: int, now: datetime) -> None:
    db[SHORTFALL_RUNS].update_one({"_id": checkpoint}, {"$set": {
        "status": "done", "finished_at": now, "checked": checked, **counts,
        # the first version's names, read by older tools
        "asn_checked": checked, "emitted": counts["nudged"], "jp_target": jp_target}})


# -- layout migration: the roster (store.LAYOUT 2) --------------------------------------------------------
# Read models of an earlier release counted every ASN ever enrolled, put a JP entry in the year
# its completion was recorded, and their ASN-years knew nothing of the roster. At start-up the
# current generation is brought to this layout, one transaction per document, through the
# projector itself: each step recomputes a document's contribution and moves only the
# difference (as deltas for the folder), so a replica or live handler doing the same a moment
# earlier leaves it nothing to move, and an interrupted migration is finished by the next start.
def migrate_to_roster_layout(db, cfg: ReportingConfig, generation: int) -> dict:
    """Bring ``generation`` to the roster layout; returns how many documents of each kind moved."""
    rm = ReadModels(db, generation)
    moved = {"ledger_entries": 0, "asn_years": 0, "asns": 0}

    def each(fn) -> None:
        with db.client.start_session() as session:
            # with_transaction retries write conflicts with live handlers and other replicas.
            session.with_transaction(lambda s: fn(Projector(ReadModels(db, generation), s, cfg)))

    # 1. JP entries into the year their programme ended.
    for entry in rm.ledger_entries.find({}, {"year": 1, "ends_at": 1, "completed_at": 1}):
        if credit_year({"ends_at": entry.get("ends_at")}, entry["completed_at"]) != entry.get("year"):
            each(lambda p, eid=entry["_id"]: p.move_to_credit_year(eid))
            moved["ledger_entries"] += 1
    # 2. ASN-years take their ASN's standing (and ASN not on the roster count as unlisted).
    for nip in sorted({d["nip"] for d in rm.asn_years.find({"listed": {"$exists": False}}, {"nip": 1})}):
        each(lambda p, nip=nip: p.restand_asn_years(nip))
        moved["asn_years"] += 1
    # 3. ASN contribute the roster's headcount, no longer "first seen in year Y".
    for asn in rm.asns.find({}, {"contrib": 1}):
        if any(field.startswith("new_asn.") for _, _, fields in asn.get("contrib") or [] for field, _ in fields):
            each(lambda p, nip=asn["_id"]: p.recontribute_asn(nip))
            moved["asns"] += 1
    db[STATE].update_one({"_id": POINTER_ID, "current": generation}, {"$set": {"layout": LAYOUT}})
    return moved


# -- rebuild: the generation pointer ---------------------------------------------------------------------
def start_building(db, generation: int) -> None:
    """Live handlers now apply each new event to ``generation`` as well."""
    db[STATE].update_one({"_id": POINTER_ID}, {"$set": {"building": generation}})


def abandon_building(db, generation: int) -> None:
    db[STATE].update_one({"_id": POINTER_ID, "building": generation}, {"$set": {"building": None}})


def make_current(db, generation: int, previous: int, jp_target: int) -> None:
    """The swap: ``generation`` answers queries; ``previous`` stays for a rollback."""
    db[STATE].update_one({"_id": POINTER_ID}, {"$set": {
        "current": generation, "building": None, "previous": previous,
        "rebuilt_at": time.time(), "target_jp": jp_target, "layout": LAYOUT}})
