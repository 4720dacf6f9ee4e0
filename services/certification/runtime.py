"""Per-container state of the certification service: its configuration, the issuer key,
the verification rate limiter, the cached status lists, the clock, the numbering pass, and
the timers that drive the expiry scan and the numbering."""
from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime
from typing import Callable

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from shared.config import settings_of
from shared.outbox import OutboxRelay
from shared.store import Store, connect
from services.certification import config as certification_config
from services.certification import domain
from services.certification.credential import Issuer, load_signing_key
from services.certification.lifecycle import Numberer
from services.certification.status_lists import StatusLists
from shared.ratelimit import TokenBuckets

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, config: certification_config.CertificationConfig, base_url: str):
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.issuer = Issuer(load_signing_key(config.signing_key), config.issuer_name, self.base_url)
        self.limiter = TokenBuckets(config.verify_rate_per_minute, config.verify_burst)
        self.status_lists = StatusLists(config.status_list_cache_s)
        # Injectable so tests (and operators replaying a day) can run the scan for a chosen "now".
        self.clock: Callable[[], datetime] = domain.utc_now
        self.numbering: Numbering | None = None  # set by CertificationRuntime (needs the container)

    def now(self) -> datetime:
        return self.clock()


class Numbering:
    """Runs the numbering pass of one container in a single greenthread at a time: ``kick``
    (after a pending issue commits, and from the timer) starts it, or asks the running one
    for another pass. Passes of one replica never overlap, so they never conflict with each
    other on the counters."""

    def __init__(self, container, numberer: Numberer):
        self.container, self.numberer = container, numberer
        self._again = False
        self._gt = None
        self._stopping = False

    def kick(self) -> None:
        self._again = True
        if self._gt is None and not self._stopping:
            self._gt = self.container.spawn_managed_thread(self._drain, identifier="certificate-numbering")

    def _drain(self) -> None:
        try:
            while self._again and not self._stopping:
                self._again = False
                issued = self._pass()
                if issued and len(issued) >= self.numberer.batch // 2:
                    self._again = True  # a full batch: more are waiting
        finally:
            self._gt = None

    def _pass(self) -> list[dict]:
        try:
            return self.numberer.run_once()
        except Exception as exc:  # noqa: BLE001 - an exception here would kill the container; the timer retries
            log.warning("certificate numbering pass failed (%s); the next pass retries", exc)
            return []

    def stop(self) -> None:
        """Graceful shutdown (entrypoints have stopped): number what this replica's handlers
        recorded, then hand the lease over at once instead of after it expires."""
        self._stopping = True
        if self._gt is not None:
            self._gt.wait()
        self._pass()
        try:
            self.numberer.release()
        except Exception as exc:  # noqa: BLE001 - the lease then expires by itself
            log.warning("releasing the numbering lease failed: %s", exc)

    def kill(self) -> None:
        self._stopping = True
        if self._gt is not None:
            self._gt.kill()


class CertificationRuntime(DependencyProvider):
    """nameko dependency: one Runtime per container, read from the environment at start."""

    # The container's outbox relay (a shared extension: the same one the store wakes), woken
    # when a numbering pass commits its ``certified`` events.
    relay = OutboxRelay()

    def setup(self):
        settings = settings_of(self.container)
        self.runtime = Runtime(certification_config.load(), settings.public_base_url)
        # Its own connection, like the relay's: the pass runs outside any worker.
        self.client = connect(settings)
        holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        numberer = Numberer(Store(self.client, settings, relay=self.relay), self.runtime.config,
                            self.runtime.base_url, self.runtime.now, holder)
        self.runtime.numbering = Numbering(self.container, numberer)

    def stop(self):
        self.runtime.numbering.stop()
        self.client.close()

    def kill(self):
        self.runtime.numbering.kill()
        self.client.close()

    def get_dependency(self, worker_ctx) -> Runtime:
        return self.runtime


class ExpiryScanTimer(Timer):
    """nameko's timer with its interval from CERTIFICATION_EXPIRY_SCAN_INTERVAL_S. Every
    replica runs it; the per-certificate claims make concurrent scans harmless."""

    def __init__(self, **kwargs):
        super().__init__(interval=3600.0, **kwargs)

    def setup(self):
        self.interval = certification_config.load().expiry_scan_interval_s


expiry_scan_timer = ExpiryScanTimer.decorator


class NumberingTimer(Timer):
    """Kicks the numbering pass every CERTIFICATION_NUMBERING_INTERVAL_S, on every replica:
    only the lease holder numbers; the others find out with one look at the lease, and take
    over the pending issues of a holder that died once its lease expires."""

    def __init__(self, **kwargs):
        super().__init__(interval=0.3, eager=True, **kwargs)

    def setup(self):
        self.interval = certification_config.load().numbering_interval_s


numbering_timer = NumberingTimer.decorator
