"""The `asn` operator CLI against the real broker (and its management API) and store."""
from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from shared import topology
from shared.cli import main
from shared.config import load
from shared.store import Store, connect
from tests.integration.ops.conftest import free_port
from tests.integration.ops.services_under_test import (CERTIFIED, COMPLETED, CertificationStandIn,
                                                       EnrollmentStandIn, completion)
from tests.support import publish_event, publish_raw, queue_depth, wait_for

ASN = str(Path(sys.executable).parent / "asn")
STAND_INS = "tests.integration.ops.services_under_test"
WORK_QUEUE = "certification.enrollment.completed"


def on_terminal(argv: list[str], answer: str | None = None, env: dict | None = None,
                limit_s: float = 60.0) -> tuple[int, str, str]:
    """Run ``argv`` with stdin and stdout on a pseudo-terminal, as an operator at a shell does
    (stderr apart, piped); type ``answer`` and Enter. Returns (status, what the terminal showed
    with the terminal's CRLF as LF, stderr)."""
    main_fd, child_fd = pty.openpty()
    proc = subprocess.Popen(argv, stdin=child_fd, stdout=child_fd, stderr=subprocess.PIPE,
                            env=dict(os.environ) if env is None else env)
    os.close(child_fd)
    if answer is not None:  # held by the terminal until the command reads it
        os.write(main_fd, answer.encode() + b"\n")
    shown = b""
    try:
        while True:
            ready, _, _ = select.select([main_fd], [], [], limit_s)
            if not ready:
                proc.kill()
                pytest.fail(f"{argv} showed nothing for {limit_s}s; so far: {shown!r}")
            try:
                chunk = os.read(main_fd, 65536)
            except OSError:  # EIO: the command exited and closed its side
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(main_fd)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return proc.wait(timeout=limit_s), shown.decode().replace("\r\n", "\n"), err


def asn(capsys, *args) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(args))
    return code, capsys.readouterr().out


def asn_json(capsys, *args):
    code, out = asn(capsys, *args, "--json")
    return code, json.loads(out)


@pytest.fixture
def certification_db(ops_env):
    settings = load("certification")
    client = connect(settings)
    yield client[settings.db_name]
    client.close()


def declare(service: str) -> None:
    topology.declare_service(load(service), topology.subscriptions_of(service, STAND_INS))


def dead_letter_directly(amqp: str, body: bytes, **headers) -> None:
    publish_raw(amqp, "certification.dlx", "", body, headers=headers)


