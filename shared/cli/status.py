"""``asn status``: services, queues, dead letters, outbox lag."""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Iterable
from urllib.parse import quote

import requests
from kombu import Queue
from kombu.exceptions import ChannelError
from pymongo.errors import PyMongoError

from shared import topology
from shared.cli.common import (EXIT_OK, EXIT_PROBLEM, HTTP_TIMEOUT_S, TAIL_QUEUE_PREFIX, CliError, amqp_uri, broker,
                               duration, emit_json, management_get, paint, rate, service_url, table, utc_iso,
                               vhost_of)
from shared.config import SERVICES, Settings, load

STORE_TIMEOUT_MS = 2000


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


def collect_status(services: Iterable[str], outbox: bool = True) -> dict:
    """``outbox=False``: no store is read (an operator account without database credentials,
    as the in-cluster asn-cli pod); the outbox is then watched by its alerts, not here."""
    uri = amqp_uri()
    services = list(services)
    states = []
    for service in services:
        settings = load(service)
        state = service_health(settings)
        state["outbox"] = outbox_state(settings) if outbox else {"backlog": None, "oldest_unsent_s": None,
                                                                  "checked": False}
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
        if outbox.get("checked") is False:
            pass
        elif outbox.get("error"):
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
    verdict = {"yes": "green", "ok": "green", "NO": "red", "FAIL": "red"}.get
    parts = [
        "SERVICES",
        table(services, [("service", "SERVICE"), ("url", "URL"), ("up", "UP"), ("ready", "READY"),
                         ("store", "STORE"), ("broker", "BROKER"), ("relay", "RELAY"),
                         ("backlog", "OUTBOX BACKLOG"), ("oldest", "OLDEST UNSENT")],
              styles={key: verdict for key in ("up", "ready", "store", "broker", "relay")}),
        "",
        f"QUEUES (vhost {status['vhost']}, from {status['queue_stats_from']})",
        table(queues, [("queue", "QUEUE"), ("messages", "MESSAGES"), ("ready", "READY"), ("unacked", "UNACKED"),
                       ("consumers", "CONSUMERS"), ("publish_rate", "IN/S"), ("deliver_rate", "OUT/S"),
                       ("ack_rate", "ACK/S")]),
        "",
        "DEAD-LETTER QUEUES",
        table(status["dead_letters"], [("service", "SERVICE"), ("queue", "QUEUE"), ("messages", "MESSAGES")],
              styles={"messages": lambda n: "red" if n not in ("0", "-") else None}),
        "",
    ]
    if status["problems"]:
        parts += [paint("PROBLEMS", "red")] + [paint(f"  ! {p}", "red") for p in status["problems"]]
    else:
        parts.append(paint("No problems found.", "green"))
    return "\n".join(parts)


def _check(state: dict, key: str) -> str | None:
    if key not in state["checks"]:
        return None
    return "ok" if state["checks"][key] else "FAIL"


def cmd_status(args) -> int:
    status = collect_status(args.service or SERVICES, outbox=not args.no_outbox)
    if args.json:
        emit_json(status)
    else:
        print(render_status(status))
    return EXIT_PROBLEM if status["problems"] else EXIT_OK


def register(commands, common) -> None:
    status = commands.add_parser("status", parents=[common], help="services, queues, dead letters, outbox lag")
    status.add_argument("--service", action="append", choices=SERVICES, help="only this service (repeatable)")
    status.add_argument("--no-outbox", action="store_true",
                        help="do not read the services' databases for the outbox backlog (no store credentials, "
                             "as in the cluster's asn-cli pod)")
    status.set_defaults(func=cmd_status)
