"""Collections of the reporting service, their indexes and the store helpers every writer uses.

Read models live in *generations*: collection ``rm<N>_<name>``. A pointer document says
which generation answers queries (``current``) and which one a rebuild is filling
(``building``); live events are applied to both, so the swap at the end of a rebuild
loses nothing (docs/decisions/0041-read-model-rebuild.md). Shortfall runs and notices are
facts of this service, not read models: they keep plain names and survive a rebuild.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.errors import ClientBulkWriteException, DuplicateKeyError, InvalidOperation, PyMongoError

from shared.store import PROCESSED

from services.reporting.domain import (asn_contribution, counter_identity, decode_contribution, difference,
                                       encode_contribution, physical, shard_of)

log = logging.getLogger(__name__)

READ_MODELS = (
    "programmes",      # catalogue: latest snapshot, capacity, enrolment window, cancellation
    "enrolments",      # per-enrolment state: one timestamped record per event type
    "ledger_entries",  # JP ledger: one entry per credited enrolment
    "asns",            # per ASN: identity and agency (the roster's when on it), roster standing, first seen
    "asn_years",       # per ASN and year: JP totals (pre-aggregated with the ledger entry)
    "agency_years",    # per year, agency and slice (all, kind, competency type): compliance counters
    "agency_headcounts",  # per agency: ASN on the roster, never enrolled (from/until years), unlisted with JP per year
    "programme_stats",  # per programme: counters by enrolment status and result
    "monthly",         # per month and agency: completions and certificates
    "certificates",    # per certificate: state from certified/revoked/expiring/expired
    "counter_deltas",  # per event: its counter increments, until the folder adds them (commands.fold_batch)
)
STATE = "read_model_state"
POINTER_ID = "pointer"
# The projection layout the current generation was built with (1 when not recorded). 2: the
# roster (issue 19): headcounts from roster events, ASN-years keeping their ASN's standing, JP
# in the year the programme ended. A start-up migrates a generation of layout 1
# (usecases.prepare_store, commands.migrate_to_roster_layout); a rebuild builds layout 2.
LAYOUT = 2
SHORTFALL_RUNS = "shortfall_runs"
SHORTFALLS = "shortfalls"


def collection_name(generation: int, name: str) -> str:
    return f"rm{generation}_{name}"


def consumer_of(generation: int) -> str:
    """The idempotency key space of one generation (shared by live handlers and a rebuild)."""
    return f"reporting.read-models.g{generation}"


class ReadModels:
    """The read-model collections of one generation: ``rm.ledger_entries`` etc."""

    def __init__(self, db, generation: int):
        self.db = db
        self.generation = generation
        for name in READ_MODELS:
            setattr(self, name, db[collection_name(generation, name)])


@dataclass(frozen=True)
class Pointer:
    current: int
    building: int | None
    previous: int | None

    @property
    def active(self) -> tuple[int, ...]:
        """Generations a live event must reach."""
        return (self.current,) if self.building is None else (self.current, self.building)


def pointer(db, session=None) -> Pointer:
    return pointer_of(db[STATE].find_one({"_id": POINTER_ID}, session=session))


def pointer_of(doc: dict | None) -> Pointer:
    """The pointer a state document (or its absence: generation 1 alone) says."""
    doc = doc or {}
    return Pointer(doc.get("current", 1), doc.get("building"), doc.get("previous"))


def current_models(db) -> ReadModels:
    return ReadModels(db, pointer(db).current)


def create_read_model_indexes(db, generation: int) -> None:
    rm = ReadModels(db, generation)
    rm.programmes.create_index([("enrolment_closes_at", ASCENDING)])
    rm.enrolments.create_index([("nip", ASCENDING)])
    rm.enrolments.create_index([("programme_code", ASCENDING)])
    rm.ledger_entries.create_index([("nip", ASCENDING), ("year", ASCENDING), ("completed_at", ASCENDING)])
    rm.ledger_entries.create_index([("agency", ASCENDING), ("year", ASCENDING), ("nip", ASCENDING),
                                    ("completed_at", ASCENDING)])
    rm.ledger_entries.create_index([("year", ASCENDING), ("nip", ASCENDING), ("completed_at", ASCENDING)])
    rm.asns.create_index([("first_seen_year", ASCENDING), ("_id", ASCENDING)])
    rm.asns.create_index([("agency", ASCENDING)])
    # The never-enrolled list of an agency (queries.never_enrolled), in NIP order.
    rm.asns.create_index([("agency", ASCENDING), ("never_until", ASCENDING), ("_id", ASCENDING)])
    # "tim saya" (GET /team): a supervisor's staff on the roster.
    rm.asns.create_index([("roster.supervisor_nip", ASCENDING)])
    rm.asn_years.create_index([("nip", ASCENDING), ("year", DESCENDING)])
    rm.asn_years.create_index([("year", ASCENDING), ("agency", ASCENDING)])
    rm.agency_years.create_index([("year", ASCENDING), ("slice", ASCENDING), ("agency", ASCENDING)])
    rm.monthly.create_index([("year", ASCENDING), ("agency", ASCENDING)])
    rm.programme_stats.create_index([("code", ASCENDING)])  # its counter shards
    rm.certificates.create_index([("enrolment_id", ASCENDING)])
    rm.certificates.create_index([("nip", ASCENDING)])


def drop_generation(db, generation: int) -> None:
    """A generation's collections and its idempotency records."""
    for name in READ_MODELS:
        db.drop_collection(collection_name(generation, name))
    db[PROCESSED].delete_many({"consumer": consumer_of(generation)})


