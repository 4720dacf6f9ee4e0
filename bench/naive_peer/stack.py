"""The naive peer's four services as processes (``python -m services --module``), like
``deploy.launcher.Stack`` for the platform."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import requests
from kombu import Connection

from deploy.processes import free_port, spawn, stop_all, tail, wait_until
from shared.config import SERVICES

ROOT = Path(__file__).resolve().parents[2]
MODULE = "bench.naive_peer.services"


class NaiveStack:
    def __init__(self, *, mongo_uri: str, amqp_uri: str, db_prefix: str, log_dir: Path,
                 extra_env: dict | None = None, ready_timeout: float = 120.0):
        self.mongo_uri, self.amqp_uri, self.db_prefix = mongo_uri, amqp_uri, db_prefix
        self.log_dir = Path(log_dir)
        self.extra_env = dict(extra_env or {})
        self.ready_timeout = ready_timeout
        self.ports = {s: free_port() for s in SERVICES}
        self.procs = {}

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def pid(self, service: str) -> int | None:
        proc = self.procs.get(service)
        return proc.pid if proc is not None and proc.poll() is None else None

    def env(self, service: str) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.endswith(("AMQP_URI", "MONGO_URI", "HTTP_ADDRESS"))}
        env.update(AMQP_URI=self.amqp_uri, MONGO_URI=self.mongo_uri, MONGO_DB_PREFIX=self.db_prefix,
                   HTTP_ADDRESS=f"127.0.0.1:{self.ports[service]}", PYTHONUNBUFFERED="1",
                   PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p))
        env.update(self.extra_env)
        return env

    def start(self) -> "NaiveStack":
        from bench.naive_peer.services import QUEUES

        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            for service in SERVICES:
                self.procs[service] = spawn([sys.executable, "-m", "services", service, "--module", MODULE],
                                            log_path=self.log_dir / f"{service}.log", env=self.env(service), cwd=ROOT)
            for service in SERVICES:
                if not wait_until(lambda: self._ready(service), self.ready_timeout, alive=self.procs[service]):
                    raise RuntimeError(f"naive {service} did not start:\n{tail(self.log_dir / f'{service}.log')}")
            # nameko declares its event queues as the consumers start; an event dispatched
            # before that would vanish (the stock dispatcher publishes without mandatory).
            queues = [q for names in QUEUES.values() for q in names]
            if not wait_until(lambda: all(self._queue_exists(q) for q in queues), 60):
                raise RuntimeError("the naive peer's event queues were not declared")
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self, service: str) -> bool:
        try:
            return requests.get(self.url(service) + "/health/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def _queue_exists(self, name: str) -> bool:
        try:
            with Connection(self.amqp_uri, connect_timeout=5) as conn:
                conn.channel().queue_declare(name, passive=True)
            return True
        except Exception:  # noqa: BLE001 - not declared yet
            return False

    def stop(self) -> None:
        stop_all(list(self.procs.values()), 20)
