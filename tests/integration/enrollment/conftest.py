"""The enrollment service in-process against the real broker and store.

Each test gets its own databases (a fresh prefix) and a queue bound to every event on
``enrollment.events``, so it can read exactly what an external subscriber would get.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
import requests
from nameko.containers import ServiceContainer
from kombu import Connection, Exchange, Queue

from deploy.processes import free_port
from services.enrollment.service import EnrollmentService
from shared import topology
from shared.events.envelope import parse
from shared.store import connect
from tests.support import auth_headers, get_messages, make_settings, wait_for

ADMIN = auth_headers()


def _as_admin(kw: dict) -> dict:
    """Requests go as an admin unless a test names other credentials."""
    return {**kw, "headers": {**ADMIN, **(kw.get("headers") or {})}}


class Clock:
    """The service's clock: the real time, or a moment a test sets (``at``); reset by each test."""

    def __init__(self):
        self.fixed: datetime | None = None

    def __call__(self) -> datetime:
        return self.fixed or datetime.now(timezone.utc)

    def at(self, moment: datetime | str) -> None:
        self.fixed = datetime.fromisoformat(moment.replace("Z", "+00:00")) if isinstance(moment, str) else moment


@dataclass
class Running:
    url: str
    settings: object
    db: object
    tap: str
    clock: Clock | None = field(default=None, repr=False)

    def after_end(self, programme: dict) -> None:
        """Move the service's clock a minute past the end of ``programme`` (a definition or an
        answer): a scheduled programme's completions are recorded once it has ended (issue 24)."""
        assert self.clock is not None, "this service runs on the real clock"
        self.clock.at(datetime.fromisoformat(programme["ends_at"].replace("Z", "+00:00")) + timedelta(minutes=1))

    def get(self, path, **kw):
        return requests.get(self.url + path, timeout=30, **_as_admin(kw))

    def post(self, path, json=None, **kw):
        return requests.post(self.url + path, json=json, timeout=120, **_as_admin(kw))

    def patch(self, path, json=None, **kw):
        return requests.patch(self.url + path, json=json, timeout=30, **_as_admin(kw))

    def events(self, expected: int, timeout: float = 20.0) -> list:
        """The next ``expected`` events an outside subscriber received, parsed and validated."""
        messages = get_messages(self.settings.amqp_uri, self.tap, expected, timeout=timeout)
        assert len(messages) == expected, f"expected {expected} events, got {len(messages)}"
        return [parse(m.body, m.properties.get("content_type")) for m in messages]

    def raw_events(self, expected: int, timeout: float = 20.0) -> list:
        return get_messages(self.settings.amqp_uri, self.tap, expected, timeout=timeout)

    def create_published(self, body: dict) -> dict:
        created = self.post("/programmes", body)
        assert created.status_code in (200, 201), created.text  # 200: a parametrized test's earlier run
        published = self.post(f"/programmes/{body['code']}/publish")
        assert published.status_code == 200, published.text
        return published.json()


def settings_for(service_env, **overrides):
    env = {**service_env, "MONGO_DB_PREFIX": f"{service_env['MONGO_DB_PREFIX']}{uuid.uuid4().hex[:6]}_"}
    return make_settings("enrollment", env, http_address=f"127.0.0.1:{free_port()}",
                         relay_poll_interval_s=0.1, **overrides)


def bind_tap(amqp_uri: str) -> str:
    name = f"test.tap.{uuid.uuid4().hex[:8]}"
    with Connection(amqp_uri) as conn:
        Queue(name, Exchange("enrollment.events", "topic", durable=True), routing_key="#",
              durable=False, auto_delete=False)(conn.channel()).declare()
    return name


@pytest.fixture
def settings(service_env):
    s = settings_for(service_env)
    topology.declare_service(s)
    return s


@pytest.fixture
def isolated_enrollment(container_factory, settings):
    """A service of its own with empty databases (for tests that count what is stored)."""
    tap = bind_tap(settings.amqp_uri)
    container = container_factory(EnrollmentService, settings.nameko_config())
    container.start()
    client = connect(settings)
    yield Running(f"http://{settings.http_address}", settings, client[settings.db_name], tap)
    client.close()


@pytest.fixture(scope="module")
def shared_service(service_env):
    """One service per test module (starting one per test is most of a test's time), on a clock a
    test may move past a programme's end (``Running.after_end``)."""
    clock = Clock()
    s = settings_for(service_env, extra={"clock": clock})
    topology.declare_service(s)
    container = ServiceContainer(EnrollmentService, s.nameko_config())
    container.start()
    client = connect(s)
    yield s, client[s.db_name], clock
    container.stop()
    client.close()


@pytest.fixture
def enrollment(shared_service):
    """The module's service, with a tap bound for this test only.

    The tap is bound once every earlier event has been published (the relay marks a record
    sent only after the broker confirmed it, i.e. routed it): the tap then receives exactly
    the events of this test. Tests use programme codes of their own.
    """
    settings, db, clock = shared_service
    clock.fixed = None  # the real time unless the test moves it
    wait_for(lambda: db.outbox.count_documents({"sent": False}) == 0, message="earlier events published")
    yield Running(f"http://{settings.http_address}", settings, db, bind_tap(settings.amqp_uri), clock)
    clock.fixed = None
