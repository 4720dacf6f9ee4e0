"""``asn``: the operator's command line.

    asn status                                   services, queues, dead letters, outbox lag
    asn dlq list|show|replay|purge --service S   inspect and repair a dead-letter queue
    asn events tail [--type T] [--nip N] [--agency A]
    asn replay [--queue Q]                       rebuild reporting, or replay event logs into a queue
    asn token issue --role R [--agency A] [--nip N] [--ttl 8h]   a signed API token

Every command prints a table for people and, with ``--json``, JSON for scripts. The broker
and the stores are found through the same environment variables as the services
(shared.config): AMQP_URI, MONGO_URI, MONGO_DB_PREFIX, <SERVICE>_HTTP_ADDRESS, plus
<SERVICE>_URL (the base URL of a service when it differs from its bind address) and
RABBITMQ_MANAGEMENT_URL (default: port 15672 of the broker's host). See docs/operations.md.
"""
from __future__ import annotations

import argparse
import json
import socket
import sys
import time
import uuid
import warnings
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from typing import Iterable, Iterator
from urllib.parse import quote, unquote, urlsplit
from zoneinfo import ZoneInfo

# eventlet (imported through nameko) warns on import; an operator needs no such noise.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

import requests  # noqa: E402
from kombu import Connection, Consumer, Producer, Queue, binding  # noqa: E402
from kombu.exceptions import ChannelError, OperationalError  # noqa: E402
from pymongo.errors import PyMongoError  # noqa: E402

from shared import topology  # noqa: E402
from shared.broker_security import user_of  # noqa: E402
from shared.config import DEFAULT_AMQP_URI, SERVICES, Settings, env, load  # noqa: E402
from shared.config import service_url as config_service_url  # noqa: E402
from shared.handler import ATTEMPT_HEADER  # noqa: E402

WIB = ZoneInfo("Asia/Jakarta")
MANAGEMENT_PORT = 15672
HTTP_TIMEOUT_S = 3.0
STORE_TIMEOUT_MS = 2000
TAIL_QUEUE_PREFIX = "asn-tail-"
# Written by shared.handler.DeadLetters; dropped when a message goes back to its queue.
DEAD_LETTER_HEADERS = ("x-reason", "x-error", "x-attempts", "x-traceback", "x-original-queue",
                       "x-original-exchange", "x-original-routing-key", "x-dead-lettered-at", "x-last-error")
REPLAYS_HEADER = "x-dlq-replays"


class CliError(Exception):
    """A problem the operator must fix (printed without a traceback, exit status 2)."""


# -- output -------------------------------------------------------------------------------

def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Left-aligned columns; ``columns`` is [(key, heading)]."""
    cells = [[heading for _, heading in columns]]
    cells += [["-" if row.get(key) is None else str(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in cells)


def wib(epoch: float | None) -> str | None:
    """A time shown to people: WIB (Asia/Jakarta)."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(float(epoch), WIB).strftime("%Y-%m-%d %H:%M:%S WIB")


