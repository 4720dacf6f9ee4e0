"""``asn replay [--queue Q]``: rebuild reporting's read models, or replay the producers'
event logs into a queue (the services' admin routes, with an admin token).

Each is one long HTTP request per service (a rebuild of a city's history takes minutes) that
reports nothing until it is done; on a terminal the CLI shows what it waits for, the time it
has taken and, across producers, how many are done. Piped, one plain line per step."""
from __future__ import annotations

import sys

from shared.cli.common import (EXIT_OK, EXIT_PROBLEM, CliError, Progress, UsageError, call_service, emit_json, paint,
                               table)
from shared.cli.token import admin_token
from shared.config import SERVICES

REBUILD_COLUMNS = [("generation", "GENERATION"), ("previous_generation", "PREVIOUS"), ("events", "EVENTS"),
                   ("applied", "APPLIED"), ("duplicates", "DUPLICATES"), ("ignored", "IGNORED"),
                   ("malformed", "MALFORMED"), ("unauthorised", "UNAUTHORISED"), ("seconds", "SECONDS")]


def _admin_post(service: str, path: str, token: str, body: dict, timeout: float) -> dict:
    """POST to an admin route of ``service``; CliError with the service's own message otherwise."""
    return call_service(service, "POST", path, token, body=body, timeout=timeout)[1]


def cmd_replay(args) -> int:
    """Without --queue: reporting rebuilds its read models from the producers' event logs.
    With --queue: the producers republish their logs into that queue (any subscriber)."""
    if args.queue is None and (args.service or args.type):
        raise UsageError("--service and --type apply to a replay into a --queue")
    token = admin_token(args.token)
    progress = Progress(sys.stderr if args.json else sys.stdout, quiet=args.json)
    if args.queue is None:
        try:
            summary = progress.wait("rebuilding reporting's read models from the producers' event logs",
                                    lambda: _admin_post("reporting", "/admin/rebuild", token, {}, args.timeout))
        except CliError as exc:
            raise type(exc)(f"rebuild of reporting's read models failed: {exc}") from None
        finally:
            progress.end()
        if args.json:
            emit_json(summary)
        else:
            print("reporting's read models rebuilt from the producers' event logs")
            print(table([summary], REBUILD_COLUMNS))
        return EXIT_OK

    results = []
    services = args.service or list(SERVICES)
    for done, service in enumerate(services):
        try:
            answer = progress.wait(
                f"{done}/{len(services)} producers  replaying {service}'s event log into {args.queue}",
                lambda: _admin_post(service, "/admin/replay", token, {"queue": args.queue, "types": args.type or None},
                                    args.timeout),
                fraction=done / len(services))
            results.append({"service": service, "replayed": answer["replayed"]})
        except CliError as exc:
            results.append({"service": service, "replayed": None, "error": str(exc)})
    if progress.tty:  # the bar's last state; piped, the table below says it
        progress.show(f"{len(services)}/{len(services)} producers  done", 1.0)
    progress.end()
    if args.json:
        emit_json({"queue": args.queue, "results": results})
    else:
        print(table(results, [("service", "SERVICE"), ("replayed", "REPLAYED"), ("error", "ERROR")],
                    styles={"error": lambda text: None if text == "-" else "red"}))
        print(f"{sum(r['replayed'] or 0 for r in results)} event(s) republished into {args.queue}")
    return EXIT_PROBLEM if any(r.get("error") for r in results) else EXIT_OK


def register(commands, common) -> None:
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