def test_status_shows_ready_and_down_services_queue_depth_consumers_dead_letters_and_outbox_backlog(
        start, ops_env, capsys):
    amqp = ops_env["AMQP_URI"]
    start(EnrollmentStandIn)
    declare("certification")  # certification is deployed but down: its queue fills up
    for i in range(3):
        publish_event(amqp, "enrollment", "completed", completion(f"s{i}"))
    settings = load("certification")
    client = connect(settings)
    for i in range(2):  # committed while its relay is not running
        Store(client, settings).transaction(lambda tx: tx.emit("certified", f"c{i}", CERTIFIED.example))
    client.close()
    dead_letter_directly(amqp, b"{not json", **{"x-reason": "malformed", "x-original-queue": WORK_QUEUE})

    def settled():  # the management API refreshes its figures every few seconds
        code, status = asn_json(capsys, "status")
        queues = {q["queue"]: q for q in status["queues"]}
        seen = [(queues.get(name) or {}).get(key) for name, key in (
            (WORK_QUEUE, "messages"), ("certification.dlq", "messages"), ("enrollment.dlq", "messages"))]
        return (code, status) if seen == [3, 1, 0] else None
    code, status = wait_for(settled, timeout=30, interval=0.5, message="queue figures from the management API")

    assert code == 1  # something needs attention
    services = {s["service"]: s for s in status["services"]}
    assert services["enrollment"]["up"] and services["enrollment"]["ready"]
    assert services["enrollment"]["checks"] == {"store": True, "broker": True, "relay": True}
    assert services["enrollment"]["outbox"]["backlog"] == 0
    assert not services["certification"]["up"] and not services["certification"]["ready"]
    assert services["certification"]["outbox"]["backlog"] == 2
    assert services["certification"]["outbox"]["oldest_unsent_s"] >= 0
    queues = {q["queue"]: q for q in status["queues"]}
    assert queues[WORK_QUEUE] | {"publish_rate": None, "deliver_rate": None, "ack_rate": None} == {
        "queue": WORK_QUEUE, "messages": 3, "ready": 3, "unacked": 0, "consumers": 0,
        "publish_rate": None, "deliver_rate": None, "ack_rate": None}
    dead = {d["service"]: d["messages"] for d in status["dead_letters"]}
    assert dead["certification"] == 1 and dead["enrollment"] == 0
    assert status["queue_stats_from"] == "management"
    assert f"certification does not answer at http://{load('certification').http_address}" in status["problems"]
    assert "certification.dlq holds 1 message(s): asn dlq list --service certification" in status["problems"]
    assert f"{WORK_QUEUE} has 3 message(s) and no consumer" in status["problems"]

    code, text = asn(capsys, "status")
    lines = text.splitlines()
    assert lines[0] == "SERVICES"
    services_table = lines[1:lines.index("")]
    assert [line.split()[:4] for line in services_table if line.startswith("enrollment ")] == [
        ["enrollment", f"http://{load('enrollment').http_address}", "yes", "yes"]]
    assert [line.split()[:5] for line in lines if line.startswith(WORK_QUEUE)] == [[WORK_QUEUE, "3", "3", "0", "0"]]
    assert "  ! certification.dlq holds 1 message(s): asn dlq list --service certification" in lines


def test_dlq_list_and_show_give_each_dead_letter_with_its_error_attempts_and_original_queue(
        start, ops_env, capsys):
    amqp = ops_env["AMQP_URI"]
    start(CertificationStandIn)
    failing = publish_event(amqp, "enrollment", "completed", completion("d1", name="always-fail"))
    publish_raw(amqp, "enrollment.events", "completed", b"{not json")
    wait_for(lambda: queue_depth(amqp, "certification.dlq") == 2, message="two dead letters")

    code, listing = asn_json(capsys, "dlq", "list", "--service", "certification")
    assert code == 0
    assert listing["certification"]["messages"] == 2
    by_reason = {m["reason"]: m for m in listing["certification"]["shown"]}
    assert by_reason["failed"]["event_id"] == failing["id"]
    assert by_reason["failed"]["type"] == COMPLETED.type
    assert by_reason["failed"]["attempts"] == 2
    assert by_reason["failed"]["error"] == "RuntimeError: the certificate template is missing"
    assert by_reason["failed"]["original_queue"] == WORK_QUEUE
    assert by_reason["malformed"]["event_id"] is None
    assert by_reason["malformed"]["error"].startswith("body is not valid JSON")
    assert queue_depth(amqp, "certification.dlq") == 2  # looking takes nothing away

    code, text = asn(capsys, "dlq", "list", "--service", "certification")
    assert text.splitlines()[0] == "certification.dlq: 2 message(s)"
    assert any(failing["id"] in line and "failed" in line and "enrollment.completed.v1" in line
               and "WIB" in line for line in text.splitlines())

    code, text = asn(capsys, "dlq", "show", "--service", "certification", failing["id"])
    assert code == 0
    assert "RuntimeError: the certificate template is missing" in text
    assert "traceback:" in text and 'raise RuntimeError("the certificate template is missing")' in text
    assert f"original_queue  {WORK_QUEUE}" in text
    assert '"name": "always-fail"' in text
    code, shown = asn_json(capsys, "dlq", "show", "--service", "certification", f"#{by_reason['malformed']['position']}")
    assert shown[0]["body"] == "{not json"
    assert queue_depth(amqp, "certification.dlq") == 2

    code = main(["dlq", "show", "--service", "certification", "no-such-event"])
    assert code == 2
    assert "not in certification.dlq: no-such-event" in capsys.readouterr().err


