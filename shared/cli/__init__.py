"""``asn``: the operator's command line, one module per command.

    asn status                                   services, queues, dead letters, outbox lag   (status.py)
    asn dlq list|show|replay|purge --service S   inspect and repair a dead-letter queue       (dlq.py)
    asn events tail [--type T] [--nip N] [--agency A]                                          (events.py)
    asn replay [--queue Q]                       rebuild reporting, or replay event logs into a queue (replay.py)
    asn token issue --role R [--agency A] [--nip N] [--ttl 8h]   a signed API token          (token.py)
    asn checkpoint run|status 2026-Q2            run a shortfall checkpoint with a progress bar (checkpoint.py)

Every command prints a table for people and, with ``--json``, JSON for scripts; colour and
progress bars only on a terminal; exit status 0 (done), 1 (a problem found or met: CliError),
2 (usage: argparse, UsageError). All of that is common.py, with where things are. The broker and the stores are found through the same environment
variables as the services (shared.config): AMQP_URI, MONGO_URI, MONGO_DB_PREFIX,
<SERVICE>_HTTP_ADDRESS, plus <SERVICE>_URL (the base URL of a service when it differs from
its bind address) and RABBITMQ_MANAGEMENT_URL (default: port 15672 of the broker's host).
See docs/operations.md. The dead-letter mechanics are shared.deadletters, shared with the
reliable handler.

``deploy.asn`` (the ``asn`` console script) and ``python -m shared.cli`` (the image, which has
no deploy/) both load the services' subscription tables, then call ``main``.
"""
from __future__ import annotations

import argparse
import sys
import warnings


# eventlet (nameko's, imported by `asn status` and the services' modules) warns on import that
# it is deprecated: a note to its users' developers that says nothing to an operator and would
# put text on stderr on every call. Only that warning, matched by its own opening words (its
# class cannot be named before eventlet is imported, and importing it up front would cost
# every command a fifth of a second); every other warning keeps Python's defaults.
EVENTLET_DEPRECATION = r"\s*Eventlet is deprecated\. It is currently being maintained in bugfix mode"
warnings.filterwarnings("ignore", message=EVENTLET_DEPRECATION, category=Warning)

from shared.cli import checkpoint, dlq, events, replay, status, token  # noqa: E402
from shared.cli.common import (EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, CliError, UsageError,  # noqa: E402
                               management_get, vhost_of)
from shared.cli.token import admin_token  # noqa: E402

__all__ = ["CliError", "UsageError", "admin_token", "main", "management_get", "parser", "version", "vhost_of"]

COMMANDS = (status, dlq, events, replay, token, checkpoint)
DISTRIBUTION = "asn-bangkom"

EPILOG = f"""\
exit status (every command):
  {EXIT_OK}  done, nothing wrong found
  {EXIT_PROBLEM}  a problem found or met: `asn status` lists problems, a replay left messages or
     failed for a producer, a checkpoint not done in time, the broker or a service unreachable
  {EXIT_USAGE}  usage: bad or missing arguments, an unknown message reference, a request the
     service refused (4xx), no token or signing key, `dlq purge` without --yes off a terminal

Output: tables for people, --json for scripts; colour and progress bars only on a terminal
(NO_COLOR turns colour off). Environment: AMQP_URI, MONGO_URI, RABBITMQ_MANAGEMENT_URL,
<SERVICE>_URL (docs/operations.md)."""


def version() -> str:
    """The installed package's version; from a source tree that is not installed (the image runs
    from source), the version in pyproject.toml beside ``shared/``."""
    from importlib import metadata

    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pass
    from pathlib import Path
    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown (neither installed nor beside its pyproject.toml)"


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")
    top = argparse.ArgumentParser(prog="asn", description="Operator tools of the ASN competency platform.",
                                  epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    top.add_argument("--version", action="version", version=f"asn {version()}")
    commands = top.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(commands, common)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)  # a usage error exits here with status 2 (argparse)
    try:
        return args.func(args)
    except CliError as exc:
        print(f"asn: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `asn events tail | head`
        return EXIT_OK
    except KeyboardInterrupt:  # Ctrl-C: no traceback; 130 as a shell reports SIGINT
        print(file=sys.stderr)
        return 130
