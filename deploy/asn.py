"""The ``asn`` operator command: loads the services' subscription tables (the topology the
CLI inspects is derived from them), then runs ``shared.cli``."""
from __future__ import annotations

import sys

import services
from shared import cli


def main(argv: list[str] | None = None) -> int:
    services.load_subscriptions()
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
