"""Event handlers use at most MAX_WORKERS workers: HTTP and health probes still answer when
every handler is busy (a liveness probe waiting behind a burst gets a replica restarted)."""
from __future__ import annotations

import copy
import uuid

import eventlet
import pytest
import requests
from eventlet.event import Event

from deploy.processes import free_port
from shared import topology
from shared.events import registry
from shared.handler import reliable_handler
from shared.openapi import OpenApi
from shared.service_base import ServiceBase
from shared.store import Mongo
from tests.support import make_settings, publish_event, wait_for

RELEASE = Event()
BUSY: list[str] = []


class BusyConsumer(ServiceBase):
    name = "certification"
    store = Mongo()
    openapi = OpenApi("busy consumer")

    @reliable_handler("enrollment", "completed")
    def on_completed(self, event):
        BUSY.append(event.id)
        RELEASE.wait()  # a long transaction, in effect


@pytest.fixture
def settings(service_env):
    env = {**service_env, "MONGO_DB_PREFIX": f"{service_env['MONGO_DB_PREFIX']}{uuid.uuid4().hex[:6]}_"}
    s = make_settings("certification", env, max_workers=2, http_address=f"127.0.0.1:{free_port()}")
    topology.declare_service(s, [("enrollment", "completed")])
    return s


def test_health_answers_while_every_handler_worker_is_busy_and_no_more_than_max_workers_run(
        container_factory, settings):
    container = container_factory(BusyConsumer, settings.nameko_config())
    container.start()
    example = registry.latest("enrollment", "completed").example
    for i in range(5):
        publish_event(settings.amqp_uri, "enrollment", "completed", {**copy.deepcopy(example), "enrolment_id": f"e{i}"})
    wait_for(lambda: len(BUSY) == 2, message="both handler workers busy")
    eventlet.sleep(0.5)
    assert len(BUSY) == 2  # MAX_WORKERS bounds the handlers, the other three events wait

    def live() -> int:
        return requests.get(f"http://{settings.http_address}/health/live", timeout=5).status_code

    # The HTTP request runs in a reserved worker, not behind the busy handlers.
    assert live() == 200

    RELEASE.send()
    wait_for(lambda: len(BUSY) == 5, message="the waiting events handled once workers are free")
