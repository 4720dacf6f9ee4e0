"""What every service has besides its business: health, metrics, OpenAPI, log context.

A service class inherits ``ServiceBase`` and declares ``store = Mongo(...)`` and
``openapi = OpenApi(...)``; nameko finds the inherited entrypoints.
"""
from __future__ import annotations

import logging
import re
import time

from kombu import Connection
from nameko.extensions import DependencyProvider
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pymongo.errors import PyMongoError
from werkzeug.wrappers import Response

from shared import access_log, asyncapi, production
from shared.broker_security import user_of
from shared import logging as ctxlog
from shared import metrics as m
from shared.config import settings_of
from shared.auth import ADMIN_ONLY, PUBLIC
from shared.errors import Conflict
from shared.http import ApiHandler, api, json_body, json_response
from shared.outbox import backlog_of
from shared.replay import ReplayError, ReplayRequest, ReplayResult, replay_outbox

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
        # One identity for the whole platform is for `make run` only (ADR 0061).
        production.require(user_of(self.settings.amqp_uri) != "guest", "AMQP_URI",
                           "connects as the broker's guest user; give each service its own broker user",
                           self.settings.service)

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


class WebBase:
    """What every deployable serves: liveness, metrics, its OpenAPI document, log context.
    The portal (no events, no outbox) inherits only this; the four services ``ServiceBase``."""

    log_context = LogContext()

    @api("GET", "/health/live", auth=PUBLIC)
    def health_live(self, request):
        return {"status": "live", "service": self.name}

    @api("GET", "/metrics", auth=PUBLIC)
    def metrics(self, request):
        self.refresh_gauges()
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)

    def refresh_gauges(self) -> None:
        """Gauges read at scrape time (a subclass's)."""

    @api("GET", "/openapi.json", auth=PUBLIC)
    def openapi_json(self, request):
        return json_response(self.openapi_document())

    def openapi_document(self) -> dict:
        cls = type(self)
        if not hasattr(cls, "_openapi_cache"):
            cls._openapi_cache = with_access_rules(cls.openapi.to_dict(), cls)
        return cls._openapi_cache


class ServiceBase(WebBase):
    readiness = Readiness()

    @api("GET", "/health/ready", auth=PUBLIC)
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

    def refresh_gauges(self) -> None:
        # The relay refreshes the outbox gauges only while it leads; read them at scrape
        # time so every replica reports the current backlog and lag.
        try:
            backlog, oldest_age = backlog_of(self.store.db)
            m.OUTBOX_BACKLOG.set(backlog)
            m.OUTBOX_OLDEST_AGE.set(oldest_age)
        except PyMongoError as exc:
            log.warning("outbox backlog unavailable for /metrics: %s", exc)

    @api("POST", "/admin/replay", auth=ADMIN_ONLY)
    def replay_history(self, request):
        """Republish this service's sent events, oldest first, into a queue (see shared.replay)."""
        body = ReplayRequest().load(json_body(request))
        try:
            count = replay_outbox(self.store.db, self.store.settings.amqp_uri, self.name, body["queue"],
                                  types=body["types"])
        except ReplayError as exc:
            raise Conflict(str(exc), field="queue") from None
        return ReplayResult().dump({"service": self.name, "queue": body["queue"], "replayed": count})

    @api("GET", "/admin/access-log", auth=ADMIN_ONLY)
    def access_log_http(self, request):
        """Who read whose personal data here (shared.access_log), newest first."""
        query = access_log.AccessLogQuery().load(request.args)
        return access_log.AccessLogPageSchema().dump(access_log.list_reads(self.store.db, query))

    @api("GET", "/asyncapi.json", auth=PUBLIC)
    def asyncapi_json(self, request):
        """The AsyncAPI 3.0 document of the events this service publishes (its public contract)."""
        return json_response(asyncapi.document_for(self.name))


def http_routes(service_cls) -> list[ApiHandler]:
    """Every ``@api`` entrypoint of a service class (its own and inherited)."""
    return [entrypoint for attr in dir(service_cls)
            for entrypoint in getattr(getattr(service_cls, attr, None), "nameko_entrypoints", ())
            if isinstance(entrypoint, ApiHandler)]


def openapi_path(url: str) -> str:
    """werkzeug ``/x/<string:id>`` as OpenAPI ``/x/{id}``."""
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", url)


def _shape(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def with_access_rules(document: dict, service_cls) -> dict:
    """The OpenAPI document with each operation's access rule (bearer token or none, 401/403)."""
    document.setdefault("components", {}).setdefault("securitySchemes", {})["bearerAuth"] = {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "a token from `asn token issue`; roles admin, operator (one agency), asn (self)"}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    paths = document.get("paths", {})
    by_shape = {_shape(path): path for path in paths}  # parameter names may differ from the route's
    for handler in http_routes(service_cls):
        path = by_shape.get(_shape(openapi_path(handler.url)))
        operation = paths.get(path, {}).get(handler.method.lower())
        if operation is None:
            continue
        rule = handler.auth_rule
        operation["x-access-rule"] = rule.name
        if rule.public:
            operation["security"] = []
            continue
        operation["security"] = [{"bearerAuth": []}]
        operation["description"] = (operation.get("description", "") + f" Access: {rule.description}.").strip()
        operation["responses"].setdefault("401", {"description": "no, expired or invalid token", **error})
        operation["responses"].setdefault("403", {"description": "the role or agency may not do this", **error})
    return document
