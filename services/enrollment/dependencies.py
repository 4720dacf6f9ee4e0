"""The enrollment service's nameko dependencies in one place: its runtime (the configuration
object and the injectable clock) and its one background loop, the sweep that finishes
programme cancellations a crash interrupted, reminds approvers of requests about to lapse and
lapses the expired ones (ADR 0092).

The sweep runs on every replica (no lease): each batch re-reads inside its transaction what
is still active, so two replicas sweeping at once only conflict and retry (see
usecases.sweep_cascades).
"""
from __future__ import annotations

from shared.background import Background
from shared.config import Settings
from shared.outbox import RelayedLoop
from shared.runtime import Runtime, clock_of
from shared.store import Store, connect

from services.enrollment import config, usecases


runtime = Runtime(config.load)


class CascadeSweep:
    """One pass finishes every cancellation left with ``cascade_pending`` (a crash between the
    programme's transaction and its enrolments' batches); returns how many it cancelled."""

    def __init__(self, settings: Settings):
        self.client = connect(settings)
        self.store = Store(self.client, settings)  # RelayedLoop gives it the container's relay
        self.db = self.store.db
        self.clock = clock_of(settings)

    def run_once(self) -> int:
        now = self.clock()
        return usecases.sweep_cascades(self.store, now) + usecases.sweep_approvals(self.store, now)

    def drain(self) -> None:
        """Nothing to finish at a stop: a pending cascade waits for the next sweep or cancel."""

    def close(self) -> None:
        self.client.close()


cascade_sweep = Background(RelayedLoop(
    "cascade_sweep", CascadeSweep, interval_s=lambda settings: config.load(settings).cascade_sweep_interval_s))
