"""certification's nameko dependencies in one place: the runtime (configuration and clock),
what the public routes keep per replica, and the two background loops.

numbering    the lease holder turns pending issues into numbered certificates in batches
             (ADR 0025): every replica looks every NUMBERING_INTERVAL_S, and a replica that
             holds the lease is woken after each pending issue it records; a dead holder's
             lease expires after NUMBERING_LEASE_S and another replica takes over.
expiry scan  every replica scans every EXPIRY_SCAN_INTERVAL_S (no lease: the per-certificate
             claims make concurrent scans harmless).
"""
from __future__ import annotations

import logging
import weakref
from datetime import datetime
from typing import Callable

from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge

from shared.background import Background
from shared.config import Settings, settings_of
from shared.outbox import RelayedLoop
from shared.ratelimit import TokenBuckets
from shared.runtime import Runtime, clock_of
from shared.store import Store, connect
from services.certification import config, domain, queries, usecases
from services.certification.adapters.status_lists import StatusLists

log = logging.getLogger(__name__)

NUMBERING_LOOP = NUMBERING_LEASE = "certificate-numbering"
EXPIRY_SCAN_LOOP = "certificate-expiry-scan"

PENDING_BACKLOG = Gauge("asn_certification_pending_issues",
                        "Passed completions waiting for a certificate number (seen by the numbering lease holder)")
NUMBERING_LEADER = Gauge("asn_certification_numbering_leader", "1 when this replica holds the numbering lease")
CERTIFICATES_ISSUED = Counter("asn_certificates_issued_total", "Certificates numbered and issued by this replica")

_loaded: dict[int, tuple[weakref.ref, config.CertificationConfig]] = {}


def config_of(settings: Settings) -> config.CertificationConfig:
    """The configuration of the container started with ``settings``: loaded once, shared by
    the runtime, the replica's caches and the loops."""
    ref, loaded = _loaded.get(id(settings), (None, None))
    if ref is None or ref() is not settings:
        loaded = config.load(settings)
        for gone in [key for key, (other, _) in _loaded.items() if other() is None]:
            del _loaded[gone]
        _loaded[id(settings)] = (weakref.ref(settings), loaded)
    return loaded


runtime = Runtime(config_of)


class ReplicaCaches(DependencyProvider):
    """What the public routes keep in this replica's memory: a token bucket per client
    address (verification is rate-limited) and the signed status lists."""

    def setup(self):
        loaded = config_of(settings_of(self.container))
        self.limiter = TokenBuckets(loaded.verify_rate_per_minute, loaded.verify_burst)
        self.status_lists = StatusLists(loaded.status_list_cache_s)

    def get_dependency(self, worker_ctx) -> ReplicaCaches:
        return self


caches = ReplicaCaches()


# -- background jobs -----------------------------------------------------------------------

class NumberingJob:
    """Batched numbering (ADR 0025) on its own store connection: the pass runs outside any
    worker. The loop runs it only while this replica holds the numbering lease. Correctness
    does not rest on the lease: two passes at once conflict on the counter and one retries
    on what is left."""

    def __init__(self, store: Store, settings_config: config.CertificationConfig, clock: Callable[[], datetime],
                 client=None):
        self.store, self.db, self.config, self.clock, self.client = store, store.db, settings_config, clock, client
        self.batch = settings_config.numbering_batch  # halved after a failed pass, doubled back after full ones
        self.issued = 0

    @classmethod
    def for_container(cls, settings: Settings) -> NumberingJob:
        client = connect(settings)
        return cls(Store(client, settings), config_of(settings), clock_of(settings), client)

    def number_batch(self) -> list[dict]:
        """Number one batch; the certificates issued (scripts call this under their own lease)."""
        limit = self.batch
        try:
            issued = usecases.number_pending(self.store, self.config, self.clock(), limit)
        except Exception:
            self.batch = domain.next_batch_size(limit, None, self.config.numbering_batch)
            raise
        self.batch = domain.next_batch_size(limit, len(issued), self.config.numbering_batch)
        if issued:
            self.issued += len(issued)
            CERTIFICATES_ISSUED.inc(len(issued))
            log.info("numbered %d certificates: %s", len(issued), domain.number_ranges(issued))
        # A short batch took everything there was; count only when a backlog is likely.
        PENDING_BACKLOG.set(queries.pending_count(self.db) if len(issued) >= limit else 0)
        return issued

    def run_once(self) -> int:
        """A pass of the loop: how many were numbered if the batch was full (more may wait),
        else 0 (the loop then waits to be woken or for its interval)."""
        limit = self.batch
        # an error backs the shared loop off (and is logged); the pass is retried
        issued = len(self.number_batch())
        return issued if issued >= limit else 0

    def drain(self) -> None:
        """Graceful stop: number what this replica's handlers recorded."""
        self.number_batch()

    def close(self) -> None:
        NUMBERING_LEADER.set(0)
        if self.client is not None:
            self.client.close()


class ExpiryScanJob:
    """The scheduled expiry scan of this replica, on its own store connection."""

    def __init__(self, settings: Settings):
        self.client = connect(settings)
        self.store = Store(self.client, settings)
        self.config, self.clock = config_of(settings), clock_of(settings)

    def run_once(self) -> int:
        return sum(usecases.run_expiry_scan(self.store, self.config, self.clock()).values())

    def drain(self) -> None:
        pass  # nothing is left half done: each certificate is claimed in its own transaction

    def close(self) -> None:
        self.client.close()


class NumberingLoop(RelayedLoop):
    """The numbering loop; ``kick()`` wakes it after a pending issue commits, but only on
    the lease holder: another replica would only look at the lease again (it looks on its
    interval, and so takes over a dead holder's pending issues)."""

    leading = False

    def leads(self) -> bool:
        self.leading = super().leads()
        NUMBERING_LEADER.set(1 if self.leading else 0)
        return self.leading

    def kick(self) -> None:
        if self.leading:
            self.wake()



numbering = Background(NumberingLoop(
    NUMBERING_LOOP, NumberingJob.for_container, lease=NUMBERING_LEASE,
    lease_s=lambda settings: config_of(settings).numbering_lease_s,
    interval_s=lambda settings: config_of(settings).numbering_interval_s))

expiry_scan = Background(RelayedLoop(
    EXPIRY_SCAN_LOOP, ExpiryScanJob, interval_s=lambda settings: config_of(settings).expiry_scan_interval_s))
