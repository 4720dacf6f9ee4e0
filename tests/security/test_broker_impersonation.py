"""Broker impersonation (issue 17, item 3): with one service's credentials nobody can act as
another service — not by publishing to its exchange, not through RPC or the default
exchange, not by claiming its user_id, and a schema-valid event sent by the wrong user is
dead-lettered with the reason instead of being applied."""
from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest
from kombu import Connection, Exchange, Producer
from nameko.containers import ServiceContainer
from nameko.rpc import Rpc

from services.certification.service import CertificationService
from services.enrollment.service import EnrollmentService
from services.notification.service import NotificationService
from services.reporting.service import ReportingService
from shared import topology
from shared.broker_security import PUBLISHER_HEADER, user_of
from shared.config import SERVICES, load
from shared.events import envelope, registry
from shared.handler import reliable_handler
from shared.replay import replay_outbox
from tests.support import get_messages, wait_for

COMPLETED = registry.latest("enrollment", "completed")


def _publish(uri: str, exchange: str, routing_key: str, body: bytes = b"{}", **properties) -> None:
    """Publish with a publisher confirm, so a refusal by the broker surfaces here."""
    with Connection(uri, transport_options={"confirm_publish": True}, connect_timeout=5) as conn:
        Producer(conn.channel()).publish(body, exchange=exchange, routing_key=routing_key, retry=False,
                                         content_type="application/json", content_encoding="utf-8",
                                         delivery_mode=2, **properties)


def _completed_event() -> dict:
    data = copy.deepcopy(COMPLETED.example)
    return envelope.new_event(COMPLETED, data["enrolment_id"], data)


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_user_writes_to_another_services_exchange_rpc_or_the_default_exchange(broker_users, service):
    others = [f"{other}.events" for other in SERVICES if other != service]
    for exchange in others + ["nameko-rpc"]:
        with pytest.raises(Exception, match="ACCESS_REFUSED|NOT_FOUND"):
            _publish(broker_users[service], exchange, "completed")
    # the default exchange reaches any queue by name: another service's consumer queue here
    with pytest.raises(Exception, match="ACCESS_REFUSED"):
        _publish(broker_users[service], "", "reporting.enrollment.completed" if service != "reporting"
                 else "certification.enrollment.completed")
    _publish(broker_users[service], f"{service}.events", "anything")  # its own exchange: allowed


def test_the_broker_refuses_a_user_id_that_is_not_the_connections_user(broker_users):
    enrollment_user = user_of(broker_users["enrollment"])
    with pytest.raises(Exception, match="PRECONDITION_FAILED|user_id"):
        _publish(broker_users["notification"], "notification.events", "delivered", user_id=enrollment_user)


def test_no_service_offers_an_rpc_entrypoint():
    """The unauthenticated nameko RPC surface is gone: operators use the HTTP admin routes."""
    for cls in (EnrollmentService, CertificationService, NotificationService, ReportingService):
        rpcs = [name for name in dir(cls)
                for entrypoint in getattr(getattr(cls, name, None), "nameko_entrypoints", ())
                if isinstance(entrypoint, Rpc)]
        assert rpcs == [], f"{cls.name} still has RPC entrypoints {rpcs}"


class CompletionListener:
    """A consumer of enrollment.completed running as certification (its queue, its user)."""

    name = "certification"
    applied: list = []

    @reliable_handler("enrollment", "completed")
    def on_completed(self, event):
        CompletionListener.applied.append(event.id)


@pytest.fixture
def listener(broker_users, service_env):
    settings = replace(load("certification"), amqp_uri=broker_users["certification"],
                       mongo_uri=service_env["MONGO_URI"], retry_delays_ms=(100,), http_address="127.0.0.1:0")
    topology.declare_service(settings, [("enrollment", "completed")])
    CompletionListener.applied = []
    container = ServiceContainer(CompletionListener, settings.nameko_config())
    container.start()
    yield settings
    container.stop()


