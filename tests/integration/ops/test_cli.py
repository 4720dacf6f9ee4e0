"""The `asn` operator CLI against the real broker (and its management API) and store."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared import topology
from shared.cli import main
from shared.config import load
from shared.store import Store, connect
from tests.integration.ops.services_under_test import (CERTIFIED, COMPLETED, CertificationStandIn,
                                                       EnrollmentStandIn, completion)
from tests.support import publish_event, publish_raw, queue_depth, wait_for

ASN = str(Path(sys.executable).parent / "asn")
STAND_INS = "tests.integration.ops.services_under_test"
WORK_QUEUE = "certification.enrollment.completed"


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


def test_dlq_purge_deletes_only_after_the_operator_confirms(ops_env, capsys, monkeypatch):
    amqp = ops_env["AMQP_URI"]
    declare("certification")
    for _ in range(2):
        dead_letter_directly(amqp, b"{not json", **{"x-reason": "malformed"})
    wait_for(lambda: queue_depth(amqp, "certification.dlq") == 2)

    declined = subprocess.run([ASN, "dlq", "purge", "--service", "certification"], input="n\n",
                              capture_output=True, text=True, timeout=60, env=dict(os.environ))
    assert declined.returncode == 1
    assert "Delete all 2 message(s) in certification.dlq? This cannot be undone. [y/N]" in declined.stdout
    assert "nothing purged" in declined.stderr
    assert queue_depth(amqp, "certification.dlq") == 2

    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    code, text = asn(capsys, "dlq", "purge", "--service", "certification")
    assert code == 0 and "purged 2 message(s) from certification.dlq" in text
    assert queue_depth(amqp, "certification.dlq") == 0

    dead_letter_directly(amqp, b"{not json")
    wait_for(lambda: queue_depth(amqp, "certification.dlq") == 1)
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("--yes must not ask"))
    assert asn_json(capsys, "dlq", "purge", "--service", "certification", "--yes") == (
        0, {"queue": "certification.dlq", "purged": 1})


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
    assert text.splitlines()[0] == "reporting's read models rebuilt from the producers' event logs"
    assert text.splitlines()[2].split()[:3] == ["3", "2", "6"]
