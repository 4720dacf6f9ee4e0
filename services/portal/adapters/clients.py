"""``ServiceClient``: the four services' HTTP APIs, called on behalf of the signed-in person
with a token minted for that call (5 minutes; the portal holds the signing key). A token never
leaves the server: it is not in a page, a cookie or a URL.

    client.get("reporting", f"/ledger/{nip}", as_=identity, params={"year": 2026})

``as_`` is whose token: an ``Identity`` (own pages use role asn + their NIP; ``acting="role"``
the operator's or admin's role) or ``"admin"`` for the portal's own reads (the development
sign-in list only). A service's refusal is raised as ``ServiceError`` with its status, code
and message, for the page to say in Bahasa Indonesia.

Independent calls of one page go side by side with ``gather`` (green threads): the page then
waits for the slowest call instead of their sum.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import requests
from eventlet.greenpool import GreenPool

from shared.auth import ADMIN, ASN, OPERATOR, AuthConfig, issue_token
from shared.http import CORRELATION_HEADER
from shared import logging as ctxlog

from services.portal.domain import Identity

log = logging.getLogger(__name__)

T = TypeVar("T")
# What shared.logging keeps per green thread and a call made in a spawned one must carry on
_LOG_CONTEXT = ("correlation_id", "event_id", "event_type")


class ServiceError(Exception):
    """A service answered with an error (or not at all: status 503)."""

    def __init__(self, service: str, status: int, code: str | None, message: str, body: dict | None = None):
        super().__init__(f"{service} answered {status} {code}: {message}")
        self.service, self.status, self.code, self.message, self.body = service, status, code, message, body or {}


@dataclass(frozen=True)
class Binary:
    """A file a service answered (PDF, JSON credential) to hand to the browser as it is."""

    content: bytes
    content_type: str
    disposition: str | None


class ServiceClient:
    def __init__(self, urls: dict[str, str], auth: AuthConfig, timeout_s: float = 10.0, ttl_s: int = 300):
        self.urls, self.auth, self.timeout_s, self.ttl_s = urls, auth, timeout_s, ttl_s
        self.http = requests.Session()  # one pool of connections per replica
        # The services are internal addresses, reached directly: no proxy variables read from the
        # environment on every call (requests' merge_environment_settings was 3.6 % of the portal's
        # samples on the home page), and none applied (see config.py).
        self.http.trust_env = False

    # -- tokens ------------------------------------------------------------------------------
    def token(self, as_, acting: str = "self") -> str:
        """A token for this call: ``as_`` an Identity (``acting`` "self": role asn + own NIP;
        "role": their platform role) or the string "admin"."""
        if as_ == ADMIN:
            return issue_token(self.auth, role=ADMIN, subject="portal", ttl_s=self.ttl_s)
        if not isinstance(as_, Identity):
            raise TypeError("as_ must be an Identity or 'admin'")
        if acting == "self":
            if as_.nip is None:
                raise ServiceError("portal", 403, "no_nip", "this person has no NIP")
            return issue_token(self.auth, role=ASN, nip=as_.nip, subject=as_.subject, ttl_s=self.ttl_s)
        return issue_token(self.auth, role=as_.role, nip=as_.nip if as_.role == ASN else None,
                           agency=as_.agency if as_.role == OPERATOR else None, subject=as_.subject,
                           ttl_s=self.ttl_s)

    # -- calls -------------------------------------------------------------------------------
    def gather(self, calls: Sequence[Callable[[], T]], size: int = 8) -> list[T]:
        """The answers of independent calls (functions of no argument, e.g. ``lambda:
        queries.ledger(client, identity)``) made side by side, in the order given.

        As if made one after the other: the first call (in that order) that raised raises
        here, and each call carries the page's correlation id (shared.logging keeps it per
        green thread, so it is set again inside each one)."""
        if len(calls) <= 1:
            return [call() for call in calls]
        context = {key: ctxlog.current(key) for key in _LOG_CONTEXT}

        def run(call: Callable[[], T]) -> T:
            ctxlog.set_context(**context)
            try:
                return call()
            finally:
                ctxlog.clear_context()

        pool = GreenPool(min(size, len(calls)))
        threads = [pool.spawn(run, call) for call in calls]
        answers, failure = [], None
        for thread in threads:  # every one waited for: none left running after the page
            try:
                answers.append(thread.wait())
            except Exception as exc:  # noqa: BLE001 - raised below, the first in call order
                failure = failure or exc
        if failure is not None:
            raise failure
        return answers

    def _call(self, method: str, service: str, path: str, as_, acting: str, *, params=None, json=None):
        headers = {"Authorization": f"Bearer {self.token(as_, acting)}", "Accept": "application/json"}
        correlation = ctxlog.current("correlation_id")
        if correlation:
            headers[CORRELATION_HEADER] = correlation
        try:
            response = self.http.request(method, self.urls[service] + path, params=params, json=json,
                                         headers=headers, timeout=self.timeout_s)
        except requests.RequestException as exc:
            log.warning("%s %s%s failed: %s", method, service, path, exc)
            raise ServiceError(service, 503, "unreachable", str(exc)) from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            body = body if isinstance(body, dict) else {}
            raise ServiceError(service, response.status_code, body.get("error"),
                               body.get("message") or response.reason, body)
        return response

    def get(self, service: str, path: str, as_, *, params=None, acting: str = "self"):
        return self._call("GET", service, path, as_, acting, params=params).json()

    def post(self, service: str, path: str, as_, body: dict | None = None, *, acting: str = "self"):
        response = self._call("POST", service, path, as_, acting, json=body if body is not None else {})
        return response.json() if response.content else None

    def put(self, service: str, path: str, as_, body: dict, *, acting: str = "self"):
        response = self._call("PUT", service, path, as_, acting, json=body)
        return response.json() if response.content else None

    def patch(self, service: str, path: str, as_, body: dict, *, acting: str = "self"):
        response = self._call("PATCH", service, path, as_, acting, json=body)
        return response.json() if response.content else None

    def delete(self, service: str, path: str, as_, *, acting: str = "self"):
        response = self._call("DELETE", service, path, as_, acting)
        return response.json() if response.content else None

    def file(self, service: str, path: str, as_, *, acting: str = "self") -> Binary:
        response = self._call("GET", service, path, as_, acting)
        return Binary(response.content, response.headers.get("Content-Type", "application/octet-stream"),
                      response.headers.get("Content-Disposition"))

    def live(self, service: str, timeout_s: float = 2.0) -> bool:
        """Whether ``service`` answers ``/health/live`` (the portal's readiness)."""
        try:
            return self.http.get(self.urls[service] + "/health/live", timeout=timeout_s).status_code == 200
        except requests.RequestException:
            return False
