"""What the `asn` CLI shows a person at a terminal and what it writes into a pipe
(shared/cli/common.py): progress, colour, tables, version, exit statuses."""
from __future__ import annotations

import io

import pytest

from shared.cli import EPILOG, parser, version
from shared.cli.common import CliError, Progress, UsageError, colour_enabled, http_error, paint, table


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_pipe_gets_one_plain_line_per_tenth_and_no_escape():
    out = io.StringIO()
    progress = Progress(out)
    for done in range(0, 21):
        progress.count(done, 20, "replayed")
    progress.end()
    lines = out.getvalue().splitlines()
    assert lines[0] == "0% (0/20) replayed" and lines[-1] == "100% (20/20) replayed"
    assert len(lines) == 11  # 0%, 10%, ..., 100%: not one per message
    assert "\r" not in out.getvalue() and "\x1b" not in out.getvalue()


def test_json_mode_keeps_a_pipe_free_of_progress_but_a_terminal_still_sees_the_bar():
    piped, terminal = io.StringIO(), Terminal()
    for out in (piped, terminal):
        progress = Progress(out, quiet=True)
        progress.count(1, 2, "replayed")
        progress.end()
    assert piped.getvalue() == ""
    assert terminal.getvalue() == "\r\x1b[K[" + "#" * 15 + "-" * 15 + "] 1/2 replayed\n"


def test_waiting_on_a_terminal_redraws_the_label_and_returns_the_result_or_raises_its_error():
    terminal = Terminal()
    progress = Progress(terminal)
    assert progress.wait("rebuilding", lambda: 42) == 42
    progress.end()
    assert terminal.getvalue().startswith("\r\x1b[Krebuilding  0s") and terminal.getvalue().endswith("\n")

    def fails():
        raise UsageError("reporting answered 409")
    with pytest.raises(UsageError, match="409"):
        Progress(Terminal()).wait("rebuilding", fails)


def test_waiting_into_a_pipe_says_once_what_it_waits_for():
    out = io.StringIO()
    assert Progress(out).wait("rebuilding", lambda: "done") == "done"
    assert out.getvalue() == "rebuilding\n"


def test_colour_only_on_a_terminal_and_not_with_no_color_or_a_dumb_terminal(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert colour_enabled(Terminal()) and not colour_enabled(io.StringIO())
    assert paint("NO", "red", Terminal()) == "\x1b[31mNO\x1b[0m"
    assert paint("NO", "red", io.StringIO()) == "NO"
    monkeypatch.setenv("NO_COLOR", "1")
    assert not colour_enabled(Terminal()) and paint("NO", "red", Terminal()) == "NO"
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not colour_enabled(Terminal())


def test_coloured_cells_keep_the_columns_of_the_plain_table(monkeypatch):
    rows = [{"service": "enrollment", "up": "yes", "note": "x"}, {"service": "certification", "up": "NO", "note": "y"}]
    columns = [("service", "SERVICE"), ("up", "UP"), ("note", "NOTE")]
    styles = {"up": {"yes": "green", "NO": "red"}.get}
    plain = table(rows, columns, styles)  # stdout is not a terminal under pytest
    monkeypatch.setattr("sys.stdout", Terminal())
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    coloured = table(rows, columns, styles)
    assert "\x1b[31mNO\x1b[0m" in coloured
    assert coloured.replace("\x1b[31m", "").replace("\x1b[32m", "").replace("\x1b[0m", "") == plain


def test_a_refusal_is_a_usage_error_and_a_failure_a_problem():
    assert isinstance(http_error(409, "refused"), UsageError) and http_error(409, "x").exit_code == 2
    assert not isinstance(http_error(503, "down"), UsageError) and http_error(503, "x").exit_code == 1
    assert CliError("x").exit_code == 1


def test_version_and_help_name_the_version_and_the_exit_statuses(capsys):
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["--version"])
    assert exited.value.code == 0 and capsys.readouterr().out == f"asn {version()}\n"
    assert version()[0].isdigit()
    for status in ("0  done", "1  a problem found", "2  usage"):
        assert status in EPILOG
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["--help"])
    assert "exit status (every command):" in capsys.readouterr().out
