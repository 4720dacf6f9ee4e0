"""The enrollment service's nameko dependencies in one place: its runtime (the configuration
object and the injectable clock) and its one background loop, the sweep that finishes
programme cancellations a crash interrupted.

The sweep runs on every replica (no lease): each batch re-reads inside its transaction what
is still active, so two replicas sweeping at once only conflict and retry (see
usecases.sweep_cascades).
"""
from __future__ import annotations

import logging

from services.enrollment import config, usecases
from shared.background import Background, LeasedLoop
from shared.config import Settings
from shared.errors import StoreUnavailable
from shared.runtime import Runtime, clock_of
from shared.store import Store, connect

log = logging.getLogger(__name__)

runtime = Runtime(config.load)


class CascadeSweep:
    """One pass finishes every cancellation left with ``cascade_pending`` (a crash between the
    programme's transaction and its enrolments' batches); returns how many it cancelled."""

    def __init__(self, settings: Settings):
        self.client = connect(settings)
        # No relay to wake from here: the outbox relay publishes these events on its next poll.
        self.store = Store(self.client, settings)
        self.db = self.store.db
        self.clock = clock_of(settings)

    def run_once(self) -> int:
        try:
            return usecases.sweep_cascades(self.store, self.clock())
        except StoreUnavailable as exc:  # the loop backs off on connection errors, not on this one
            raise ConnectionError(str(exc)) from exc
        except Exception:  # noqa: BLE001 - as the timer it replaces: log, try again next interval
            log.exception("cascade sweep failed; trying again in the next pass")
            return 0

    def drain(self) -> None:
        """Nothing to finish at a stop: a pending cascade waits for the next sweep or cancel."""

    def close(self) -> None:
        self.client.close()


cascade_sweep = Background(LeasedLoop(
    "cascade_sweep", CascadeSweep, interval_s=lambda settings: config.load(settings).cascade_sweep_interval_s))
