"""``asn checkpoint run|status <checkpoint>``: start a shortfall checkpoint of reporting (e.g.
``2026-Q2``) and follow it to the end, or show where it stands (reporting's
``/admin/shortfall/<checkpoint>`` routes, with an admin token).

``run`` starts the job (reporting answers at once and runs it in the background), then shows a
progress bar on a terminal, one line per change otherwise (logs, pipes); it exits 0 once the
checkpoint is done, 1 when it is not done within ``--timeout`` or reporting fails, 2 when
reporting refuses the request (an unknown label, a checkpoint never run).
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

from shared.cli.common import EXIT_OK, EXIT_PROBLEM, CliError, Progress, bar, call_service, emit_json, shown_time, table
from shared.cli.token import admin_token

HTTP_TIMEOUT_S = 30.0
COLUMNS = [("checkpoint", "CHECKPOINT"), ("status", "STATUS"), ("total", "TOTAL"), ("checked", "CHECKED"),
           ("nudged", "NUDGED"), ("supervisor_summaries", "TO SUPERVISOR"), ("escalated", "TO OPD"),
           ("started", "STARTED"), ("finished", "FINISHED")]


def _call(method: str, checkpoint: str, token: str, suffix: str = "") -> tuple[int, dict]:
    """One call to reporting's checkpoint routes; CliError with reporting's own message otherwise."""
    return call_service("reporting", method, f"/admin/shortfall/{checkpoint}{suffix}", token,
                        timeout=HTTP_TIMEOUT_S, about=f" for checkpoint {checkpoint}")


def progress_line(job: dict) -> str:
    """``2026-Q2 running  1,500/5,000 ASN checked (30%), 212 nudged``"""
    total, checked = job.get("total"), job.get("checked") or 0
    share = f" ({job['progress']:.0%})" if job.get("progress") is not None else ""
    counted = f"{checked:,}/{total:,}" if total is not None else f"{checked:,}"
    return f"{job['checkpoint']} {job['status']}  {counted} ASN checked{share}, {job.get('nudged') or 0:,} nudged"


def progress_bar(job: dict) -> str:
    return f"{bar(job.get('progress'))} {progress_line(job)}"


class Follower:
    """Shows a job's progress (common.Progress): a bar redrawn in place on a terminal, a line
    per change otherwise."""

    def __init__(self, out: TextIO, quiet: bool = False):
        self.progress = Progress(out, quiet=quiet)

    def show(self, job: dict) -> None:
        self.progress.show(progress_line(job), job.get("progress") or 0.0)

    def end(self) -> None:
        self.progress.end()


def _row(job: dict) -> dict:
    return {**job, "started": shown_time(job.get("started_at")), "finished": shown_time(job.get("finished_at"))}


def _result(job: dict, as_json: bool) -> None:
    if as_json:
        emit_json(job)
        return
    print(table([_row(job)], COLUMNS))


def cmd_run(args) -> int:
    token = admin_token(args.token)
    code, job = _call("POST", args.checkpoint, token, "/run")
    if code == 200 and job["status"] == "done":
        if not args.json:
            print(f"checkpoint {args.checkpoint} was already done")
        _result(job, args.json)
        return EXIT_OK
    if args.no_wait:
        _result(job, args.json)
        return EXIT_OK
    # with --json: the bar on stderr for a person at a terminal, nothing for a script
    follower = Follower(sys.stderr if args.json else sys.stdout, quiet=args.json)
    deadline = time.monotonic() + args.timeout
    while True:
        follower.show(job)
        if job["status"] == "done":
            break
        if time.monotonic() > deadline:
            follower.end()
            print(f"asn: checkpoint {args.checkpoint} is not done after {args.timeout:g}s; it goes on in "
                  f"reporting (asn checkpoint status {args.checkpoint})", file=sys.stderr)
            return EXIT_PROBLEM
        time.sleep(args.interval)
        _, job = _call("GET", args.checkpoint, token)
    follower.end()
    _result(job, args.json)
    return EXIT_OK


def cmd_status(args) -> int:
    _, job = _call("GET", args.checkpoint, admin_token(args.token))
    if args.json:
        emit_json(job)
    else:
        print(progress_line(job))
        print(table([_row(job)], COLUMNS))
    return EXIT_OK


def register(commands, common) -> None:
    checkpoint = commands.add_parser(
        "checkpoint", help="run a shortfall checkpoint of reporting and follow it, or show where it stands",
        description="A shortfall checkpoint (YEAR-LABEL, e.g. 2026-Q2) nudges every ASN below their pro-rated JP "
                    "target once. `run` starts it on reporting (POST /admin/shortfall/<checkpoint>/run) and "
                    "follows it to the end; `status` shows its progress and result.")
    actions = checkpoint.add_subparsers(dest="action", required=True)
    run = actions.add_parser("run", parents=[common], help="start a checkpoint and follow it to the end")
    run.add_argument("checkpoint", help="e.g. 2026-Q2")
    run.add_argument("--no-wait", action="store_true", help="start it and return at once")
    run.add_argument("--timeout", type=float, default=3600.0, help="seconds to follow it (default 3600)")
    run.add_argument("--interval", type=float, default=1.0, help="seconds between two looks (default 1)")
    run.add_argument("--token", help="an admin bearer token (default: ASN_TOKEN, or one minted with the signing key)")
    run.set_defaults(func=cmd_run)
    status = actions.add_parser("status", parents=[common], help="progress and result of a checkpoint")
    status.add_argument("checkpoint", help="e.g. 2026-Q2")
    status.add_argument("--token", help="an admin bearer token (default: ASN_TOKEN, or one minted with the "
                                        "signing key)")
    status.set_defaults(func=cmd_status)