def counter_updates(rm: ReadModels, delta: dict) -> list[UpdateOne]:
    """The ``$inc`` of each shared counter document ``delta`` moves, for ``write_all``: in
    (collection, ``_id``) order, so concurrent writers take the documents in the same order."""
    return [UpdateOne({"_id": _id}, {"$inc": fields, "$setOnInsert": counter_identity(collection, _id)},
                      upsert=True, namespace=getattr(rm, collection).full_name)
            for (collection, _id), fields in sorted(delta.items())]


def namespace_of(write) -> str:
    """The ``db.collection`` a write model was made for (``namespace=``)."""
    return write._namespace  # pymongo keeps it there; no public accessor (4.9-4.15)


def increment_counters(rm: ReadModels, session, delta: dict) -> None:
    """``$inc`` the shared counters by ``delta`` now (in one command)."""
    write_all(rm.db.client, session, counter_updates(rm, delta))


# Servers (by their addresses) that answered that they predate MongoDB 8.0's bulkWrite.
_NO_CLIENT_BULK: set[frozenset] = set()


def write_all(client, session, writes: list) -> None:
    """Send ``writes`` (pymongo write models, each naming its ``namespace``), in order, in one
    command: MongoDB 8.0's ``bulkWrite`` across collections (SecantusDB has it too). A store
    of an older release gets one ordered ``bulk_write`` per run of writes to one collection.

    Every command is a round trip to a store that serialises them all: an event's writes to
    its state documents, ledger entry, ASN-year and counter delta go as one.
    """
    if not writes:
        return
    server = frozenset(client.nodes)
    if server not in _NO_CLIENT_BULK:
        try:
            client.bulk_write(writes, session=session, ordered=True)
            return
        except InvalidOperation as exc:
            if "8.0" not in str(exc):
                raise
            _NO_CLIENT_BULK.add(server)  # raised before anything was sent
        except ClientBulkWriteException as exc:
            raise _unwrapped(exc) from exc
    run: list = []
    for write in writes:
        if run and namespace_of(write) != namespace_of(run[0]):
            _write_run(client, session, run)
            run = []
        run.append(write)
    _write_run(client, session, run)


