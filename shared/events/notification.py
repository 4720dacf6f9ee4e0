"""Events of the notification service (exchange ``notification.events``). No contact data."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.events.definition import define

CHANNELS = ("email", "webhook", "inbox")


class DeliveredV1(Schema):
    delivery_id = fields.Str(required=True)
    # The ASN the message went to; empty for a message to an agency operator (see ``agency``).
    nip = fields.Str(required=True)
    channel = fields.Str(required=True, validate=validate.OneOf(CHANNELS))
    message_kind = fields.Str(required=True)
    source_event_id = fields.Str(allow_none=True, load_default=None)
    # OPD code when the message went to that agency's operator (escalation summaries).
    agency = fields.Str(allow_none=True, load_default=None)
    delivered_at = fields.DateTime(required=True)


class FailedV1(Schema):
    delivery_id = fields.Str(required=True)
    # The ASN the message was for; empty for a message to an agency operator (see ``agency``).
    nip = fields.Str(required=True)
    channel = fields.Str(required=True, validate=validate.OneOf(CHANNELS))
    message_kind = fields.Str(required=True)
    source_event_id = fields.Str(allow_none=True, load_default=None)
    agency = fields.Str(allow_none=True, load_default=None)
    # "undeliverable: ..." when the recipient has no contact for the channel.
    reason = fields.Str(required=True)
    attempts = fields.Int(required=True)
    failed_at = fields.DateTime(required=True)


DELIVERED = define(
    "notification", "delivered", 1, DeliveredV1,
    "A message reached a channel (SMTP accepted it, the webhook answered 2xx, or it is in the inbox).",
    {"delivery_id": "6752c5aa0b1c2d3e4f506099", "nip": "198503122010011002", "channel": "email",
     "message_kind": "certified", "source_event_id": "0b5c8a4e-3f77-4d3b-9a51-1f2e3d4c5b6a",
     "delivered_at": "2026-03-05T09:31:02Z"},
)
FAILED = define(
    "notification", "failed", 1, FailedV1,
    "A delivery gave up after its retries, or the recipient has no contact for the channel.",
    {"delivery_id": "6752c5aa0b1c2d3e4f506099", "nip": "198503122010011002", "channel": "email",
     "message_kind": "certified", "source_event_id": "0b5c8a4e-3f77-4d3b-9a51-1f2e3d4c5b6a",
     "reason": "SMTP 421 service not available", "attempts": 5, "failed_at": "2026-03-05T10:01:02Z"},
)
