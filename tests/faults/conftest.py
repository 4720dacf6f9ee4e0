"""Fixtures of the fault suite: the services as real processes, a real SMTP server, figures.

Every scenario starts the services it needs with ``deploy.launcher.Stack`` against the
module's RabbitMQ vhost and a store (the session SecantusDB, or one of its own when the
scenario stops the store), breaks something, and writes what it measured to
``tests/artifacts/faults/<scenario>.json``; ``python tests/faults/report.py`` turns those
files into the table of docs/reliability.md.
"""
from __future__ import annotations

import json
import os
import secrets
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from deploy.launcher import Stack, free_ports
from tests.faults.harness import Platform, SmtpSink

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "faults"

# Settings every fault stack runs with, and why:
BASE_ENV = {
    "LOG_LEVEL": "INFO",
    # Publish soon after a commit; the relay is also woken by each commit.
    "RELAY_POLL_INTERVAL_S": "0.2",
    # The tests run at any hour: no quiet hours holding emails back until 06:00 WIB.
    "NOTIFICATION_QUIET_HOURS": "00:00-00:00",
    "NOTIFICATION_DELIVERY_POLL_INTERVAL_S": "0.2",
    # A killed notification replica's claims expire after this; production keeps 120 s.
    "NOTIFICATION_DELIVERY_CLAIM_LEASE_S": "5",
    "NOTIFICATION_DELIVERY_CONCURRENCY": "8",
    # Reporting's projections update shared counter documents; with concurrent workers they
    # conflict and retry until the transaction deadline, and a burst crawls (see the
    # report). One worker applies them without conflicts.
    "REPORTING_MAX_WORKERS": "1",
}


@pytest.fixture
def smtp(tmp_path):
    sink = SmtpSink(tmp_path).start()
    yield sink
    sink.stop()


@pytest.fixture
def launch(service_env, tmp_path):
    """``with launch(services, store_uri=..., env=...) as platform:`` — a Stack of real processes."""

    @contextmanager
    def _launch(services, *, store_uri: str | None = None, env: dict | None = None, smtp: SmtpSink | None = None):
        extra = {**BASE_ENV, **(smtp.env() if smtp else {}), **(env or {})}
        stack = Stack(mongo_uri=store_uri or service_env["MONGO_URI"], amqp_uri=service_env["AMQP_URI"],
                      db_prefix=f"{service_env['MONGO_DB_PREFIX']}{secrets.token_hex(3)}_", services=services,
                      ports=free_ports(services), log_dir=tmp_path / "logs", extra_env=extra, ready_timeout=30)
        stack.start()
        platform = Platform(stack, smtp)
        try:
            yield platform
        finally:
            platform.close()
            stack.stop()

    return _launch


@pytest.fixture
def figures(request):
    """``figures(name, title, row, details)``: print a scenario's figures and keep them as JSON."""

    def record(name: str, title: str, row: dict, details: dict) -> dict:
        document = {"scenario": name, "title": title, "test": request.node.nodeid, "row": row,
                    "details": details, "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "cores": os.cpu_count()}
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"{name}.json").write_text(json.dumps(document, indent=2, ensure_ascii=False))
        print(f"\n=== {title} ===")
        for key, value in row.items():
            print(f"  {key}: {value}")
        for key, value in details.items():
            print(f"  {key}: {json.dumps(value, ensure_ascii=False)}")
        return document

    return record
