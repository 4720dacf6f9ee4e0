"""Run one service: ``python -m shared.runner <service>``.

Reads the environment (shared.config), declares the service's broker topology, starts
the nameko container and stops it gracefully on SIGTERM/SIGINT: consumers stop, in-flight
workers finish, the outbox is flushed, then the process exits.
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402 - must precede every other import

import importlib  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from nameko.runners import ServiceRunner  # noqa: E402

from shared import logging as jsonlog  # noqa: E402
from shared import topology  # noqa: E402
from shared.config import load  # noqa: E402

log = logging.getLogger("shared.runner")


def service_class(service: str):
    module = importlib.import_module(f"services.{service}.service")
    for obj in vars(module).values():
        if isinstance(obj, type) and getattr(obj, "name", None) == service:
            return obj
    raise LookupError(f"services.{service}.service defines no nameko service named {service!r}")


def declare_topology(settings, deadline_s: float = 60.0) -> None:
    """Declare queues before consuming; waits for the broker (it may still be starting)."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            topology.declare_service(settings)
            return
        except Exception as exc:  # noqa: BLE001 - broker not up yet
            if time.monotonic() > end:
                raise
            log.warning("broker not reachable yet (%s); retrying", exc)
            time.sleep(1.0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m shared.runner <enrollment|certification|notification|reporting>", file=sys.stderr)
        return 2
    settings = load(argv[0])
    jsonlog.configure(settings.service, settings.log_level)
    declare_topology(settings)
    runner = ServiceRunner(settings.nameko_config())
    runner.add_service(service_class(settings.service))

    def shutdown(signum, frame):
        log.info("signal %s received: stopping gracefully", signum)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM kills at once
        eventlet.spawn_n(runner.stop)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    runner.start()
    log.info("%s started on http://%s", settings.service, settings.http_address)
    runner.wait()
    log.info("%s stopped", settings.service)
    return 0


if __name__ == "__main__":
    sys.exit(main())
