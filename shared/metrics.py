"""Prometheus metrics shared by every service (one process = one service = one registry)."""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

from prometheus_client import Counter, Gauge, Histogram
from pymongo import monitoring

EVENTS_CONSUMED = Counter("asn_events_consumed_total", "Events handled and acknowledged (duplicates included)", ["type"])
EVENTS_DUPLICATE = Counter("asn_events_duplicate_total", "Duplicate events acknowledged and skipped", ["type"])
EVENTS_FAILED = Counter("asn_events_failed_total", "Handler attempts that raised", ["type"])
EVENTS_RETRIED = Counter("asn_events_retried_total", "Events sent to a delayed retry queue", ["type"])
EVENTS_DEAD_LETTERED = Counter("asn_events_dead_lettered_total", "Events moved to the dead-letter queue", ["type", "reason"])
HANDLER_SECONDS = Histogram("asn_handler_seconds", "Handler latency", ["type"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
EVENTS_PUBLISHED = Counter("asn_outbox_published_total", "Outbox events published with a broker confirm", ["type"])
EVENTS_UNROUTABLE = Counter("asn_outbox_unroutable_total", "Outbox events the broker returned as unroutable", ["type"])
OUTBOX_BACKLOG = Gauge("asn_outbox_backlog", "Outbox events not yet published")
OUTBOX_OLDEST_AGE = Gauge("asn_outbox_oldest_unsent_seconds", "Age of the oldest unpublished outbox event")
RELAY_LEADER = Gauge("asn_outbox_relay_leader", "1 when this replica holds the relay lease")
HTTP_REQUESTS = Counter("asn_http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_SECONDS = Histogram("asn_http_request_seconds", "HTTP request latency", ["method", "route"])

# --- The store's work (issue 23) ------------------------------------------------------------
# Every command a service sends to the store, labelled with what the greenthread sending it
# was doing: "event:<source>.<event>" (a reliable handler), "loop:<name>" (a background loop),
# "http:<METHOD> <route>", else "other" (start-up, a scrape's gauges...). The store is the
# bound of the pipeline (docs/performance.md), so its round trips are what to count. Counters,
# not a histogram: the benchmark needs sums, and a histogram per context is ~15 series more.
STORE_COMMANDS = Counter("asn_store_commands_total", "Commands sent to the store, by context and command name",
                         ["context", "command"])
STORE_COMMAND_SECONDS = Counter("asn_store_command_seconds_total",
                                "Seconds from sending a store command to its answer, by context", ["context"])
STORE_CONTEXT: ContextVar[str] = ContextVar("asn_store_context", default="other")


@contextmanager
def store_context(label: str) -> Iterator[None]:
    """Label the store commands sent inside the block (in this greenthread) with ``label``."""
    token = STORE_CONTEXT.set(label)
    try:
        yield
    finally:
        STORE_CONTEXT.reset(token)


class StoreCommandListener(monitoring.CommandListener):
    """pymongo command monitoring into the two counters above. pymongo calls it in the thread
    (greenthread) that sends the command, so the context variable is that command's. Cheap:
    the labelled children are cached (a dict lookup and an increment per event)."""

    def __init__(self) -> None:
        self._commands: dict[tuple[str, str], object] = {}
        self._seconds: dict[str, object] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        key = (STORE_CONTEXT.get(), event.command_name)
        child = self._commands.get(key)
        if child is None:
            child = self._commands[key] = STORE_COMMANDS.labels(*key)
        child.inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        context = STORE_CONTEXT.get()
        child = self._seconds.get(context)
        if child is None:
            child = self._seconds[context] = STORE_COMMAND_SECONDS.labels(context)
        child.inc(event.duration_micros / 1e6)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.succeeded(event)


class StoreHeartbeatListener(monitoring.ServerHeartbeatListener):
    """The client's own monitoring ``hello`` every heartbeat (10 s per client by default): not
    a command pymongo reports to command listeners, but a command the store answers."""

    def __init__(self) -> None:
        self._child = None

    def started(self, event: monitoring.ServerHeartbeatStartedEvent) -> None:
        if self._child is None:
            self._child = STORE_COMMANDS.labels("heartbeat", "hello")
        self._child.inc()

    def succeeded(self, event: monitoring.ServerHeartbeatSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.ServerHeartbeatFailedEvent) -> None:
        pass


STORE_LISTENER = StoreCommandListener()
HEARTBEAT_LISTENER = StoreHeartbeatListener()
