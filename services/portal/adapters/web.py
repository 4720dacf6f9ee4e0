"""The portal's entrypoint: ``@page(method, path)`` is shared.http's ``@api`` for people
rather than programs. Every answer carries the security headers (CSP without inline script,
no framing, no sniffing, no referrer, no caching of personal pages); every error is a page in
Bahasa Indonesia, not JSON; a visitor who must sign in is sent to /masuk.

Access is by the portal's session cookie, not a bearer token: to shared.http the routes are
public (bodies at most 64 KiB, a rate limit per address); each use case checks the session.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from urllib.parse import quote, urlsplit

from marshmallow import ValidationError
from pymongo.errors import ConnectionFailure
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from shared.auth import PUBLIC
from shared.config import env
from shared.errors import DomainError, StoreUnavailable
from shared.http import ApiHandler, PayloadTooLarge, TooManyRequests
from services.portal.adapters import pages
from services.portal.adapters.clients import ServiceError

log = logging.getLogger(__name__)
PAGE_MAX_BODY = 64 * 1024


class SignInRequired(Exception):
    """The page needs a signed-in person: the browser goes to /masuk and comes back."""

    def __init__(self, next_path: str = "/"):
        super().__init__("sign-in required")
        self.next_path = next_path


class CsrfRefused(Exception):
    """A form without this session's CSRF token (a forged cross-site form, or an old page)."""


@lru_cache(maxsize=1)
def security_headers() -> dict[str, str]:
    """The headers of every answer (read once: the issuer and the public address do not change)."""
    form_action = ["'self'"]
    issuer = env("OIDC_ISSUER", None, "portal")
    if issuer:  # sign-out may go on to the provider's end-session page
        parts = urlsplit(issuer)
        form_action.append(f"{parts.scheme}://{parts.netloc}")
    headers = {
        "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                                    f"form-action {' '.join(form_action)}"),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        # the approval link carries a token in its path: it must not leak to another site
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    if (env("PUBLIC_URL", "", "portal") or "").startswith("https://"):
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    return headers


def error_page(exc: Exception, request=None) -> Response:
    """The answer to a failed request, as a page a person can read."""
    headers: dict = {}
    if isinstance(exc, SignInRequired):
        return pages.redirect(f"/masuk?lanjut={quote(exc.next_path, safe='/')}")
    if isinstance(exc, CsrfRefused):
        status, title, message = 403, "Permintaan ditolak", (
            "Formulir ini tidak dapat diterima karena token keamanannya tidak cocok atau sesi Anda telah "
            "berakhir. Muat ulang halaman lalu coba lagi.")
    elif isinstance(exc, PayloadTooLarge):
        status, title, message = 413, "Isian terlalu besar", "Data yang dikirim melebihi batas yang diizinkan."
    elif isinstance(exc, TooManyRequests):
        status, title = 429, "Terlalu banyak permintaan"
        message = f"Coba lagi dalam {exc.details['retry_after']} detik."
        headers["Retry-After"] = str(exc.details["retry_after"])
    elif isinstance(exc, ValidationError):
        fields = ", ".join(sorted(exc.messages)) if isinstance(exc.messages, dict) else ""
        status, title, message = 422, "Isian tidak sah", f"Periksa isian berikut: {fields}." if fields else \
            "Periksa kembali isian Anda."
    elif isinstance(exc, ServiceError):
        status, title, message = _service_error(exc)
        if status >= 500:
            headers["Retry-After"] = "5"
    elif isinstance(exc, DomainError):
        status = exc.status
        title = {403: "Akses ditolak", 404: "Halaman tidak ditemukan"}.get(status, "Permintaan tidak dapat diproses")
        message = exc.message
    elif isinstance(exc, (StoreUnavailable, ConnectionFailure)):
        status, title, message = 503, "Layanan sedang sibuk", "Penyimpanan sesi tidak tersedia; coba lagi sebentar."
        headers["Retry-After"] = "5"
    elif isinstance(exc, HTTPException):
        status = exc.code or 500
        title = {404: "Halaman tidak ditemukan", 405: "Metode tidak diizinkan"}.get(status, "Permintaan tidak sah")
        message = "Alamat yang Anda buka tidak tersedia." if status == 404 else "Permintaan tidak dapat diproses."
    else:
        log.error("unhandled error in a page", exc_info=(type(exc), exc, exc.__traceback__))
        status, title, message = 500, "Terjadi kesalahan", "Terjadi kesalahan pada portal. Silakan coba lagi nanti."
    return pages.render("error.html", status=status, headers=headers, title=title, message=message,
                        code=status, visit=None)


def _service_error(exc: ServiceError) -> tuple[int, str, str]:
    if exc.status == 404:
        return 404, "Tidak ditemukan", "Data yang Anda cari tidak ditemukan."
    if exc.status in (401, 403):
        return 403, "Akses ditolak", "Anda tidak berhak melihat atau mengubah data ini."
    if exc.status >= 500 or exc.status == 429:
        return 503, "Layanan sedang tidak tersedia", (
            "Layanan yang dibutuhkan halaman ini sedang tidak dapat dihubungi. Silakan coba lagi sebentar lagi.")
    return 409, "Permintaan tidak dapat diproses", exc.message


class PageHandler(ApiHandler):
    """``@api`` for pages: HTML errors, security headers, a 64 KiB body limit."""

    def __init__(self, method, url, max_body: int | None = None, **kwargs):
        kwargs.setdefault("auth", PUBLIC)
        # answered as pages without an error trace in the log
        kwargs.setdefault("expected_exceptions", (DomainError, ValidationError, StoreUnavailable, ConnectionFailure,
                                                  SignInRequired, CsrfRefused, ServiceError))
        super().__init__(method, url, max_body=max_body or PAGE_MAX_BODY, **kwargs)

    # The request path is shared.http's (body limit, rate limit, metrics, correlation id); a
    # page answers an error as a page and carries the security headers.
    def error_answer(self, exc: Exception, request) -> Response:
        return error_page(exc, request)

    def finish(self, response: Response) -> None:
        for name, value in security_headers().items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Cache-Control", "no-store")


page = PageHandler.decorator
