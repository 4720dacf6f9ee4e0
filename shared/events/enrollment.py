"""Events of the enrollment service (exchange ``enrollment.events``)."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared.events.common import (EXAMPLE_PARTICIPANT, EXAMPLE_PROGRAMME, EXAMPLE_ROSTER_ENTRY, LEFT_STATUSES,
                                  PARTICIPATION_ROLES, ParticipantSnapshot, ProgrammeSnapshot, RosterEntrySnapshot)
from shared import nip as nip_rules
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
    # peserta, or narasumber (a speaker: takes no seat); absent in events before issue 24.
    role = fields.Str(load_default="peserta", validate=validate.OneOf(PARTICIPATION_ROLES))


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
    # awaiting_approval: a self-enrolment withdrawn while it waited for the supervisor (issue 20)
    previous_status = fields.Str(required=True, validate=validate.OneOf(("enrolled", "waitlisted",
                                                                         "awaiting_approval")))
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
    role = fields.Str(load_default="peserta", validate=validate.OneOf(PARTICIPATION_ROLES))


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


# -- supervisor approval (izin atasan) and acting supervisors (Plt/Plh), issue 20 ---------------

ACTING_KINDS = ("plt", "plh")  # pelaksana tugas / pelaksana harian
_NIP = validate.Regexp(nip_rules.PATTERN)


class ApprovalRequestedV1(Schema):
    """An ASN enrolled themself in a programme that requires their supervisor's approval: the
    enrolment waits (``awaiting_approval``) holding a seat or a waitlist place until ``expires_at``."""

    enrolment_id = fields.Str(required=True)
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    participant = fields.Nested(ParticipantSnapshot, required=True)
    approver_nip = fields.Str(required=True, validate=_NIP)
    approver_name = fields.Str(allow_none=True, load_default=None)
    acting = fields.Str(allow_none=True, load_default=None, validate=validate.OneOf(ACTING_KINDS))
    holds = fields.Str(required=True, validate=validate.OneOf(("seat", "waitlist")))
    position = fields.Int(allow_none=True, load_default=None, validate=validate.Range(min=1))
    requested_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)


class ApprovalLinkV1(Schema):
    """Private (``enrollment.private``): the signed single-use link token of one approval request,
    for notification to send to the approver only."""

    enrolment_id = fields.Str(required=True)
    approver_nip = fields.Str(required=True, validate=_NIP)
    participant_nip = fields.Str(required=True, validate=_NIP)
    participant_name = fields.Str(required=True)
    programme_code = fields.Str(required=True)
    programme_title = fields.Str(required=True)
    token = fields.Str(required=True)
    expires_at = fields.DateTime(required=True)


class ApprovalRemindedV1(Schema):
    enrolment_id = fields.Str(required=True)
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    participant = fields.Nested(ParticipantSnapshot, required=True)
    approver_nip = fields.Str(required=True, validate=_NIP)
    expires_at = fields.DateTime(required=True)
    reminded_at = fields.DateTime(required=True)


class ApprovalGrantedV1(Schema):
    enrolment_id = fields.Str(required=True)
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    participant = fields.Nested(ParticipantSnapshot, required=True)
    approver_nip = fields.Str(required=True, validate=_NIP)
    decided_at = fields.DateTime(required=True)
    status = fields.Str(required=True, validate=validate.OneOf(("enrolled", "waitlisted")))


class ApprovalDeclinedV1(Schema):
    enrolment_id = fields.Str(required=True)
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    participant = fields.Nested(ParticipantSnapshot, required=True)
    approver_nip = fields.Str(required=True, validate=_NIP)
    reason = fields.Str(required=True)
    decided_at = fields.DateTime(required=True)


class ApprovalLapsedV1(Schema):
    enrolment_id = fields.Str(required=True)
    programme = fields.Nested(ProgrammeSnapshot, required=True)
    participant = fields.Nested(ParticipantSnapshot, required=True)
    approver_nip = fields.Str(required=True, validate=_NIP)
    lapsed_at = fields.DateTime(required=True)


class ActingSupervisorAssignedV1(Schema):
    supervisor_nip = fields.Str(required=True, validate=_NIP)
    acting_nip = fields.Str(required=True, validate=_NIP)
    acting_name = fields.Str(allow_none=True, load_default=None)
    kind = fields.Str(required=True, validate=validate.OneOf(ACTING_KINDS))
    agency = fields.Str(required=True)  # the supervisor's OPD code
    ends_at = fields.DateTime(required=True)
    assigned_at = fields.DateTime(required=True)


class ActingSupervisorRevokedV1(Schema):
    supervisor_nip = fields.Str(required=True, validate=_NIP)
    acting_nip = fields.Str(required=True, validate=_NIP)
    agency = fields.Str(required=True)
    revoked_at = fields.DateTime(required=True)


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

_SUPERVISOR = EXAMPLE_ROSTER_ENTRY["supervisor_nip"]
_ACTING = "198002142005012003"
_APPROVAL_PROGRAMME = {**EXAMPLE_PROGRAMME, "requires_supervisor_approval": True}

APPROVAL_REQUESTED = define(
    "enrollment", "approval_requested", 1, ApprovalRequestedV1,
    "An ASN enrolled themself in a programme that requires the supervisor's approval (izin atasan): "
    "the enrolment waits, holding a seat (or a waitlist place at `position`) until `expires_at`. "
    "`acting`: the approver is the supervisor's Plt/Plh.",
    {"enrolment_id": _ENROLMENT_ID, "programme": _APPROVAL_PROGRAMME, "participant": EXAMPLE_PARTICIPANT,
     "approver_nip": _SUPERVISOR, "approver_name": "Dr. Yuliani Syafitri, M.Si.", "acting": None,
     "holds": "seat", "position": None, "requested_at": "2026-01-10T02:15:00Z",
     "expires_at": "2026-01-13T02:15:00Z"},
)
APPROVAL_LINK = define(
    "enrollment", "approval_link", 1, ApprovalLinkV1,
    "Private: the signed single-use link token of an approval request, for notification to send to "
    "the approver only.",
    {"enrolment_id": _ENROLMENT_ID, "approver_nip": _SUPERVISOR, "participant_nip": EXAMPLE_PARTICIPANT["nip"],
     "participant_name": EXAMPLE_PARTICIPANT["name"], "programme_code": EXAMPLE_PROGRAMME["code"],
     "programme_title": EXAMPLE_PROGRAMME["title"], "token": "Njc1MmMxZjBhNGIxYzJkM2U0ZjUwNjA3LjE5NzgwMTA1MjAw"
     "MzEyMTAwNC4xNzY4MjcwNTAw.c2lnbmF0dXJlLWV4YW1wbGU", "expires_at": "2026-01-13T02:15:00Z"},
    private=True,
)
APPROVAL_REMINDED = define(
    "enrollment", "approval_reminded", 1, ApprovalRemindedV1,
    "An approval request is still undecided and lapses soon (ENROLLMENT_APPROVAL_REMINDER_HOURS before "
    "`expires_at`); sent once per request.",
    {"enrolment_id": _ENROLMENT_ID, "programme": _APPROVAL_PROGRAMME, "participant": EXAMPLE_PARTICIPANT,
     "approver_nip": _SUPERVISOR, "expires_at": "2026-01-13T02:15:00Z", "reminded_at": "2026-01-12T02:15:30Z"},
)
APPROVAL_GRANTED = define(
    "enrollment", "approval_granted", 1, ApprovalGrantedV1,
    "The approver approved a self-enrolment; the ordinary `enrolled` or `waitlisted` event follows in "
    "the same transaction (`status` says which).",
    {"enrolment_id": _ENROLMENT_ID, "programme": _APPROVAL_PROGRAMME, "participant": EXAMPLE_PARTICIPANT,
     "approver_nip": _SUPERVISOR, "decided_at": "2026-01-11T01:00:00Z", "status": "enrolled"},
)
APPROVAL_DECLINED = define(
    "enrollment", "approval_declined", 1, ApprovalDeclinedV1,
    "The approver declined a self-enrolment with a reason; its seat or waitlist place is freed (the "
    "first on the waitlist is promoted as on a cancellation).",
    {"enrolment_id": _ENROLMENT_ID, "programme": _APPROVAL_PROGRAMME, "participant": EXAMPLE_PARTICIPANT,
     "approver_nip": _SUPERVISOR, "reason": "Bertepatan dengan penyusunan anggaran",
     "decided_at": "2026-01-11T01:00:00Z"},
)
APPROVAL_LAPSED = define(
    "enrollment", "approval_lapsed", 1, ApprovalLapsedV1,
    "Nobody decided an approval request before it expired; its seat or waitlist place is freed.",
    {"enrolment_id": _ENROLMENT_ID, "programme": _APPROVAL_PROGRAMME, "participant": EXAMPLE_PARTICIPANT,
     "approver_nip": _SUPERVISOR, "lapsed_at": "2026-01-13T02:15:30Z"},
)
ACTING_SUPERVISOR_ASSIGNED = define(
    "enrollment", "acting_supervisor_assigned", 1, ActingSupervisorAssignedV1,
    "An operator set an acting supervisor (Plt/Plh) for a supervisor until `ends_at`: new approval "
    "requests of that supervisor's staff go to the acting person meanwhile.",
    {"supervisor_nip": _SUPERVISOR, "acting_nip": _ACTING, "acting_name": "Hendra Gunawan, S.T.", "kind": "plt",
     "agency": "DISKOMINFO", "ends_at": "2026-03-31T16:59:59Z", "assigned_at": "2026-01-05T02:00:00Z"},
)
ACTING_SUPERVISOR_REVOKED = define(
    "enrollment", "acting_supervisor_revoked", 1, ActingSupervisorRevokedV1,
    "An operator ended an acting supervisor's delegation before its end date.",
    {"supervisor_nip": _SUPERVISOR, "acting_nip": _ACTING, "agency": "DISKOMINFO",
     "revoked_at": "2026-02-01T02:00:00Z"},
)
