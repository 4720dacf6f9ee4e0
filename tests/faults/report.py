"""Write the figures of the last fault-suite run into docs/reliability.md.

    python tests/faults/report.py

Each scenario of tests/faults writes ``tests/artifacts/faults/<scenario>.json``; this script
renders them as the table between the ``figures`` markers of docs/reliability.md and leaves
the rest of the page alone.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "faults"
DOC = ROOT / "docs" / "reliability.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"
ORDER = ("consumer-crash", "producer-crash", "broker-restart", "store-outage", "poison-input")
COMMON = ("completions", "events_sent", "applied", "lost", "duplicate_effects", "recovery_s")
# How an "also measured" figure reads when its key alone would mislead: a resent email carries
# the Message-ID of its first copy (mail systems drop it) and is allowed; a distinct duplicate
# (another Message-ID for one email) is counted in "duplicate effects" and must be 0.
LABELS = {"email_resends": "email copies with the same Message-ID (allowed, dropped by mail systems)",
          "email_distinct_duplicates": "distinct duplicate emails (must be 0)"}


def _value(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def render(documents: list[dict]) -> str:
    lines = ["| scenario | burst | events sent | applied | lost | duplicate effects | recovery (s) | also measured |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for doc in documents:
        row = doc["row"]
        extra = "; ".join(f"{LABELS.get(k, k.replace('_', ' '))}: {_value(v)}" for k, v in row.items()
                          if k not in COMMON)
        lines.append("| " + " | ".join([
            doc["title"], _value(row.get("completions", "")), _value(row.get("events_sent", "")),
            _value(row.get("applied", "")), _value(row.get("lost", "")), _value(row.get("duplicate_effects", "")),
            _value(row.get("recovery_s", "")), extra]) + " |")
    recorded = sorted({d["recorded_at"] for d in documents})
    lines += ["", f"Recorded {recorded[0]} – {recorded[-1]} (UTC) on {documents[0]['cores']} cores, "
              "by `python -m pytest -s tests/faults` and `python tests/faults/report.py`; "
              "the full figures of each run are in `tests/artifacts/faults/<scenario>.json`."]
    return "\n".join(lines)


def main() -> int:
    documents = [json.loads((ARTIFACTS / f"{name}.json").read_text())
                 for name in ORDER if (ARTIFACTS / f"{name}.json").exists()]
    if not documents:
        print(f"no figures in {ARTIFACTS}: run `python -m pytest -s tests/faults` first", file=sys.stderr)
        return 1
    page = DOC.read_text()
    if START not in page or END not in page:
        print(f"{DOC} has no {START} ... {END} block", file=sys.stderr)
        return 1
    head, rest = page.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{render(documents)}\n{END}{tail}")
    print(f"{DOC.relative_to(ROOT)}: figures of {', '.join(d['scenario'] for d in documents)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
