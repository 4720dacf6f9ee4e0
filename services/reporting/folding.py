"""Counter folding: an event's transaction records its counter increments as one *delta*
document; one replica, the lease holder, folds batches of deltas into the counters.

Why: every completion of a burst adds to the same programme, month and agency-year
counters. Incremented in each event's own transaction (even in 8 shards), concurrent
handlers of several replicas conflicted on them and retried: the 2,000-completion scale
proof with three replicas fell to 0.4 events/s. Inserting a new document conflicts with
nothing, and a single folder sums a batch and sends one ``$inc`` per counter document.

What it costs: the counters (compliance, programme statistics, monthly figures) trail the
events by about one fold interval; the ledger, the ASN-year totals and the state documents
are still written in the event's transaction. A delta is folded exactly once: the fold
deletes the deltas it summed in the transaction that applies them.
(docs/decisions/0043-folded-counters.md)
"""
from __future__ import annotations

import logging
import os
import socket
import time
import uuid

from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge

from shared.config import settings_of
from shared.outbox import LEASES, Lease
from shared.store import Store, connect

from services.reporting.projections import add_deltas, decode_contribution, increment_counters
from services.reporting.store import ReadModels, pointer

log = logging.getLogger(__name__)

FOLD_LEASE = "reporting-counter-folding"
FOLD_INTERVAL_S = 0.25
# Deltas summed in one transaction: ~500 events of a burst touch some hundred counter documents.
FOLD_BATCH = 500
# Batches one pass folds before it lets the timer renew the lease and other work run.
FOLD_BATCHES_PER_PASS = 20
# Longer than a transaction may retry (shared.store), so a slow fold never outlives its lease.
FOLD_LEASE_S = 30.0

PENDING_DELTAS = Gauge("asn_reporting_counter_deltas_pending",
                       "Counter deltas recorded by event handlers and not yet folded (sampled by the folder)")
FOLDED_DELTAS = Counter("asn_reporting_counter_deltas_folded_total", "Counter deltas folded by this replica")
FOLDER_LEADER = Gauge("asn_reporting_counter_folder_leader", "1 when this replica holds the folding lease")


def fold_batch(store: Store, generation: int, limit: int = FOLD_BATCH) -> int:
    """Fold up to ``limit`` deltas of ``generation`` into its counters; how many were folded."""
    def fold(tx) -> int:
        rm = ReadModels(tx.db, generation)
        deltas = list(rm.counter_deltas.find({}, session=tx.session).limit(limit))
        if not deltas:
            return 0
        total: dict = {}
        for delta in deltas:
            add_deltas(total, decode_contribution(delta["d"]))
        increment_counters(rm, tx.session, total)
        rm.counter_deltas.delete_many({"_id": {"$in": [d["_id"] for d in deltas]}}, session=tx.session)
        return len(deltas)

    return store.transaction(fold)


def fold_all(store: Store, generation: int, limit: int = FOLD_BATCH, max_batches: int | None = None) -> int:
    """Fold batches until none is full (or ``max_batches``); how many deltas were folded."""
    folded, batches = 0, 0
    while max_batches is None or batches < max_batches:
        n = fold_batch(store, generation, limit)
        folded, batches = folded + n, batches + 1
        if n < limit:
            break
    return folded


def pending_deltas(db, generation: int | None = None) -> int:
    """Deltas not folded yet (of the current generation by default)."""
    generation = pointer(db).current if generation is None else generation
    return ReadModels(db, generation).counter_deltas.count_documents({})


class CounterFolder:
    """The folding pass behind a lease: one replica folds, the others only look at the lease.
    Correctness does not rest on the lease: two folds at once conflict on the deltas they
    both delete, and one retries on what is left."""

    def __init__(self, store: Store, holder: str, lease_s: float = FOLD_LEASE_S):
        self.store = store
        self.lease = Lease(store.db[LEASES], FOLD_LEASE, holder, lease_s)

    def run_once(self) -> int:
        """Fold what is waiting in every active generation if this replica leads."""
        if not self.lease.held():
            FOLDER_LEADER.set(0)
            return 0
        FOLDER_LEADER.set(1)
        folded = 0
        for generation in pointer(self.store.db).active:
            n = fold_all(self.store, generation, max_batches=FOLD_BATCHES_PER_PASS)
            if n >= FOLD_BATCH * FOLD_BATCHES_PER_PASS:
                log.info("folded %d counter deltas of generation %d; more are waiting", n, generation)
            folded += n
        FOLDED_DELTAS.inc(folded)
        # Counting costs a scan: only when the last batch was full is a backlog likely.
        PENDING_DELTAS.set(pending_deltas(self.store.db) if folded >= FOLD_BATCH else 0)
        return folded

    def release(self) -> None:
        FOLDER_LEADER.set(0)
        self.lease.release()


class CounterFolding(DependencyProvider):
    """nameko dependency: the container's folder, on its own store connection (the pass runs
    from a timer, outside any event's unit of work). Hands the lease over on a graceful stop."""

    def setup(self):
        settings = settings_of(self.container)
        self.client = connect(settings)
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.folder = CounterFolder(Store(self.client, settings), holder)

    def stop(self):
        try:
            self.folder.run_once()  # entrypoints have stopped: fold what this replica recorded
            self.folder.release()
        except Exception as exc:  # noqa: BLE001 - the lease then expires and another replica folds
            log.warning("folding counters on stop failed: %s", exc)
        self.client.close()

    def kill(self):
        self.client.close()

    def get_dependency(self, worker_ctx) -> CounterFolder:
        return self.folder


def fold_pass(folder: CounterFolder) -> None:
    """One timer tick: a failure (store outage, a lost conflict) is retried by the next tick."""
    started = time.monotonic()
    try:
        folder.run_once()
    except Exception as exc:  # noqa: BLE001 - the deltas stay and the next pass folds them
        log.warning("counter folding failed after %.1f s (%s); the next pass retries",
                    time.monotonic() - started, exc)
