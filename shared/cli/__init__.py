"""``asn``: the operator's command line, one module per command.

    asn status                                   services, queues, dead letters, outbox lag   (status.py)
    asn dlq list|show|replay|purge --service S   inspect and repair a dead-letter queue       (dlq.py)
    asn events tail [--type T] [--nip N] [--agency A]                                          (events.py)
    asn replay [--queue Q]                       rebuild reporting, or replay event logs into a queue (replay.py)
    asn token issue --role R [--agency A] [--nip N] [--ttl 8h]   a signed API token          (token.py)
    asn checkpoint run|status 2026-Q2            run a shortfall checkpoint with a progress bar (checkpoint.py)

Every command prints a table for people and, with ``--json``, JSON for scripts (common.py,
with where things are). The broker and the stores are found through the same environment
variables as the services (shared.config): AMQP_URI, MONGO_URI, MONGO_DB_PREFIX,
<SERVICE>_HTTP_ADDRESS, plus <SERVICE>_URL (the base URL of a service when it differs from
its bind address) and RABBITMQ_MANAGEMENT_URL (default: port 15672 of the broker's host).
See docs/operations.md. The dead-letter mechanics are shared.deadletters, shared with the
reliable handler.

``deploy.asn`` (the ``asn`` console script) loads the services' subscription tables, then
calls ``main``; ``python -m shared.cli`` calls it directly.
"""
from __future__ import annotations

import argparse
import sys
import warnings

# eventlet (imported through nameko) warns on import; an operator needs no such noise.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")

from shared.cli import checkpoint, dlq, events, replay, status, token  # noqa: E402
from shared.cli.common import CliError, management_get, vhost_of  # noqa: E402
from shared.cli.token import admin_token  # noqa: E402

__all__ = ["CliError", "admin_token", "main", "management_get", "parser", "vhost_of"]

COMMANDS = (status, dlq, events, replay, token, checkpoint)


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")
    top = argparse.ArgumentParser(prog="asn", description="Operator tools of the ASN competency platform.")
    commands = top.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands, common)
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
