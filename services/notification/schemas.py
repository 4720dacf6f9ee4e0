"""marshmallow schemas of the HTTP API: requests and responses (an answer is what a
response schema dumps from the stored record)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_load, pre_dump, validate, validates_schema

from services.notification.domain import CHANNELS, CONTACT_FIELDS, KINDS, OPTABLE_KINDS, normalise_phone
from services.notification.store import MAX_PAGE
from shared import nip as nip_rules
from shared.events.common import ID_KINDS
from shared.nip import NipField
from shared.paging import page_query
from shared.reference import agencies as reference_agencies
from shared.reference import agency as reference_agency
from shared.timefmt import iso

STATUSES = ("pending", "sending", "delivered", "failed", "undeliverable", "skipped", "dropped")


class Phone(fields.Str):
    """An Indonesian phone number, stored in E.164 (+628…)."""

    # domain.normalise_phone: +62 or 0, then 8-13 digits (spaces and dashes between are
    # accepted too; the document gives the plain form a client sends).
    PATTERN = r"^(\+62|0)[0-9]{8,13}$"

    def __init__(self, **kwargs):
        kwargs["metadata"] = {"pattern": self.PATTERN, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        raw = super()._deserialize(value, attr, data, **kwargs)
        try:
            return normalise_phone(raw)
        except ValueError as exc:
            raise ValidationError(f"not a valid phone number: {exc}") from None


class Time(fields.DateTime):
    """A stored time in an answer: RFC 3339 UTC with ``Z`` (``shared.timefmt.iso``)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return iso(value)


class RecordView(Schema):
    """A response dumped from a stored record: every field is in the answer (null when the
    record lacks it) and ``id`` is the record's ``_id``."""

    @pre_dump
    def from_record(self, record: dict, **kwargs) -> dict:  # subclasses extend it by this name
        view = {**dict.fromkeys(self.fields), **record}
        if "id" in self.fields:
            view["id"] = str(record["_id"])
        return view


# Bounds on what a caller may send (docs/security.md): page sizes (store.MAX_PAGE), ids, lists;
# cursors are bounded by shared.paging.
MAX_ID = 128
MAX_LIST = 32


class ContactFields(Schema):
    email = fields.Email(allow_none=True, load_default=None, validate=validate.Length(max=254))
    phone = Phone(allow_none=True, load_default=None, metadata={"example": "+6281234567890"})
    whatsapp = Phone(allow_none=True, load_default=None,
                     metadata={"description": "WhatsApp number when it differs from phone"})

    @validates_schema
    def channels_have_contact(self, data, **kwargs):
        errors = []
        channels = data.get("channels") or ()
        if "email" in channels and not data.get("email"):
            errors.append("email is chosen but no email address is given")
        if "webhook" in channels and not (data.get("phone") or data.get("whatsapp")):
            errors.append("webhook (SMS/WhatsApp) is chosen but no phone or whatsapp number is given")
        if errors:
            raise ValidationError(errors, field_name="channels")


class RecipientSchema(ContactFields):
    """PUT /recipients/{nip}: the full contact record of one ASN (replaces the previous one)."""

    id_kind = fields.Str(validate=validate.OneOf(ID_KINDS), load_default=None,
                         metadata={"description": "nip or ni_pppk; detected from the number when omitted"})
    name = fields.Str(validate=validate.Length(min=1, max=200), allow_none=True, load_default=None)
    agency = fields.Str(validate=validate.Length(min=1, max=64), allow_none=True, load_default=None,
                        metadata={"description": "OPD code, e.g. DISKOMINFO (load_recipient refuses one not in "
                                                 "the shared reference list)",
                                  "enum": list(reference_agencies())})
    channels = fields.List(fields.Str(validate=validate.OneOf(CHANNELS)), load_default=None,
                           validate=validate.Length(max=MAX_LIST),
                           metadata={"description": "preferred channels; the inbox always receives messages"})
    opt_outs = fields.List(fields.Str(validate=validate.OneOf(OPTABLE_KINDS)), load_default=list,
                           validate=validate.Length(max=MAX_LIST),
                           metadata={"description": "message kinds not to push by email/webhook: "
                                     + ", ".join(OPTABLE_KINDS)})

    @post_load
    def unique_lists(self, data, **kwargs):
        for key in ("channels", "opt_outs"):
            if data.get(key) is not None:
                data[key] = list(dict.fromkeys(data[key]))
        return data


def load_recipient(nip: str, body: dict) -> dict:
    """The stored fields of a recipient from a request body and the NIP of its path (or CSV
    row); raises ValidationError (the body's fields first) or Invalid (the NIP, naming the
    wrong part)."""
    data = RecipientSchema().load(body)
    parsed = nip_rules.validate(nip_rules.digits_only(nip), data["id_kind"] or "auto", field="nip")
    if data["agency"] is not None:
        data["agency"] = data["agency"].strip().upper()
        if reference_agency(data["agency"]) is None:
            raise ValidationError({"agency": [f"unknown OPD code {data['agency']!r}"]})
    data["id_kind"] = parsed.kind
    return {"nip": parsed.identifier, **{k: data.get(k) for k in CONTACT_FIELDS}}


