"""Run one service as a process (``python -m services <service>`` calls ``main`` with the
services' class lookup; shared/ itself never imports services/).

Reads the environment (shared.config), declares the service's broker topology, starts
the nameko container and stops it gracefully on SIGTERM/SIGINT: consumers stop, in-flight
workers finish, the outbox is flushed, then the process exits.
"""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402 - must precede every other import

import argparse  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

from nameko.runners import ServiceRunner  # noqa: E402

from shared import logging as jsonlog  # noqa: E402
from shared import topology  # noqa: E402
from shared.config import DEPLOYABLES, SERVICES, load  # noqa: E402
from typing import Callable  # noqa: E402

log = logging.getLogger("shared.runner")


def declare_topology(settings, service_cls, deadline_s: float = 60.0) -> None:
    """Declare queues before consuming; waits for the broker (it may still be starting)."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            topology.declare_service(settings, topology.handled_by(service_cls))
            return
        except Exception as exc:  # noqa: BLE001 - broker not up yet
            if time.monotonic() > end:
                raise
            log.warning("broker not reachable yet (%s); retrying", exc)
            time.sleep(1.0)


def main(argv: list[str] | None = None, *, find_class: Callable[[str, str | None], type],
         prog: str = "python -m services") -> int:
    """Run the service named on the command line; ``find_class(name, module)`` finds its class."""
    parser = argparse.ArgumentParser(prog=prog, description="Run one service.")
    parser.add_argument("service", choices=DEPLOYABLES)
    parser.add_argument("--module", help="import the service class from this module instead of the "
                                         "service's own (test-only services)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    settings = load(args.service)
    jsonlog.configure(settings.service, settings.log_level)
    service_cls = find_class(settings.service, args.module)
    if settings.service in SERVICES:  # the portal consumes and publishes no events
        declare_topology(settings, service_cls)
    runner = ServiceRunner(settings.nameko_config())
    runner.add_service(service_cls)

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

