"""What a service runs on besides its store: its configuration object and its clock, built
once per container at start (never at import time), the same way in every service.

    runtime = Runtime(config.load)       # in the service class (dependencies.py builds it)
    self.runtime.config.jp_target        # in an entrypoint
    self.runtime.now()                   # the service's time; tests inject a clock through
                                         # Settings.extra["clock"] (a callable returning UTC)
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Generic, TypeVar

from nameko.extensions import DependencyProvider

from shared.config import Settings, settings_of
from shared.timefmt import utc_now

C = TypeVar("C")


def clock_of(settings: Settings) -> Callable[[], datetime]:
    """The clock a container runs on: the injected one, else the system's."""
    return settings.extra.get("clock") or utc_now


class ServiceRuntime(Generic[C]):
    def __init__(self, settings: Settings, config: C):
        self.settings, self.config = settings, config
        self.clock = clock_of(settings)

    def now(self) -> datetime:
        return self.clock()


class Runtime(DependencyProvider):
    """nameko dependency: one ``ServiceRuntime`` per container; ``load_config(settings)``
    builds the service's configuration object (a bad value names its variable)."""

    def __init__(self, load_config: Callable[[Settings], object]):
        self.load_config = load_config
        self.runtime: ServiceRuntime | None = None

    def setup(self):
        settings = settings_of(self.container)
        self.runtime = ServiceRuntime(settings, self.load_config(settings))

    def get_dependency(self, worker_ctx) -> ServiceRuntime:
        return self.runtime
