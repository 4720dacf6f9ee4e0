"""The dead-letter mechanics, in one place: the reliable handler (shared.handler) moves a
failed message to a delay queue or to ``<service>.dlq`` with these headers, and the operator
CLI (``asn dlq``, shared.cli.dlq) reads the DLQ and puts messages back with them.

- ``DeadLetters``: the handler's publisher to ``<service>.retry.<d>ms`` and ``<service>.dlx``;
- ``DeadLetterQueue``: a DLQ read without losing anything (messages fetched unacked);
- ``requeue``: a dead letter back to its original queue through ``<service>.requeue``,
  attempts reset.

Every copy is published with the AMQP ``user_id`` of the publishing connection (RabbitMQ
refuses another) and keeps the original publisher in ``x-verified-publisher``, which the
consumer trusts only from its own user and ``BROKER_OPERATOR_USERS`` (shared.broker_security,
ADR 0061).
"""
from __future__ import annotations

import json
import threading
import time
from typing import Iterator

from kombu import Connection, Producer, Queue
from kombu.exceptions import ChannelError

from shared import topology
from shared.broker_security import PUBLISHER_HEADER, user_of

# The attempt a delivery is (1 for the first); the handler dead-letters at RETRY_MAX_ATTEMPTS.
ATTEMPT_HEADER = "x-attempt"
LAST_ERROR_HEADER = "x-last-error"
# Written when a message goes to the DLQ.
REASON_HEADER = "x-reason"  # "malformed", "unauthorised_publisher" or "failed"
ERROR_HEADER = "x-error"
ATTEMPTS_HEADER = "x-attempts"
TRACEBACK_HEADER = "x-traceback"
ORIGINAL_QUEUE_HEADER = "x-original-queue"
ORIGINAL_EXCHANGE_HEADER = "x-original-exchange"
ORIGINAL_ROUTING_KEY_HEADER = "x-original-routing-key"
DEAD_LETTERED_AT_HEADER = "x-dead-lettered-at"
# Dropped when a message goes back to its queue (the publisher stamp stays).
DEAD_LETTER_HEADERS = (REASON_HEADER, ERROR_HEADER, ATTEMPTS_HEADER, TRACEBACK_HEADER, ORIGINAL_QUEUE_HEADER,
                       ORIGINAL_EXCHANGE_HEADER, ORIGINAL_ROUTING_KEY_HEADER, DEAD_LETTERED_AT_HEADER,
                       LAST_ERROR_HEADER)
# How often an operator put the message back (a message that keeps coming back shows).
REPLAYS_HEADER = "x-dlq-replays"
# Stamped for a message that came without a user_id: a replayed copy stays unverified.
UNKNOWN_PUBLISHER = "(unknown)"


class DeadLetterError(Exception):
    """A dead-letter queue or message that cannot be read or put back."""


class MissingQueue(DeadLetterError):
    def __init__(self, queue: str):
        super().__init__(f"{queue} does not exist")
        self.queue = queue


class NotInQueue(DeadLetterError):
    def __init__(self, queue: str, refs: list[str]):
        super().__init__(f"not in {queue}: {', '.join(refs)}")
        self.queue, self.refs = queue, refs


class NotReplayable(DeadLetterError):
    """The broker did not take the copy, or the message cannot say where it came from."""


def _copy_properties(message, default_content_type: str) -> dict:
    """The publish arguments that make a copy of ``message`` (persistent, same id and type)."""
    return {"delivery_mode": 2, "content_type": message.content_type or default_content_type,
            "content_encoding": message.content_encoding or "binary",
            "message_id": message.properties.get("message_id"), "type": message.properties.get("type")}


def decode_body(body) -> dict | None:
    """A message body as a JSON object, or None (a dead letter, or anything published to an
    exchange, may be any bytes)."""
    try:
        event = json.loads(body)
    except (TypeError, ValueError, UnicodeDecodeError):
        return None
    return event if isinstance(event, dict) else None


def event_id_of(message) -> str | None:
    """The message id, or the id in the body of a message published without one."""
    return message.properties.get("message_id") or (decode_body(message.body) or {}).get("id")


