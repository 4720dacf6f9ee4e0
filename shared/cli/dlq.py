"""``asn dlq list|show|replay|purge --service S``: inspect and repair a dead-letter queue.

The mechanics (reading a DLQ without losing anything, putting a message back with the
headers the handler wrote) are shared.deadletters; this module decides what the operator
sees."""
from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Iterator

from kombu import Connection, Producer

from shared import topology
from shared.broker_security import user_of
from shared.cli.common import (EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, CliError, Progress, UsageError, amqp_uri,
                               broker, cut, emit_json, paint, short_type, shown_time, table, utc_iso, vhost_of)
from shared.config import SERVICES
from shared.deadletters import (ATTEMPTS_HEADER, DEAD_LETTERED_AT_HEADER, ERROR_HEADER, ORIGINAL_QUEUE_HEADER,
                                REASON_HEADER, REPLAYS_HEADER, TRACEBACK_HEADER, DeadLetterQueue, MissingQueue,
                                NotInQueue, NotReplayable, decode_body, event_id_of, requeue)

DLQ_COLUMNS = [("position", "#"), ("event_id", "EVENT ID"), ("type", "TYPE"), ("reason", "REASON"),
               ("attempts", "ATTEMPTS"), ("original_queue", "ORIGINAL QUEUE"), ("when", "DEAD-LETTERED"),
               ("error_short", "ERROR")]


def describe(position: int, message, full: bool = False) -> dict:
    headers = dict(message.headers or {})
    event = decode_body(message.body) or {}
    info = {
        "position": position,
        "event_id": event_id_of(message),
        "type": event.get("type") or message.properties.get("type"),
        "subject": event.get("subject"),
        "reason": headers.get(REASON_HEADER),
        "attempts": headers.get(ATTEMPTS_HEADER),
        "error": headers.get(ERROR_HEADER),
        "original_queue": headers.get(ORIGINAL_QUEUE_HEADER),
        "dead_lettered_at": utc_iso(headers.get(DEAD_LETTERED_AT_HEADER)),
        "correlation_id": headers.get("correlation_id") or event.get("correlationid"),
        "replays": headers.get(REPLAYS_HEADER, 0),
    }
    if full:
        info["traceback"] = headers.get(TRACEBACK_HEADER)
        info["headers"] = headers
        info["content_type"] = message.content_type
        body = message.body
        info["body"] = event or (body.decode("utf-8", "replace") if isinstance(body, bytes) else body)
    return info


@contextmanager
def dead_letter_queue(conn: Connection, service: str) -> Iterator[DeadLetterQueue]:
    """The DLQ of ``service``, closed at the end (what was not acked goes back)."""
    try:
        dlq = DeadLetterQueue(conn, service)
    except MissingQueue as exc:
        raise CliError(f"{exc.queue} does not exist on this broker (vhost {vhost_of(conn.as_uri())})") from None
    try:
        yield dlq
    finally:
        dlq.close()


def find(dlq: DeadLetterQueue, refs: list[str]) -> list[tuple[int, object]]:
    try:
        return dlq.find(refs)
    except NotInQueue as exc:
        raise UsageError(f"{exc} (see `asn dlq list --service {dlq.service}`)") from None


def cmd_dlq_list(args) -> int:
    services = [args.service] if args.service else list(SERVICES)
    result = {}
    with broker(amqp_uri()) as conn:
        for service in services:
            try:
                with dead_letter_queue(conn, service) as dlq:
                    result[service] = {"queue": dlq.name, "messages": dlq.depth,
                                       "shown": [describe(p, m) for p, m in dlq.fetch(args.limit)]}
            except CliError:
                if args.service:
                    raise
    if args.json:
        emit_json(result)
        return 0
    for service, entry in result.items():
        print(f"{entry['queue']}: {entry['messages']} message(s)")
        if entry["shown"]:
            rows = [{**m, "when": shown_time(m["dead_lettered_at"]), "type": short_type(m["type"]),
                     "error_short": cut(m["error"], 70)} for m in entry["shown"]]
            print(table(rows, DLQ_COLUMNS, styles={"reason": lambda reason: None if reason == "-" else "red"}))
            if entry["messages"] > len(entry["shown"]):
                print(f"... {entry['messages'] - len(entry['shown'])} more (--limit)")
        print()
    return 0


