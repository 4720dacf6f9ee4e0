#!/usr/bin/env python3
"""Example subscriber of the ASN Bangkom platform events, for other government systems.

It uses nothing of the platform's code: a plain AMQP 0-9-1 client (pika) and the Python
standard library, so it can be copied into any system. What it shows (docs/subscribing.md):

- declare your OWN durable queue and bind it to the platform's topic exchanges
  (``<service>.events``) with the routing keys you need (the short event names);
- parse the CloudEvents 1.0 structured JSON envelope;
- process only the major versions you know (``...completed.v1``); skip others, because a
  new major version is published side by side with the old one;
- drop duplicates by the event ``id``, recorded in the same local transaction as the
  effect (here SQLite), and acknowledge only after that commit;
- tolerate any order (a ``revoked`` may arrive before its ``certified``);
- dead-letter what can never be processed to your own ``<queue>.rejected`` queue
  (through your own fanout exchange ``<queue>.dlx``).

    pip install pika
    python examples/subscriber.py --url amqp://USER:PASSWORD@HOST:5672/VHOST \\
        --queue ext.bkd-sumbar.bangkom \\
        --bind enrollment.events:completed --bind certification.events:certified \\
        --bind certification.events:revoked --state bangkom.sqlite3

Stop it with Ctrl-C (or SIGTERM); the queue keeps what arrives meanwhile.
"""
from __future__ import annotations

import argparse
import json
import logging
import signal
import sqlite3
import sys
import time
from datetime import datetime, timezone

import pika
from pika.exceptions import AMQPConnectionError, ChannelClosedByBroker, ProbableAuthenticationError

log = logging.getLogger("subscriber")

TYPE_PREFIX = "id.go.bkn.bangkom."
REQUIRED = ("specversion", "id", "source", "type", "time", "subject", "data")
# Major versions this subscriber understands, per event (service.name). Anything else from
# the platform is acknowledged and skipped: e.g. a v2 published beside the v1 we read.
SUPPORTED = {
    "enrollment.completed": {1},
    "enrollment.enrolled": {1},
    "enrollment.cancelled": {1},
    "certification.certified": {1},
    "certification.revoked": {1},
    "certification.expired": {1},
}
CERTIFICATE_STATUS_RANK = {"valid": 0, "expired": 1, "revoked": 2}  # a later state never goes back

SCHEMA = """
CREATE TABLE IF NOT EXISTS processed_events (
    id TEXT PRIMARY KEY, type TEXT NOT NULL, received_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS completions (
    enrolment_id TEXT PRIMARY KEY, nip TEXT NOT NULL, programme_code TEXT NOT NULL,
    result TEXT NOT NULL, jp_earned INTEGER NOT NULL, completed_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS certificates (
    certificate_id TEXT PRIMARY KEY, number TEXT, nip TEXT, programme_code TEXT,
    status TEXT NOT NULL, reason TEXT);
"""


class Rejected(Exception):
    """A message that can never be processed: dead-lettered, not retried."""


# -- the envelope ------------------------------------------------------------------------

def parse_event(body: bytes) -> dict:
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise Rejected("not a JSON object")
    missing = [a for a in REQUIRED if a not in event]
    if missing:
        raise Rejected(f"not a CloudEvent, missing {', '.join(missing)}")
    if event["specversion"] != "1.0":
        raise Rejected(f"unsupported CloudEvents specversion {event['specversion']!r}")
    if not isinstance(event["data"], dict):
        raise Rejected("data is not a JSON object")
    return event


def split_type(event_type: str) -> tuple[str, int] | None:
    """'id.go.bkn.bangkom.enrollment.completed.v1' -> ('enrollment.completed', 1)."""
    if not event_type.startswith(TYPE_PREFIX):
        return None
    rest, _, version = event_type[len(TYPE_PREFIX):].rpartition(".")
    if not rest or not version.startswith("v") or not version[1:].isdigit():
        return None
    return rest, int(version[1:])


# -- effects (all inside one SQLite transaction with the processed-event record) -----------

