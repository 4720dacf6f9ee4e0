"""Per-container state of the certification service: its configuration, the issuer key,
the verification rate limiter, the clock, and the timer that drives the expiry scan."""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from shared.config import settings_of
from services.certification import config as certification_config
from services.certification import domain
from services.certification.credential import Issuer, load_signing_key
from services.certification.ratelimit import TokenBuckets


class Runtime:
    def __init__(self, config: certification_config.CertificationConfig, base_url: str):
        self.config = config
        self.base_url = base_url.rstrip("/")
        self.issuer = Issuer(load_signing_key(config.signing_key), config.issuer_name, self.base_url)
        self.limiter = TokenBuckets(config.verify_rate_per_minute, config.verify_burst)
        # Injectable so tests (and operators replaying a day) can run the scan for a chosen "now".
        self.clock: Callable[[], datetime] = domain.utc_now

    def now(self) -> datetime:
        return self.clock()


class CertificationRuntime(DependencyProvider):
    """nameko dependency: one Runtime per container, read from the environment at start."""

    def setup(self):
        settings = settings_of(self.container)
        self.runtime = Runtime(certification_config.load(), settings.public_base_url)

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
