"""What every ``asn`` command uses: the operator's error, output for people and scripts, and
where the broker, its management API and the services are (shared.config's variables)."""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator
from urllib.parse import unquote, urlsplit

import requests
from kombu import Connection
from kombu.exceptions import OperationalError

from shared import timefmt
from shared.config import DEFAULT_AMQP_URI, Settings, env
from shared.config import service_url as config_service_url

MANAGEMENT_PORT = 15672
HTTP_TIMEOUT_S = 3.0
# The private queues of `asn events tail` (hidden by `asn status`).
TAIL_QUEUE_PREFIX = "asn-tail-"
EVENT_TYPE_PREFIX = "id.go.bkn.bangkom."


class CliError(Exception):
    """A problem the operator must fix (printed without a traceback, exit status 2)."""


# -- output -------------------------------------------------------------------------------

def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Left-aligned columns; ``columns`` is [(key, heading)]."""
    cells = [[heading for _, heading in columns]]
    cells += [["-" if row.get(key) is None else str(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells)


def emit_json(payload) -> None:
    print(json.dumps(payload, ensure_ascii=False, indent=2, default=str))


def shown_time(value) -> str | None:
    """A time shown to people (an RFC 3339 string or a datetime): WIB, in Indonesian
    (shared.timefmt.stamp_id); None stays None."""
    moment = timefmt.parse_time(value)
    return None if moment is None else timefmt.stamp_id(moment)


def utc_iso(epoch: float | None) -> str | None:
    """A time for scripts (JSON): RFC 3339 in UTC, to the second."""
    if epoch is None:
        return None
    return timefmt.iso(datetime.fromtimestamp(float(epoch), timezone.utc).replace(microsecond=0))


def duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def rate(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"


def cut(text: str | None, width: int) -> str | None:
    """One line of at most ``width`` characters."""
    if text is None:
        return None
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def short_type(event_type: str | None) -> str | None:
    """id.go.bkn.bangkom.enrollment.completed.v1 -> enrollment.completed.v1"""
    if event_type and event_type.startswith(EVENT_TYPE_PREFIX):
        return event_type[len(EVENT_TYPE_PREFIX):]
    return event_type


# -- where things are ---------------------------------------------------------------------

def amqp_uri() -> str:
    return env("AMQP_URI", DEFAULT_AMQP_URI)


def vhost_of(uri: str) -> str:
    path = urlsplit(uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def management_base(uri: str) -> str:
    configured = env("RABBITMQ_MANAGEMENT_URL")
    if configured:
        return configured.rstrip("/")
    return f"http://{urlsplit(uri).hostname or '127.0.0.1'}:{MANAGEMENT_PORT}"


def management_get(uri: str, path: str):
    parts = urlsplit(uri)
    auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    response = requests.get(f"{management_base(uri)}/api/{path}", auth=auth, timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    return response.json()


def service_url(settings: Settings) -> str:
    return config_service_url(settings.service, settings.http_address)


@contextmanager
def broker(uri: str) -> Iterator[Connection]:
    conn = Connection(uri, connect_timeout=5, transport_options={"confirm_publish": True})
    try:
        conn.ensure_connection(max_retries=1)
    except (OperationalError, OSError) as exc:
        raise CliError(f"cannot reach the broker at {_safe(uri)}: {exc}") from None
    try:
        yield conn
    finally:
        conn.release()


def _safe(uri: str) -> str:
    """The URI without its password (it ends up in terminals and logs)."""
    parts = urlsplit(uri)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return parts._replace(netloc=netloc).geturl()
