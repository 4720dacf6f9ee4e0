"""The private path (ADR 0080): an ASN's contact data goes from enrollment to notification over
``enrollment.private`` only. No public exchange carries it, no other service and no external
subscriber can read it, its outbox record keeps no e-mail or telephone once the broker has it,
and a replay never republishes it."""
from __future__ import annotations

import copy
import json
import secrets
from dataclasses import replace
from urllib.parse import quote, unquote, urlsplit

import pytest
import requests
from kombu import Connection, Exchange, Producer, Queue

from deploy import rabbit
from shared import broker_security, topology
from shared.config import SERVICES
from shared.events import envelope, registry
from shared.mongo import connect
from shared.outbox import Relay
from shared.replay import replay_outbox
from shared.store import Store
from tests.security.conftest import as_user
from tests.support import get_messages, make_settings, queue_depth

CONTACT = registry.latest("enrollment", "asn_contact")
REGISTERED = registry.latest("enrollment", "asn_registered")
PRIVATE = "enrollment.private"


def _consumers_of_contact() -> list[str]:
    return [s for s in SERVICES if ("enrollment", "asn_contact") in topology.subscriptions_of(s)]


def _all_queues() -> set[str]:
    return {q["name"] for q in topology.definitions()["queues"]}


def _publish(uri: str, exchange: str, routing_key: str, event: dict) -> None:
    """Publish ``event`` with a confirm and ``mandatory``: refused or unroutable raises here."""
    with Connection(uri, transport_options={"confirm_publish": True}, connect_timeout=5) as conn:
        Producer(conn.channel()).publish(
            envelope.encode(event), exchange=Exchange(exchange, "topic", durable=True, passive=True),
            routing_key=routing_key, declare=[], retry=False, mandatory=True, content_type=envelope.CONTENT_TYPE,
            content_encoding="utf-8", delivery_mode=2, user_id=broker_security.user_of(uri))


def _contact_event(nip: str = "198503122010011002") -> dict:
    data = {**copy.deepcopy(CONTACT.example), "nip": nip}
    return envelope.new_event(CONTACT, nip, data)


def _bind(uri: str, queue: str, exchange: str, routing_key: str) -> None:
    with Connection(uri, connect_timeout=5) as conn:
        Queue(queue, Exchange(exchange, "topic", durable=True, passive=True), routing_key=routing_key,
              durable=False, auto_delete=True)(conn.channel()).declare()


def test_only_notification_subscribes_to_contact_data_and_its_queue_is_bound_to_the_private_exchange_only():
    assert _consumers_of_contact() == ["notification"]
    queue = topology.consumer_queue("notification", "enrollment", "asn_contact")
    assert queue.name == "notification.enrollment.asn_contact"
    assert {(b.exchange.name, b.routing_key) for b in queue.bindings} == {
        (PRIVATE, "asn_contact"), ("notification.requeue", queue.name)}
    bindings = topology.definitions()["bindings"]
    # enrollment.private reaches notification's queues of private events only (asn_contact, approval_link)
    private_queues = {topology.consumer_queue("notification", d.service, d.name).name
                      for d in registry.private_definitions() if d.service == "enrollment"}
    assert queue.name in private_queues
    assert {b["destination"] for b in bindings if b["source"] == PRIVATE} == private_queues
    assert not [b for b in bindings if b["destination"] == queue.name and b["source"].endswith((".events", ".replay"))]


def test_a_contact_event_on_enrollment_private_reaches_notifications_queue_and_no_other(broker_users, amqp_uri):
    # an eavesdropper on every public exchange of the platform, as an external subscriber would be
    for service in SERVICES:
        _bind(amqp_uri, f"ext.eavesdrop.{service}", f"{service}.events", "#")
    queues = _all_queues()
    before = {q: queue_depth(amqp_uri, q) for q in queues}
    event = _contact_event()
    _publish(broker_users["enrollment"], PRIVATE, "asn_contact", event)  # enrollment's own user may write it
    # the confirm came after routing: every queue it reached already holds it
    target = "notification.enrollment.asn_contact"
    grown = {q for q in queues if queue_depth(amqp_uri, q) > before[q]}
    assert grown == {target}
    assert all(queue_depth(amqp_uri, f"ext.eavesdrop.{s}") == 0 for s in SERVICES)
    [message] = get_messages(amqp_uri, target, 1)
    assert json.loads(message.body)["data"]["email"] == CONTACT.example["email"]
    assert message.properties["user_id"] == broker_security.user_of(broker_users["enrollment"])


@pytest.mark.parametrize("service", [s for s in SERVICES if s not in ("enrollment", "notification")])
def test_a_service_that_does_not_subscribe_cannot_read_or_write_enrollment_private(broker_users, service):
    with pytest.raises(Exception, match="ACCESS_REFUSED"):
        _bind(broker_users[service], f"{service}.snoop", PRIVATE, "#")
    with pytest.raises(Exception, match="ACCESS_REFUSED"):
        _publish(broker_users[service], PRIVATE, "asn_contact", _contact_event())


def test_notification_may_read_but_not_write_enrollment_private(broker_users):
    _bind(broker_users["notification"], "notification.own-check", PRIVATE, "asn_contact")
    with pytest.raises(Exception, match="ACCESS_REFUSED"):
        _publish(broker_users["notification"], PRIVATE, "asn_contact", _contact_event())


