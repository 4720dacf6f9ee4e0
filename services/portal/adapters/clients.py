"""``ServiceClient``: the four services' HTTP APIs, called on behalf of the signed-in person
with a token minted for that call (5 minutes; the portal holds the signing key). A token never
leaves the server: it is not in a page, a cookie or a URL.

    client.get("reporting", f"/ledger/{nip}", as_=identity, params={"year": 2026})

``as_`` is whose token: an ``Identity`` (own pages use role asn + their NIP; ``acting="role"``
the operator's or admin's role) or ``"admin"`` for the portal's own reads (the development
sign-in list only). A service's refusal is raised as ``ServiceError`` with its status, code
and message, for the page to say in Bahasa Indonesia.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import requests

from shared.auth import ADMIN, ASN, OPERATOR, AuthConfig, issue_token
from shared.http import CORRELATION_HEADER
from shared import logging as ctxlog

from services.portal.domain import Identity

log = logging.getLogger(__name__)


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
