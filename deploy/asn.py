"""The ``asn`` operator command (the console script of pyproject.toml): loads the services'
subscription tables (the topology the CLI inspects is derived from them), then runs
``shared.cli``. In the image, where deploy/ is not copied, ``python -m shared.cli`` does the
same (shared/cli/__main__.py)."""
from __future__ import annotations

import sys

from shared.cli.__main__ import run


def main(argv: list[str] | None = None) -> int:
    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