def on_completed(db: sqlite3.Connection, data: dict) -> str:
    # The latest completion of an enrolment wins, whatever order the events arrive in.
    db.execute("""INSERT INTO completions VALUES (?, ?, ?, ?, ?, ?)
                  ON CONFLICT(enrolment_id) DO UPDATE SET result=excluded.result,
                      jp_earned=excluded.jp_earned, completed_at=excluded.completed_at
                  WHERE excluded.completed_at > completions.completed_at""",
               (data["enrolment_id"], data["participant"]["nip"], data["programme"]["code"],
                data["result"], data["jp_earned"], data["completed_at"]))
    return (f"nip={data['participant']['nip']} programme={data['programme']['code']} "
            f"result={data['result']} jp={data['jp_earned']}")


def set_certificate(db: sqlite3.Connection, data: dict, status: str, reason: str | None = None) -> str:
    row = db.execute("SELECT status FROM certificates WHERE certificate_id = ?",
                     (data["certificate_id"],)).fetchone()
    if row is None:
        db.execute("INSERT INTO certificates VALUES (?, ?, ?, ?, ?, ?)",
                   (data["certificate_id"], data["number"], data["holder"]["nip"],
                    data["programme"]["code"], status, reason))
    elif CERTIFICATE_STATUS_RANK[status] >= CERTIFICATE_STATUS_RANK[row[0]]:
        db.execute("UPDATE certificates SET status = ?, reason = COALESCE(?, reason) WHERE certificate_id = ?",
                   (status, reason, data["certificate_id"]))
    else:  # e.g. `certified` arriving after `revoked`: keep the revocation
        status = row[0]
    return f"certificate={data['number']} nip={data['holder']['nip']} status={status}"


HANDLERS = {
    "enrollment.completed": on_completed,
    "certification.certified": lambda db, d: set_certificate(db, d, "valid"),
    "certification.revoked": lambda db, d: set_certificate(db, d, "revoked", d["reason"]),
    "certification.expired": lambda db, d: set_certificate(db, d, "expired"),
}


def summary_of(data: dict) -> str:
    participant = data.get("participant") or data.get("holder") or {}
    programme = data.get("programme") or {}
    return f"nip={participant.get('nip')} programme={programme.get('code')}"


class Subscriber:
    def __init__(self, state_path: str, emit):
        self.db = sqlite3.connect(state_path, isolation_level=None)  # explicit BEGIN/COMMIT below
        self.db.executescript(SCHEMA)
        self.emit = emit
        self.counts = {"handled": 0, "duplicate": 0, "skipped": 0, "rejected": 0}

    def process(self, body: bytes) -> str:
        """Apply one message; returns the outcome. Raises Rejected for poison messages."""
        event = parse_event(body)
        kind = split_type(str(event["type"]))
        if kind is None or kind[1] not in SUPPORTED.get(kind[0], ()):
            self.record("skipped", event, reason="type or major version not handled here")
            return "skipped"
        name = kind[0]
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.execute("INSERT INTO processed_events VALUES (?, ?, ?)",
                                (str(event["id"]), event["type"], datetime.now(timezone.utc).isoformat()))
            except sqlite3.IntegrityError:
                self.db.execute("ROLLBACK")
                self.record("duplicate", event)
                return "duplicate"
            handler = HANDLERS.get(name, lambda db, data: summary_of(data))
            detail = handler(self.db, event["data"])
            self.db.execute("COMMIT")
        except (KeyError, TypeError) as exc:  # data without the fields v1 promises
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise Rejected(f"data of {event['type']} lacks {exc}") from None
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            raise
        self.record("handled", event, detail=detail)
        return "handled"

    def record(self, outcome: str, event: dict | None, **extra) -> None:
        self.counts[outcome] += 1
        self.emit({"outcome": outcome, "id": event and event.get("id"), "type": event and event.get("type"),
                   "subject": event and event.get("subject"), "time": event and event.get("time"), **extra})


# -- AMQP ----------------------------------------------------------------------------------

