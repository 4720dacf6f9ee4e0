"""``python -m services <name> [--module M]``: run one service as its own process
(shared.runner: topology first, graceful stop on SIGTERM)."""
from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # noqa: E402 - must precede every other import

import sys  # noqa: E402

from shared import runner  # noqa: E402

import services  # noqa: E402

if __name__ == "__main__":
    sys.exit(runner.main(find_class=services.service_class, prog="python -m services"))