def test_dlq_replay_puts_a_dead_letter_back_on_its_queue_with_fresh_attempts_and_it_is_applied_once(
        start, ops_env, capsys, certification_db):
    amqp = ops_env["AMQP_URI"]
    start(CertificationStandIn)
    certification_db.switches.insert_one({"_id": "templates-missing"})
    event = publish_event(amqp, "enrollment", "completed", completion("r1"))
    wait_for(lambda: queue_depth(amqp, "certification.dlq") == 1, message="dead-lettered")
    assert certification_db.deliveries.count_documents({"event_id": event["id"]}) == 2

    # replayed while the cause is not fixed: it gets all its attempts again, then returns
    code, result = asn_json(capsys, "dlq", "replay", "--service", "certification", event["id"])
    assert code == 0 and [r["to_queue"] for r in result["replayed"]] == [WORK_QUEUE]
    wait_for(lambda: certification_db.deliveries.count_documents({"event_id": event["id"]}) == 4,
             message="two more attempts")
    wait_for(lambda: queue_depth(amqp, "certification.dlq") == 1, message="back in the DLQ")
    code, [shown] = asn_json(capsys, "dlq", "show", "--service", "certification", event["id"])
    assert shown["replays"] == 1 and shown["attempts"] == 2

    certification_db.switches.delete_many({})  # the operator fixed the cause
    code, text = asn(capsys, "dlq", "replay", "--service", "certification", "--all")
    assert code == 0
    assert f"replayed {event['id']} -> {WORK_QUEUE}" in text
    wait_for(lambda: certification_db.certificates.count_documents({"enrolment_id": "r1"}) == 1, message="applied")
    assert queue_depth(amqp, "certification.dlq") == 0
    assert certification_db.processed_events.count_documents({"event_id": event["id"]}) == 1


def test_dlq_replay_leaves_a_message_without_an_original_queue_in_the_dlq(ops_env, capsys):
    amqp = ops_env["AMQP_URI"]
    declare("certification")
    dead_letter_directly(amqp, b'{"hand": "made"}')
    code = main(["dlq", "replay", "--service", "certification", "1"])
    assert code == 1
    assert "has no x-original-queue header" in capsys.readouterr().out
    assert queue_depth(amqp, "certification.dlq") == 1


