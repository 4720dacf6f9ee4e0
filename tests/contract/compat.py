"""Schema snapshots of every published event version and the compatibility rules between
a snapshot and the schema the code publishes today.

Who must keep working within one major version:
- a subscriber written against the snapshot (it reads fields, relies on required ones, and
  switches on enum values it knows, though the contract asks it to tolerate new ones);
- a replay of history: events published under the snapshot must still be valid under the
  current schema.

So, within a version, these are breaking: a field removed, retyped (type or format), made
optional or newly required, nullability changed either way, an enum narrowed, a constraint
tightened (pattern, minimum, maximum, lengths, const). Adding an optional field, adding an
enum value, loosening a constraint and changing descriptions or defaults are compatible.
A breaking change is a new major version: a new ``...vN`` type with its own snapshot.

Snapshots live in ``tests/contract/snapshots/<type>.json``; refresh them deliberately with
``python -m tests.contract.refresh_snapshots``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from shared.asyncapi import data_json_schema
from shared.events.registry import EventDefinition

SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshots"
REFRESH_COMMAND = "python -m tests.contract.refresh_snapshots"

# Constraints whose bigger value admits fewer documents, and those whose smaller value does.
LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


# -- snapshots ------------------------------------------------------------------------------

def snapshot_of(definition: EventDefinition) -> dict:
    return {"type": definition.type, "service": definition.service, "name": definition.name,
            "version": definition.version, "exchange": definition.exchange, "routing_key": definition.name,
            "data_schema": data_json_schema(definition)}


def snapshot_path(event_type: str, directory: Path = SNAPSHOT_DIR) -> Path:
    return directory / f"{event_type}.json"


def write_snapshot(definition: EventDefinition, directory: Path = SNAPSHOT_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = snapshot_path(definition.type, directory)
    path.write_text(json.dumps(snapshot_of(definition), indent=2, ensure_ascii=False, sort_keys=True) + "\n",
                    encoding="utf-8")
    return path


def load_snapshots(directory: Path = SNAPSHOT_DIR) -> dict[str, dict]:
    """Stored snapshots by event type."""
    snapshots = {}
    for path in sorted(directory.glob("*.json")):
        snapshot = json.loads(path.read_text(encoding="utf-8"))
        snapshots[snapshot["type"]] = snapshot
    return snapshots


# -- the rules ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Shape:
    """A JSON Schema node reduced to what the rules compare."""

    types: frozenset[str]
    nullable: bool
    node: dict


def _shape(node: dict) -> _Shape:
    # apispec writes a nullable nested object as anyOf: [{...}, {type: null}]
    nullable = False
    if "anyOf" in node:
        options = [o for o in node["anyOf"] if o.get("type") != "null"]
        nullable = len(options) < len(node["anyOf"])
        if len(options) == 1:
            node = {**{k: v for k, v in node.items() if k != "anyOf"}, **options[0]}
    raw = node.get("type", [])
    types = {raw} if isinstance(raw, str) else set(raw)
    if "null" in types:
        nullable = True
        types.discard("null")
    return _Shape(frozenset(types), nullable, node)


def _describe(types: Iterable[str], fmt: str | None) -> str:
    text = "|".join(sorted(types)) or "any"
    return f"{text} ({fmt})" if fmt else text


def incompatibilities(old: dict, new: dict, path: str = "data") -> list[str]:
    """Every way in which ``new`` breaks subscribers or history written against ``old``."""
    problems: list[str] = []
    a, b = _shape(old), _shape(new)
    if a.types != b.types or a.node.get("format") != b.node.get("format"):
        problems.append(f"{path}: retyped from {_describe(a.types, a.node.get('format'))} "
                        f"to {_describe(b.types, b.node.get('format'))}")
        return problems  # the rest compares like with like
    if a.nullable != b.nullable:
        problems.append(f"{path}: " + ("may now be null" if b.nullable else "may no longer be null "
                                       "(published events hold nulls)"))
    problems += _enum_and_constraints(a.node, b.node, path)
    if "object" in a.types:
        problems += _objects(a.node, b.node, path)
    if "array" in a.types and "items" in a.node:
        problems += incompatibilities(a.node["items"], b.node.get("items", {}), f"{path}[]")
    return problems


def _enum_and_constraints(old: dict, new: dict, path: str) -> list[str]:
    problems = []
    if "enum" in new:
        old_values = {v for v in old.get("enum", []) if v is not None}
        new_values = {v for v in new["enum"] if v is not None}
        if "enum" not in old:
            problems.append(f"{path}: now restricted to {sorted(new_values)}")
        elif old_values - new_values:
            problems.append(f"{path}: enum narrowed, {sorted(old_values - new_values)} no longer allowed")
    if "const" in new and old.get("const", object()) != new["const"]:
        problems.append(f"{path}: now fixed to {new['const']!r}")
    if "pattern" in new and old.get("pattern") != new["pattern"]:
        problems.append(f"{path}: pattern changed from {old.get('pattern')!r} to {new['pattern']!r}")
    for key in LOWER_BOUNDS:
        if key in new and (key not in old or new[key] > old[key]):
            problems.append(f"{path}: {key} tightened from {old.get(key)!r} to {new[key]!r}")
    for key in UPPER_BOUNDS:
        if key in new and (key not in old or new[key] < old[key]):
            problems.append(f"{path}: {key} tightened from {old.get(key)!r} to {new[key]!r}")
    return problems


def _objects(old: dict, new: dict, path: str) -> list[str]:
    problems = []
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name in sorted(old_props):
        where = f"{path}.{name}"
        if name not in new_props:
            problems.append(f"{where}: field removed")
            continue
        if name in old_required and name not in new_required:
            problems.append(f"{where}: no longer required (subscribers rely on it)")
        problems += incompatibilities(old_props[name], new_props[name], where)
    for name in sorted(new_required - old_required):
        if name in old_props:
            problems.append(f"{path}.{name}: now required (published events may lack it)")
        else:
            problems.append(f"{path}.{name}: new required field (published events lack it; "
                            "add it as optional or publish a new version)")
    if old.get("additionalProperties") is not False and new.get("additionalProperties") is False:
        problems.append(f"{path}: no longer accepts additional fields")
    return problems


# -- the whole registry against the stored snapshots ----------------------------------------

@dataclass
class Report:
    missing: list[str] = field(default_factory=list)  # types published without a snapshot
    removed: list[str] = field(default_factory=list)  # snapshots whose type is gone
    breaking: dict[str, list[str]] = field(default_factory=dict)  # type -> problems
    changed: list[str] = field(default_factory=list)  # compatible changes (refresh to record)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.removed or self.breaking)


def check(definitions: Iterable[EventDefinition], snapshots: dict[str, dict]) -> Report:
    report = Report()
    current = {d.type: d for d in definitions}
    for event_type, definition in sorted(current.items()):
        snapshot = snapshots.get(event_type)
        if snapshot is None:
            report.missing.append(event_type)
            continue
        new = snapshot_of(definition)
        problems = []
        for key in ("exchange", "routing_key"):
            if snapshot.get(key) != new[key]:
                problems.append(f"{key} changed from {snapshot.get(key)!r} to {new[key]!r}")
        problems += incompatibilities(snapshot["data_schema"], new["data_schema"])
        if problems:
            report.breaking[event_type] = problems
        elif snapshot != new:
            report.changed.append(event_type)
    report.removed = sorted(set(snapshots) - set(current))
    return report


def explain(report: Report) -> str:
    lines = []
    for event_type, problems in report.breaking.items():
        lines.append(f"{event_type} changed incompatibly with its published snapshot:")
        lines += [f"  - {p}" for p in problems]
        lines.append("  Keep this version as it was and publish the change as a new major version "
                     "(define(..., version + 1, ...)); subscribers move at their own pace.")
    if report.missing:
        lines.append("published event versions without a snapshot: " + ", ".join(report.missing))
        lines.append(f"  record them deliberately: {REFRESH_COMMAND}")
    if report.removed:
        lines.append("snapshots of event versions no longer in the registry: " + ", ".join(report.removed))
        lines.append("  a published version stays until subscribers have moved; if its removal is "
                     "agreed, delete its snapshot file in the same commit")
    return "\n".join(lines)
