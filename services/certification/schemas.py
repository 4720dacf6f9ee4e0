"""marshmallow schemas of the certification HTTP API."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.events.common import ParticipantSnapshot, ProgrammeSnapshot


class RevokeRequest(Schema):
    reason = fields.Str(required=True, validate=validate.Length(min=5, max=500),
                        metadata={"description": "why it is revoked; shown on the verification page"})


class ListQuery(Schema):
    nip = fields.Str(validate=validate.Regexp(r"^\d{18}$", error="must be 18 digits"))
    programme = fields.Str(validate=validate.Length(min=1, max=64))
    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=100_000))
    per_page = fields.Int(load_default=20, validate=validate.Range(min=1, max=100))


class Revocation(Schema):
    reason = fields.Str()
    at = fields.DateTime()
    by = fields.Str()


class Certificate(Schema):
    id = fields.Str()
    number = fields.Str(metadata={"example": "0042/BKN-BKT/SERT-PBJ/2026"})
    status = fields.Str(validate=validate.OneOf(("valid", "revoked", "expired", "superseded")))
    enrolment_id = fields.Str()
    holder = fields.Nested(ParticipantSnapshot)
    programme = fields.Nested(ProgrammeSnapshot)
    jp = fields.Int()
    issued_on = fields.Date()
    issued_at = fields.DateTime()
    valid_until = fields.Date(allow_none=True)
    verification_code = fields.Str()
    verification_url = fields.Url()
    revoked = fields.Nested(Revocation, allow_none=True)
    supersedes = fields.Str(allow_none=True)
    superseded_by = fields.Str(allow_none=True)
    pdf_url = fields.Url()
    credential_url = fields.Url()


class CertificatePage(Schema):
    items = fields.List(fields.Nested(Certificate))
    page = fields.Int()
    per_page = fields.Int()
    total = fields.Int()


class Successor(Schema):
    number = fields.Str()
    issued_on = fields.Date()
    verification_url = fields.Url()


class Verification(Schema):
    status = fields.Str(validate=validate.OneOf(("valid", "revoked", "expired", "superseded", "unknown")))
    status_label = fields.Str(metadata={"description": "the status in Bahasa Indonesia"})
    number = fields.Str()
    holder_name = fields.Str()
    programme_title = fields.Str()
    programme_kind = fields.Str()
    competency_type = fields.Str()
    organisers = fields.List(fields.Str())
    jp = fields.Int()
    issued_on = fields.Date()
    valid_until = fields.Date(allow_none=True)
    revoked_on = fields.Date(allow_none=True)
    revocation_reason = fields.Str(allow_none=True)
    superseded_by = fields.Nested(Successor, allow_none=True)


class CredentialCheck(Schema):
    verified = fields.Bool(metadata={"description": "signature valid and the certificate currently valid"})
    signature_valid = fields.Bool()
    status = fields.Str()
    errors = fields.List(fields.Str())


class ExpiryScanResult(Schema):
    expired = fields.Int(metadata={"description": "certificates announced as expired by this run"})
    expiring = fields.Int(metadata={"description": "certificates announced as expiring by this run"})
