"""``asn events tail [--type T] [--nip N] [--agency A]``: the live event stream."""
from __future__ import annotations

import json
import socket
import sys
import time
import uuid

from kombu import Consumer, Queue, binding
from kombu.exceptions import ChannelError

from shared import topology
from shared.cli.common import TAIL_QUEUE_PREFIX, amqp_uri, broker, short_type, shown_time, vhost_of
from shared.config import SERVICES
from shared.deadletters import decode_body


def _values(data, key: str) -> list:
    """Every value stored under ``key`` anywhere in a nested event payload."""
    found = []
    if isinstance(data, dict):
        for k, v in data.items():
            if k == key and not isinstance(v, (dict, list)):
                found.append(v)
            else:
                found += _values(v, key)
    elif isinstance(data, list):
        for item in data:
            found += _values(item, key)
    return found


def matches(event: dict, exchange: str, routing_key: str, types: list[str], nip: str | None,
            agency: str | None) -> bool:
    service = exchange.rsplit(".events", 1)[0]
    if types:
        names = {event.get("type"), routing_key, f"{service}.{routing_key}", short_type(event.get("type"))}
        if not names & set(types):
            return False
    data = event.get("data")
    if nip and nip not in [str(v) for v in _values(data, "nip")]:
        return False
    if agency:
        agencies = [str(v).casefold() for v in _values(data, "agency") + _values(data, "agency_name")]
        if agency.casefold() not in agencies:
            return False
    return True


def _event_line(event: dict, exchange: str, routing_key: str) -> str:
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    when = event.get("time")
    try:
        shown = shown_time(when) or str(when)
    except (TypeError, ValueError):
        shown = str(when)
    nips = _values(data, "nip")
    agencies = _values(data, "agency")
    parts = [shown, f"{exchange.rsplit('.events', 1)[0]}.{routing_key}", f"subject={event.get('subject')}"]
    if nips:
        parts.append(f"nip={nips[0]}")
    if agencies:
        parts.append(f"agency={agencies[0]}")
    parts.append(f"id={event.get('id')}")
    if event.get("correlationid"):
        parts.append(f"corr={event['correlationid']}")
    return "  ".join(parts)


def cmd_events_tail(args) -> int:
    shown = 0
    end = time.monotonic() + args.timeout if args.timeout else None

    def on_message(message):
        nonlocal shown
        if args.count and shown >= args.count:
            return  # one read of the socket may hand over several messages
        exchange = message.delivery_info.get("exchange", "")
        routing_key = message.delivery_info.get("routing_key", "")
        event = decode_body(message.body)
        if event is None:
            if not (args.type or args.nip or args.agency):
                print(f"(unparseable message on {exchange} {routing_key}: {len(message.body)} bytes)", flush=True)
            return
        if not matches(event, exchange, routing_key, args.type or [], args.nip, args.agency):
            return
        shown += 1
        if args.json:
            print(json.dumps({"exchange": exchange, "routing_key": routing_key, "event": event},
                             ensure_ascii=False), flush=True)
        else:
            print(_event_line(event, exchange, routing_key), flush=True)

    uri = amqp_uri()
    # A private queue: exclusive, gone when the CLI exits; bounded so a slow terminal
    # cannot make the broker hold millions of messages.
    queue = Queue(f"{TAIL_QUEUE_PREFIX}{uuid.uuid4().hex[:10]}", exclusive=True, auto_delete=True, durable=False,
                  queue_arguments={"x-max-length": 100_000},
                  bindings=[binding(topology.events_exchange(s), routing_key="#") for s in SERVICES])
    with broker(uri) as conn:
        channel = conn.channel()
        for service in SERVICES:
            # Passive first: the ops user may read the exchanges without the right to configure
            # (so delete) them; only a missing exchange is declared, by a user who may.
            try:
                topology.events_exchange(service)(channel).declare(passive=True)
            except ChannelError:
                channel = conn.channel()  # the broker closed the channel that asked
                topology.events_exchange(service)(channel).declare()
        with Consumer(channel, queues=[queue], no_ack=True, on_message=on_message):
            print(f"listening on {', '.join(s + '.events' for s in SERVICES)} (vhost {vhost_of(uri)}); "
                  "Ctrl-C to stop", file=sys.stderr, flush=True)
            try:
                while not (args.count and shown >= args.count):
                    remaining = None if end is None else end - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        break
                    try:
                        conn.drain_events(timeout=min(1.0, remaining) if remaining else 1.0)
                    except socket.timeout:
                        continue
            except KeyboardInterrupt:
                pass
    return 0


def register(commands, common) -> None:
    events = commands.add_parser("events", help="watch the event stream")
    events_commands = events.add_subparsers(dest="events_command", required=True)
    tail = events_commands.add_parser("tail", parents=[common], help="print events live from every exchange")
    tail.add_argument("--type", action="append",
                      help="event type: full, service.name or name (e.g. completed); repeatable")
    tail.add_argument("--nip", help="only events about this NIP / NI PPPK")
    tail.add_argument("--agency", help="only events about this agency (OPD code or name)")
    tail.add_argument("--count", type=int, help="stop after this many events")
    tail.add_argument("--timeout", type=float, help="stop after this many seconds")
    tail.set_defaults(func=cmd_events_tail)