@pytest.fixture
def subscriber(amqp_uri):
    """A real external subscriber account (ext-<system>) granted enrollment, as
    ``python -m deploy.rabbit subscriber SYSTEM --grant enrollment`` makes it."""
    system = f"pytest-{secrets.token_hex(3)}"
    user, password = f"{broker_security.SUBSCRIBER_PREFIX}{system}", secrets.token_urlsafe(16)
    admin, api = rabbit._credentials(amqp_uri), rabbit.management_url(amqp_uri) + "/api"
    vhost = unquote(urlsplit(amqp_uri).path[1:])
    rules = broker_security.subscriber_permissions(system, rabbit.granted_exchanges(["enrollment"]))
    requests.put(f"{api}/users/{quote(user, safe='')}", auth=admin, timeout=10,
                 json={"password": password, "tags": ""}).raise_for_status()
    requests.put(f"{api}/permissions/{quote(vhost, safe='')}/{quote(user, safe='')}", auth=admin, timeout=10,
                 json=rules).raise_for_status()
    yield system, as_user(amqp_uri, user, password)
    requests.delete(f"{api}/users/{quote(user, safe='')}", auth=admin, timeout=10)


def test_an_external_subscriber_cannot_bind_a_queue_to_enrollment_private(broker_users, subscriber):
    system, uri = subscriber
    _bind(uri, f"ext.{system}.asn", "enrollment.events", "asn_registered")  # its grant works
    with pytest.raises(Exception, match="ACCESS_REFUSED"):
        _bind(uri, f"ext.{system}.contact", PRIVATE, "#")


def test_no_subscriber_account_can_be_granted_a_private_exchange():
    with pytest.raises(ValueError, match="enrollment.private"):
        broker_security.subscriber_permissions("bkd-sumbar", ["enrollment.events", PRIVATE])
    with pytest.raises(ValueError):
        broker_security.subscriber_permissions("bkd-sumbar", ["amq.topic"])


@pytest.fixture
def enrollment_settings(broker_users, service_env):
    """enrollment's settings with its own broker user and a database of the test's own."""
    env = {**service_env, "MONGO_DB_PREFIX": f"{service_env['MONGO_DB_PREFIX']}{secrets.token_hex(3)}_"}
    return make_settings("enrollment", env, amqp_uri=broker_users["enrollment"])


def test_a_sent_contact_record_keeps_no_email_or_telephone_while_a_public_record_is_untouched(enrollment_settings,
                                                                                             amqp_uri):
    client = connect(enrollment_settings)
    try:
        store = Store(client, enrollment_settings)
        contact = {**CONTACT.example, "nip": "199001012015031001"}
        registered = copy.deepcopy(REGISTERED.example)
        private_event, public_event = store.transaction(lambda tx: [
            tx.emit("asn_contact", contact["nip"], contact),
            tx.emit("asn_registered", registered["asn"]["nip"], registered)])
        outbox = store.db.outbox
        assert outbox.find_one({"event.id": private_event["id"]})["exchange"] == PRIVATE
        relay = Relay(enrollment_settings)
        assert relay.flush() == 2
        relay.close()

        # notification received the contact data itself ...
        [message] = get_messages(amqp_uri, "notification.enrollment.asn_contact", 1)
        delivered = json.loads(message.body)
        assert delivered["id"] == private_event["id"]
        assert (delivered["data"]["email"], delivered["data"]["phone"]) == (contact["email"], contact["phone"])
        # ... and the producer's log kept whom and which version, not the data
        record = outbox.find_one({"event.id": private_event["id"]})
        assert record["sent"] is True and record["redacted"] is True
        assert record["event"]["data"] == {"nip": contact["nip"], "email": None, "phone": None,
                                           "version": contact["version"], "changed_at": contact["changed_at"]}
        assert contact["email"] not in json.dumps(record, default=str)
        public = outbox.find_one({"event.id": public_event["id"]})
        assert public["sent"] is True and "redacted" not in public
        assert public["event"]["data"] == public_event["data"]
    finally:
        client.close()


def test_a_replay_never_republishes_a_private_record(broker_users, amqp_uri, mongo_client, db_prefix):
    db = mongo_client[f"{db_prefix}private_replay_enrollment"]
    public = envelope.new_event(REGISTERED, "199001012015031001", copy.deepcopy(REGISTERED.example))
    private = _contact_event("199001012015031001")
    db.outbox.insert_many([
        {"event": private, "sent": True, "exchange": PRIVATE, "routing_key": "asn_contact"},
        {"event": public, "sent": True, "exchange": "enrollment.events", "routing_key": "asn_registered"}])
    queue = "ext.replay-check.roster"
    with Connection(amqp_uri, connect_timeout=5) as conn:
        Queue(queue, Exchange("enrollment.replay", "direct", durable=True), routing_key=queue,
              durable=False, auto_delete=False)(conn.channel()).declare()
    assert replay_outbox(db, broker_users["enrollment"], "enrollment", queue) == 1
    assert replay_outbox(db, broker_users["enrollment"], "enrollment", queue, types=["asn_contact"]) == 0
    assert replay_outbox(db, broker_users["enrollment"], "enrollment", queue, types=[CONTACT.type]) == 0
    [message] = get_messages(amqp_uri, queue, 1)
    assert json.loads(message.body)["id"] == public["id"]
    assert queue_depth(amqp_uri, queue) == 0