def test_dlq_purge_deletes_only_after_the_operator_confirms(ops_env, capsys):
    amqp = ops_env["AMQP_URI"]
    declare("certification")
    for _ in range(2):
        dead_letter_directly(amqp, b"{not json", **{"x-reason": "malformed"})
    wait_for(lambda: queue_depth(amqp, "certification.dlq") == 2)

    # off a terminal (a script, a Job) nobody can answer: refused, no prompt, no traceback
    refused = subprocess.run([ASN, "dlq", "purge", "--service", "certification"], input="y\n",
                             capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr == ("asn: dlq purge deletes every message in certification.dlq for good; pass --yes to "
                              "confirm (stdin is not a terminal, so asn cannot ask)\n")
    assert queue_depth(amqp, "certification.dlq") == 2

    # at a terminal it asks (Python's input() writes the prompt to stderr when both ends are a
    # terminal), and a no keeps everything
    question = "Delete all 2 message(s) in certification.dlq? This cannot be undone. [y/N] "
    code, out, err = on_terminal([ASN, "dlq", "purge", "--service", "certification"], answer="n")
    assert code == 2
    assert err == question + "nothing purged\n"
    assert queue_depth(amqp, "certification.dlq") == 2

    code, out, err = on_terminal([ASN, "dlq", "purge", "--service", "certification"], answer="y")
    assert code == 0 and "purged 2 message(s) from certification.dlq" in out and err == question
    assert queue_depth(amqp, "certification.dlq") == 0

    dead_letter_directly(amqp, b"{not json")
    wait_for(lambda: queue_depth(amqp, "certification.dlq") == 1)
    confirmed = subprocess.run([ASN, "dlq", "purge", "--service", "certification", "--yes"],
                               stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
                               env=dict(os.environ))
    assert (confirmed.returncode, confirmed.stdout, confirmed.stderr) == (
        0, "purged 1 message(s) from certification.dlq\n", "")
    assert queue_depth(amqp, "certification.dlq") == 0
    assert asn_json(capsys, "dlq", "purge", "--service", "certification", "--yes") == (
        0, {"queue": "certification.dlq", "purged": 0})


def test_events_tail_prints_live_events_from_every_exchange_filtered_by_nip_type_and_agency(ops_env):
    amqp = ops_env["AMQP_URI"]
    nip, other = "199001012015031004", "198503122010011002"

    def tail(*filters: str) -> subprocess.Popen:
        return subprocess.Popen([ASN, "events", "tail", "--timeout", "60", "--json", *filters],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))

    by_nip = tail("--nip", nip, "--count", "2")
    by_type_and_agency = tail("--type", "completed", "--agency", "dinkes", "--count", "1")
    everything = tail("--count", "4")
    for proc in (by_nip, by_type_and_agency, everything):
        assert "listening on enrollment.events" in proc.stderr.readline()

    enrolled = publish_event(amqp, "enrollment", "enrolled", {
        **registry_example("enrollment", "enrolled"),
        "participant": {**completion("t1")["participant"], "nip": nip}})
    other_done = publish_event(amqp, "enrollment", "completed", completion("t2", nip=other, agency="DINKES"))
    done = publish_event(amqp, "enrollment", "completed", completion("t3", nip=nip))
    certified = publish_event(amqp, "certification", "certified", {
        **CERTIFIED.example, "holder": {**CERTIFIED.example["holder"], "nip": nip}})

    def ids(proc) -> list[str]:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        return [json.loads(line)["event"]["id"] for line in out.splitlines()]

    # each publish is its own connection: arrival order between them is not guaranteed
    assert sorted(ids(by_nip)) == sorted([enrolled["id"], done["id"]])
    assert ids(by_type_and_agency) == [other_done["id"]]
    assert sorted(ids(everything)) == sorted([enrolled["id"], other_done["id"], done["id"], certified["id"]])


def registry_example(service: str, name: str) -> dict:
    from shared.events import registry
    return registry.latest(service, name).example


