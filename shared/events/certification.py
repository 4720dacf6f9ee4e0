"""Events of the certification service (exchange ``certification.events``)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.events.common import (EXAMPLE_PARTICIPANT, EXAMPLE_PROGRAMME, PARTICIPATION_ROLES, ParticipantSnapshot,
                                  ProgrammeSnapshot)
from shared.events.definition import define


class CertifiedV1(Schema):
    certificate_id = fields.Str(required=True)
    number = fields.Str(required=True)
    enrolment_id = fields.Str(required=True)
    holder = fields.Nested(ParticipantSnapshot, required=True)
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    jp = fields.Int(required=True)
    issued_on = fields.Date(required=True)
    valid_until = fields.Date(allow_none=True, load_default=None)
    verification_url = fields.Url(required=True, require_tld=False)
    supersedes = fields.Str(allow_none=True, load_default=None)  # certificate_id of the older one
    # The certificate says "sebagai Peserta" or "sebagai Narasumber" (seminar, lokakarya).
    role = fields.Str(load_default="peserta", validate=validate.OneOf(PARTICIPATION_ROLES))


class RevokedV1(Schema):
    certificate_id = fields.Str(required=True)
    number = fields.Str(required=True)
    holder = fields.Nested(ParticipantSnapshot, required=True)
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    reason = fields.Str(required=True)
    revoked_at = fields.DateTime(required=True)


class ExpiringV1(Schema):
    certificate_id = fields.Str(required=True)
    number = fields.Str(required=True)
    holder = fields.Nested(ParticipantSnapshot, required=True)
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    valid_until = fields.Date(required=True)
    days_left = fields.Int(required=True)


class ExpiredV1(Schema):
    certificate_id = fields.Str(required=True)
    number = fields.Str(required=True)
    holder = fields.Nested(ParticipantSnapshot, required=True)
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    valid_until = fields.Date(required=True)


_CERT = {"certificate_id": "6752c3aa0b1c2d3e4f506071", "number": "0042/BKN-BKT/SERT-PBJ/2026",
         "holder": EXAMPLE_PARTICIPANT, "programme": EXAMPLE_PROGRAMME}

CERTIFIED = define(
    "certification", "certified", 1, CertifiedV1,
    "A certificate was issued for a passed completion of a certifying programme.",
    {**_CERT, "enrolment_id": "6752c1f0a4b1c2d3e4f50607", "jp": 32, "issued_on": "2026-03-05",
     "valid_until": "2029-03-05", "verification_url": "https://sertifikat.bukittinggikota.go.id/verify/K7Q2M9XW4RTD8HVB3N",
     "supersedes": None},
)
REVOKED = define(
    "certification", "revoked", 1, RevokedV1,
    "A certificate was revoked by an admin, with the reason.",
    {**_CERT, "reason": "Data peserta tidak sesuai", "revoked_at": "2026-04-01T03:00:00Z"},
)
EXPIRING = define(
    "certification", "expiring", 1, ExpiringV1,
    "A certificate's validity ends within the notice period (emitted once per certificate).",
    {**_CERT, "valid_until": "2029-03-05", "days_left": 30},
)
EXPIRED = define(
    "certification", "expired", 1, ExpiredV1,
    "A certificate's validity ended (emitted once per certificate).",
    {**_CERT, "valid_until": "2029-03-05"},
)