class DeadLetters:
    """Moves messages to the delay queues and the dead-letter queue of one service."""

    def __init__(self, amqp_uri: str, service: str, delays_ms: tuple[int, ...]):
        self.amqp_uri, self.service, self.delays_ms = amqp_uri, service, delays_ms
        self.user = user_of(amqp_uri)
        self._connection = None
        self._producer = None
        # nameko handles each message in its own greenthread; two publishes interleaved on
        # one confirm channel mix up their confirms and a retry then duplicates a message.
        self._lock = threading.Lock()  # green under eventlet's monkey patching

    def _publish(self, body, exchange: str, routing_key: str, message, headers: dict) -> None:
        with self._lock:
            self._publish_locked(body, exchange, routing_key, message, headers)

    def _publish_locked(self, body, exchange: str, routing_key: str, message, headers: dict) -> None:
        for attempt in range(3):
            try:
                if self._producer is None:
                    self._connection = Connection(self.amqp_uri, transport_options={"confirm_publish": True},
                                                  connect_timeout=5, heartbeat=30)
                    self._producer = Producer(self._connection.channel())
                self._producer.publish(body, exchange=exchange, routing_key=routing_key, retry=False,
                                       headers=headers, user_id=self.user,
                                       **_copy_properties(message, "application/octet-stream"))
                return
            except Exception:  # noqa: BLE001 - reconnect and try again, then give up (no ack)
                self.close()
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def retry(self, body, message, queue: str, attempt: int, error: str, publisher: str | None) -> int:
        delay = self.delays_ms[min(attempt - 1, len(self.delays_ms) - 1)]
        headers = dict(message.headers or {})
        headers.update({ATTEMPT_HEADER: attempt + 1, LAST_ERROR_HEADER: error[:500],
                        PUBLISHER_HEADER: publisher or UNKNOWN_PUBLISHER})
        self._publish(body, topology.retry_exchange(self.service, delay).name, queue, message, headers)
        return delay

    def dead_letter(self, body, message, queue: str, reason: str, error: str, attempts: int,
                    trace: str | None = None, publisher: str | None = None) -> None:
        headers = dict(message.headers or {})
        headers.update({
            REASON_HEADER: reason,
            PUBLISHER_HEADER: publisher or UNKNOWN_PUBLISHER,
            ERROR_HEADER: error[:2000],
            ATTEMPTS_HEADER: attempts,
            TRACEBACK_HEADER: (trace or "")[-4000:],
            ORIGINAL_QUEUE_HEADER: queue,
            ORIGINAL_EXCHANGE_HEADER: message.delivery_info.get("exchange", ""),
            ORIGINAL_ROUTING_KEY_HEADER: message.delivery_info.get("routing_key", ""),
            DEAD_LETTERED_AT_HEADER: time.time(),
        })
        self._publish(body, topology.dead_letter_exchange(self.service).name, queue, message, headers)

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # noqa: BLE001
                pass
        self._connection = self._producer = None


class DeadLetterQueue:
    """A service's DLQ, read without losing anything: messages are fetched unacked and
    go back to the queue when the channel closes, unless replayed (then acked)."""

    def __init__(self, conn: Connection, service: str):
        self.conn, self.service = conn, service
        self.name = topology.dlq_name(service)
        self.channel = conn.channel()
        try:
            self.depth = self.channel.queue_declare(self.name, passive=True).message_count
        except ChannelError:
            raise MissingQueue(self.name) from None
        self.queue = Queue(self.name, channel=self.channel, no_declare=True)

    def fetch(self, limit: int | None = None) -> Iterator[tuple[int, object]]:
        """(position, message) in queue order, at most ``limit`` and never beyond the
        depth seen at the start (a replayed malformed message comes straight back)."""
        count = self.depth if limit is None else min(limit, self.depth)
        for position in range(1, count + 1):
            message = self.queue.get(no_ack=False)
            if message is None:
                return
            yield position, message

    def find(self, refs: list[str]) -> list[tuple[int, object]]:
        """The messages named by event id (message id) or position (``3`` or ``#3``)."""
        wanted = set(refs)
        found = []
        for position, message in self.fetch():
            keys = {str(event_id_of(message)), str(position), f"#{position}"}
            if keys & wanted:
                found.append((position, message))
                wanted -= keys
            if not wanted:
                break
        if wanted:
            raise NotInQueue(self.name, sorted(wanted))
        return found

    def purge(self) -> int:
        return self.channel.queue_purge(self.name) or 0

    def close(self) -> None:
        try:
            self.channel.close()  # unacked messages return to the queue
        except Exception:  # noqa: BLE001
            pass


def requeue(producer: Producer, service: str, message, user: str) -> str:
    """Publish a dead letter back to its original queue, attempts reset; returns the queue.

    ``user`` is the broker user of ``producer``'s connection (RabbitMQ checks the ``user_id``).
    The copy keeps the publisher the service stamped: the consumer trusts that stamp only
    from its own user or ``BROKER_OPERATOR_USERS``."""
    headers = dict(message.headers or {})
    queue = headers.get(ORIGINAL_QUEUE_HEADER)
    if not queue:
        raise NotReplayable(f"the message has no {ORIGINAL_QUEUE_HEADER} header: it was not dead-lettered by a "
                            "reliable handler and cannot be replayed")
    for key in DEAD_LETTER_HEADERS:
        headers.pop(key, None)
    headers[ATTEMPT_HEADER] = 1
    headers[REPLAYS_HEADER] = int((message.headers or {}).get(REPLAYS_HEADER, 0)) + 1
    try:
        producer.publish(message.body, exchange=topology.requeue_exchange(service).name, routing_key=queue,
                         mandatory=True, retry=False, headers=headers, user_id=user,
                         **_copy_properties(message, "application/json"))
    except ChannelError as exc:
        raise NotReplayable(f"the broker could not route the message back to {queue}: {exc}") from None
    return queue
