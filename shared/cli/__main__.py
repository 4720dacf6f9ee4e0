"""``python -m shared.cli ...`` (the ``asn`` console script is deploy.asn)."""
import sys

from shared.cli import main

if __name__ == "__main__":
    sys.exit(main())
