"""The registry of public event types: one definition per type and major version.

A definition ties together the routing (exchange ``<service>.events``, routing key = the
short name), the CloudEvents ``type`` (reverse-DNS, major version in the name), the
marshmallow schema of ``data`` and an example. The AsyncAPI document, producer-side
validation and consumer-side parsing all read from here.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError

TYPE_PREFIX = "id.go.bkn.bangkom"


@dataclass(frozen=True)
class EventDefinition:
    service: str  # the producing service, owner of the exchange
    name: str  # short name, the routing key: "completed"
    version: int
    schema: type[Schema]
    description: str
    example: dict = field(default_factory=dict)

    @property
    def type(self) -> str:
        return f"{TYPE_PREFIX}.{self.service}.{self.name}.v{self.version}"

    @property
    def source(self) -> str:
        return f"/asn/{self.service}"

    @property
    def exchange(self) -> str:
        return f"{self.service}.events"

    def validate_outgoing(self, data: dict) -> dict:
        """Strict check before an event is stored: unknown fields are a producer bug."""
        self.schema(unknown=RAISE).load(data)
        return data

    def load_incoming(self, data: dict) -> dict:
        """Consumer-side check; fields added later in the same major version are tolerated."""
        self.schema(unknown=EXCLUDE).load(data)
        return data


_REGISTRY: dict[str, EventDefinition] = {}


def define(service: str, name: str, version: int, schema: type[Schema], description: str,
           example: dict) -> EventDefinition:
    definition = EventDefinition(service, name, version, schema, description, example)
    if definition.type in _REGISTRY:
        raise ValueError(f"event type {definition.type} defined twice")
    try:
        definition.validate_outgoing(example)
    except ValidationError as exc:  # an example that fails its own schema is a bug
        raise ValueError(f"example of {definition.type} fails its schema: {exc.messages}") from exc
    _REGISTRY[definition.type] = definition
    return definition


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
    _load_all()
    return sorted(_REGISTRY.values(), key=lambda d: (d.service, d.name, d.version))
