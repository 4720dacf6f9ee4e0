"""One public event type: its routing, CloudEvents type, ``data`` schema and example.

Each service's module (``shared/events/<service>.py``) calls ``define`` for its events; the
registry (``shared.events.registry``) collects the definitions of every module. A definition
is checked when it is made: its example must pass its own schema.
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
    # A private event goes to ``<service>.private``, which only the platform's own consumers
    # may read (never an external subscriber), and is left out of the AsyncAPI document: it
    # carries personal data such as contact details (ADR 0080).
    private: bool = False

    @property
    def type(self) -> str:
        return f"{TYPE_PREFIX}.{self.service}.{self.name}.v{self.version}"

    @property
    def source(self) -> str:
        return f"/asn/{self.service}"

    @property
    def exchange(self) -> str:
        return f"{self.service}.{'private' if self.private else 'events'}"

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
           example: dict, private: bool = False) -> EventDefinition:
    """Define (and keep) one event type and version; a type defined twice is a bug."""
    definition = EventDefinition(service, name, version, schema, description, example, private)
    if definition.type in _REGISTRY:
        raise ValueError(f"event type {definition.type} defined twice")
    try:
        definition.validate_outgoing(example)
    except ValidationError as exc:  # an example that fails its own schema is a bug
        raise ValueError(f"example of {definition.type} fails its schema: {exc.messages}") from exc
    _REGISTRY[definition.type] = definition
    return definition