def test_events_tail_shows_a_readable_line_per_event_in_wib(ops_env):
    amqp = ops_env["AMQP_URI"]
    proc = subprocess.Popen([ASN, "events", "tail", "--count", "1", "--timeout", "60"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    assert "listening" in proc.stderr.readline()
    event = publish_event(amqp, "enrollment", "completed", completion("w1", agency="DISKOMINFO"), subject="w1")
    out, _ = proc.communicate(timeout=60)
    [line] = out.splitlines()
    when = event["time"]  # UTC; the line shows WIB, seven hours later, as the platform writes it
    assert line.split("  ")[:4] == [_wib(when), "enrollment.completed", "subject=w1", "nip=198503122010011002"]
    assert f"agency=DISKOMINFO  id={event['id']}" in line


def _wib(utc: str) -> str:
    """``5 Maret 2026 16.30 WIB`` (shared.timefmt.stamp_id)."""
    from datetime import datetime, timedelta

    from shared.timefmt import month_name_id
    local = datetime.fromisoformat(utc.replace("Z", "+00:00")) + timedelta(hours=7)
    return f"{local.day} {month_name_id(local.month)} {local.year} {local:%H.%M} WIB"


def test_replay_republishes_a_producers_event_log_in_order_into_a_named_queue(start, ops_env, capsys):
    from kombu import Connection, Queue, binding

    from shared import topology
    from tests.support import get_messages

    amqp = ops_env["AMQP_URI"]
    start(EnrollmentStandIn)
    declare("certification")  # a subscriber, so the events are routed when first published
    settings = load("enrollment")
    client = connect(settings)
    db = client[settings.db_name]
    written = [Store(client, settings).transaction(lambda tx: tx.emit("completed", f"h{i}", completion(f"h{i}")))
               for i in range(5)]
    wait_for(lambda: db.outbox.count_documents({"sent": True}) == 5, message="published")
    with Connection(amqp) as conn:  # a replay reaches a queue bound to the producer's replay exchange
        Queue("rebuild.reporting", durable=True, bindings=[
            binding(topology.replay_exchange("enrollment"), routing_key="rebuild.reporting")])(conn.channel()).declare()

    code, result = asn_json(capsys, "replay", "--queue", "rebuild.reporting", "--service", "enrollment")
    assert code == 0
    assert result == {"queue": "rebuild.reporting", "results": [{"service": "enrollment", "replayed": 5}]}
    messages = get_messages(amqp, "rebuild.reporting", 5)
    assert [json.loads(m.body) for m in messages] == written  # same events, same ids, oldest first
    assert all(m.headers["x-replayed"] is True for m in messages)
    assert queue_depth(amqp, WORK_QUEUE) == 5  # the live subscribers got nothing extra

    code, text = asn(capsys, "replay", "--queue", "no.such.queue", "--service", "enrollment",
                     "--service", "notification")
    assert code == 1
    row = {line.split()[0]: line for line in text.splitlines()}
    assert "enrollment answered 409" in row["enrollment"] and "enrollment.replay" in row["enrollment"]
    assert "notification did not answer" in row["notification"]
    client.close()


def test_replay_without_a_queue_rebuilds_reportings_read_models_from_the_producers_event_logs(
        start, ops_env, capsys):
    import requests

    from services.reporting.service import ReportingService
    from tests.integration.ops.conftest import url
    from tests.support import auth_headers

    start(CertificationStandIn)
    start(EnrollmentStandIn)
    start(ReportingService)
    nip = "199203152019032008"
    for i in range(3):
        response = requests.post(url("enrollment", "/completions"), timeout=10,
                                 json={"enrolment_id": f"j{i}", "nip": nip, "name": "Dewi Lestari"})
        assert response.status_code == 201

    def ledger():
        response = requests.get(url("reporting", f"/ledger/{nip}?year=2026"), timeout=10, headers=auth_headers())
        if response.status_code != 200:
            return None
        [year] = response.json()["years"]
        certified = [e for e in year["entries"] if e["certificate_number"]]
        # events arrive in any order: wait for all six (3 × 32 JP, each certified)
        return response.json() if len(certified) == 3 and year["jp_total"] == 96 else None
    live = wait_for(ledger, timeout=30, message="reporting's ledger of the three certified completions")

    code, summary = asn_json(capsys, "replay")
    assert code == 0
    assert summary["generation"] == 2 and summary["previous_generation"] == 1
    assert summary["events"] == 6  # 3 completed from enrollment, 3 certified from certification
    assert ledger() == live  # the rebuilt read model says what the live one said

    code, text = asn(capsys, "replay")
    lines = text.splitlines()
    # not a terminal: what it waited for as a plain line, no bar
    assert lines[:2] == ["rebuilding reporting's read models from the producers' event logs",
                         "reporting's read models rebuilt from the producers' event logs"]
    assert lines[3].split()[:3] == ["3", "2", "6"]


# -- the command line as a shell and a script see it ----------------------------------------

PYTHON_M = [sys.executable, "-m", "deploy.asn"]  # what the image's `asn` runs
ESCAPE = "\x1b["


def piped(argv: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ) if env is None else env)


def test_version_is_the_projects_and_nothing_is_written_to_stderr():
    with open(Path(__file__).resolve().parents[3] / "pyproject.toml", "rb") as f:
        expected = tomllib.load(f)["project"]["version"]
    for argv in ([ASN, "--version"], PYTHON_M + ["--version"]):
        done = piped(argv)
        assert (done.returncode, done.stdout, done.stderr) == (0, f"asn {expected}\n", "")


def test_real_commands_write_no_warning_to_stderr(ops_env):
    # the console script and python -m deploy.asn import the services' modules, and with them
    # eventlet, which prints a deprecation warning on import unless the CLI silences it
    declare("certification")
    listed = piped([ASN, "dlq", "list", "--service", "certification", "--json"])
    assert (listed.returncode, listed.stderr) == (0, "")
    assert json.loads(listed.stdout)["certification"]["messages"] == 0
    checked = piped(PYTHON_M + ["status", "--service", "enrollment", "--json"])
    assert checked.stderr == ""
    assert checked.returncode == 1  # enrollment is not running here: a problem found
    assert f"enrollment does not answer at http://{load('enrollment').http_address}" in json.loads(
        checked.stdout)["problems"]


def test_exit_status_tells_a_usage_error_from_a_problem_found_from_success(ops_env):
    amqp = ops_env["AMQP_URI"]
    declare("certification")
    dead_letter_directly(amqp, b'{"hand": "made"}')  # no x-original-queue: cannot be replayed
    wait_for(lambda: queue_depth(amqp, "certification.dlq") == 1)

    ok = piped([ASN, "dlq", "list", "--service", "certification"])
    assert ok.returncode == 0 and ok.stdout.startswith("certification.dlq: 1 message(s)")

    for argv, says in (([ASN, "dlq", "purge"], "the following arguments are required: --service"),
                       ([ASN, "dlq", "replay", "--service", "certification"],
                        "asn: name the messages to replay (event id or #position) or pass --all"),
                       ([ASN, "dlq", "show", "--service", "certification", "no-such-event"],
                        "asn: not in certification.dlq: no-such-event")):
        usage = piped(argv)
        assert usage.returncode == 2, argv
        assert says in usage.stderr and "Traceback" not in usage.stderr

    failed = piped([ASN, "dlq", "replay", "--service", "certification", "--all"])
    assert failed.returncode == 1
    assert "0 replayed, 1 left in certification.dlq" in failed.stdout

    unreachable = {**os.environ, "AMQP_URI": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}
    down = piped([ASN, "dlq", "list", "--service", "certification"], env=unreachable)
    assert down.returncode == 1
    assert down.stderr.startswith("asn: cannot reach the broker at amqp://guest@127.0.0.1:")
    assert "Traceback" not in down.stderr and "guest:guest" not in down.stderr


def test_dlq_replay_all_draws_a_bar_on_a_terminal_and_prints_plain_lines_into_a_pipe(ops_env):
    amqp = ops_env["AMQP_URI"]
    declare("certification")

    def dead_letters(n: int) -> None:
        for _ in range(n):
            dead_letter_directly(amqp, b'{"kept": true}', **{"x-original-queue": WORK_QUEUE})
        wait_for(lambda: queue_depth(amqp, "certification.dlq") == n)

    dead_letters(3)
    done = piped([ASN, "dlq", "replay", "--service", "certification", "--all"])
    assert done.returncode == 0 and done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[:4] == ["0% (0/3) replayed from certification.dlq", "30% (1/3) replayed from certification.dlq",
                         "60% (2/3) replayed from certification.dlq", "100% (3/3) replayed from certification.dlq"]
    assert lines[-1] == "3 replayed, 0 left in certification.dlq"
    assert "\r" not in done.stdout and ESCAPE not in done.stdout
    wait_for(lambda: queue_depth(amqp, WORK_QUEUE) == 3, message="back on the work queue")

    dead_letters(2)
    code, shown, err = on_terminal([ASN, "dlq", "replay", "--service", "certification", "--all"])
    assert code == 0 and err == ""
    redrawn = shown.split("\r\x1b[K")  # each frame redraws the line in place
    assert redrawn[:3] == ["", "[" + "-" * 30 + "] 0/2 replayed from certification.dlq",
                           "[" + "#" * 15 + "-" * 15 + "] 1/2 replayed from certification.dlq"]
    last = redrawn[3].splitlines()
    assert last[0] == "[" + "#" * 30 + "] 2/2 replayed from certification.dlq"
    assert last[-1] == "2 replayed, 0 left in certification.dlq"
    assert "% (" not in shown  # no plain progress lines at a terminal
    assert queue_depth(amqp, "certification.dlq") == 0


def test_replay_shows_which_producer_it_waits_for_on_a_terminal_and_plain_lines_when_piped(start, ops_env):
    from kombu import Connection, Queue, binding

    amqp = ops_env["AMQP_URI"]
    start(EnrollmentStandIn)
    with Connection(amqp) as conn:
        Queue("backfill.q", durable=True, bindings=[
            binding(topology.replay_exchange("enrollment"), routing_key="backfill.q")])(conn.channel()).declare()
    argv = [ASN, "replay", "--queue", "backfill.q", "--service", "enrollment"]

    done = piped(argv)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "0/1 producers  replaying enrollment's event log into backfill.q"
    assert "\r" not in done.stdout and ESCAPE not in done.stdout

    code, shown, err = on_terminal(argv)
    assert code == 0, err
    assert shown.startswith("\r\x1b[K[" + "-" * 30 + "] 0/1 producers  replaying enrollment's event log into "
                            "backfill.q  ")
    assert "\r\x1b[K[" + "#" * 30 + "] 1/1 producers  done\n" in shown
    assert shown.rstrip("\n").splitlines()[-1] == "0 event(s) republished into backfill.q"


def test_colour_only_on_a_terminal_and_never_with_no_color(ops_env):
    amqp = ops_env["AMQP_URI"]
    declare("certification")
    dead_letter_directly(amqp, b"{not json", **{"x-reason": "malformed"})
    wait_for(lambda: queue_depth(amqp, "certification.dlq") == 1)
    argv = [ASN, "status", "--service", "certification"]

    into_pipe = piped(argv)
    assert into_pipe.returncode == 1
    assert "PROBLEMS" in into_pipe.stdout and ESCAPE not in into_pipe.stdout

    code, shown, _ = on_terminal(argv)
    assert code == 1
    assert "\x1b[31mPROBLEMS\x1b[0m" in shown
    assert re.search(r"^certification\s+http://\S+\s+\x1b\[31mNO\x1b\[0m\s+\x1b\[31mNO\x1b\[0m", shown, re.M)
    # the columns line up as without colour: the escapes add no width
    plain_header = next(line for line in into_pipe.stdout.splitlines() if line.startswith("SERVICE "))
    assert plain_header in shown

    code, shown, _ = on_terminal(argv, env={**os.environ, "NO_COLOR": "1"})
    assert code == 1 and "PROBLEMS" in shown and ESCAPE not in shown


def test_status_without_store_credentials_skips_the_outbox_instead_of_reporting_it_unreadable(ops_env):
    # the in-cluster asn-cli pod has a broker account and no database credentials
    no_store = {**os.environ, "MONGO_URI": f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=500"}
    argv = [ASN, "status", "--service", "enrollment", "--json"]

    reading = piped(argv, env=no_store)
    assert any(p.startswith("enrollment: outbox unreadable") for p in json.loads(reading.stdout)["problems"])

    skipping = piped(argv + ["--no-outbox"], env=no_store)
    assert skipping.stderr == ""
    status = json.loads(skipping.stdout)
    assert status["services"][0]["outbox"] == {"backlog": None, "oldest_unsent_s": None, "checked": False}
    assert not any("outbox" in p for p in status["problems"])
    assert skipping.returncode == 1  # enrollment itself does not answer here: still a problem found
