"""Security of the roster's contact data in notification (issue 19, ADR 0080), each as the
attack or the leak itself:

1. contact data put on enrollment's PUBLIC exchange (by mistake or by a forger) never reaches
   notification's contact queue: only ``enrollment.private`` does;
2. e-mail addresses and telephone numbers from the roster are never written to the log, not
   even when they are refused or arrive out of date;
3. a supervisor cannot opt out of the summary of their staff (it is duty, not a service).
"""
from __future__ import annotations

import logging

from kombu import Connection, Exchange, Producer

from shared import topology
from shared.events import envelope, registry
from shared.mongo import PROCESSED
# the notification fixtures (a clock, an SMTP server, a webhook receiver, a replica of the service)
from tests.integration.notification.conftest import (clock, notification_env, smtp,  # noqa: F401
                                                     start_notification, webhook)
from tests.support import body_json, get_messages, make_settings, publish_event, queue_depth, user_of, wait_for

NIP = "198503122010011002"
QUEUE = "notification.enrollment.asn_contact"


def contact_event(version: int, email: str | None, phone: str | None) -> dict:
    return envelope.new_event(registry.latest("enrollment", "asn_contact"), NIP,
                              {"nip": NIP, "email": email, "phone": phone, "version": version,
                               "changed_at": "2026-01-05T02:00:00Z"})


def test_contact_data_on_the_public_exchange_never_reaches_notification(notification_env):  # noqa: F811
    settings = make_settings("notification", notification_env)
    topology.declare_service(settings)  # the queues, without a consumer: what arrives stays there
    leaked = contact_event(1, "bocor@bukittinggikota.go.id", "+6281200000001")
    private = contact_event(2, "rahmat@bukittinggikota.go.id", "+6281200000002")
    with Connection(settings.amqp_uri) as conn:
        producer = Producer(conn.channel())
        # one channel: the broker routes the two in order, so once the second is queued the
        # first one's fate is decided
        for exchange, event in (("enrollment.events", leaked), ("enrollment.private", private)):
            producer.publish(envelope.encode(event), exchange=Exchange(exchange, "topic", durable=True),
                             routing_key="asn_contact", content_type="application/json", delivery_mode=2,
                             user_id=user_of(settings.amqp_uri))
    wait_for(lambda: queue_depth(settings.amqp_uri, QUEUE) >= 1, message="the private contact queued")
    [only] = get_messages(settings.amqp_uri, QUEUE, expected=1)
    assert body_json(only)["id"] == private["id"]
    assert queue_depth(settings.amqp_uri, QUEUE) == 0


def test_roster_contact_data_is_never_logged(start_notification, caplog):  # noqa: F811
    caplog.set_level(logging.INFO)  # the services' level (shared.logging); pymongo's DEBUG echoes every write
    service = start_notification()
    amqp = service.settings.amqp_uri
    secrets = ["rahmat.rahasia@bukittinggikota.go.id", "+6281266009988", "tanpa-at.example", "0812-ABC-99",
               "lama.rahasia@bukittinggikota.go.id", "+6281266007766"]
    sent = [publish_event(amqp, "enrollment", "asn_contact", data, subject=NIP) for data in (
        {"nip": NIP, "email": secrets[0], "phone": secrets[1], "version": 2, "changed_at": "2026-01-05T02:00:00Z"},
        {"nip": NIP, "email": secrets[2], "phone": secrets[3], "version": 3, "changed_at": "2026-01-06T02:00:00Z"},
        {"nip": NIP, "email": secrets[4], "phone": secrets[5], "version": 1, "changed_at": "2026-01-04T02:00:00Z"})]
    for event in sent:
        wait_for(lambda event=event: service.db[PROCESSED].find_one({"event_id": event["id"]}),
                 message="the contact handled")
    record = service.http("GET", f"/recipients/{NIP}").json()
    # version 3 won; its unusable values were left out rather than stored
    assert (record["email"], record["phone"]) == (None, None)
    logged = caplog.text
    assert f"contact of {NIP} from the roster" in logged  # the handling was logged, by NIP only
    assert "e-mail is not an address" in logged and "telephone may contain only digits" in logged
    for secret in secrets:
        assert secret not in logged


def test_a_supervisor_cannot_opt_out_of_the_summary_of_their_staff(start_notification):  # noqa: F811
    service = start_notification()
    for kind in ("supervisor_summary", "escalation"):
        reply = service.http("PUT", f"/recipients/{NIP}", json={"email": "atasan@bukittinggikota.go.id",
                                                                "opt_outs": ["nudge", kind]})
        assert reply.status_code == 422, reply.text
        assert list(reply.json()["errors"]) == ["opt_outs"]
    assert service.http("GET", f"/recipients/{NIP}").status_code == 404  # nothing half-stored
