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


class PeerComparison(Schema):
    """How the ASN's colleagues stand: only where the agency has at least 5 rostered ASN."""

    agency_asn = fields.Int(required=True, validate=validate.Range(min=5))  # active on the roster
    met_share = fields.Float(required=True, validate=validate.Range(min=0, max=1))  # met this checkpoint's target


class Supervisor(Schema):
    nip = fields.Str(required=True)
    name = fields.Str(allow_none=True, load_default=None)


class ShortfallDetectedV1(Schema):
    participant = fields.Nested(ParticipantSnapshot, required=True)
    year = fields.Int(required=True)
    checkpoint = fields.Str(required=True)  # e.g. "2026-Q3"
    jp_total = fields.Int(required=True)
    jp_target = fields.Int(required=True)
    jp_missing = fields.Int(required=True)
    consecutive_shortfalls = fields.Int(required=True, validate=validate.Range(min=1))
    suggested_programmes = fields.List(fields.Nested(SuggestedProgramme), required=True)
    # Added with the roster (issue 19); absent in older events.
    yearly_target = fields.Int(allow_none=True, load_default=None)  # the ASN's own, pro-rated from TMT
    never_enrolled = fields.Bool(allow_none=True, load_default=None)
    peers = fields.Nested(PeerComparison, allow_none=True, load_default=None)
    supervisor = fields.Nested(Supervisor, allow_none=True, load_default=None)  # atasan langsung, if known
    # Who gets a summary listing this ASN: "supervisor" (first miss, supervisor known) and/or
    # "agency" (the OPD operator: repeated misses, or no known supervisor). Decided by reporting.
    escalate_to = fields.List(fields.Str(validate=validate.OneOf(("supervisor", "agency"))), allow_none=True,
                              load_default=None)


SHORTFALL_DETECTED = define(
    "reporting", "shortfall_detected", 1, ShortfallDetectedV1,
    "At a checkpoint an ASN is below the yearly JP target; carries what a nudge needs.",
    {"participant": {"nip": "198503122010011002", "id_kind": "nip", "name": "Rahmat Hidayat",
                     "agency": "DISKOMINFO", "agency_name": "Dinas Komunikasi dan Informatika", "position": None},
     "year": 2026, "checkpoint": "2026-Q3", "jp_total": 8, "jp_target": 20, "jp_missing": 12,
     "consecutive_shortfalls": 2, "yearly_target": 20, "never_enrolled": False,
     "peers": {"agency_asn": 42, "met_share": 0.64},
     "supervisor": {"nip": "197801052003121004", "name": "Yusnani"}, "escalate_to": ["supervisor", "agency"],
     "suggested_programmes": [{"code": "SEM-2026-07", "title": "Seminar Transformasi Digital Pemerintahan",
                               "kind": "seminar", "competency_type": "pemerintahan", "jp": 4,
                               "starts_at": "2026-10-14T02:00:00Z", "enrolment_closes_at": "2026-10-10T16:59:59Z"}]},
)
