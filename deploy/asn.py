"""The ``asn`` operator command (the console script of pyproject.toml, and the image's ``asn``):
loads the services' subscription tables (the topology the CLI inspects is derived from them),
then runs ``shared.cli``. It lives here, not in shared/, because shared/ never imports the
services (tests/unit/test_shape.py); the image copies this module beside shared/ and services/."""
from __future__ import annotations

import sys

from shared.cli import main as cli_main  # first: it silences eventlet's import-time warning


def main(argv: list[str] | None = None) -> int:
    try:
        import services
    except ImportError:  # shared/ alone: the commands that need no topology still work
        pass
    else:
        services.load_subscriptions()
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