def cmd_dlq_show(args) -> int:
    with broker(amqp_uri()) as conn, dead_letter_queue(conn, args.service) as dlq:
        shown = [describe(p, m, full=True) for p, m in find(dlq, args.ref)]
    if args.json:
        emit_json(shown)
        return 0
    for info in shown:
        print(f"#{info['position']} in {topology.dlq_name(args.service)}")
        for key in ("event_id", "type", "subject", "reason", "attempts", "original_queue", "correlation_id",
                    "replays"):
            print(f"  {key:<16}{'-' if info[key] is None else info[key]}")
        print(f"  {'dead_lettered':<16}{shown_time(info['dead_lettered_at']) or '-'}")
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
        raise UsageError("name the messages to replay (event id or #position) or pass --all")
    replayed, failed = [], []
    uri = amqp_uri()
    # the bar goes where the person looks: stdout, or stderr when stdout carries the JSON
    progress = Progress(sys.stderr if args.json else sys.stdout, quiet=args.json)
    with broker(uri) as conn:
        producer = Producer(conn.channel())
        with dead_letter_queue(conn, args.service) as dlq:
            selected = list(find(dlq, args.ref)) if args.ref and not args.all else None
            total = len(selected) if selected is not None else dlq.depth
            progress.count(0, total, f"replayed from {dlq.name}")
            for position, message in selected if selected is not None else dlq.fetch():
                info = describe(position, message)
                try:
                    # published as the CLI's own broker user (RabbitMQ checks the user_id)
                    info["to_queue"] = requeue(producer, args.service, message, user_of(uri))
                except NotReplayable as exc:
                    failed.append({**info, "problem": str(exc)})
                else:
                    message.ack()  # only after the broker confirmed the copy
                    replayed.append(info)
                progress.count(len(replayed) + len(failed), total, f"replayed from {dlq.name}")
            progress.end()
            # what failed stays in the DLQ: unacked, returned in its place on close
    if args.json:
        emit_json({"replayed": replayed, "failed": failed})
    else:
        for info in replayed:
            print(f"replayed {info['event_id'] or '#' + str(info['position'])} -> {info['to_queue']}")
        for info in failed:
            print(paint(f"NOT replayed {info['event_id'] or '#' + str(info['position'])}: {info['problem']}", "red"))
        print(f"{len(replayed)} replayed, {len(failed)} left in {topology.dlq_name(args.service)}")
    return EXIT_PROBLEM if failed else EXIT_OK


def _confirmed(question: str) -> bool:
    """Ask at the terminal; end of input (Ctrl-D) is a no."""
    try:
        answer = input(question)
    except EOFError:
        print(file=sys.stderr)
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_dlq_purge(args) -> int:
    interactive = sys.stdin is not None and sys.stdin.isatty()
    if not args.yes and not interactive:
        # Refused before looking, whatever the queue holds: a script without --yes fails the
        # first time it runs, not the first time there is something to lose.
        raise UsageError(f"dlq purge deletes every message in {topology.dlq_name(args.service)} for good; "
                         "pass --yes to confirm (stdin is not a terminal, so asn cannot ask)")
    with broker(amqp_uri()) as conn, dead_letter_queue(conn, args.service) as dlq:
        if not dlq.depth:
            purged = 0
        else:
            if not args.yes and not _confirmed(
                    f"Delete all {dlq.depth} message(s) in {dlq.name}? This cannot be undone. [y/N] "):
                print("nothing purged", file=sys.stderr)
                return EXIT_USAGE
            purged = dlq.purge()
    if args.json:
        emit_json({"queue": topology.dlq_name(args.service), "purged": purged})
    else:
        print(f"purged {purged} message(s) from {topology.dlq_name(args.service)}")
    return EXIT_OK


def register(commands, common) -> None:
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
    purge.add_argument("--yes", action="store_true",
                       help="confirm: required off a terminal (scripts, Jobs), where asn cannot ask")
    purge.set_defaults(func=cmd_dlq_purge)
