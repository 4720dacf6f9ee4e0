"""What every service has besides its business: health, metrics, OpenAPI, log context.

A service class inherits ``ServiceBase`` and declares ``store = Mongo(...)`` and
``openapi = OpenApi(...)``; nameko finds the inherited entrypoints.
"""
from __future__ import annotations

import logging
import time

from kombu import Connection
from nameko.extensions import DependencyProvider
from nameko.rpc import rpc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.errors import PyMongoError
from werkzeug.wrappers import Response

from shared import logging as ctxlog
from shared import metrics as m
from shared.config import settings_of
from shared.http import api, json_response
from shared.outbox import backlog_of
from shared.replay import ReplayError, replay_outbox

log = logging.getLogger(__name__)

_BROKER_CHECK_TTL_S = 2.0


class LogContext(DependencyProvider):
    """Puts the worker's correlation and event ids into every log line it writes."""

    def worker_setup(self, worker_ctx):
        ctxlog.set_context(correlation_id=worker_ctx.data.get("correlation_id"),
                           event_id=worker_ctx.data.get("event_id"),
                           event_type=worker_ctx.data.get("event_type"))

    def worker_teardown(self, worker_ctx):
        ctxlog.clear_context()


class Readiness(DependencyProvider):
    """Checks the store, the broker and the outbox relay for ``/health/ready``."""

    def setup(self):
        self.settings = settings_of(self.container)
        self._broker_ok_until = 0.0

    def broker_ok(self) -> bool:
        if time.monotonic() < self._broker_ok_until:
            return True
        try:
            with Connection(self.settings.amqp_uri, connect_timeout=2) as conn:
                conn.ensure_connection(max_retries=1)
        except Exception:  # noqa: BLE001 - any failure means not ready
            return False
        self._broker_ok_until = time.monotonic() + _BROKER_CHECK_TTL_S
        return True

    def get_dependency(self, worker_ctx):
        return self


class ServiceBase:
    log_context = LogContext()
    readiness = Readiness()

    @api("GET", "/health/live")
    def health_live(self, request):
        return {"status": "live", "service": self.name}

    @api("GET", "/health/ready")
    def health_ready(self, request):
        relay = self.store.relay
        checks = {
            "store": self.store.ping(),
            "broker": self.readiness.broker_ok(),
            "relay": bool(relay and relay.running),
        }
        ready = all(checks.values())
        return (200 if ready else 503), {"status": "ready" if ready else "not_ready",
                                         "service": self.name, "checks": checks}

    @api("GET", "/metrics")
    def metrics(self, request):
        # The relay refreshes the outbox gauges only while it leads; read them at scrape
        # time so every replica reports the current backlog and lag.
        try:
            backlog, oldest_age = backlog_of(self.store.db)
            m.OUTBOX_BACKLOG.set(backlog)
            m.OUTBOX_OLDEST_AGE.set(oldest_age)
        except PyMongoError as exc:
            log.warning("outbox backlog unavailable for /metrics: %s", exc)
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)

    @rpc(expected_exceptions=ReplayError)
    def replay_history(self, queue: str, types: list[str] | None = None) -> int:
        """Republish this service's sent events, oldest first, into ``queue`` (see shared.replay)."""
        return replay_outbox(self.store.db, self.store.settings.amqp_uri, queue, types=types)

    @api("GET", "/openapi.json")
    def openapi_json(self, request):
        return json_response(self.openapi_document())

    def openapi_document(self) -> dict:
        cls = type(self)
        if not hasattr(cls, "_openapi_cache"):
            cls._openapi_cache = cls.openapi.to_dict()
        return cls._openapi_cache
