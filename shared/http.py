"""JSON over HTTP for nameko services: errors mapped to status codes, correlation ids,
body limits and request metrics, the same for every endpoint of every service.

A method decorated with ``@api("POST", "/programmes", auth=STAFF)`` returns a dict/list
(200), a ``(status, payload)`` tuple, or a werkzeug ``Response``. ``auth`` is the route's
access rule (shared.auth): the caller is authenticated before the handler runs and is
``request.principal``; a route that states no rule is admin-only (fail closed).

Whatever an outsider sends costs little: a public route takes at most ``PUBLIC_MAX_BODY_BYTES``
(64 KiB) unless it says otherwise, and each client address may call each public route of a
process at ``PUBLIC_RATE_PER_MINUTE`` (burst ``PUBLIC_RATE_BURST``) before a 429; the
token buckets live in the process (ADR 0023: no store write per anonymous request).
"""
from __future__ import annotations

import json
import logging
import socket
import time
import uuid
from datetime import date, datetime
from functools import partial

from bson import ObjectId
from eventlet.event import Event
from marshmallow import ValidationError
from pymongo.errors import ConnectionFailure
from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from shared import metrics
from shared.auth import ADMIN_ONLY, AuthConfig, Rule, Unauthenticated, authenticate, load_config
from shared.config import env
from shared.errors import DomainError, StoreUnavailable
from shared.ratelimit import TokenBuckets, client_address
from shared.timefmt import iso

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 * 1024 * 1024
PUBLIC_MAX_BODY_BYTES = 64 * 1024
CORRELATION_HEADER = "X-Correlation-ID"


class BadRequest(DomainError):
    status = 400
    code = "bad_request"


class PayloadTooLarge(DomainError):
    status = 413
    code = "payload_too_large"


class TooManyRequests(DomainError):
    status = 429
    code = "too_many_requests"


class PublicRateLimit:
    """One limiter per process for every public route, keyed by route and client address."""

    _buckets: TokenBuckets | None = None

    @classmethod
    def buckets(cls) -> TokenBuckets:
        if cls._buckets is None:
            cls._buckets = TokenBuckets(float(env("PUBLIC_RATE_PER_MINUTE", "1200")),
                                        int(env("PUBLIC_RATE_BURST", "300")))
        return cls._buckets

    @classmethod
    def check(cls, route: str, request) -> None:
        address = client_address(request.remote_addr, request.headers.get("X-Forwarded-For"),
                                 int(env("TRUSTED_PROXY_HOPS", "0")))
        wait = cls.buckets().take(f"{route} {address}")
        if wait > 0:
            seconds = max(1, int(wait + 0.999))
            raise TooManyRequests(f"terlalu banyak permintaan dari alamat ini; coba lagi dalam {seconds} detik "
                                  f"(too many requests from this address; retry in {seconds} s)",
                                  retry_after=seconds)


def _default(value):
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, ObjectId):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_response(payload, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False, default=_default), status=status,
                    headers=headers or {}, mimetype="application/json")


