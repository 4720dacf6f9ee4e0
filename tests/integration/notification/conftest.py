"""Real things around the notification service: an SMTP server (aiosmtpd, its own process,
writing a maildir), an HTTP receiver for the webhook, a clock the test moves, and the
service container started in-process against the test's RabbitMQ vhost and store."""
from __future__ import annotations

from deploy.processes import free_port  # noqa: F401 - re-exported for the tests

import base64
import json
import mailbox
import socket
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn
from zoneinfo import ZoneInfo

import pytest
import requests

from services.notification.service import NotificationService
from services.notification.store import DELIVERIES, MESSAGES
from services.notification.dependencies import DELIVERY_LOOP, DIGEST_LOOP
from shared.background import LeasedLoop
from shared import topology
from shared.store import OUTBOX, connect
from tests.support import auth_headers, make_settings, wait_for

ADMIN = auth_headers()

WIB = ZoneInfo("Asia/Jakarta")
# A fixed test key in the Standard Webhooks form (whsec_ + base64 of 32 bytes).
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"rahasia-gateway-bangkom-uji-32b!").decode()



def wib(*args) -> datetime:
    return datetime(*args, tzinfo=WIB).astimezone(timezone.utc)


class MovableClock:
    """The service's clock: runs with real time from wherever a test sets it (a night in
    WIB, the day before a programme), so back-off delays still elapse."""

    def __init__(self, now: datetime):
        self.now = now

    @property
    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self._offset

    @now.setter
    def now(self, value: datetime) -> None:
        self._offset = value - datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


class SmtpServer:
    """aiosmtpd in its own process, storing what arrives in a maildir; can be stopped and restarted."""

    def __init__(self, directory):
        self.port = free_port()
        self.maildir = str(directory / "maildir")
        self.process = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
             "-c", "aiosmtpd.handlers.Mailbox", self.maildir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(self._accepts, timeout=10, message="the SMTP server to listen")

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                return sock.recv(3) == b"220"
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def messages(self) -> list:
        try:
            return list(mailbox.Maildir(self.maildir, create=False))
        except FileNotFoundError:
            return []

    def to(self, address: str) -> list:
        return [m for m in self.messages() if address in m["To"]]


class WebhookReceiver:
    """A local HTTP endpoint recording each POST; answers the statuses queued in ``replies``."""

    def __init__(self):
        self.requests: list[dict] = []
        self.replies: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.replies.pop(0) if receiver.replies else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingMixIn, HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/gateway"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def payloads(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def smtp(tmp_path):
    server = SmtpServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_down(tmp_path):
    """An SMTP server that is not running yet; ``start()`` brings it up."""
    server = SmtpServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def webhook():
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def clock():
    return MovableClock(wib(2026, 1, 5, 10, 0))  # a Monday morning in Bukittinggi


class Running:
    """A started notification container and what tests need around it."""

    def __init__(self, container, settings):
        self.container, self.settings = container, settings
        self.base_url = f"http://{settings.http_address}"
        self.client = connect(settings)
        self.db = self.client[settings.db_name]

    def wake(self) -> None:
        """Run the delivery and digest loops now (after a test moved the clock)."""
        for name in (DIGEST_LOOP, DELIVERY_LOOP):
            self.container.shared_extensions[(LeasedLoop, name)].wake()

    def http(self, method: str, path: str, headers: dict | None = None, **kwargs) -> requests.Response:
        """As an admin unless the test names other credentials."""
        return requests.request(method, self.base_url + path, timeout=10,
                                headers={**ADMIN, **(headers or {})}, **kwargs)

    def deliveries(self, **query) -> list[dict]:
        return list(self.db[DELIVERIES].find(query))

    def delivery(self, **query) -> dict | None:
        return self.db[DELIVERIES].find_one(query)

    def messages(self, **query) -> list[dict]:
        return list(self.db[MESSAGES].find(query))

    def emitted(self, name: str) -> list[dict]:
        return [r["event"] for r in self.db[OUTBOX].find({"routing_key": name}).sort("_id", 1)]


@pytest.fixture
def notification_env(service_env):
    """The environment replicas start in; a module that also runs other services on its vhost
    overrides it with a vhost of the test's own (tests/security/test_notification_review.py)."""
    return service_env


@pytest.fixture
def start_notification(container_factory, notification_env, clock, webhook, tmp_path):
    """Start a replica of the notification service; every replica of a test shares one database."""
    env = {**notification_env, "MONGO_DB_PREFIX": f"{notification_env['MONGO_DB_PREFIX']}{uuid.uuid4().hex[:6]}_"}
    started = []

    def start(smtp_port: int | None = None, **overrides) -> Running:
        tuning = {"smtp_port": smtp_port or 1, "webhook_url": webhook.url, "webhook_secret": WEBHOOK_SECRET,
                  "poll_interval_s": 0.1, "backoff_s": (0.2,), "smtp_timeout_s": 2.0, "webhook_timeout_s": 2.0,
                  "escalation_digest_delay": timedelta(minutes=10), **overrides}
        settings = make_settings("notification", env, http_address=f"127.0.0.1:{free_port()}",
                                 retry_delays_ms=(100, 300), retry_max_attempts=3, relay_poll_interval_s=0.1,
                                 extra={"notification": tuning, "clock": clock})
        topology.declare_service(settings)
        container = container_factory(NotificationService, settings.nameko_config())
        container.start()
        running = Running(container, settings)
        started.append(running)
        return running

    yield start
    for running in started:
        running.client.close()
