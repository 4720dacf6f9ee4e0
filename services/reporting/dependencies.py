"""The reporting service's nameko dependencies in one place: its runtime (configuration and
the injectable clock) and its background loops, both leased so one replica at a time runs them:

- counter folding: the holder folds the counter deltas the event handlers record (ADR 0043);
  every 0.25 s, and at once again while deltas wait;
- shortfall checkpoints: the holder runs the checkpoints that are due, and those an admin
  requested that no replica finished (ADR 0042), every ``SHORTFALL_POLL_S``;

and the checkpoint runs an admin asks for (``POST /admin/shortfall/<checkpoint>/run``), each in
a green thread of the container that answered (``CheckpointRuns``; the checkpoint's lease keeps
it once-only across replicas).

The rebuild of the read models is no loop: ``POST /admin/rebuild`` runs it under a lease of
its own (``usecases.rebuild``).
"""
from __future__ import annotations

import logging

from nameko.extensions import DependencyProvider

from shared.background import Background, LeasedLoop
from shared.config import settings_of
from shared.outbox import OutboxRelay, RelayedLoop
from shared.runtime import Runtime, clock_of
from shared.store import Store, connect

from services.reporting import config, usecases

log = logging.getLogger(__name__)

runtime = Runtime(config.load)

counter_folding = Background(LeasedLoop(
    usecases.FOLD_LOOP, usecases.CounterFolding.from_settings, lease=usecases.FOLD_LEASE,
    lease_s=usecases.FOLD_LEASE_S, interval_s=usecases.FOLD_INTERVAL_S))

class ShortfallLoop(RelayedLoop):
    """The shortfall loop: at a graceful stop a checkpoint it is running ends after its batch,
    with its progress saved (the next holder resumes it), instead of holding the stop until
    the whole population is checked."""

    def setup(self):
        super().setup()
        self.job.detector.stopping = lambda: self._stopping


shortfall_checkpoints = Background(ShortfallLoop(
    usecases.SHORTFALL_LOOP, usecases.ShortfallTick, lease=usecases.SHORTFALL_LEASE,
    # The loops start before any worker: they read the same configuration from the same settings.
    lease_s=lambda settings: config.load(settings).shortfall_lease_s,
    interval_s=lambda settings: config.load(settings).shortfall_poll_s))


class CheckpointRuns(DependencyProvider):
    """Runs the checkpoints an admin requests, each in a managed green thread of this container,
    on a connection of its own (the run outlives the request). At a graceful stop a run ends
    after its batch, with its progress saved; the shortfall loop of any replica resumes it."""

    relay = OutboxRelay()  # the container's relay, woken after each nudge is committed

    def setup(self):
        settings = settings_of(self.container)
        self.client = connect(settings)
        self.detector = usecases.ShortfallDetector(Store(self.client, settings, relay=self.relay),
                                                   config.load(settings), clock_of(settings),
                                                   stopping=lambda: self._stopping)
        self._threads: set = set()
        self._stopping = False

    def start(self) -> None:
        self._stopping = False

    def start_run(self, checkpoint: str) -> None:
        """Run ``checkpoint`` in the background (a run elsewhere, or done, ends at once)."""
        if self._stopping:
            return  # the request is recorded: the loop takes it up
        thread = self.container.spawn_managed_thread(lambda: self._run(checkpoint),
                                                     identifier=f"shortfall:{checkpoint}")
        self._threads.add(thread)
        thread.link(lambda gt: self._threads.discard(gt))

    def _run(self, checkpoint: str) -> None:
        try:
            outcome = self.detector.run(checkpoint)
            log.info("shortfall checkpoint %s requested: %s", checkpoint, outcome)
        except Exception:  # noqa: BLE001 - a managed thread that raises kills the container
            log.exception("shortfall checkpoint %s failed; the shortfall loop takes it up again", checkpoint)

    def stop(self):
        self._stopping = True
        for thread in list(self._threads):
            thread.wait()
        self.client.close()

    def kill(self):
        for thread in list(self._threads):
            thread.kill()
        self.client.close()

    def get_dependency(self, worker_ctx) -> CheckpointRuns:
        return self


checkpoint_runs = CheckpointRuns()
