"""Helpers for tests that talk to the real broker and store."""
from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from kombu import Connection, Exchange, Producer

from shared.broker_security import user_of
from shared.config import Settings, load
from shared.events import envelope, registry


def make_settings(service: str, service_env: dict, **overrides) -> Settings:
    """Settings of ``service`` pointed at the test's store, vhost and databases."""
    settings = load(service)
    settings = replace(settings, amqp_uri=service_env["AMQP_URI"], mongo_uri=service_env["MONGO_URI"],
                       db_name=f"{service_env['MONGO_DB_PREFIX']}{service}",
                       http_address=overrides.pop("http_address", "127.0.0.1:0"))
    return replace(settings, **overrides)


def wait_for(predicate, timeout: float = 20.0, interval: float = 0.05, message: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value or the deadline passes."""
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}; last value {value!r}")
        time.sleep(interval)


def cut_short() -> dict:
    """The PATCH an operator sends to end a running programme now (it ended earlier than planned):
    enrolment closed two minutes ago, the end a minute ago. A scheduled programme (pelatihan,
    sertifikasi, seminar, lokakarya) takes completions only once it has ended (issue 24, ADR 0012),
    so a test enrols, sends this, then completes."""
    now = datetime.now(timezone.utc)
    return {"enrolment_closes_at": (now - timedelta(minutes=2)).isoformat().replace("+00:00", "Z"),
            "ends_at": (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")}


def publish_raw(amqp_uri: str, exchange: str, routing_key: str, body: bytes,
                content_type: str = "application/json", headers: dict | None = None) -> None:
    with Connection(amqp_uri) as conn:
        producer = Producer(conn.channel())
        producer.publish(body, exchange=Exchange(exchange, "topic", durable=True), routing_key=routing_key,
                         content_type=content_type, content_encoding="binary" if isinstance(body, bytes) else "utf-8",
                         delivery_mode=2, headers=headers or {}, user_id=user_of(amqp_uri))


def publish_event(amqp_uri: str, service: str, name: str, data: dict, subject: str = "s",
                  event_id: str | None = None) -> dict:
    definition = registry.latest(service, name)
    event = envelope.new_event(definition, subject, data, event_id=event_id)
    publish_raw(amqp_uri, definition.exchange, definition.name, envelope.encode(event))
    return event


def get_messages(amqp_uri: str, queue: str, expected: int, timeout: float = 20.0) -> list:
    """Take ``expected`` messages off ``queue`` (acked), waiting up to ``timeout``."""
    got = []
    end = time.monotonic() + timeout
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        while len(got) < expected and time.monotonic() < end:
            message = channel.basic_get(queue, no_ack=True)
            if message is None:
                time.sleep(0.05)
                continue
            got.append(message)
    return got


def queue_depth(amqp_uri: str, queue: str) -> int:
    with Connection(amqp_uri) as conn:
        return conn.channel().queue_declare(queue, passive=True).message_count


def body_json(message) -> dict:
    return json.loads(message.body)


# -- authentication ---------------------------------------------------------------------------
# Services verify tokens with the key in the environment; tests (in-process services and the
# processes they spawn) share this fixed, test-only secret unless one is already configured.
TEST_AUTH_SECRET = "test-only-secret-never-used-in-production-0123456789"
os.environ.setdefault("AUTH_SECRET", TEST_AUTH_SECRET)


def auth_token(role: str = "admin", agency: str | None = None, nip: str | None = None, ttl_s: int = 3600,
               **kwargs) -> str:
    """A token signed with the configured key (see shared.auth.issue_token)."""
    from shared import auth

    return auth.issue_token(auth.load_config(require_signing=True), role=role, agency=agency, nip=nip,
                            ttl_s=ttl_s, **kwargs)


def auth_headers(role: str = "admin", agency: str | None = None, nip: str | None = None, **kwargs) -> dict:
    """``{"Authorization": "Bearer <token>"}`` for a caller of ``role`` (admin by default)."""
    return {"Authorization": f"Bearer {auth_token(role, agency, nip, **kwargs)}"}


class ApiClient:
    """HTTP calls to one service, as an admin unless a call names other credentials."""

    def __init__(self, base_url: str, timeout: float = 30.0, headers: dict | None = None):
        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self.headers = headers if headers is not None else auth_headers("admin")

    def request(self, method: str, path: str, headers: dict | None = None, **kwargs):
        import requests

        return requests.request(method, self.base_url + path, timeout=kwargs.pop("timeout", self.timeout),
                                headers={**self.headers, **(headers or {})}, **kwargs)

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs):
        return self.request("PUT", path, **kwargs)
