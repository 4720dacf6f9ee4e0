"""Events of the reporting service (exchange ``reporting.events``)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.events.common import COMPETENCY_TYPES, PROGRAMME_KINDS, ParticipantSnapshot
from shared.events.definition import define


class SuggestedProgramme(Schema):
    code = fields.Str(required=True)
    title = fields.Str(required=True)
    kind = fields.Str(required=True, validate=validate.OneOf(PROGRAMME_KINDS))
    competency_type = fields.Str(required=True, validate=validate.OneOf(COMPETENCY_TYPES))
    jp = fields.Int(required=True)
    starts_at = fields.DateTime(allow_none=True, load_default=None)
    enrolment_closes_at = fields.DateTime(allow_none=True, load_default=None)


class ShortfallDetectedV1(Schema):
    participant = fields.Nested(ParticipantSnapshot, required=True)
    year = fields.Int(required=True)
    checkpoint = fields.Str(required=True)  # e.g. "2026-Q3"
    jp_total = fields.Int(required=True)
    jp_target = fields.Int(required=True)
    jp_missing = fields.Int(required=True)
    consecutive_shortfalls = fields.Int(required=True, validate=validate.Range(min=1))
    suggested_programmes = fields.List(fields.Nested(SuggestedProgramme), required=True)


SHORTFALL_DETECTED = define(
    "reporting", "shortfall_detected", 1, ShortfallDetectedV1,
    "At a checkpoint an ASN is below the yearly JP target; carries what a nudge needs.",
    {"participant": {"nip": "198503122010011002", "id_kind": "nip", "name": "Rahmat Hidayat",
                     "agency": "DISKOMINFO", "agency_name": "Dinas Komunikasi dan Informatika", "position": None},
     "year": 2026, "checkpoint": "2026-Q3", "jp_total": 8, "jp_target": 20, "jp_missing": 12,
     "consecutive_shortfalls": 2,
     "suggested_programmes": [{"code": "SEM-2026-07", "title": "Seminar Transformasi Digital Pemerintahan",
                               "kind": "seminar", "competency_type": "pemerintahan", "jp": 4,
                               "starts_at": "2026-10-14T02:00:00Z", "enrolment_closes_at": "2026-10-10T16:59:59Z"}]},
)
