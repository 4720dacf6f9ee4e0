"""The test harness itself: a real SecantusDB and a RabbitMQ vhost of this module's own."""
from __future__ import annotations

import secrets
import threading
from urllib.parse import unquote, urlsplit

import pytest
from amqp.exceptions import NotFound
from kombu import Connection, Exchange, Queue

from deploy import rabbit


def test_secantusdb_answers_on_a_uri_without_retryable_writes(mongo_uri, mongo_client):
    assert "retryWrites=false" in mongo_uri
    assert mongo_client.admin.command("ping")["ok"] == 1


def test_a_committed_transaction_writes_both_documents_and_an_aborted_one_neither(mongo_client, db_prefix):
    db = mongo_client[db_prefix + "harness"]
    with mongo_client.start_session() as session:
        with session.start_transaction():
            db.orders.insert_one({"_id": "committed"}, session=session)
            db.outbox.insert_one({"_id": "committed", "sent": False}, session=session)

    with mongo_client.start_session() as session:
        session.start_transaction()
        db.orders.insert_one({"_id": "aborted"}, session=session)
        db.outbox.insert_one({"_id": "aborted", "sent": False}, session=session)
        assert db.orders.count_documents({"_id": "aborted"}) == 0  # not visible outside before commit
        session.abort_transaction()

    assert sorted(db.orders.distinct("_id")) == ["committed"]
    assert sorted(db.outbox.distinct("_id")) == ["committed"]


def test_a_change_stream_sees_an_insert(mongo_client, db_prefix):
    collection = mongo_client[db_prefix + "harness"].watched
    with collection.watch(max_await_time_ms=200) as stream:
        collection.insert_one({"_id": "seen"})
        change = None
        for _ in range(50):
            change = stream.try_next()
            if change:
                break
    assert change and change["operationType"] == "insert" and change["documentKey"] == {"_id": "seen"}


def test_each_module_gets_a_vhost_of_its_own(amqp_uri, broker_uri):
    vhost = unquote(urlsplit(amqp_uri).path[1:])
    assert vhost.startswith("pytest-") and "test-harness" in vhost
    assert vhost in rabbit.list_vhosts(broker_uri)


def test_a_message_published_in_the_module_vhost_is_consumed_there_and_not_seen_in_the_default_vhost(
    amqp_uri, broker_uri
):
    name = f"harness-{secrets.token_hex(4)}"
    exchange = Exchange(name, type="topic", durable=False, auto_delete=True)
    queue = Queue(name, exchange=exchange, routing_key="harness.#", durable=False, auto_delete=False)
    received = threading.Event()
    bodies = []

    with Connection(amqp_uri, connect_timeout=5) as conn:
        channel = conn.channel()
        queue(channel).declare()

        def on_message(body, message):
            bodies.append(body)
            message.ack()
            received.set()

        with conn.Consumer(queue, callbacks=[on_message]):
            conn.Producer(channel).publish(
                {"hello": "vhost"}, exchange=exchange, routing_key="harness.probe", serializer="json"
            )
            while not received.is_set():
                conn.drain_events(timeout=5)

        assert bodies == [{"hello": "vhost"}]
        assert queue(channel).queue_declare(passive=True).message_count == 0
        queue(channel).delete()

    with Connection(broker_uri, connect_timeout=5) as default:
        with pytest.raises(NotFound):
            Queue(name, channel=default.channel()).queue_declare(passive=True)
        with pytest.raises(NotFound):
            Exchange(name, type="topic", channel=default.channel()).declare(passive=True)
