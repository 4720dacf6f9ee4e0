"""``python -m shared.cli ...``: the ``asn`` command where the console script is not installed,
as in the image, which runs the project from source (deploy/docker/Dockerfile copies shared/
and services/, not deploy/ where the ``asn`` entry point lives). It loads the services'
subscription tables first, as ``deploy.asn`` does: `asn status` derives the platform's queues
from them when the management API is out of reach."""
import sys

from shared.cli import main  # first: it silences eventlet's import-time warning


def run(argv: list[str] | None = None) -> int:
    try:
        import services
    except ImportError:  # shared/ alone: the commands that need no topology still work
        pass
    else:
        services.load_subscriptions()
    return main(argv)


if __name__ == "__main__":
    sys.exit(run())
