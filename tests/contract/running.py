"""Run examples/subscriber.py as a separate process, and publish real events to it the way
the platform does (outbox transaction, then the relay)."""
from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from shared.events import registry
from shared.outbox import Relay
from shared.store import Store, connect
from tests.support import wait_for

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "subscriber.py"
QUEUE = "ext.bkd-sumbar.bangkom"
BINDINGS = ["enrollment.events:completed", "enrollment.events:enrolled",
            "certification.events:certified", "certification.events:revoked"]


class RunningExample:
    """The example as a separate process; its JSON lines land in a file we poll."""

    def __init__(self, amqp_uri: str, folder: Path, *extra: str, queue: str = QUEUE,
                 bindings: list[str] = BINDINGS):
        self.out = folder / f"out-{uuid.uuid4().hex[:6]}.jsonl"
        url = amqp_uri.replace("pyamqp://", "amqp://", 1)  # kombu's alias; pika knows amqp(s)://
        args = [sys.executable, str(EXAMPLE), "--url", url, "--queue", queue,
                "--state", str(folder / "state.sqlite3"), "--json", "--idle-timeout", "60", *extra]
        for b in bindings:
            args += ["--bind", b]
        self.stdout = self.out.open("w")
        self.process = subprocess.Popen(args, stdout=self.stdout, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.wait_for_outcome("listening")

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    def outcomes(self, outcome: str) -> list[dict]:
        return [r for r in self.records() if r["outcome"] == outcome]

    def wait_for_outcome(self, outcome: str, count: int = 1) -> list[dict]:
        def seen():
            if self.process.poll() is not None and len(self.outcomes(outcome)) < count:
                raise AssertionError(f"the example exited early: {self.process.stderr.read()}")
            return len(self.outcomes(outcome)) >= count
        wait_for(seen, timeout=20, message=f"{count} x {outcome} from the example")
        return self.outcomes(outcome)

    def stop(self) -> dict:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        assert self.process.wait(timeout=15) == 0, self.process.stderr.read()
        self.stdout.close()
        return self.outcomes("stopped")[-1]


def publish_through_outbox(settings, emits: list[tuple[str, str, dict]]) -> list[dict]:
    """Commit events the way a service does (outbox in a transaction), then run its relay."""
    client = connect(settings)
    try:
        events = Store(client, settings).transaction(
            lambda tx: [tx.emit(name, subject, data) for name, subject, data in emits])
    finally:
        client.close()
    relay = Relay(settings, holder=f"test-{uuid.uuid4().hex[:6]}")
    try:
        assert relay.flush() == len(emits)
        assert relay.unroutable == 0  # the example's queue is bound to every one of them
    finally:
        relay.lease.release()  # as a relay does at shutdown: the next one may publish at once
        relay.close()
        relay.client.close()
    return events


def example(service: str, name: str, **changes) -> dict:
    data = copy.deepcopy(registry.latest(service, name).example)
    data.update(changes)
    return data
