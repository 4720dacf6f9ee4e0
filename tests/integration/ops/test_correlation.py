"""One correlation id from an HTTP request through the outbox, the broker and a consumer
in another service into the events it emits, and into every JSON log line on the way:
two services run as real processes, and one `grep` of their logs finds the whole story."""
from __future__ import annotations

import json
import os
import sys

import pytest
import requests
from kombu import Connection, Exchange, Queue

from deploy.processes import spawn, stop_all, tail
from shared.config import load
from tests.integration.ops.conftest import fresh_env, url
from tests.support import get_messages, wait_for

STAND_INS = "tests.integration.ops.services_under_test"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


@pytest.fixture(scope="module")
def env(service_env) -> dict:
    return fresh_env(service_env)


@pytest.fixture(scope="module")
def running(env, tmp_path_factory):
    """enrollment and certification stand-ins as processes, as `python -m services` runs them."""
    procs, logs, logdir = [], {}, tmp_path_factory.mktemp("logs")
    for service in ("certification", "enrollment"):
        logs[service] = logdir / f"{service}.log"
        procs.append(spawn([sys.executable, "-m", "services", service, "--module", STAND_INS],
                           log_path=logs[service], env={**os.environ, **env, "LOG_LEVEL": "INFO"}, cwd=ROOT))
    for service, proc in zip(("certification", "enrollment"), procs):
        def ready(service=service, proc=proc):
            assert proc.poll() is None, f"{service} exited:\n{tail(logs[service])}"
            try:
                return requests.get(url(service, "/health/ready", env), timeout=2).status_code == 200
            except requests.ConnectionError:
                return False
        wait_for(ready, timeout=60, interval=0.2, message=f"{service} ready")
    yield logs
    stop_all(procs)


def log_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_one_correlation_id_follows_a_completion_from_http_to_the_certificate_event_and_every_log_line(
        running, env):
    amqp = env["AMQP_URI"]
    with Connection(amqp) as conn:  # a subscriber of certification's events, like any other system
        Queue("observer.certified", Exchange("certification.events", "topic", durable=True),
              routing_key="certified", durable=True)(conn.channel()).declare()

    response = requests.post(url("enrollment", "/completions", env), json={"enrolment_id": "k1"},
                             headers={"X-Correlation-ID": "trace-bkt-0042"}, timeout=10)
    assert response.status_code == 201
    assert response.headers["X-Correlation-ID"] == "trace-bkt-0042"
    completed_id = response.json()["event_id"]

    [message] = get_messages(amqp, "observer.certified", 1)
    certified = json.loads(message.body)
    assert certified["data"]["enrolment_id"] == "k1"
    assert certified["correlationid"] == "trace-bkt-0042"
    assert message.headers["correlation_id"] == "trace-bkt-0042"

    # `grep trace-bkt-0042` over both services' logs
    def traced():
        lines = [line for service in ("enrollment", "certification") for line in log_lines(running[service])
                 if "trace-bkt-0042" in json.dumps(line)]
        return lines if any(line["service"] == "certification" for line in lines) else None
    lines = wait_for(traced, message="the certification log line")
    assert {(line["service"], line["message"]) for line in lines} >= {
        ("enrollment", "completion recorded for enrolment k1"),
        ("certification", f"certificate {certified['subject']} issued for enrolment k1"),
    }
    assert all(line["correlation_id"] == "trace-bkt-0042" for line in lines)
    [handled] = [line for line in lines if line["service"] == "certification"]
    assert handled["event_id"] == completed_id
    assert handled["event_type"] == "id.go.bkn.bangkom.enrollment.completed.v1"


def test_a_request_without_a_correlation_id_gets_one_that_still_flows_to_the_consumer(running, env):
    amqp = env["AMQP_URI"]
    with Connection(amqp) as conn:
        Queue("observer.certified.2", Exchange("certification.events", "topic", durable=True),
              routing_key="certified", durable=True)(conn.channel()).declare()

    response = requests.post(url("enrollment", "/completions", env), json={"enrolment_id": "k2"}, timeout=10)
    assert response.status_code == 201
    generated = response.headers["X-Correlation-ID"]
    assert len(generated) == 36  # a fresh UUID

    [message] = get_messages(amqp, "observer.certified.2", 1)
    assert json.loads(message.body)["correlationid"] == generated
    wait_for(lambda: any(line.get("correlation_id") == generated for line in log_lines(running["certification"])),
             message="the consumer's log line")