def json_body(request) -> dict:
    """The request's JSON object, or a 400 naming what is wrong."""
    raw = request.get_data(cache=True)
    if not raw:
        raise BadRequest("request body is empty; a JSON object is expected")
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    except RecursionError:  # ~30,000 '[' fit in a small body; the parser gives up, not the service
        raise BadRequest("request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def error_response(exc: Exception) -> Response:
    if isinstance(exc, ValidationError):
        return json_response({"error": "validation_failed", "message": "the request has invalid fields",
                              "errors": exc.messages}, 422)
    if isinstance(exc, Unauthenticated):
        return json_response(exc.to_dict(), exc.status,
                             {"WWW-Authenticate": 'Bearer realm="asn-platform", error="invalid_token"'})
    if isinstance(exc, TooManyRequests):
        return json_response(exc.to_dict(), exc.status, {"Retry-After": str(exc.details["retry_after"])})
    if isinstance(exc, DomainError):
        return json_response(exc.to_dict(), exc.status)
    if isinstance(exc, (StoreUnavailable, ConnectionFailure)):
        return json_response({"error": "store_unavailable",
                              "message": "the data store is temporarily unavailable; retry shortly"},
                             503, {"Retry-After": "5"})
    if isinstance(exc, HTTPException):
        return json_response({"error": exc.name.lower().replace(" ", "_"), "message": exc.description},
                             exc.code or 500)
    log.error("unhandled error in HTTP handler", exc_info=(type(exc), exc, exc.__traceback__))
    return json_response({"error": "internal_error", "message": "an unexpected error occurred"}, 500)


class NoDelayWebServer(WebServer):
    """nameko's web server with Nagle's algorithm off on every connection.

    eventlet's WSGI server sends a response in several writes; with Nagle on, the last small
    write waits for the client's delayed ACK (~40 ms on Linux). Measured: a 19 KB ledger
    answer took 62 ms over HTTP against 15 ms to compute (docs/performance.md).
    """

    def process_request(self, sock, address):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().process_request(sock, address)


class ApiHandler(HttpRequestHandler):
    """nameko's ``@http`` with authentication, JSON errors, correlation ids, a body limit and metrics."""

    server = NoDelayWebServer()

    def __init__(self, method, url, max_body: int | None = None, auth: Rule | None = None, **kwargs):
        self.auth_declared = auth is not None
        self.auth_rule = auth if auth is not None else ADMIN_ONLY
        # anyone may call a public route: it takes a small body unless it says otherwise
        self.max_body = max_body or (PUBLIC_MAX_BODY_BYTES if self.auth_rule.public else MAX_BODY_BYTES)
        self.auth_config: AuthConfig | None = None
        self.store_context = f"http:{method} {url}"  # labels the worker's store commands (shared.metrics)
        # expected: answered as 4xx/503 without an error trace in the log
        kwargs.setdefault("expected_exceptions", (DomainError, ValidationError, StoreUnavailable, ConnectionFailure))
        super().__init__(method, url, **kwargs)

    def setup(self):
        if not self.auth_rule.public:
            # No key, no service: failing at start beats answering 401 to everyone later.
            self.auth_config = load_config(self.container.service_name)
        super().setup()

    def handle_request(self, request):
        request.shallow = False
        started = time.monotonic()
        correlation_id = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
        try:
            if request.content_length and request.content_length > self.max_body:
                raise PayloadTooLarge(f"request body over {self.max_body} bytes")
            request.max_content_length = self.max_body
            request.max_form_memory_size = self.max_body
            if self.auth_rule.public:
                PublicRateLimit.check(f"{self.method} {self.url}", request)
            request.principal = authenticate(self.auth_config, request, self.auth_rule)
            context_data = self.server.context_data_from_headers(request)
            context_data["correlation_id"] = correlation_id
            args, kwargs = self.get_entrypoint_parameters(request)
            self.check_signature(args, kwargs)
            done = Event()
            self.container.spawn_worker(self, args, kwargs, context_data=context_data,
                                        handle_result=partial(self.handle_result, done))
            result = done.wait()
            response = self._to_response(result)
        except Exception as exc:  # noqa: BLE001 - every error becomes an answer (JSON here)
            response = self.error_answer(exc, request)
        self.finish(response)
        response.headers[CORRELATION_HEADER] = correlation_id
        metrics.HTTP_REQUESTS.labels(self.method, self.url, str(response.status_code)).inc()
        metrics.HTTP_SECONDS.labels(self.method, self.url).observe(time.monotonic() - started)
        return response

    def error_answer(self, exc: Exception, request) -> Response:
        """The answer to a request that failed (a subclass answers people with a page)."""
        return error_response(exc)

    def finish(self, response: Response) -> None:
        """Headers every answer of this kind carries (a subclass's)."""

    @staticmethod
    def _to_response(result) -> Response:
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
            return json_response(result[1], result[0])
        return json_response(result)

    def handle_result(self, event, worker_ctx, result, exc_info):
        if exc_info is not None:
            event.send_exception(exc_info[1])
        else:
            event.send(result)
        return result, exc_info


api = ApiHandler.decorator
