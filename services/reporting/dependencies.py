"""The reporting service's nameko dependencies in one place: its runtime (configuration and
the injectable clock) and its background loops, both leased so one replica at a time runs them:

- counter folding: the holder folds the counter deltas the event handlers record (ADR 0043);
  every 0.25 s, and at once again while deltas wait;
- shortfall checkpoints: the holder runs the checkpoints that are due (ADR 0042), every
  ``SHORTFALL_POLL_S``.

The rebuild of the read models is no loop: ``POST /admin/rebuild`` runs it under a lease of
its own (``usecases.rebuild``).
"""
from __future__ import annotations

from shared.background import Background, LeasedLoop
from shared.runtime import Runtime

from services.reporting import config, usecases

runtime = Runtime(config.load)

counter_folding = Background(LeasedLoop(
    usecases.FOLD_LOOP, usecases.CounterFolding.from_settings, lease=usecases.FOLD_LEASE,
    lease_s=usecases.FOLD_LEASE_S, interval_s=usecases.FOLD_INTERVAL_S))

shortfall_checkpoints = Background(LeasedLoop(
    usecases.SHORTFALL_LOOP, usecases.ShortfallTick, lease=usecases.SHORTFALL_LEASE,
    # The loops start before any worker: they read the same configuration from the same settings.
    lease_s=lambda settings: config.load(settings).shortfall_lease_s,
    interval_s=lambda settings: config.load(settings).shortfall_poll_s))
