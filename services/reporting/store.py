"""Collections of the reporting service.

Read models live in *generations*: collection ``rm<N>_<name>``. A pointer document says
which generation answers queries (``current``) and which one a rebuild is filling
(``building``); live events are applied to both, so the swap at the end of a rebuild
loses nothing (docs/decisions/0041-read-model-rebuild.md). Shortfall runs and notices are
facts of this service, not read models: they keep plain names and survive a rebuild.
"""
from __future__ import annotations

from dataclasses import dataclass

from pymongo import ASCENDING, DESCENDING

READ_MODELS = (
    "programmes",      # catalogue: latest snapshot, capacity, enrolment window, cancellation
    "enrolments",      # per-enrolment state: one timestamped record per event type
    "ledger_entries",  # JP ledger: one entry per credited enrolment
    "asns",            # per ASN: latest identity and agency, first seen
    "asn_years",       # per ASN and year: JP totals (pre-aggregated with the ledger entry)
    "agency_years",    # per year, agency and slice (all, kind, competency type): compliance counters
    "agency_headcounts",  # per agency: ASN first seen in each year (known in Y = sum of years <= Y)
    "programme_stats",  # per programme: counters by enrolment status and result
    "monthly",         # per month and agency: completions and certificates
    "certificates",    # per certificate: state from certified/revoked/expiring/expired
    "counter_deltas",  # per event: its counter increments, until the folder adds them (folding.py)
)
STATE = "read_model_state"
POINTER_ID = "pointer"
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
    doc = db[STATE].find_one({"_id": POINTER_ID}, session=session) or {}
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
    rm.asn_years.create_index([("nip", ASCENDING), ("year", DESCENDING)])
    rm.asn_years.create_index([("year", ASCENDING), ("agency", ASCENDING)])
    rm.agency_years.create_index([("year", ASCENDING), ("slice", ASCENDING), ("agency", ASCENDING)])
    rm.monthly.create_index([("year", ASCENDING), ("agency", ASCENDING)])
    rm.programme_stats.create_index([("code", ASCENDING)])  # its counter shards
    rm.certificates.create_index([("enrolment_id", ASCENDING)])
    rm.certificates.create_index([("nip", ASCENDING)])


def drop_generation(db, generation: int) -> None:
    for name in READ_MODELS:
        db.drop_collection(collection_name(generation, name))


def create_indexes(db) -> None:
    """Run at start-up by the Mongo dependency."""
    db[STATE].update_one({"_id": POINTER_ID},
                         {"$setOnInsert": {"current": 1, "building": None, "previous": None}}, upsert=True)
    p = pointer(db)
    for generation in p.active:
        create_read_model_indexes(db, generation)
    db[SHORTFALLS].create_index([("checkpoint", ASCENDING), ("nip", ASCENDING)])
    db[SHORTFALLS].create_index([("nip", ASCENDING), ("checkpoint_at", DESCENDING)])
