"""Events of the enrollment service (exchange ``enrollment.events``)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.events.common import (EXAMPLE_PARTICIPANT, EXAMPLE_PROGRAMME, EXAMPLE_ROSTER_ENTRY, LEFT_STATUSES,
                                  ParticipantSnapshot, ProgrammeSnapshot, RosterEntrySnapshot)
from shared.events.definition import define


class ProgrammePublishedV1(Schema):
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    capacity = fields.Int(required=True, validate=validate.Range(min=1))
    enrolment_opens_at = fields.DateTime(required=True)
    enrolment_closes_at = fields.DateTime(required=True)
    passing_score = fields.Float(allow_none=True, load_default=None)


class ProgrammeCancelledV1(Schema):
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    reason = fields.Str(required=True)
    cancelled_at = fields.DateTime(required=True)


class EnrolledV1(Schema):
    enrolment_id = fields.Str(required=True)
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    participant = fields.Nested(ParticipantSnapshot, required=True)
    enrolled_at = fields.DateTime(required=True)
    promoted_from_waitlist = fields.Bool(required=True)


class WaitlistedV1(Schema):
    enrolment_id = fields.Str(required=True)
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    participant = fields.Nested(ParticipantSnapshot, required=True)
    position = fields.Int(required=True, validate=validate.Range(min=1))
    waitlisted_at = fields.DateTime(required=True)


class CancelledV1(Schema):
    enrolment_id = fields.Str(required=True)
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    participant = fields.Nested(ParticipantSnapshot, required=True)
    previous_status = fields.Str(required=True, validate=validate.OneOf(("enrolled", "waitlisted")))
    reason = fields.Str(required=True)
    cancelled_by = fields.Str(required=True, validate=validate.OneOf(("participant", "operator", "programme_cancelled")))
    cancelled_at = fields.DateTime(required=True)


class CompletedV1(Schema):
    enrolment_id = fields.Str(required=True)
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    participant = fields.Nested(ParticipantSnapshot, required=True)
    result = fields.Str(required=True, validate=validate.OneOf(("passed", "failed", "no_show")))
    passed = fields.Bool(required=True)
    attended = fields.Bool(required=True)
    score = fields.Float(allow_none=True, load_default=None)
    jp_earned = fields.Int(required=True, validate=validate.Range(min=0))
    completed_at = fields.DateTime(required=True)


class AsnRegisteredV1(Schema):
    asn = fields.Nested(RosterEntrySnapshot, required=True)
    registered_at = fields.DateTime(required=True)


class AsnUpdatedV1(Schema):
    asn = fields.Nested(RosterEntrySnapshot, required=True)
    # The fields of ``asn`` that changed (e.g. ["agency", "status"] when someone comes back).
    changed = fields.List(fields.Str(), required=True)
    updated_at = fields.DateTime(required=True)


class AsnLeftV1(Schema):
    asn = fields.Nested(RosterEntrySnapshot, required=True)  # its status says why
    left_at = fields.DateTime(required=True)
    reason = fields.Str(required=True, validate=validate.OneOf(LEFT_STATUSES))


class AsnContactV1(Schema):
    """Private (``enrollment.private``): an ASN's contact data from the roster upload, for
    notification only. ``None`` clears a value; the highest ``version`` wins."""

    nip = fields.Str(required=True)
    email = fields.Str(allow_none=True, load_default=None)
    phone = fields.Str(allow_none=True, load_default=None)  # E.164, e.g. +6281234567890
    version = fields.Int(required=True, validate=validate.Range(min=1))
    changed_at = fields.DateTime(required=True)


_ENROLMENT_ID = "6752c1f0a4b1c2d3e4f50607"

PROGRAMME_PUBLISHED = define(
    "enrollment", "programme_published", 1, ProgrammePublishedV1,
    "A programme was published and opens for enrolment.",
    {"programme": EXAMPLE_PROGRAMME, "capacity": 30, "enrolment_opens_at": "2026-01-05T00:00:00Z",
     "enrolment_closes_at": "2026-02-20T16:59:59Z", "passing_score": 70.0},
)
PROGRAMME_UPDATED = define(
    "enrollment", "programme_updated", 1, ProgrammePublishedV1,
    "A published programme changed (schedule, capacity, window...); carries the full new state.",
    {"programme": EXAMPLE_PROGRAMME, "capacity": 40, "enrolment_opens_at": "2026-01-05T00:00:00Z",
     "enrolment_closes_at": "2026-02-25T16:59:59Z", "passing_score": 70.0},
)
PROGRAMME_CANCELLED = define(
    "enrollment", "programme_cancelled", 1, ProgrammeCancelledV1,
    "A programme was cancelled; each of its enrolments is cancelled too (one `cancelled` each).",
    {"programme": EXAMPLE_PROGRAMME, "reason": "Narasumber berhalangan", "cancelled_at": "2026-02-25T03:00:00Z"},
)
ENROLLED = define(
    "enrollment", "enrolled", 1, EnrolledV1,
    "An ASN holds a seat in a programme (directly, or promoted from the waitlist).",
    {"enrolment_id": _ENROLMENT_ID, "programme": EXAMPLE_PROGRAMME, "participant": EXAMPLE_PARTICIPANT,
     "enrolled_at": "2026-01-10T02:15:00Z", "promoted_from_waitlist": False},
)
WAITLISTED = define(
    "enrollment", "waitlisted", 1, WaitlistedV1,
    "The programme is full; the ASN waits at `position` in arrival order.",
    {"enrolment_id": _ENROLMENT_ID, "programme": EXAMPLE_PROGRAMME, "participant": EXAMPLE_PARTICIPANT,
     "position": 3, "waitlisted_at": "2026-01-10T02:15:00Z"},
)
CANCELLED = define(
    "enrollment", "cancelled", 1, CancelledV1,
    "An enrolment or waitlist place was cancelled.",
    {"enrolment_id": _ENROLMENT_ID, "programme": EXAMPLE_PROGRAMME, "participant": EXAMPLE_PARTICIPANT,
     "previous_status": "enrolled", "reason": "Tugas dinas luar kota", "cancelled_by": "participant",
     "cancelled_at": "2026-01-20T04:00:00Z"},
)
COMPLETED = define(
    "enrollment", "completed", 1, CompletedV1,
    "An enrolment ended: passed, failed or no-show. `jp_earned` is 0 unless passed.",
    {"enrolment_id": _ENROLMENT_ID, "programme": EXAMPLE_PROGRAMME, "participant": EXAMPLE_PARTICIPANT,
     "result": "passed", "passed": True, "attended": True, "score": 86.5, "jp_earned": 32,
     "completed_at": "2026-03-05T09:30:00Z"},
)

ASN_REGISTERED = define(
    "enrollment", "asn_registered", 1, AsnRegisteredV1,
    "An ASN appeared on the roster (daftar ASN) of Bukittinggi. Carries no contact data.",
    {"asn": EXAMPLE_ROSTER_ENTRY, "registered_at": "2026-01-05T02:00:00Z"},
)
ASN_UPDATED = define(
    "enrollment", "asn_updated", 1, AsnUpdatedV1,
    "An ASN's roster entry changed (agency, jabatan, golongan, supervisor, or back to aktif); "
    "carries the whole new entry.",
    {"asn": {**EXAMPLE_ROSTER_ENTRY, "golongan": "III/d", "version": 2}, "changed": ["golongan"],
     "updated_at": "2026-04-01T02:00:00Z"},
)
ASN_LEFT = define(
    "enrollment", "asn_left", 1, AsnLeftV1,
    "An ASN left the roster: retired, moved away, stopped, died, or missing from a confirmed full "
    "import of their agency. They no longer count in their agency's figures from then on.",
    {"asn": {**EXAMPLE_ROSTER_ENTRY, "status": "pensiun", "version": 3}, "left_at": "2026-07-01T02:00:00Z",
     "reason": "pensiun"},
)
ASN_CONTACT = define(
    "enrollment", "asn_contact", 1, AsnContactV1,
    "Private: the e-mail and telephone of an ASN from the roster upload, for notification only.",
    {"nip": "198503122010011002", "email": "rahmat.hidayat@bukittinggikota.go.id", "phone": "+6281266001122",
     "version": 1, "changed_at": "2026-01-05T02:00:00Z"},
    private=True,
)
