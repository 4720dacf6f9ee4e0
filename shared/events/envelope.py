"""CloudEvents 1.0 structured-mode JSON envelope for every public event.

Events travel as ``application/json`` so that stock nameko ``@event_handler`` consumers
and plain AMQP clients decode them; the body is a complete structured CloudEvent (see
docs/decisions/0003-event-envelope.md).
"""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

from marshmallow import ValidationError

from shared.events import registry
from shared.events.registry import EventDefinition
from shared.timefmt import iso, utc_now

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
ACCEPTED_CONTENT_TYPES = ("application/json", "application/cloudevents+json")
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type", "time", "subject", "data")
MAX_EVENT_BYTES = 256 * 1024


class MalformedEvent(Exception):
    """A message that can never be processed: it goes straight to the dead-letter queue."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    source: str
    subject: str
    time: str
    data: dict
    correlation_id: str | None
    definition: EventDefinition
    raw: dict

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def service(self) -> str:
        return self.definition.service


def utc_now_rfc3339() -> str:
    return iso(utc_now())


def new_event(definition: EventDefinition, subject: str, data: dict,
              correlation_id: str | None = None, event_id: str | None = None,
              time: str | None = None) -> dict:
    """A CloudEvent dict for ``definition``; ``data`` is validated against its schema."""
    try:
        definition.validate_outgoing(data)
    except ValidationError as exc:
        raise ValueError(f"{definition.type} data fails its schema: {exc.messages}") from exc
    event = {
        "specversion": SPECVERSION,
        "id": event_id or str(uuid.uuid4()),
        "source": definition.source,
        "type": definition.type,
        "time": time or utc_now_rfc3339(),
        "subject": str(subject),
        "datacontenttype": "application/json",
        "data": data,
    }
    if correlation_id:
        event["correlationid"] = correlation_id
    return event


def encode(event: dict) -> bytes:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def parse(body: bytes | str, content_type: str | None = None) -> Event:
    """Parse and validate a raw message body; raises MalformedEvent with the reason."""
    if content_type is not None:
        base = content_type.split(";")[0].strip().lower()
        if base not in ACCEPTED_CONTENT_TYPES:
            raise MalformedEvent(f"wrong content type {content_type!r}; expected application/json")
    if isinstance(body, str):
        body = body.encode("utf-8")
    if len(body) > MAX_EVENT_BYTES:
        raise MalformedEvent(f"message of {len(body)} bytes exceeds the {MAX_EVENT_BYTES}-byte limit")
    try:
        raw = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEvent(f"body is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise MalformedEvent("body is not a JSON object")
    missing = [a for a in REQUIRED_ATTRIBUTES if a not in raw]
    if missing:
        raise MalformedEvent(f"missing CloudEvents attribute(s): {', '.join(missing)}")
    if raw["specversion"] != SPECVERSION:
        raise MalformedEvent(f"unsupported specversion {raw['specversion']!r}")
    definition = registry.by_type(raw["type"])
    if definition is None:
        raise MalformedEvent(f"unknown event type {raw['type']!r}")
    if not isinstance(raw["data"], dict):
        raise MalformedEvent("data is not a JSON object")
    try:
        definition.load_incoming(raw["data"])
    except ValidationError as exc:
        raise MalformedEvent(f"data does not match {definition.type}: {json.dumps(exc.messages)}") from None
    return Event(
        id=str(raw["id"]), type=raw["type"], source=raw["source"], subject=str(raw["subject"]),
        time=raw["time"], data=raw["data"], correlation_id=raw.get("correlationid"),
        definition=definition, raw=raw,
    )
