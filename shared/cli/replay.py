"""``asn replay [--queue Q]``: rebuild reporting's read models, or replay the producers'
event logs into a queue (the services' admin routes, with an admin token)."""
from __future__ import annotations

import requests

from shared.cli.common import CliError, emit_json, service_url, table
from shared.cli.token import admin_token
from shared.config import SERVICES, load

REBUILD_COLUMNS = [("generation", "GENERATION"), ("previous_generation", "PREVIOUS"), ("events", "EVENTS"),
                   ("applied", "APPLIED"), ("duplicates", "DUPLICATES"), ("ignored", "IGNORED"),
                   ("malformed", "MALFORMED"), ("unauthorised", "UNAUTHORISED"), ("seconds", "SECONDS")]


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
