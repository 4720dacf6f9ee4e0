"""Read-model layout changes, applied at start-up so an upgrade needs no manual step.

Each state document stores the counter keys it contributed to, so a layout change is a
re-projection of the state documents still pointing at the old keys: in one transaction
per document, take back what it added to the old counters and add its new contribution.
Concurrent replicas and live handlers do the same thing to the same document, so whoever
comes second finds nothing left to move. A migration ends by dropping the old collection;
if a replica of the previous release (a rolling upgrade) writes to it again, the next
start-up migrates those documents too.
"""
from __future__ import annotations

import logging

from services.reporting import config as reporting_config
from services.reporting.projections import (Projector, asn_contribution, decode_contribution, difference,
                                            encode_contribution, physical, shard_of)
from services.reporting.store import ReadModels, collection_name, create_indexes, pointer

log = logging.getLogger(__name__)

# Until 2026-11: "known ASN" counters per (year, agency) in 8 shards; a compliance answer
# summed up to ~2,000 of them. Now one headcount document per agency (agency_headcounts).
OLD_COHORTS = "agency_cohorts"


def prepare(db) -> None:
    """The reporting database at start-up: indexes, then pending layout migrations."""
    create_indexes(db)
    for generation in pointer(db).active:
        migrate_cohorts_to_headcounts(db, generation)


def migrate_cohorts_to_headcounts(db, generation: int) -> int:
    """Move every ASN's known-ASN contribution from ``agency_cohorts`` to ``agency_headcounts``;
    returns how many ASN were moved."""
    old = collection_name(generation, OLD_COHORTS)
    if old not in db.list_collection_names():
        return 0
    rm = ReadModels(db, generation)
    cfg = reporting_config.current()
    moved = 0
    for doc in rm.asns.find({}, {"contrib": 1}):
        if any(entry[0] == OLD_COHORTS for entry in doc.get("contrib") or []):
            with db.client.start_session() as session:
                # with_transaction retries write conflicts with live handlers and other replicas.
                moved += session.with_transaction(lambda s, nip=doc["_id"]: _move(rm, s, cfg, nip))
    db.drop_collection(old)
    if moved:
        log.info("moved %d ASN from %s to agency_headcounts", moved, old)
    return moved


def _move(rm: ReadModels, session, cfg, nip: str) -> int:
    doc = rm.asns.find_one({"_id": nip}, session=session)
    before = decode_contribution(doc.get("contrib"))
    if not any(collection == OLD_COHORTS for collection, _ in before):
        return 0  # a live event or another replica got there first
    # The old collection is dropped afterwards: nothing to take back from it.
    kept = {key: fields for key, fields in before.items() if key[0] != OLD_COHORTS}
    after = {**kept, **physical(asn_contribution(doc), shard_of(nip))}
    rm.asns.update_one({"_id": nip}, {"$set": {"contrib": encode_contribution(after)}}, session=session)
    # Straight into the counters: the migration runs at start-up, before this replica folds.
    Projector(rm, session, cfg, fold_counters=False).apply_delta(difference(kept, after), None)
    return 1
