"""Each service's broker and store credentials reach only what that service owns."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import pymongo
import pytest
import requests
from kombu import Connection, Exchange, Producer
from pymongo.errors import OperationFailure

from deploy import rabbit
from deploy.secantus import SecantusServer
from shared import broker_security, store_security, topology
from shared.config import SERVICES, load


def _publish(uri: str, exchange: str) -> None:
    with Connection(uri, transport_options={"confirm_publish": True}, connect_timeout=5) as conn:
        Producer(conn.channel()).publish(b"{}", exchange=Exchange(exchange, "topic", durable=True, passive=True),
                                         routing_key="completed", declare=[], retry=False)


def test_notifications_credentials_cannot_publish_to_enrollment_events(broker_users):
    with pytest.raises(Exception, match="ACCESS_REFUSED|access to exchange 'enrollment.events'"):
        _publish(broker_users["notification"], "enrollment.events")
    _publish(broker_users["enrollment"], "enrollment.events")  # its owner can
    _publish(broker_users["notification"], "notification.events")  # and notification its own


def test_a_service_cannot_read_another_services_queue(broker_users):
    with Connection(broker_users["notification"], connect_timeout=5) as conn:
        with pytest.raises(Exception, match="ACCESS_REFUSED|access to queue"):
            conn.channel().basic_get("certification.enrollment.completed")
    with Connection(broker_users["certification"], connect_timeout=5) as conn:
        conn.channel().basic_get("certification.enrollment.completed")  # its own: allowed


def test_a_service_runs_with_its_own_broker_user(broker_users):
    """Declaring its topology and consuming with its own, narrower credentials works."""
    from dataclasses import replace

    for service in SERVICES:
        topology.declare_service(replace(load(service), amqp_uri=broker_users[service]))


def test_an_external_subscriber_reads_only_the_exchanges_it_was_granted():
    rules = broker_security.subscriber_permissions("bkd-sumbar", ["enrollment.events", "certification.events"])
    assert rules["configure"] == rules["write"] == r"^ext\.bkd\-sumbar\..*$"
    import re
    assert re.match(rules["read"], "enrollment.events") and not re.match(rules["read"], "reporting.events")
    assert not re.match(rules["write"], "enrollment.events") and not re.match(rules["write"], "amq.default")


def test_definitions_json_lists_a_user_per_service_without_passwords():
    import json

    committed = json.loads((Path(__file__).parents[2] / "deploy" / "rabbitmq" / "definitions.json").read_text())
    assert committed["users"] == broker_security.definitions()["users"]
    assert committed["permissions"] == broker_security.definitions()["permissions"]
    assert {u["name"] for u in committed["users"]} == {f"asn-{s}" for s in SERVICES}
    assert all(u["password_hash"] == "" for u in committed["users"])


def test_one_services_store_credentials_cannot_read_another_services_database(tmp_path):
    passwords = {k: secrets.token_urlsafe(12) for k in ("admin", *SERVICES)}
    server = SecantusServer(storage_path=tmp_path / "db", log_path=tmp_path / "secantus.log")
    server.start()
    try:
        with pymongo.MongoClient(server.uri) as client:
            store_security.provision(client, passwords, "sec_")
        server.stop()
        server.extra_args, server.proc = ("--auth",), None
        server.start()
        as_admin = pymongo.MongoClient(store_security.uri_with_user(server.uri, "asn-admin", passwords["admin"]))
        as_admin.sec_certification.certificates.insert_one({"number": "0001/BKN-BKT/SERT-PBJ/2026"})
        enrollment = pymongo.MongoClient(store_security.uri_with_user(server.uri, "asn-enrollment",
                                                                      passwords["enrollment"]))
        enrollment.sec_enrollment.programmes.insert_one({"_id": "PKP-01"})  # its own database
        with enrollment.start_session() as session, session.start_transaction():
            enrollment.sec_enrollment.outbox.insert_one({"sent": False}, session=session)
        with pytest.raises(OperationFailure, match="not authorized"):
            enrollment.sec_certification.certificates.find_one()
        with pytest.raises(OperationFailure, match="not authorized"):
            enrollment.sec_certification.certificates.insert_one({"forged": True})
        with pytest.raises(OperationFailure):
            pymongo.MongoClient(server.uri, serverSelectionTimeoutMS=3000).sec_enrollment.programmes.find_one()
        for client in (as_admin, enrollment):
            client.close()
    finally:
        server.stop()


def test_only_notification_and_its_producer_may_touch_enrollment_private_in_the_committed_definitions():
    import json
    import re

    committed = json.loads((Path(__file__).parents[2] / "deploy" / "rabbitmq" / "definitions.json").read_text())
    rules = {p["user"]: p for p in committed["permissions"]}
    readers = sorted(user for user, p in rules.items() if re.search(p["read"], "enrollment.private"))
    writers = sorted(user for user, p in rules.items() if re.search(p["write"], "enrollment.private"))
    assert readers == ["asn-enrollment", "asn-notification"]
    assert writers == ["asn-enrollment"]
    assert "enrollment.private" in {e["name"] for e in committed["exchanges"]}
    assert {b["destination"] for b in committed["bindings"] if b["source"] == "enrollment.private"} == {
        "notification.enrollment.asn_contact", "notification.enrollment.approval_link"}
