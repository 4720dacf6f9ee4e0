"""The registry of public event types: one definition per type and major version.

A definition ties together the routing (exchange ``<service>.events``, routing key = the
short name), the CloudEvents ``type`` (reverse-DNS, major version in the name), the
marshmallow schema of ``data`` and an example. The AsyncAPI document, producer-side
validation and consumer-side parsing all read from here. The definitions themselves are
made in ``shared/events/<service>.py`` with ``shared.events.definition.define``.
"""
from __future__ import annotations

from shared.events import definition

TYPE_PREFIX = definition.TYPE_PREFIX
EventDefinition = definition.EventDefinition
_REGISTRY = definition._REGISTRY


def _load_all() -> None:
    # Importing the per-service modules registers their definitions.
    from shared.events import certification, enrollment, notification, reporting  # noqa: F401


def by_type(event_type: str) -> EventDefinition | None:
    _load_all()
    return _REGISTRY.get(event_type)


def latest(service: str, name: str) -> EventDefinition:
    """The newest major version of ``service``'s event ``name``."""
    _load_all()
    versions = [d for d in _REGISTRY.values() if d.service == service and d.name == name]
    if not versions:
        raise KeyError(f"no event {service}.{name} in the registry")
    return max(versions, key=lambda d: d.version)


def get(service: str, name: str, version: int) -> EventDefinition:
    _load_all()
    definition = _REGISTRY.get(f"{TYPE_PREFIX}.{service}.{name}.v{version}")
    if definition is None:
        raise KeyError(f"no event {service}.{name} v{version} in the registry")
    return definition


def all_definitions() -> list[EventDefinition]:
    """The public event types (the contract with subscribers: AsyncAPI, snapshots)."""
    _load_all()
    return sorted((d for d in _REGISTRY.values() if not d.private), key=lambda d: (d.service, d.name, d.version))


def private_definitions() -> list[EventDefinition]:
    """The private event types: only the platform's own services consume them (ADR 0080)."""
    _load_all()
    return sorted((d for d in _REGISTRY.values() if d.private), key=lambda d: (d.service, d.name, d.version))