def utc_iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(float(epoch), timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def rate(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f}"


def emit_json(payload) -> None:
    print(json.dumps(payload, ensure_ascii=False, indent=2, default=str))


# -- where things are ---------------------------------------------------------------------

def amqp_uri() -> str:
    return env("AMQP_URI", DEFAULT_AMQP_URI)


def vhost_of(uri: str) -> str:
    path = urlsplit(uri).path
    return unquote(path[1:]) if len(path) > 1 else "/"


def management_base(uri: str) -> str:
    configured = env("RABBITMQ_MANAGEMENT_URL")
    if configured:
        return configured.rstrip("/")
    return f"http://{urlsplit(uri).hostname or '127.0.0.1'}:{MANAGEMENT_PORT}"


def management_get(uri: str, path: str):
    parts = urlsplit(uri)
    auth = (unquote(parts.username or "guest"), unquote(parts.password or "guest"))
    response = requests.get(f"{management_base(uri)}/api/{path}", auth=auth, timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    return response.json()


def service_url(settings: Settings) -> str:
    return config_service_url(settings.service, settings.http_address)


@contextmanager
def broker(uri: str) -> Iterator[Connection]:
    conn = Connection(uri, connect_timeout=5, transport_options={"confirm_publish": True})
    try:
        conn.ensure_connection(max_retries=1)
    except (OperationalError, OSError) as exc:
        raise CliError(f"cannot reach the broker at {_safe(uri)}: {exc}") from None
    try:
        yield conn
    finally:
        conn.release()


def _safe(uri: str) -> str:
    """The URI without its password (it ends up in terminals and logs)."""
    parts = urlsplit(uri)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    return parts._replace(netloc=netloc).geturl()


# -- status -------------------------------------------------------------------------------

def service_health(settings: Settings) -> dict:
    url = service_url(settings)
    state = {"service": settings.service, "url": url, "up": False, "ready": False, "checks": {}}
    try:
        response = requests.get(f"{url}/health/ready", timeout=HTTP_TIMEOUT_S)
    except requests.RequestException as exc:
        state["error"] = type(exc).__name__
        return state
    state["up"] = True
    state["ready"] = response.status_code == 200
    try:
        state["checks"] = response.json().get("checks", {})
    except ValueError:
        state["error"] = f"HTTP {response.status_code} without JSON"
    return state


def outbox_state(settings: Settings) -> dict:
    """Backlog of the service's outbox, read from its own database.

    An operator tool may read every store (the services never do): this is the figure the
    relay itself would publish, available even when the service is down.
    """
    from shared.outbox import backlog_of
    from shared.store import connect

    client = connect(replace(settings, extra={**settings.extra, "mongo_timeout_ms": STORE_TIMEOUT_MS}))
    try:
        backlog, oldest = backlog_of(client[settings.db_name])
        return {"backlog": backlog, "oldest_unsent_s": round(oldest, 1)}
    except PyMongoError as exc:
        return {"backlog": None, "oldest_unsent_s": None, "error": type(exc).__name__}
    finally:
        client.close()


def _is_platform_queue(name: str) -> bool:
    return not (name.startswith("rpc.reply-") or name.startswith(TAIL_QUEUE_PREFIX))


def queue_stats(uri: str) -> tuple[list[dict], str]:
    """Every queue of the vhost with depth, consumers and rates; (rows, where from)."""
    vhost = vhost_of(uri)
    try:
        raw = management_get(uri, f"queues/{quote(vhost, safe='')}")
    except (requests.RequestException, ValueError):
        return _queue_stats_over_amqp(uri), "amqp"
    rows = []
    for q in raw:
        if not _is_platform_queue(q["name"]):
            continue
        stats = q.get("message_stats") or {}
        rows.append({
            "queue": q["name"],
            "messages": q.get("messages", 0),
            "ready": q.get("messages_ready", 0),
            "unacked": q.get("messages_unacknowledged", 0),
            "consumers": q.get("consumers", 0),
            "publish_rate": (stats.get("publish_details") or {}).get("rate"),
            "deliver_rate": (stats.get("deliver_get_details") or {}).get("rate"),
            "ack_rate": (stats.get("ack_details") or {}).get("rate"),
        })
    return sorted(rows, key=lambda r: r["queue"]), "management"


def _queue_stats_over_amqp(uri: str) -> list[dict]:
    """Without the management API: the platform's known queues, depth and consumers only."""
    names = set()
    for service in SERVICES:
        settings = replace(load(service), amqp_uri=uri)
        for entity in topology.service_entities(settings, topology.subscriptions_of(service)):
            if isinstance(entity, Queue):
                names.add(entity.name)
    rows = []
    with broker(uri) as conn:
        for name in sorted(names):
            channel = conn.channel()
            try:
                ok = channel.queue_declare(name, passive=True)
            except ChannelError:
                continue  # not declared on this broker
            finally:
                try:
                    channel.close()
                except Exception:  # noqa: BLE001 - a failed passive declare closed it already
                    pass
            rows.append({"queue": name, "messages": ok.message_count, "ready": ok.message_count,
                         "unacked": None, "consumers": ok.consumer_count,
                         "publish_rate": None, "deliver_rate": None, "ack_rate": None})
    return rows


def collect_status(services: Iterable[str]) -> dict:
    uri = amqp_uri()
    services = list(services)
    states = []
    for service in services:
        settings = load(service)
        state = service_health(settings)
        state["outbox"] = outbox_state(settings)
        states.append(state)
    try:
        queues, source = queue_stats(uri)
    except CliError as exc:
        queues, source = [], f"unavailable: {exc}"
    by_name = {q["queue"]: q for q in queues}
    dead = [{"service": s, "queue": topology.dlq_name(s),
             "messages": (by_name.get(topology.dlq_name(s)) or {}).get("messages")} for s in services]
    return {"vhost": vhost_of(uri), "queue_stats_from": source, "services": states,
            "queues": queues, "dead_letters": dead, "problems": _problems(states, queues, dead),
            "checked_at": utc_iso(time.time())}


def _problems(states: list[dict], queues: list[dict], dead: list[dict]) -> list[str]:
    problems = []
    for state in states:
        name = state["service"]
        if not state["up"]:
            problems.append(f"{name} does not answer at {state['url']}")
        elif not state["ready"]:
            failing = ", ".join(k for k, ok in state["checks"].items() if not ok) or "unknown"
            problems.append(f"{name} is up but not ready ({failing})")
        outbox = state["outbox"]
        if outbox.get("error"):
            problems.append(f"{name}: outbox unreadable ({outbox['error']})")
        elif outbox["backlog"] and outbox["oldest_unsent_s"] >= 60:
            problems.append(f"{name}: {outbox['backlog']} event(s) unpublished, oldest "
                            f"{duration(outbox['oldest_unsent_s'])} old")
    for q in dead:
        if q["messages"]:
            problems.append(f"{q['queue']} holds {q['messages']} message(s): asn dlq list --service {q['service']}")
    for q in queues:
        retry_or_dlq = ".retry." in q["queue"] or q["queue"].endswith(".dlq")
        if not retry_or_dlq and q["consumers"] == 0 and q["messages"]:
            problems.append(f"{q['queue']} has {q['messages']} message(s) and no consumer")
    return problems


def render_status(status: dict) -> str:
    services = [{
        "service": s["service"], "url": s["url"], "up": "yes" if s["up"] else "NO",
        "ready": "yes" if s["ready"] else "NO",
        "store": _check(s, "store"), "broker": _check(s, "broker"), "relay": _check(s, "relay"),
        "backlog": s["outbox"].get("backlog", s["outbox"].get("error")),
        "oldest": duration(s["outbox"].get("oldest_unsent_s")) if s["outbox"].get("backlog") else None,
    } for s in status["services"]]
    queues = [{**q, "publish_rate": rate(q["publish_rate"]), "deliver_rate": rate(q["deliver_rate"]),
               "ack_rate": rate(q["ack_rate"])} for q in status["queues"]]
    parts = [
        "SERVICES",
        table(services, [("service", "SERVICE"), ("url", "URL"), ("up", "UP"), ("ready", "READY"),
                         ("store", "STORE"), ("broker", "BROKER"), ("relay", "RELAY"),
                         ("backlog", "OUTBOX BACKLOG"), ("oldest", "OLDEST UNSENT")]),
        "",
        f"QUEUES (vhost {status['vhost']}, from {status['queue_stats_from']})",
        table(queues, [("queue", "QUEUE"), ("messages", "MESSAGES"), ("ready", "READY"), ("unacked", "UNACKED"),
                       ("consumers", "CONSUMERS"), ("publish_rate", "IN/S"), ("deliver_rate", "OUT/S"),
                       ("ack_rate", "ACK/S")]),
        "",
        "DEAD-LETTER QUEUES",
        table(status["dead_letters"], [("service", "SERVICE"), ("queue", "QUEUE"), ("messages", "MESSAGES")]),
        "",
    ]
    if status["problems"]:
        parts += ["PROBLEMS"] + [f"  ! {p}" for p in status["problems"]]
    else:
        parts.append("No problems found.")
    return "\n".join(parts)


def _check(state: dict, key: str) -> str | None:
    if key not in state["checks"]:
        return None
    return "ok" if state["checks"][key] else "FAIL"


def cmd_status(args) -> int:
    status = collect_status(args.service or SERVICES)
    if args.json:
        emit_json(status)
    else:
        print(render_status(status))
    return 1 if status["problems"] else 0


# -- dead letters -------------------------------------------------------------------------

def _decode(body) -> dict | None:
    try:
        event = json.loads(body)
    except (TypeError, ValueError, UnicodeDecodeError):
        return None
    return event if isinstance(event, dict) else None


def describe(position: int, message, full: bool = False) -> dict:
    headers = dict(message.headers or {})
    event = _decode(message.body) or {}
    info = {
        "position": position,
        "event_id": message.properties.get("message_id") or event.get("id"),
        "type": event.get("type") or message.properties.get("type"),
        "subject": event.get("subject"),
        "reason": headers.get("x-reason"),
        "attempts": headers.get("x-attempts"),
        "error": headers.get("x-error"),
        "original_queue": headers.get("x-original-queue"),
        "dead_lettered_at": utc_iso(headers.get("x-dead-lettered-at")),
        "correlation_id": headers.get("correlation_id") or event.get("correlationid"),
        "replays": headers.get(REPLAYS_HEADER, 0),
    }
    if full:
        info["traceback"] = headers.get("x-traceback")
        info["headers"] = headers
        info["content_type"] = message.content_type
        body = message.body
        info["body"] = event or (body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
    return info


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
            raise CliError(f"{self.name} does not exist on this broker (vhost {vhost_of(conn.as_uri())})") from None
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
        wanted = set(refs)
        found = []
        for position, message in self.fetch():
            info = describe(position, message)
            keys = {str(info["event_id"]), str(position), f"#{position}"}
            if keys & wanted:
                found.append((position, message))
                wanted -= keys
            if not wanted:
                break
        if wanted:
            raise CliError(f"not in {self.name}: {', '.join(sorted(wanted))} (see `asn dlq list --service {self.service}`)")
        return found

    def close(self) -> None:
        try:
            self.channel.close()  # unacked messages return to the queue
        except Exception:  # noqa: BLE001
            pass


def requeue(producer: Producer, service: str, message) -> str:
    """Publish a dead letter back to its original queue, attempts reset; returns the queue."""
    headers = dict(message.headers or {})
    queue = headers.get("x-original-queue")
    if not queue:
        raise CliError("the message has no x-original-queue header: it was not dead-lettered by a "
                       "reliable handler and cannot be replayed")
    for key in DEAD_LETTER_HEADERS:
        headers.pop(key, None)
    headers[ATTEMPT_HEADER] = 1
    headers[REPLAYS_HEADER] = int((message.headers or {}).get(REPLAYS_HEADER, 0)) + 1
    try:
        producer.publish(message.body, exchange=topology.requeue_exchange(service).name, routing_key=queue,
                         mandatory=True, retry=False, delivery_mode=2,
                         content_type=message.content_type or "application/json",
                         content_encoding=message.content_encoding or "binary", headers=headers,
                         message_id=message.properties.get("message_id"), type=message.properties.get("type"),
                         # the service stamped the verified publisher; the consumer trusts the
                         # stamp only from its own user or BROKER_OPERATOR_USERS
                         user_id=user_of(amqp_uri()))
    except ChannelError as exc:
        raise CliError(f"the broker could not route the message back to {queue}: {exc}") from None
    return queue


DLQ_COLUMNS = [("position", "#"), ("event_id", "EVENT ID"), ("type", "TYPE"), ("reason", "REASON"),
               ("attempts", "ATTEMPTS"), ("original_queue", "ORIGINAL QUEUE"), ("when", "DEAD-LETTERED"),
               ("error_short", "ERROR")]


def cmd_dlq_list(args) -> int:
    services = [args.service] if args.service else list(SERVICES)
    result = {}
    with broker(amqp_uri()) as conn:
        for service in services:
            try:
                dlq = DeadLetterQueue(conn, service)
            except CliError:
                if args.service:
                    raise
                continue
            try:
                result[service] = {"queue": dlq.name, "messages": dlq.depth,
                                   "shown": [describe(p, m) for p, m in dlq.fetch(args.limit)]}
            finally:
                dlq.close()
    if args.json:
        emit_json(result)
        return 0
    for service, entry in result.items():
        print(f"{entry['queue']}: {entry['messages']} message(s)")
        if entry["shown"]:
            rows = [{**m, "when": wib(_epoch(m["dead_lettered_at"])), "type": _short_type(m["type"]),
                     "error_short": _cut(m["error"], 70)} for m in entry["shown"]]
            print(table(rows, DLQ_COLUMNS))
            if entry["messages"] > len(entry["shown"]):
                print(f"... {entry['messages'] - len(entry['shown'])} more (--limit)")
        print()
    return 0


def cmd_dlq_show(args) -> int:
    with broker(amqp_uri()) as conn:
        dlq = DeadLetterQueue(conn, args.service)
        try:
            shown = [describe(p, m, full=True) for p, m in dlq.find(args.ref)]
        finally:
            dlq.close()
    if args.json:
        emit_json(shown)
        return 0
    for info in shown:
        print(f"#{info['position']} in {topology.dlq_name(args.service)}")
        for key in ("event_id", "type", "subject", "reason", "attempts", "original_queue", "correlation_id",
                    "replays"):
            print(f"  {key:<16}{'-' if info[key] is None else info[key]}")
        print(f"  {'dead_lettered':<16}{wib(_epoch(info['dead_lettered_at'])) or '-'}")
        print(f"  {'error':<16}{info['error'] or '-'}")
        if info["traceback"]:
            print("  traceback:")
            print("    " + info["traceback"].rstrip().replace("\n", "\n    "))
        print("  body:")
        body = info["body"]
        text = json.dumps(body, ensure_ascii=False, indent=2) if isinstance(body, dict) else str(body)
        print("    " + text.replace("\n", "\n    "))
        print()
    return 0


def cmd_dlq_replay(args) -> int:
    if not args.all and not args.ref:
        raise CliError("name the messages to replay (event id or #position) or pass --all")
    replayed, failed = [], []
    with broker(amqp_uri()) as conn:
        producer = Producer(conn.channel())
        dlq = DeadLetterQueue(conn, args.service)
        try:
            selected = dlq.fetch() if args.all else iter(dlq.find(args.ref))
            for position, message in selected:
                info = describe(position, message)
                try:
                    info["to_queue"] = requeue(producer, args.service, message)
                except CliError as exc:
                    failed.append({**info, "problem": str(exc)})
                    continue  # stays in the DLQ (unacked, returned on close)
                message.ack()  # only after the broker confirmed the copy
                replayed.append(info)
        finally:
            dlq.close()
    if args.json:
        emit_json({"replayed": replayed, "failed": failed})
    else:
        for info in replayed:
            print(f"replayed {info['event_id'] or '#' + str(info['position'])} -> {info['to_queue']}")
        for info in failed:
            print(f"NOT replayed {info['event_id'] or '#' + str(info['position'])}: {info['problem']}")
        print(f"{len(replayed)} replayed, {len(failed)} left in {topology.dlq_name(args.service)}")
    return 1 if failed else 0


def cmd_dlq_purge(args) -> int:
    with broker(amqp_uri()) as conn:
        dlq = DeadLetterQueue(conn, args.service)
        try:
            if not dlq.depth:
                purged = 0
            else:
                if not args.yes:
                    answer = input(f"Delete all {dlq.depth} message(s) in {dlq.name}? This cannot be undone. [y/N] ")
                    if answer.strip().lower() not in ("y", "yes"):
                        print("nothing purged", file=sys.stderr)
                        return 1
                purged = dlq.channel.queue_purge(dlq.name) or 0
        finally:
            dlq.close()
    if args.json:
        emit_json({"queue": topology.dlq_name(args.service), "purged": purged})
    else:
        print(f"purged {purged} message(s) from {topology.dlq_name(args.service)}")
    return 0


def _epoch(iso: str | None) -> float | None:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() if iso else None


def _cut(text: str | None, width: int) -> str | None:
    if text is None:
        return None
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _short_type(event_type: str | None) -> str | None:
    """id.go.bkn.bangkom.enrollment.completed.v1 -> enrollment.completed.v1"""
    prefix = "id.go.bkn.bangkom."
    return event_type[len(prefix):] if event_type and event_type.startswith(prefix) else event_type


# -- events tail --------------------------------------------------------------------------

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
        names = {event.get("type"), routing_key, f"{service}.{routing_key}", _short_type(event.get("type"))}
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
        shown = datetime.fromisoformat(when.replace("Z", "+00:00")).astimezone(WIB).strftime("%Y-%m-%d %H:%M:%S WIB")
    except (AttributeError, ValueError):
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
        event = _decode(message.body)
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


# -- replay -------------------------------------------------------------------------------

REBUILD_COLUMNS = [("generation", "GENERATION"), ("previous_generation", "PREVIOUS"), ("events", "EVENTS"),
                   ("applied", "APPLIED"), ("duplicates", "DUPLICATES"), ("ignored", "IGNORED"),
                   ("malformed", "MALFORMED"), ("unauthorised", "UNAUTHORISED"), ("seconds", "SECONDS")]


def admin_token(token: str | None) -> str:
    """The bearer token for admin routes: ``--token``, ``ASN_TOKEN``, or one minted for five
    minutes with the services' signing key (locally the development secret of `make run`)."""
    from shared import auth

    token = token or env("ASN_TOKEN")
    if token:
        return token
    environ = None
    if not any(env(k) for k in ("AUTH_SECRET", "AUTH_SECRET_FILE", "AUTH_PRIVATE_KEY_FILE")):
        dev = _dev_secret_file()
        if dev is None:
            raise CliError("no admin token: pass --token or set ASN_TOKEN (or AUTH_SECRET_FILE to mint one)")
        import os
        environ = {**os.environ, "AUTH_SECRET_FILE": str(dev)}
    try:
        config = auth.load_config(require_signing=True, environ=environ)
        return auth.issue_token(config, role=auth.ADMIN, subject="asn-cli", ttl_s=300)
    except (ValueError, auth.AuthConfigError) as exc:
        raise CliError(str(exc)) from None


def _admin_post(service: str, path: str, token: str, body: dict, timeout: float) -> dict:
    """POST to an admin route of ``service``; CliError with the service's own message otherwise."""
    url = service_url(load(service)) + path
    try:
        response = requests.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
    except requests.RequestException as exc:
        raise CliError(f"{service} did not answer at {url}: {exc}") from None
    if response.status_code >= 400:
        try:
            message = response.json().get("message")
        except ValueError:
            message = response.text[:200]
        raise CliError(f"{service} answered {response.status_code}: {message}")
    return response.json()


def cmd_replay(args) -> int:
    """Without --queue: reporting rebuilds its read models from the producers' event logs.
    With --queue: the producers republish their logs into that queue (any subscriber)."""
    token = admin_token(args.token)
    if args.queue is None:
        if args.service or args.type:
            raise CliError("--service and --type apply to a replay into a --queue")
        try:
            summary = _admin_post("reporting", "/admin/rebuild", token, {}, args.timeout)
        except CliError as exc:
            raise CliError(f"rebuild of reporting's read models failed: {exc}") from None
        if args.json:
            emit_json(summary)
        else:
            print("reporting's read models rebuilt from the producers' event logs")
            print(table([summary], REBUILD_COLUMNS))
        return 0

    results = []
    for service in args.service or SERVICES:
        try:
            answer = _admin_post(service, "/admin/replay", token, {"queue": args.queue, "types": args.type or None},
                                 args.timeout)
            results.append({"service": service, "replayed": answer["replayed"]})
        except CliError as exc:
            results.append({"service": service, "replayed": None, "error": str(exc)})
    if args.json:
        emit_json({"queue": args.queue, "results": results})
    else:
        print(table(results, [("service", "SERVICE"), ("replayed", "REPLAYED"), ("error", "ERROR")]))
        print(f"{sum(r['replayed'] or 0 for r in results)} event(s) republished into {args.queue}")
    return 1 if any(r.get("error") for r in results) else 0


def cmd_token_issue(args) -> int:
    """Print a signed bearer token (the HTTP API's credential) for one role.

    The key comes from the services' variables (AUTH_SECRET(_FILE), or AUTH_ALGORITHM=EdDSA with
    AUTH_PRIVATE_KEY_FILE); locally, from the development secret `make run` created."""
    from shared import auth

    environ = None
    if not any(env(k) for k in ("AUTH_SECRET", "AUTH_SECRET_FILE", "AUTH_PRIVATE_KEY_FILE")):
        dev = args.secret_file or _dev_secret_file()
        if dev is None:
            raise CliError("no signing key: set AUTH_SECRET_FILE (or run `make run` once for a development secret)")
        import os
        environ = {**os.environ, "AUTH_SECRET_FILE": str(dev)}
    try:
        ttl = auth.parse_ttl(args.ttl)
        config = auth.load_config(require_signing=True, environ=environ)
        token = auth.issue_token(config, role=args.role, agency=args.agency, nip=args.nip, subject=args.subject,
                                 ttl_s=ttl)
    except (ValueError, auth.AuthConfigError) as exc:
        raise CliError(str(exc)) from None
    if args.json:
        emit_json({"token": token, "role": args.role, "agency": args.agency and args.agency.upper(),
                   "nip": args.nip, "expires_in_s": ttl})
    else:
        print(token)
    return 0


def _dev_secret_file():
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / ".data" / "auth-secret"
    return path if path.exists() else None


# -- argument parsing ---------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")
    top = argparse.ArgumentParser(prog="asn", description="Operator tools of the ASN competency platform.")
    commands = top.add_subparsers(dest="command", required=True)

    status = commands.add_parser("status", parents=[common], help="services, queues, dead letters, outbox lag")
    status.add_argument("--service", action="append", choices=SERVICES, help="only this service (repeatable)")
    status.set_defaults(func=cmd_status)

    dlq = commands.add_parser("dlq", help="inspect and repair dead-letter queues")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_commands.add_parser("list", parents=[common], help="messages in a DLQ (all DLQs by default)")
    listing.add_argument("--service", choices=SERVICES)
    listing.add_argument("--limit", type=int, default=50, help="at most this many per queue (default 50)")
    listing.set_defaults(func=cmd_dlq_list)
    for name, func, helptext in (("show", cmd_dlq_show, "one or more messages with their error and traceback"),
                                 ("replay", cmd_dlq_replay, "put messages back on their original queue")):
        sub = dlq_commands.add_parser(name, parents=[common], help=helptext)
        sub.add_argument("--service", choices=SERVICES, required=True)
        sub.add_argument("ref", nargs="*" if name == "replay" else "+",
                         help="event id (message id) or position (#3 or 3) from `asn dlq list`")
        if name == "replay":
            sub.add_argument("--all", action="store_true", help="replay every message in the DLQ")
        sub.set_defaults(func=func)
    purge = dlq_commands.add_parser("purge", parents=[common], help="delete every message in a DLQ")
    purge.add_argument("--service", choices=SERVICES, required=True)
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(func=cmd_dlq_purge)

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

    replay = commands.add_parser(
        "replay", parents=[common],
        help="rebuild reporting's read models from the event logs, or replay the logs into a queue",
        description="Without --queue, reporting rebuilds every read model from the producers' event logs "
                    "(POST /admin/rebuild on reporting, with an admin token). With --queue, each producer "
                    "republishes its sent events, oldest first, into that queue (POST /admin/replay); the "
                    "queue must be bound to <service>.replay with its own name.")
    replay.add_argument("--queue", help="republish into this existing queue instead of rebuilding reporting")
    replay.add_argument("--service", action="append", choices=SERVICES,
                        help="producer whose log to replay (repeatable; default all)")
    replay.add_argument("--type", action="append", help="only these events (full type or short name)")
    replay.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for each answer")
    replay.add_argument("--token", help="an admin bearer token (default: ASN_TOKEN, or one minted with the "
                                        "signing key)")
    replay.set_defaults(func=cmd_replay)

    token = commands.add_parser("token", help="API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True)
    issue = token_commands.add_parser("issue", parents=[common], help="print a signed bearer token",
                                      description="e.g. asn token issue --role operator --agency DISKOMINFO --ttl 8h")
    issue.add_argument("--role", required=True, choices=("admin", "operator", "asn"))
    issue.add_argument("--agency", help="OPD code (required for operator)")
    issue.add_argument("--nip", help="the ASN's NIP (required for asn)")
    issue.add_argument("--subject", help="who the token is for, e.g. a user name (recorded on actions)")
    issue.add_argument("--ttl", default="8h", help="lifetime: 30m, 8h, 7d (at most 30d; default 8h)")
    issue.add_argument("--secret-file", help="HS256 secret file when AUTH_SECRET(_FILE) is not set")
    issue.set_defaults(func=cmd_token_issue)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"asn: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `asn events tail | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
