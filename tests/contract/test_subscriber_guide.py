"""docs/subscribing.md tells other systems the truth: every published event is listed with
its exchange and routing key, and an account created exactly as the guide says can
subscribe, and can do nothing else."""
from __future__ import annotations

import re
import shlex
import uuid
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pika
import pytest
import requests
from pika.exceptions import ChannelClosedByBroker

from shared import topology
from shared.events import registry
from tests.contract.running import RunningExample, example, publish_through_outbox

pytestmark = pytest.mark.integration  # real broker and store

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "subscribing.md"
MANAGEMENT_PORT = 15672
TABLE_ROW = re.compile(r"^\| `([\w.]+\.events)` \| `(\w+)` \| `([\w.]+)` \|", re.M)


def test_the_guide_lists_every_published_event_version_with_its_exchange_and_routing_key():
    listed = set(TABLE_ROW.findall(GUIDE.read_text(encoding="utf-8")))
    published = {(d.exchange, d.name, d.type) for d in registry.all_definitions()}
    assert listed == published, (
        f"docs/subscribing.md section 1 is out of date; missing {sorted(published - listed)}, "
        f"not published {sorted(listed - published)}")


def documented_permissions(system: str, vhost: str) -> tuple[str, str, str]:
    """The configure/write/read patterns of the guide's `rabbitmqctl set_permissions` line."""
    [line] = [ln.strip() for ln in GUIDE.read_text(encoding="utf-8").splitlines()
              if ln.strip().startswith("rabbitmqctl set_permissions")]
    args = shlex.split(line.replace("<system>", system).replace("<vhost>", vhost))
    assert args[:5] == ["rabbitmqctl", "set_permissions", "-p", vhost, f"ext-{system}"]
    configure, write, read = args[5:]
    return configure, write, read


class BrokerAccount:
    """A subscriber account made through the RabbitMQ management API, removed afterwards."""

    def __init__(self, amqp_uri: str, system: str):
        parts = urlsplit(amqp_uri)
        self.api = f"http://{parts.hostname}:{MANAGEMENT_PORT}/api"
        self.admin = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
        self.vhost = unquote(parts.path[1:]) or "/"
        self.user, self.password = f"ext-{system}", uuid.uuid4().hex
        self.url = f"amqp://{self.user}:{self.password}@{parts.hostname}:{parts.port or 5672}/{quote(self.vhost, safe='')}"
        configure, write, read = documented_permissions(system, self.vhost)
        try:
            self._put(f"users/{self.user}", {"password": self.password, "tags": ""})
        except requests.ConnectionError:
            pytest.fail(f"the RabbitMQ management API at {self.api} is not reachable "
                        "(rabbitmq-plugins enable rabbitmq_management)")
        self._put(f"permissions/{quote(self.vhost, safe='')}/{self.user}",
                  {"configure": configure, "write": write, "read": read})

    def _put(self, path: str, body: dict) -> None:
        response = requests.put(f"{self.api}/{path}", json=body, auth=self.admin, timeout=10)
        assert response.status_code in (201, 204), response.text

    def delete(self) -> None:
        requests.delete(f"{self.api}/users/{self.user}", auth=self.admin, timeout=10)


@pytest.fixture
def account(settings):
    made = BrokerAccount(settings["enrollment"].amqp_uri, f"ct{uuid.uuid4().hex[:6]}")
    yield made
    made.delete()


def refused(action) -> str:
    """The broker's refusal of ``action`` (which must be refused)."""
    with pytest.raises(ChannelClosedByBroker) as caught:
        action()
    assert caught.value.reply_code == 403, caught.value
    return caught.value.reply_text


def test_an_account_with_the_documented_permissions_can_subscribe_and_nothing_more(settings, account, tmp_path):
    # the platform's own consumer queue, which an outside account must not touch
    topology.declare_service(settings["certification"], [("enrollment", "completed")])
    system = account.user.removeprefix("ext-")
    queue = f"ext.{system}.bangkom"
    subscriber = RunningExample(account.url, tmp_path, queue=queue,
                                bindings=["enrollment.events:completed", "certification.events:certified"])
    [completed] = publish_through_outbox(settings["enrollment"], [
        ("completed", "e-7", example("enrollment", "completed", enrolment_id="e-7"))])
    [handled] = subscriber.wait_for_outcome("handled")
    assert handled["id"] == completed["id"]
    subscriber.stop()

    connection = pika.BlockingConnection(pika.URLParameters(account.url))
    try:
        # no queues outside its prefix, no reading the platform's own queues
        assert "ACCESS_REFUSED" in refused(lambda: connection.channel().queue_declare("enrollment.sneaky"))
        refused(lambda: connection.channel().basic_get("certification.enrollment.completed"))
        # no binding to an exchange it was not granted
        refused(lambda: connection.channel().queue_bind(queue, "notification.events", routing_key="delivered"))

        # no publishing: not to an event exchange, not into a queue through the default exchange
        def publish(exchange: str, routing_key: str):
            channel = connection.channel()
            channel.confirm_delivery()
            channel.basic_publish(exchange, routing_key, b"{}")
        refused(lambda: publish("enrollment.events", "completed"))
        refused(lambda: publish("", "certification.enrollment.completed"))
    finally:
        connection.close()
