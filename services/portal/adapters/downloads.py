"""Files a service makes (reporting's CSV/XLSX/SIASN exports) passed to the browser as they
arrive: the request carries the signed-in person's token (``ServiceClient.token``), the answer is
streamed in chunks rather than held in memory (an export of every OPD can be large), and its
Content-Type, Content-Disposition and Content-Length are kept. A refusal is raised as
``ServiceError`` like every other call, for the page to say in Bahasa Indonesia.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

import requests
from werkzeug.wrappers import Response

from shared import logging as ctxlog
from shared.http import CORRELATION_HEADER

from services.portal.adapters.clients import ServiceClient, ServiceError

log = logging.getLogger(__name__)
CHUNK = 64 * 1024
# The headers of the service's answer the browser gets as they are.
PASSED_ON = ("Content-Type", "Content-Disposition", "Content-Length")


def _chunks(answer: requests.Response) -> Iterator[bytes]:
    try:
        yield from answer.iter_content(CHUNK)
    finally:
        answer.close()  # the connection goes back to the pool even when the browser stops reading


def stream(client: ServiceClient, service: str, path: str, as_, *, params: dict | None = None,
           acting: str = "role") -> Response:
    """``GET service path`` on behalf of ``as_``, its body streamed through to the browser."""
    headers = {"Authorization": f"Bearer {client.token(as_, acting)}"}
    correlation = ctxlog.current("correlation_id")
    if correlation:
        headers[CORRELATION_HEADER] = correlation
    try:
        answer = client.http.get(client.urls[service] + path, params=params, headers=headers, stream=True,
                                 timeout=client.timeout_s)
    except requests.RequestException as exc:
        log.warning("GET %s%s failed: %s", service, path, exc)
        raise ServiceError(service, 503, "unreachable", str(exc)) from None
    if answer.status_code >= 400:
        try:
            body = answer.json()
        except ValueError:
            body = {}
        finally:
            answer.close()
        body = body if isinstance(body, dict) else {}
        raise ServiceError(service, answer.status_code, body.get("error"), body.get("message") or answer.reason,
                           body)
    passed = {name: answer.headers[name] for name in PASSED_ON if name in answer.headers}
    if answer.headers.get("Content-Encoding"):  # iter_content decodes: the length would be the encoded one
        passed.pop("Content-Length", None)
    return Response(_chunks(answer), status=200, headers=passed, direct_passthrough=True)
