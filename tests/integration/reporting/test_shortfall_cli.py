"""``asn checkpoint run|status``: starts a shortfall checkpoint on the running reporting service,
follows it to the end (a bar on a terminal, plain lines otherwise) and exits 0 once done."""
from __future__ import annotations

import io
import json
from datetime import datetime, timezone

import pytest

from shared.cli import main
from shared.cli.checkpoint import Follower
from tests.integration.reporting.test_shortfall_roster import Q2_NUDGED, roster  # noqa: F401 - fixture
from tests.support import auth_token


@pytest.fixture
def reporting(start, settings, monkeypatch):
    """A replica on 20 August 2026 (Q2 is past the loop's catch-up window: only the CLI runs it),
    and the CLI pointed at it with an admin token."""
    start(clock=lambda: datetime(2026, 8, 20, 3, 0, tzinfo=timezone.utc))
    monkeypatch.setenv("REPORTING_URL", f"http://{settings.http_address}")
    monkeypatch.setenv("ASN_TOKEN", auth_token("admin"))


def asn(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_follows_the_checkpoint_to_the_end_and_exits_0(roster, reporting, capsys):  # noqa: F811
    code, out, _ = asn(capsys, "checkpoint", "run", "2026-Q2", "--interval", "0.1")
    assert code == 0, out
    lines = out.splitlines()
    # not a terminal: plain progress lines, the last one the finished job, then its table
    assert lines[0].startswith("2026-Q2 ")
    assert any(line.startswith("2026-Q2 done  11/11 ASN checked (100%), 8 nudged") for line in lines)
    header = next(i for i, line in enumerate(lines) if line.startswith("CHECKPOINT"))
    assert lines[header + 1].split()[:6] == ["2026-Q2", "done", "11", "11", "8", "3"]

    code, out, _ = asn(capsys, "checkpoint", "run", "2026-Q2")
    assert (code, out.splitlines()[0]) == (0, "checkpoint 2026-Q2 was already done")

    code, out, _ = asn(capsys, "checkpoint", "status", "2026-Q2", "--json")
    job = json.loads(out)
    assert (code, job["status"], job["total"], job["nudged"], job["escalated"]) == (0, "done", 11, len(Q2_NUDGED), 5)


def test_errors_exit_non_zero_with_reportings_reason(reporting, capsys):
    code, _, err = asn(capsys, "checkpoint", "run", "2026-Q9")
    assert code == 2 and "422" in err and "checkpoint" in err
    code, _, err = asn(capsys, "checkpoint", "status", "2025-Q1")
    assert code == 2 and "404" in err


def test_a_terminal_gets_a_progress_bar_redrawn_in_place():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    follower = Follower(out)
    follower.show({"checkpoint": "2026-Q2", "status": "running", "total": 10, "checked": 5, "nudged": 2,
                   "progress": 0.5})
    follower.show({"checkpoint": "2026-Q2", "status": "done", "total": 10, "checked": 10, "nudged": 4,
                   "progress": 1.0})
    follower.end()
    frames = out.getvalue().split("\r\033[K")[1:]
    assert frames[0] == "[" + "#" * 15 + "-" * 15 + "] 2026-Q2 running  5/10 ASN checked (50%), 2 nudged"
    assert frames[1] == "[" + "#" * 30 + "] 2026-Q2 done  10/10 ASN checked (100%), 4 nudged\n"
