"""The pictures of docs/event-flow.md name only exchanges, queues and events that exist, and
the README's guides for each kind of user lead to pages that exist (no I/O but reading files)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import services
from shared import topology
from shared.config import SERVICES
from shared.events import registry

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "event-flow.md"
PLUMBING = ("events", "replay", "requeue", "dlq")


def _diagrams() -> list[str]:
    blocks = re.findall(r"```mermaid\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 2, "a flow of the services and exchanges, and the sequence of one completion"
    return blocks


def _events() -> set[tuple[str, str]]:
    return {(d.service, d.name) for d in registry.all_definitions()}


def _topology() -> tuple[set[str], set[str]]:
    services.load_subscriptions()
    definitions = topology.definitions()
    return {e["name"] for e in definitions["exchanges"]}, {q["name"] for q in definitions["queues"]}


def _names(text: str) -> set[str]:
    return set(re.findall(rf"\b(?:{'|'.join(SERVICES)})(?:\.[a-z_]+)+\b", text))


@pytest.mark.parametrize("index", [0, 1])
def test_every_exchange_queue_and_event_named_in_the_diagrams_exists(index):
    text = _diagrams()[index]
    exchanges, queues = _topology()
    events = _events()
    unknown = []
    for name in _names(text):
        parts = name.split(".")
        if len(parts) == 2 and parts[1] in PLUMBING:
            ok = name in exchanges or name in queues
        elif len(parts) == 2:
            ok = (parts[0], parts[1]) in events
        else:
            ok = name in queues
        if not ok:
            unknown.append(name)
    assert unknown == []


def test_the_events_on_each_arrow_belong_to_the_exchange_they_flow_into_or_out_of():
    text = _diagrams()[0]
    nodes = dict(re.findall(r'(\w+)\{\{"(\w+)\.events"\}\}', text))  # node id -> producing service
    events = _events()
    seen = 0
    for label, node in re.findall(r'-- "([^"]+)" --> (\w+)\{\{', text):  # into an exchange
        for name in re.split(r",\s*|<br/>", label):
            if name.strip():
                assert (nodes[node], name.strip()) in events, f"{nodes[node]}.{name.strip()}"
                seen += 1
    for node, name in re.findall(r"\b(EX_\w+) -- (\w+) -->", text):  # out of an exchange
        assert (nodes[node], name) in events, f"{nodes[node]}.{name}"
        seen += 1
    # every event of every service appears on an arrow into its exchange
    assert seen >= len(events)


def test_the_readme_leads_each_kind_of_user_to_a_page_that_exists():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Where to start")
    section = readme[start: readme.index("\n## ", start + 1)]
    for kind in ("Using", "Deploying", "Subscribing", "Operating"):
        assert f"**{kind}" in section
    links = re.findall(r"\]\(([^)]+)\)", section)
    anchors = {"#" + re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
               for h in re.findall(r"^## (.+)$", readme, flags=re.M)}
    assert links and all((ROOT / link).exists() if not link.startswith("#") else link in anchors
                         for link in links), links
