"""What every ``asn`` command uses: the operator's errors and exit statuses, output for people
(tables, colour and progress bars on a terminal only) and scripts, and where the broker, its
management API and the services are (shared.config's variables)."""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable, Iterator, TextIO, TypeVar
from urllib.parse import unquote, urlsplit

import requests
from kombu import Connection
from kombu.exceptions import OperationalError

from shared import timefmt
from shared.config import DEFAULT_AMQP_URI, Settings, env, load
from shared.config import service_url as config_service_url

MANAGEMENT_PORT = 15672
HTTP_TIMEOUT_S = 3.0
# The private queues of `asn events tail` (hidden by `asn status`).
TAIL_QUEUE_PREFIX = "asn-tail-"
EVENT_TYPE_PREFIX = "id.go.bkn.bangkom."


# Exit statuses, the same for every command (``asn --help``, docs/operations.md).
EXIT_OK = 0
EXIT_PROBLEM = 1  # the command ran and found or met a problem: a non-empty DLQ, a failed replay
EXIT_USAGE = 2  # the command could not be carried out as asked: argparse's own status for bad arguments

T = TypeVar("T")


class CliError(Exception):
    """A problem the command met (the broker unreachable, a service failing): printed without a
    traceback, exit status 1."""

    exit_code = EXIT_PROBLEM


class UsageError(CliError):
    """The command cannot be carried out as asked (missing or wrong arguments, an unknown
    reference, a refused request, no credentials): printed without a traceback, exit status 2."""

    exit_code = EXIT_USAGE


def http_error(status: int, message: str) -> CliError:
    """A service's refusal: a 4xx answer means the request (what the operator asked) was wrong,
    anything else that the service has a problem."""
    return UsageError(message) if 400 <= status < 500 else CliError(message)


def call_service(service: str, method: str, path: str, token: str, *, body: dict | None = None,
                 timeout: float = 30.0, about: str = "") -> tuple[int, dict]:
    """One call to ``service``'s HTTP API with an admin token: (status, JSON answer); a refusal
    raises ``http_error`` with the service's own message (``about`` says what it concerned)."""
    url = service_url(load(service)) + path
    try:
        response = requests.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"},
                                    timeout=timeout)
    except requests.RequestException as exc:
        raise CliError(f"{service} did not answer at {url}: {exc}") from None
    if response.status_code >= 400:
        try:
            message = response.json().get("message")
        except ValueError:
            message = response.text[:200]
        raise http_error(response.status_code, f"{service} answered {response.status_code}{about}: {message}")
    return response.status_code, response.json()


# -- terminal -------------------------------------------------------------------------------

STYLES = {"red": "31", "green": "32", "yellow": "33", "bold": "1"}


def colour_enabled(stream: TextIO) -> bool:
    """Colour only for a person at a terminal: never into a pipe or a file, never with NO_COLOR
    set (https://no-color.org) or TERM=dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or a fake stream
        return False


def paint(text: str, style: str | None, stream: TextIO | None = None) -> str:
    """``text`` in ``style`` (a key of STYLES) when ``stream`` (default stdout) shows colour."""
    if not style or not colour_enabled(stream or sys.stdout):
        return text
    return f"\033[{STYLES[style]}m{text}\033[0m"


BAR_WIDTH = 30


def bar(fraction: float | None, width: int = BAR_WIDTH) -> str:
    """``[#########---------------------]`` filled to ``fraction`` (0 to 1)."""
    filled = int(round(min(max(fraction or 0.0, 0.0), 1.0) * width))
    return f"[{'#' * filled}{'-' * (width - filled)}]"


class Progress:
    """Progress of a long command: a bar redrawn in place on a terminal; plain lines otherwise
    (logs, pipes), each only when it says something new.

    ``quiet`` drops the plain lines (``--json``: the result says it all) but keeps the bar for a
    person watching a terminal."""

    def __init__(self, out: TextIO, quiet: bool = False):
        self.out = out
        try:
            self.tty = out.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.quiet = quiet
        self.last: str | None = None
        self.last_tenth: int | None = None
        self.drawn = False

    def show(self, line: str, fraction: float | None = None, plain: str | None = None) -> None:
        """Draw ``line`` after a bar filled to ``fraction`` (no bar when None) on a terminal;
        elsewhere print ``plain`` (default ``line``) if it differs from the last one printed."""
        if self.tty:
            shown = line if fraction is None else f"{bar(fraction)} {line}"
            self.out.write("\r\033[K" + shown)
            self.out.flush()
            self.drawn = True
            return
        plain = line if plain is None else plain
        if not self.quiet and plain != self.last:
            print(plain, file=self.out, flush=True)
            self.last = plain

    def count(self, done: int, total: int, what: str) -> None:
        """``[####------] 3/10 what`` on a terminal; elsewhere a plain line ``30% (3/10) what``
        each time another tenth is reached (a DLQ of 10,000 messages is 11 lines, not 10,000)."""
        fraction = done / total if total else 1.0
        tenth = int(fraction * 10)
        if not self.tty and self.last is not None and tenth == self.last_tenth:
            return
        self.last_tenth = tenth
        self.show(f"{done:,}/{total:,} {what}", fraction, plain=f"{tenth * 10}% ({done:,}/{total:,}) {what}")

    def wait(self, label: str, work: Callable[[], T], fraction: float | None = None, tick_s: float = 0.2) -> T:
        """Run ``work`` (a blocking call with no progress of its own, e.g. one long HTTP request)
        while the terminal shows ``label`` and the time it has taken; one plain line elsewhere."""
        if not self.tty:
            self.show(label, fraction)
            return work()
        outcome: dict = {}

        def run() -> None:
            try:
                outcome["value"] = work()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                outcome["error"] = exc

        worker = threading.Thread(target=run, name="asn-progress", daemon=True)
        started = time.monotonic()
        worker.start()
        while True:
            self.show(f"{label}  {duration(time.monotonic() - started)}", fraction)
            worker.join(tick_s)
            if not worker.is_alive():
                break
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    def end(self) -> None:
        """Leave the bar's last state on its own line (nothing to do for plain lines)."""
        if self.tty and self.drawn:
            self.out.write("\n")
            self.out.flush()
            self.drawn = False


# -- output -------------------------------------------------------------------------------

def table(rows: list[dict], columns: list[tuple[str, str]],
          styles: dict[str, Callable[[str], str | None]] | None = None) -> str:
    """Left-aligned columns; ``columns`` is [(key, heading)]. ``styles`` maps a column's key to
    the style of a cell's text (``paint``: only on a terminal); widths are those of the text."""
    styles = styles or {}
    cells = [[heading for _, heading in columns]]
    cells += [["-" if row.get(key) is None else str(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]

    def cell(text: str, width: int, key: str, heading: bool) -> str:
        padded = text.ljust(width)
        style = None if heading or key not in styles else styles[key](text)
        # colour the text, not the padding after it, so trailing blanks stay stripped
        return padded if style is None else paint(text, style) + padded[len(text):]

    return "\n".join("  ".join(cell(c, w, key, n == 0) for c, w, (key, _) in zip(line, widths, columns)).rstrip()
                     for n, line in enumerate(cells))


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
