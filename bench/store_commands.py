"""The store's work as the services count it (issue 23): every service's ``/metrics`` has
``asn_store_commands_total{context, command}`` and ``asn_store_command_seconds_total{context}``
(shared.metrics). Read them before and after a pass; the difference divided by the number of
completions is the store work per completion, per service and per context (the event type a
reliable handler handled, the background loop, the HTTP route). Used by bench/pipeline.py and
by tests/integration/test_store_budget.py.

The bench's own scrapes (``http:GET /metrics``: two store commands each, the outbox gauges)
are left out of every total.
"""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import requests
from prometheus_client.parser import text_string_to_metric_families
from pymongo import monitoring

SCRAPE_CONTEXT = "http:GET /metrics"


@dataclass
class Sample:
    """One reading of a service's store counters."""

    commands: dict[tuple[str, str], float] = field(default_factory=dict)   # (context, command) -> count
    seconds: dict[str, float] = field(default_factory=dict)                # context -> seconds
    consumed: dict[str, float] = field(default_factory=dict)               # event type -> events handled
    at: float = 0.0                                                         # monotonic time of the reading

    def minus(self, earlier: "Sample") -> "Sample":
        def sub(a: dict, b: dict) -> dict:
            return {k: v - b.get(k, 0.0) for k, v in a.items() if v - b.get(k, 0.0) > 0}
        return Sample(sub(self.commands, earlier.commands), sub(self.seconds, earlier.seconds),
                      sub(self.consumed, earlier.consumed), self.at - earlier.at)

    def by_context(self) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for (context, _), value in self.commands.items():
            if context != SCRAPE_CONTEXT:
                out[context] += value
        return dict(out)

    def total(self) -> float:
        return sum(self.by_context().values())

    def total_all(self) -> float:
        """Every command, the scrapes' own included (to compare with the store's counters)."""
        return sum(self.commands.values())

    def total_seconds(self) -> float:
        return sum(v for k, v in self.seconds.items() if k != SCRAPE_CONTEXT)


def scrape(base_url: str, timeout: float = 10.0) -> Sample:
    """The store counters of the service at ``base_url`` (its public /metrics)."""
    response = requests.get(f"{base_url}/metrics", timeout=timeout)
    response.raise_for_status()
    sample = Sample(at=time.monotonic())
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            if s.name == "asn_store_commands_total":
                sample.commands[(s.labels["context"], s.labels["command"])] = s.value
            elif s.name == "asn_store_command_seconds_total":
                sample.seconds[s.labels["context"]] = s.value
            elif s.name == "asn_events_consumed_total":
                sample.consumed[s.labels["type"]] = s.value
    return sample


def scrape_all(urls: dict[str, str]) -> dict[str, Sample]:
    return {service: scrape(url) for service, url in urls.items()}


def deltas(before: dict[str, Sample], after: dict[str, Sample]) -> dict[str, Sample]:
    return {service: after[service].minus(before[service]) for service in after}


def _consumed_for(context: str, consumed: dict[str, float]) -> float:
    """Events handled under ``event:<source>.<name>`` (types read ``...<source>.<name>.v1``)."""
    if not context.startswith("event:"):
        return 0.0
    needle = "." + context[len("event:"):] + ".v"
    return sum(v for t, v in consumed.items() if ("." + t).find(needle) >= 0)


def per_completion(delta: dict[str, Sample], completions: int) -> dict:
    """Commands and milliseconds per completion, per service and context (and per event handled
    for a handler's context), with the command names; the totals."""
    out: dict = {"completions": completions, "services": {}}
    grand, grand_s = 0.0, 0.0
    for service, d in sorted(delta.items()):
        contexts = {}
        for context, count in sorted(d.by_context().items(), key=lambda kv: -kv[1]):
            by_command = {cmd: round(v / completions, 2) for (ctx, cmd), v in
                          sorted(d.commands.items(), key=lambda kv: -kv[1]) if ctx == context}
            row = {"commands": round(count / completions, 2),
                   "ms": round(d.seconds.get(context, 0.0) * 1000 / completions, 2),
                   "by_command": by_command}
            events = _consumed_for(context, d.consumed)
            if events:
                row["events_handled"] = int(events)
                row["commands_per_event"] = round(count / events, 2)
            contexts[context] = row
        total, seconds = d.total(), d.total_seconds()
        grand += total
        grand_s += seconds
        out["services"][service] = {"commands": round(total / completions, 2),
                                    "ms": round(seconds * 1000 / completions, 2), "contexts": contexts}
    out["commands"] = round(grand / completions, 2)
    out["ms"] = round(grand_s * 1000 / completions, 2)
    out["commands_with_scrapes"] = int(sum(d.total_all() for d in delta.values()))
    return out


def per_second(delta: dict[str, Sample]) -> dict:
    """Commands per second per service and context over the readings' interval (idle rate)."""
    out: dict = {"services": {}}
    grand = 0.0
    for service, d in sorted(delta.items()):
        seconds = max(d.at, 1e-9)
        contexts = {c: round(v / seconds, 2) for c, v in sorted(d.by_context().items(), key=lambda kv: -kv[1])}
        out["services"][service] = {"commands_per_s": round(d.total() / seconds, 2), "contexts": contexts}
        grand += d.total() / seconds
        out["seconds"] = round(seconds, 1)
    out["commands_per_s"] = round(grand, 2)
    out["commands_with_scrapes"] = int(sum(d.total_all() for d in delta.values()))
    return out


def print_per_completion(table: dict, title: str) -> None:
    print(f"\n=== {title}: store commands per completion (N = {table['completions']}) ===")
    print(f"{'service':13s} {'context':52s} {'cmds':>7s} {'ms':>7s}  per event  commands")
    for service, s in table["services"].items():
        for context, row in s["contexts"].items():
            per_event = f"{row['commands_per_event']:9.2f}" if "commands_per_event" in row else " " * 9
            commands = ", ".join(f"{k} {v:g}" for k, v in list(row["by_command"].items())[:6])
            print(f"{service:13s} {context[:52]:52s} {row['commands']:7.2f} {row['ms']:7.2f}  {per_event}  {commands}")
        print(f"{service:13s} {'(service total)':52s} {s['commands']:7.2f} {s['ms']:7.2f}")
    print(f"{'all':13s} {'(total)':52s} {table['commands']:7.2f} {table['ms']:7.2f}")


def print_per_second(table: dict, title: str) -> None:
    print(f"\n=== {title}: store commands per second with nothing to do ({table.get('seconds')} s) ===")
    for service, s in table["services"].items():
        for context, rate in s["contexts"].items():
            print(f"{service:13s} {context[:52]:52s} {rate:7.2f}/s")
        print(f"{service:13s} {'(service total)':52s} {s['commands_per_s']:7.2f}/s")
    print(f"{'all':13s} {'(total)':52s} {table['commands_per_s']:7.2f}/s")


class OwnCommands(monitoring.CommandListener):
    """Counts the commands of the bench's own client (its polling and change streams), to take
    them off the store's operation counters when comparing with the services' counts."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event) -> None:
        self.count += 1  # several threads: an approximate count is enough here

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass


def opcounters(client) -> dict[str, int]:
    """The store's own operation counters (``serverStatus.opcounters``); {} if it has none."""
    try:
        counters = client.admin.command("serverStatus").get("opcounters") or {}
    except Exception:  # noqa: BLE001 - a store without serverStatus: nothing to compare
        return {}
    return {k: int(v) for k, v in counters.items() if isinstance(v, (int, float))}


def opcounters_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    out = {k: after[k] - before.get(k, 0) for k in after}
    out["total"] = sum(out.values())
    return out