def test_a_schema_valid_event_from_the_wrong_broker_user_is_dead_lettered_not_applied(listener, broker_users,
                                                                                     amqp_uri):
    genuine, forged = _completed_event(), _completed_event()
    # The admin account of the vhost may write enrollment.events, but it is not enrollment.
    _publish(amqp_uri, "enrollment.events", "completed", envelope.encode(forged), user_id=user_of(amqp_uri))
    _publish(broker_users["enrollment"], "enrollment.events", "completed", envelope.encode(genuine),
             user_id=user_of(broker_users["enrollment"]))
    wait_for(lambda: genuine["id"] in CompletionListener.applied, timeout=20, message="the genuine event")
    [dead] = get_messages(amqp_uri, topology.dlq_name("certification"), 1)
    assert json.loads(dead.body)["id"] == forged["id"]
    assert dead.headers["x-reason"] == "unauthorised_publisher"
    assert user_of(broker_users["enrollment"]) in dead.headers["x-error"]
    assert dead.headers[PUBLISHER_HEADER] == user_of(amqp_uri)
    assert forged["id"] not in CompletionListener.applied


def test_an_event_without_a_user_id_is_dead_lettered(listener, broker_users, amqp_uri):
    event = _completed_event()
    _publish(broker_users["enrollment"], "enrollment.events", "completed", envelope.encode(event))
    [dead] = get_messages(amqp_uri, topology.dlq_name("certification"), 1)
    assert json.loads(dead.body)["id"] == event["id"] and dead.headers["x-reason"] == "unauthorised_publisher"
    assert event["id"] not in CompletionListener.applied


def test_a_replay_by_the_producer_reaches_the_consumer_through_its_replay_exchange(listener, broker_users,
                                                                                  mongo_client, db_prefix):
    """The producer replays its log with its own user through enrollment.replay: applied."""
    db = mongo_client[f"{db_prefix}impersonation_enrollment"]
    event = _completed_event()
    db.outbox.insert_one({"event": event, "sent": True, "exchange": "enrollment.events", "routing_key": "completed"})
    queue = topology.consumer_queue_name("certification", "enrollment", "completed")
    assert replay_outbox(db, broker_users["enrollment"], "enrollment", queue) == 1
    wait_for(lambda: event["id"] in CompletionListener.applied, timeout=20, message="the replayed event")
    # notification's user may not replay into enrollment's replay exchange
    with pytest.raises(Exception, match="ACCESS_REFUSED"):
        _publish(broker_users["notification"], "enrollment.replay", queue, envelope.encode(_completed_event()))


CONTACT = registry.latest("enrollment", "asn_contact")


class ContactListener:
    """A consumer of the private enrollment.asn_contact running as notification (its queue on
    enrollment.private, its user)."""

    name = "notification"
    applied: list = []

    @reliable_handler("enrollment", "asn_contact")
    def on_contact(self, event):
        ContactListener.applied.append(event.id)


@pytest.fixture
def contact_listener(broker_users, service_env):
    settings = replace(load("notification"), amqp_uri=broker_users["notification"],
                       mongo_uri=service_env["MONGO_URI"], retry_delays_ms=(100,), http_address="127.0.0.1:0")
    topology.declare_service(settings, [("enrollment", "asn_contact")])
    ContactListener.applied = []
    container = ServiceContainer(ContactListener, settings.nameko_config())
    container.start()
    yield settings
    container.stop()


def test_a_contact_event_on_the_private_exchange_from_anyone_but_enrollment_is_dead_lettered(contact_listener,
                                                                                            broker_users, amqp_uri):
    """A forged asn_contact would send an ASN's notifications to someone else's address."""
    def contact() -> dict:
        return envelope.new_event(CONTACT, CONTACT.example["nip"], copy.deepcopy(CONTACT.example))

    genuine, forged = contact(), {**contact(), "data": {**CONTACT.example, "email": "penyusup@contoh.id"}}
    _publish(amqp_uri, "enrollment.private", "asn_contact", envelope.encode(forged), user_id=user_of(amqp_uri))
    _publish(broker_users["enrollment"], "enrollment.private", "asn_contact", envelope.encode(genuine),
             user_id=user_of(broker_users["enrollment"]))
    wait_for(lambda: genuine["id"] in ContactListener.applied, timeout=20, message="the genuine contact event")
    [dead] = get_messages(amqp_uri, topology.dlq_name("notification"), 1)
    assert json.loads(dead.body)["id"] == forged["id"] and dead.headers["x-reason"] == "unauthorised_publisher"
    assert forged["id"] not in ContactListener.applied
    # and notification's own user cannot even put one there
    with pytest.raises(Exception, match="ACCESS_REFUSED"):
        _publish(broker_users["notification"], "enrollment.private", "asn_contact", envelope.encode(contact()),
                 user_id=user_of(broker_users["notification"]))