def declare(channel, queue: str, bindings: list[tuple[str, str]], prefetch: int) -> None:
    # Poison messages go to <queue>.rejected through an exchange of your own, <queue>.dlx:
    # dead-lettering through the default exchange would need write access to it, which
    # would let a subscriber publish into any queue of the platform.
    rejected, dlx = f"{queue}.rejected", f"{queue}.dlx"
    channel.exchange_declare(dlx, "fanout", durable=True)
    channel.queue_declare(rejected, durable=True)
    channel.queue_bind(rejected, dlx)
    channel.queue_declare(queue, durable=True, arguments={"x-dead-letter-exchange": dlx})
    for exchange, routing_key in bindings:
        # The platform declares its exchanges; binding to a missing one fails loudly (404).
        channel.queue_bind(queue, exchange, routing_key=routing_key)
    channel.basic_qos(prefetch_count=prefetch)


def run(args, emit) -> int:
    subscriber = Subscriber(args.state, emit)
    stopping = {"flag": False}

    def stop(*_):
        stopping["flag"] = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    delay, idle_since, seen = 1.0, time.monotonic(), 0
    while not stopping["flag"]:
        try:
            parameters = pika.URLParameters(args.url)
            parameters.heartbeat = 30
            parameters.connection_attempts = 1
            connection = pika.BlockingConnection(parameters)
        except ProbableAuthenticationError:
            log.error("the broker refused the credentials in --url")
            return 2
        except AMQPConnectionError as exc:
            log.warning("cannot reach the broker (%s); retrying in %.0fs", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
            continue
        delay = 1.0
        try:
            channel = connection.channel()
            declare(channel, args.queue, args.bind, args.prefetch)
            emit({"outcome": "listening", "queue": args.queue,
                  "bindings": [f"{e}:{k}" for e, k in args.bind]})
            for method, properties, body in channel.consume(args.queue, inactivity_timeout=0.5):
                if stopping["flag"]:
                    break
                if method is None:
                    if args.idle_timeout and time.monotonic() - idle_since > args.idle_timeout:
                        stopping["flag"] = True
                        break
                    continue
                idle_since = time.monotonic()
                try:
                    subscriber.process(body)
                except Rejected as exc:
                    subscriber.record("rejected", None, reason=str(exc), message_id=properties.message_id)
                    channel.basic_nack(method.delivery_tag, requeue=False)
                else:
                    channel.basic_ack(method.delivery_tag)  # only after the local commit
                seen += 1
                if args.max_events and seen >= args.max_events:
                    stopping["flag"] = True
                    break
            channel.cancel()
            connection.close()
        except ChannelClosedByBroker as exc:  # e.g. no permission, or the exchange does not exist
            log.error("the broker closed the channel: %s", exc)
            return 2
        except AMQPConnectionError as exc:  # unacked messages are redelivered after a reconnect
            log.warning("connection lost (%s); reconnecting", exc)
    emit({"outcome": "stopped", **subscriber.counts})
    return 0


def binding(text: str) -> tuple[str, str]:
    exchange, sep, routing_key = text.partition(":")
    if not sep or not exchange or not routing_key:
        raise argparse.ArgumentTypeError(f"expected EXCHANGE:ROUTING_KEY, got {text!r}")
    return exchange, routing_key


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Consume ASN Bangkom platform events from your own queue.")
    parser.add_argument("--url", required=True, help="amqp(s)://USER:PASSWORD@HOST:PORT/VHOST")
    parser.add_argument("--queue", required=True, help="your durable queue, e.g. ext.<system>.bangkom")
    parser.add_argument("--bind", type=binding, action="append", required=True,
                        metavar="EXCHANGE:ROUTING_KEY", help="e.g. enrollment.events:completed (repeatable)")
    parser.add_argument("--state", default="subscriber-state.sqlite3",
                        help="SQLite file of processed event ids and the local read model")
    parser.add_argument("--prefetch", type=int, default=20, help="unacknowledged messages in flight")
    parser.add_argument("--max-events", type=int, default=0, help="stop after this many messages (0: never)")
    parser.add_argument("--idle-timeout", type=float, default=0.0,
                        help="stop after this many seconds without a message (0: never)")
    parser.add_argument("--json", action="store_true", help="print one JSON object per line")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("pika").setLevel(logging.CRITICAL)  # its failures are reported below, once

    def emit(record: dict) -> None:
        if args.json:
            print(json.dumps(record, ensure_ascii=False), flush=True)
        else:
            print(" ".join(f"{k}={v}" for k, v in record.items() if v is not None), flush=True)
    return run(args, emit)


if __name__ == "__main__":
    sys.exit(main())