def _write_run(client, session, run: list) -> None:
    db_name, _, collection = namespace_of(run[0]).partition(".")
    client[db_name][collection].bulk_write(run, ordered=True, session=session)


def _unwrapped(exc: ClientBulkWriteException) -> PyMongoError:
    """What a single write would have raised: the command's own error (a write conflict,
    labelled TransientTransactionError so the transaction is retried), or a duplicate key."""
    if isinstance(exc.error, PyMongoError):
        return exc.error
    for error in exc.write_errors or []:
        if error.get("code") == 11000:
            return DuplicateKeyError(error.get("errmsg", "duplicate key"), 11000, error)
    return exc


def create_indexes(db) -> None:
    """The reporting database at start-up (the Mongo dependency): indexes, then pending
    layout migrations."""
    _create_indexes(db)
    for generation in pointer(db).active:
        migrate_cohorts_to_headcounts(db, generation)


def _create_indexes(db) -> None:
    db[STATE].update_one({"_id": POINTER_ID}, {"$setOnInsert": {"current": 1, "building": None, "previous": None,
                                                                 "layout": LAYOUT}}, upsert=True)
    p = pointer(db)
    for generation in p.active:
        create_read_model_indexes(db, generation)
    db[SHORTFALLS].create_index([("checkpoint", ASCENDING), ("nip", ASCENDING)])
    db[SHORTFALLS].create_index([("nip", ASCENDING), ("checkpoint_at", DESCENDING)])


# -- layout migrations -------------------------------------------------------------------------
# Applied at start-up so an upgrade needs no manual step. Each state document stores the
# counter keys it contributed to, so a layout change is a re-projection of the state documents
# still pointing at the old keys: in one transaction per document, take back what it added to
# the old counters and add its new contribution. Concurrent replicas and live handlers do the
# same thing to the same document, so whoever comes second finds nothing left to move. A
# migration ends by dropping the old collection; if a replica of the previous release (a
# rolling upgrade) writes to it again, the next start-up migrates those documents too.

# Until 2026-11: "known ASN" counters per (year, agency) in 8 shards; a compliance answer
# summed up to ~2,000 of them. Now one headcount document per agency (agency_headcounts).
OLD_COHORTS = "agency_cohorts"


def migrate_cohorts_to_headcounts(db, generation: int) -> int:
    """Move every ASN's known-ASN contribution from ``agency_cohorts`` to ``agency_headcounts``;
    returns how many ASN were moved."""
    old = collection_name(generation, OLD_COHORTS)
    if old not in db.list_collection_names():
        return 0
    rm = ReadModels(db, generation)
    moved = 0
    for doc in rm.asns.find({}, {"contrib": 1}):
        if any(entry[0] == OLD_COHORTS for entry in doc.get("contrib") or []):
            with db.client.start_session() as session:
                # with_transaction retries write conflicts with live handlers and other replicas.
                moved += session.with_transaction(lambda s, nip=doc["_id"]: _move(rm, s, nip))
    db.drop_collection(old)
    if moved:
        log.info("moved %d ASN from %s to agency_headcounts", moved, old)
    return moved


def _move(rm: ReadModels, session, nip: str) -> int:
    doc = rm.asns.find_one({"_id": nip}, session=session)
    before = decode_contribution(doc.get("contrib"))
    if not any(collection == OLD_COHORTS for collection, _ in before):
        return 0  # a live event or another replica got there first
    # The old collection is dropped afterwards: nothing to take back from it.
    kept = {key: fields for key, fields in before.items() if key[0] != OLD_COHORTS}
    after = {**kept, **physical(asn_contribution(doc), shard_of(nip))}
    rm.asns.update_one({"_id": nip}, {"$set": {"contrib": encode_contribution(after)}}, session=session)
    # Straight into the counters: the migration runs at start-up, before this replica folds.
    increment_counters(rm, session, difference(kept, after))
    return 1