class RecipientView(RecordView):
    nip = fields.Str()
    id_kind = fields.Str()
    name = fields.Str(allow_none=True)
    agency = fields.Str(allow_none=True)
    email = fields.Str(allow_none=True)
    phone = fields.Str(allow_none=True)
    whatsapp = fields.Str(allow_none=True)
    channels = fields.List(fields.Str(), allow_none=True, metadata={"description": "null: none chosen"})
    opt_outs = fields.List(fields.Str())
    created_at = Time()
    updated_at = Time()


class BulkRowResult(Schema):
    row = fields.Int(metadata={"description": "line number in the CSV (the header is line 1)"})
    nip = fields.Str(allow_none=True)
    status = fields.Str(metadata={"description": "created, updated, unchanged or invalid"})
    errors = fields.Dict(metadata={"description": "field → reasons, for invalid rows"})


class BulkResult(Schema):
    total = fields.Int()
    created = fields.Int()
    updated = fields.Int()
    unchanged = fields.Int()
    invalid = fields.Int()
    rows = fields.List(fields.Nested(BulkRowResult))


class AgencyContactSchema(ContactFields):
    """PUT /agencies/{code}/contact: the operator who receives the agency's escalation summaries."""

    name = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    channels = fields.List(fields.Str(validate=validate.OneOf(("email", "webhook"))), load_default=None,
                           validate=validate.Length(max=MAX_LIST),
                           metadata={"description": "default: email if given, else webhook"})

    @validates_schema
    def reachable(self, data, **kwargs):
        if not (data.get("email") or data.get("phone") or data.get("whatsapp")):
            raise ValidationError("give at least an email address or a phone number", field_name="email")


class AgencyContactView(RecordView):
    agency = fields.Str()
    agency_name = fields.Str()
    name = fields.Str()
    email = fields.Str(allow_none=True)
    phone = fields.Str(allow_none=True)
    whatsapp = fields.Str(allow_none=True)
    channels = fields.List(fields.Str())
    updated_at = Time()


class InboxQuery(page_query(MAX_PAGE)):
    unread = fields.Bool(load_default=False, metadata={"description": "only unread messages"})


class DeliveriesQuery(page_query(MAX_PAGE)):
    nip = NipField(load_default=None)
    event_id = fields.Str(load_default=None, validate=validate.Length(min=1, max=MAX_ID),
                          metadata={"description": "id of the event that caused the message"})
    status = fields.Str(load_default=None, validate=validate.OneOf(STATUSES))
    channel = fields.Str(load_default=None, validate=validate.OneOf(CHANNELS))


class InboxMessage(RecordView):
    id = fields.Str()
    kind = fields.Str(metadata={"description": ", ".join(KINDS)})
    subject = fields.Str()
    text = fields.Str()
    html = fields.Str()
    received_at = Time()
    read_at = Time(allow_none=True)
    read = fields.Bool()
    source_event_id = fields.Str(allow_none=True)

    @pre_dump
    def from_record(self, record: dict, **kwargs) -> dict:
        return {**super().from_record(record), "received_at": record["visible_at"],
                "read": record.get("read_at") is not None}


class InboxPage(Schema):
    nip = fields.Str()
    unread = fields.Int()
    items = fields.List(fields.Nested(InboxMessage))
    next_cursor = fields.Str(allow_none=True)


class HistoryEntry(Schema):
    at = Time()
    outcome = fields.Str()
    detail = fields.Str()


class DeliveryView(RecordView):
    id = fields.Str()
    message_id = fields.Str()
    nip = fields.Str(allow_none=True)
    agency = fields.Str(allow_none=True)
    channel = fields.Str()
    kind = fields.Str()
    status = fields.Str(metadata={"description": ", ".join(STATUSES)})
    attempts = fields.Int()
    last_error = fields.Str(allow_none=True)
    source_event_id = fields.Str(allow_none=True)
    due_at = Time()
    next_attempt_at = Time(allow_none=True)
    delivered_at = Time(allow_none=True)
    created_at = Time()
    updated_at = Time()
    history = fields.List(fields.Nested(HistoryEntry))

    @pre_dump
    def from_record(self, record: dict, **kwargs) -> dict:
        view = super().from_record(record)
        return {**view, "message_id": str(record["message_id"]), "attempts": record.get("attempts", 0),
                "history": record.get("history", [])}


class DeliveriesPage(Schema):
    items = fields.List(fields.Nested(DeliveryView))
    next_cursor = fields.Str(allow_none=True)


class ReadResult(Schema):
    id = fields.Str()
    read_at = Time()
