"""Record the schema snapshots of the published event versions, deliberately.

    python -m tests.contract.refresh_snapshots                 # new versions + compatible changes
    python -m tests.contract.refresh_snapshots --accept-breaking TYPE   # overwrite a breaking one

A breaking change to a published version is refused (exit 1) unless named with
``--accept-breaking``: use that only for a version that never reached a subscriber.
Snapshots of versions no longer in the registry are kept; delete their files by hand.
"""
from __future__ import annotations

import argparse
import sys

from shared.events import registry
from tests.contract.compat import SNAPSHOT_DIR, check, load_snapshots, write_snapshot


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accept-breaking", action="append", default=[], metavar="TYPE",
                        help="overwrite the snapshot of this event type despite a breaking change")
    args = parser.parse_args(argv)

    definitions = registry.all_definitions()
    report = check(definitions, load_snapshots())
    by_type = {d.type: d for d in definitions}
    refused = 0
    for event_type in report.missing:
        print(f"new       {write_snapshot(by_type[event_type]).relative_to(SNAPSHOT_DIR.parent.parent.parent)}")
    for event_type in report.changed:
        write_snapshot(by_type[event_type])
        print(f"updated   {event_type} (compatible change)")
    for event_type, problems in report.breaking.items():
        if event_type in args.accept_breaking:
            write_snapshot(by_type[event_type])
            print(f"OVERWROTE {event_type} despite: {'; '.join(problems)}")
        else:
            refused += 1
            print(f"REFUSED   {event_type}: {'; '.join(problems)}", file=sys.stderr)
    for event_type in report.removed:
        print(f"kept      {event_type} (no longer in the registry; delete its file if agreed)")
    if refused:
        print("publish breaking changes as a new major version, or pass --accept-breaking TYPE",
              file=sys.stderr)
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
