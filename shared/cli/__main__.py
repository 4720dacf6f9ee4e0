"""``python -m shared.cli ...``: the commands without the services' subscription tables (shared/
never imports services/). ``asn`` (deploy/asn.py, also in the image) loads them first, which
`asn status` needs to know the platform's queues when the management API is out of reach."""
import sys

from shared.cli import main

if __name__ == "__main__":
    sys.exit(main())
