"""Marshmallow schemas of the enrollment HTTP API: requests (load) and responses (dump).

They are the single source of the validation and of GET /openapi.json.
"""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from services.enrollment.domain import (ACTING_KINDS, APPROVED, CANCELLED_BY, DECLINED, ENROLMENT_STATUSES, LAPSED,
                                        MARKING_MAX_ROWS, NAME_MAX, PROGRAMME_STATUSES, REASON_MAX, SEAT, TEXT_MAX,
                                        WAITLIST, iso, text_problem)
from shared.events.common import (COMPETENCY_TYPES, ID_KINDS, JENIS_ASN, ORGANISERS, PARTICIPATION_ROLES,
                                  PROGRAMME_KINDS, ROSTER_STATUSES, ParticipantSnapshot)
from shared.nip import NipField
from shared.paging import page_query

CODE = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                       error="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit")
MAX_PAGE = 500


class UtcDateTime(fields.AwareDateTime):
    """An RFC 3339 time with an offset on input; UTC with ``Z`` on output."""

    def __init__(self, **kwargs):
        kwargs.setdefault("error_messages", {"invalid_awareness": "give a timezone offset, e.g. Z or +07:00"})
        super().__init__(**kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return iso(value) if value is not None else None


class SafeText(validate.Validator):
    """Free text that may end up in a spreadsheet export: no formula start (= + - @, tab,
    CR) and no control characters; ``person_name`` also requires the characters of a name
    (domain.text_problem, which the CSV rows go through too). Lengths stay with
    ``validate.Length``, which the OpenAPI document shows."""

    # What the check lets through, for the OpenAPI document (shared.openapi.validator_properties):
    # no control character (Unicode Cc) anywhere, and no = + - @ first after leading spaces; a
    # name starts with a letter and goes on with letters, digits, spaces and . , ' ’ -.
    _SPACE = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    _TEXT = rf"^[{_SPACE}]*([^=+\-@{_SPACE}\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*)?$"
    _NAME = r"^ *([^\W\d_](?:[^\W_]|[ .,'\u2019-])*)? *$"

    def __init__(self, person_name: bool = False):
        self.person_name = person_name
        self.openapi_properties = {"pattern": self._NAME if person_name else self._TEXT}

    def __call__(self, value: str) -> str:
        problem = text_problem(value, None, self.person_name)
        if problem:
            raise ValidationError(f"the value {problem}")
        return value


def _score(**kwargs):
    return fields.Float(validate=validate.Range(min=0, max=100), allow_nan=False, **kwargs)


class ProgrammeFields(Schema):
    title = fields.Str(required=True, validate=[validate.Length(min=3, max=200), SafeText()])
    description = fields.Str(allow_none=True, validate=validate.Length(max=5000))
    kind = fields.Str(required=True, validate=validate.OneOf(PROGRAMME_KINDS))
    competency_type = fields.Str(required=True, validate=validate.OneOf(COMPETENCY_TYPES))
    jp = fields.Int(allow_none=True, validate=validate.Range(min=0, max=1000),
                    metadata={"description": "credit hours; leave out to derive it from the duration"})
    duration_minutes = fields.Int(allow_none=True, validate=validate.Range(min=1, max=100_000),
                                  metadata={"description": "learning time, converted to JP (45 min = 1 JP)"})
    duration_days = fields.Float(allow_none=True, validate=validate.Range(min=0, min_inclusive=False, max=365),
                                 allow_nan=False,
                                 metadata={"description": "days, converted to JP by kind (seminar 4, lokakarya 5)"})
    organisers = fields.List(fields.Str(validate=validate.OneOf(ORGANISERS)), required=True,
                             validate=validate.Length(min=1, max=2))
    speakers = fields.List(fields.Str(validate=[validate.Length(min=1, max=200), SafeText()]),
                           validate=validate.Length(max=50),
                           metadata={"description": "narasumber, for seminar and lokakarya"})
    starts_at = UtcDateTime(required=True)
    ends_at = UtcDateTime(required=True)
    location = fields.Str(allow_none=True, validate=[validate.Length(max=300), SafeText()])
    enrolment_opens_at = UtcDateTime(required=True)
    enrolment_closes_at = UtcDateTime(required=True)
    capacity = fields.Int(required=True, validate=validate.Range(min=1, max=100_000))
    passing_score = _score(allow_none=True)
    grants_certificate = fields.Bool(allow_none=True,
                                     metadata={"description": "defaults to true for sertifikasi"})
    certificate_validity_months = fields.Int(allow_none=True, validate=validate.Range(min=1, max=600))
    certification_line = fields.Str(allow_none=True, validate=[validate.Length(min=1, max=64), SafeText()],
                                    metadata={"description": "later certificates of the same line supersede"})
    requires_supervisor_approval = fields.Bool(
        dump_default=False, metadata={"description": "an ASN's self-enrolment waits for their supervisor's approval "
                                                     "(izin atasan), holding its place; default false"})


class ProgrammeCreateSchema(ProgrammeFields):
    code = fields.Str(required=True, validate=CODE)

    @post_load
    def normalise(self, data, **kwargs):
        data["code"] = data["code"].upper()  # one programme per code, whatever the case typed
        return data


class ProgrammeUpdateSchema(ProgrammeFields):
    """Every field optional (PATCH); the code cannot change."""

    def __init__(self, **kwargs):
        super().__init__(partial=True, **kwargs)

    @validates_schema
    def not_empty(self, data, **kwargs):
        if not data:
            raise ValidationError("give at least one field to change", "_schema")


class ProgrammeCancelSchema(Schema):
    reason = fields.Str(required=True, validate=[validate.Length(min=3, max=500), SafeText()])


class ProgrammeSchema(ProgrammeFields):
    code = fields.Str(attribute="_id")
    jp_source = fields.Str(metadata={"description": "given, or derived from the duration"})
    status = fields.Str(validate=validate.OneOf(PROGRAMME_STATUSES))
    seats_taken = fields.Int()
    seats_left = fields.Method("_seats_left", metadata={"type": "integer"})
    waitlisted = fields.Int()
    # by the service's clock at the time of the answer: the use case puts it on the programme
    enrolment_open = fields.Bool(dump_only=True)
    promotes_waitlist = fields.Bool(dump_only=True, metadata={
        "description": "a freed seat goes to the waitlist by itself now: a scheduled kind until it starts, a "
                       "self-paced kind until it ends; otherwise an operator promotes by hand (ADR 0012)"})
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    published_at = UtcDateTime(allow_none=True)
    cancelled_at = UtcDateTime(allow_none=True)
    cancel_reason = fields.Str(allow_none=True)
    revision = fields.Int(dump_default=1, metadata={"description": "1 at creation, +1 on every change of the "
                                                                  "published programme (PATCH, cancel): the ICS "
                                                                  "SEQUENCE"})
    sessions = fields.List(fields.Nested(lambda: SessionSchema()), dump_only=True,
                           metadata={"description": "the sessions attendance is marked for: the WIB calendar days "
                                                    "from starts_at to ends_at (at most 366); none for a self-paced "
                                                    "kind (e-learning, coaching, mentoring)"})

    def _seats_left(self, p):
        return max(0, p["capacity"] - p["seats_taken"])


class ParticipantInputSchema(Schema):
    nip = NipField(required=True,
                   error_messages={"invalid_nip": "NIP must have 18 digits (the printed form with spaces is "
                                                  "accepted)"},
                   metadata={"description": "18-digit NIP, or NI PPPK for contract staff (spaces allowed)"})
    id_kind = fields.Str(allow_none=True, validate=validate.OneOf(ID_KINDS),
                         metadata={"description": "told apart from the number when left out"})
    name = fields.Str(allow_none=True, validate=[validate.Length(max=NAME_MAX), SafeText(person_name=True)],
                      metadata={"description": "ignored for an ASN aktif on the roster (the roster's name is "
                                               "taken); required when an admin enrols an ASN not on it; letters, "
                                               "digits, spaces and . , ' - (academic titles: Dr. Siti Aminah, "
                                               "S.Kom.)"})
    agency = fields.Str(allow_none=True, validate=validate.Length(max=64),
                        metadata={"description": "OPD code of Kota Bukittinggi, e.g. DISKOMINFO: taken from the "
                                                 "roster (one that contradicts it is refused); an admin's word "
                                                 "only for an ASN not on the roster (ENROLLMENT_UNLISTED)"})
    position = fields.Str(allow_none=True, validate=[validate.Length(max=TEXT_MAX), SafeText()],
                          metadata={"description": "jabatan; ignored for an ASN aktif on the roster"})
    role = fields.Str(load_default=PARTICIPATION_ROLES[0], validate=validate.OneOf(PARTICIPATION_ROLES),
                      metadata={"description": "peserta (default) or narasumber: a speaker of a seminar or lokakarya, "
                                               "enrolled by an operator or admin only (an ASN enrolling themself: "
                                               "403), taking no seat and never waitlisted; another kind: 422"})


class EnrolmentCancelSchema(Schema):
    reason = fields.Str(validate=[validate.Length(min=1, max=500), SafeText()], load_default=None)
    # Accepted so existing clients keep working, but never believed: who cancelled is taken
    # from the token (the ASN themself: participant; staff: operator), issue 17.
    cancelled_by = fields.Str(validate=validate.OneOf(CANCELLED_BY), load_default=None,
                              metadata={"description": "ignored: participant when the ASN cancels with their own "
                                                       "token, operator when staff cancel"})


class AttendanceSchema(Schema):
    attended = fields.Bool(required=True)


class CompletionSchema(Schema):
    score = _score(allow_none=True, load_default=None)
    attended = fields.Bool(allow_none=True, load_default=None,
                           metadata={"description": "false records a no-show; a score implies true"})


class ApprovalSchema(Schema):
    """The supervisor's approval of a self-enrolment (izin atasan, ADR 0092)."""

    approver_nip = fields.Str()
    approver_name = fields.Str(allow_none=True)
    acting = fields.Str(allow_none=True, validate=validate.OneOf(ACTING_KINDS),
                        metadata={"description": "the approver is the supervisor's Plt/Plh"})
    requested_at = UtcDateTime()
    expires_at = UtcDateTime(metadata={"description": "the request lapses then, freeing its place"})
    reminded_at = UtcDateTime(allow_none=True)
    decided_at = UtcDateTime(allow_none=True)
    decision = fields.Str(allow_none=True, validate=validate.OneOf((APPROVED, DECLINED, LAPSED)))
    reason = fields.Str(allow_none=True)


class EnrolmentProgrammeSchema(Schema):
    code = fields.Str(attribute="_id")
    title = fields.Str()
    kind = fields.Str()
    jp = fields.Int()
    starts_at = UtcDateTime()
    ends_at = UtcDateTime()
    location = fields.Str(allow_none=True)


class EnrolmentSchema(Schema):
    id = fields.Str(attribute="_id")
    programme_code = fields.Str()
    nip = fields.Str()
    participant = fields.Nested(ParticipantSnapshot)
    role = fields.Str(dump_default=PARTICIPATION_ROLES[0], validate=validate.OneOf(PARTICIPATION_ROLES),
                      metadata={"description": "peserta, or narasumber (takes no seat)"})
    status = fields.Str(validate=validate.OneOf(ENROLMENT_STATUSES))
    waitlist_position = fields.Int(allow_none=True,
                                   metadata={"description": "current place in the queue (moves up as others leave)"})
    waitlist_position_at_arrival = fields.Int(allow_none=True)
    promoted_from_waitlist = fields.Bool()
    enrolled_at = UtcDateTime(allow_none=True)
    waitlisted_at = UtcDateTime(allow_none=True)
    attended = fields.Bool(allow_none=True, metadata={"description": "present on at least one session (or as "
                                                                     "POST /enrolments/{id}/attendance recorded it)"})
    attendance_days = fields.Dict(keys=fields.Str(), values=fields.Bool(), dump_default={},
                                  metadata={"description": "attendance per session: {YYYY-MM-DD (WIB): present}"})
    attendance_recorded_at = UtcDateTime(allow_none=True)
    result = fields.Str(allow_none=True, validate=validate.OneOf(("passed", "failed", "no_show")))
    passed = fields.Bool(allow_none=True)
    score = fields.Float(allow_none=True)
    jp_earned = fields.Int(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    cancelled_at = UtcDateTime(allow_none=True)
    cancel_reason = fields.Str(allow_none=True)
    cancelled_by = fields.Str(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()
    holds = fields.Str(allow_none=True, validate=validate.OneOf((SEAT, WAITLIST)),
                       metadata={"description": "awaiting_approval: the seat or waitlist place the request holds"})
    approval = fields.Nested(ApprovalSchema, allow_none=True,
                             metadata={"description": "a self-enrolment needing the supervisor's approval"})
    programme = fields.Nested(EnrolmentProgrammeSchema, allow_none=True,
                              metadata={"description": "in GET /approvals: the programme asked for"})
    waitlist_note = fields.Str(dump_only=True, metadata={
        "description": "in a cancellation's answer only: why the seat it freed was not given to the waitlist "
                       "(the programme has started or ended; Bahasa Indonesia)"})
    # The same enrolment (programme + NIP) taken up again after a cancellation: a calendar's copy
    # of it must get a higher SEQUENCE than the cancellation it saw (portal .ics).
    reactivations = fields.Function(lambda enrolment: len(enrolment.get("history") or ()),
                                     metadata={"type": "integer",
                                               "description": "times enrolled again after a cancellation"})


PageQuery = page_query(MAX_PAGE)


class ProgrammeQuery(PageQuery):
    status = fields.Str(validate=validate.OneOf(PROGRAMME_STATUSES))
    kind = fields.Str(validate=validate.OneOf(PROGRAMME_KINDS))
    competency_type = fields.Str(validate=validate.OneOf(COMPETENCY_TYPES))
    organiser = fields.Str(validate=validate.OneOf(ORGANISERS))


class EnrolmentQuery(PageQuery):
    programme = fields.Str(validate=CODE)
    nip = NipField(metadata={"description": "18-digit NIP or NI PPPK (spaces allowed)"})
    status = fields.Str(validate=validate.OneOf(ENROLMENT_STATUSES))
    agency = fields.Str(validate=validate.Length(min=1, max=64))
    role = fields.Str(validate=validate.OneOf(PARTICIPATION_ROLES))


class ProgrammePageSchema(Schema):
    items = fields.List(fields.Nested(ProgrammeSchema))
    next_cursor = fields.Str(allow_none=True)
    total = fields.Int()


class EnrolmentPageSchema(Schema):
    items = fields.List(fields.Nested(EnrolmentSchema))
    next_cursor = fields.Str(allow_none=True)
    total = fields.Int()


# GET /enrolments/counts: the programmes of one page of a list (the portal shows 20 a page)
COUNTS_MAX_PROGRAMMES = 100


class EnrolmentCountQuery(Schema):
    programme = fields.List(fields.Str(validate=CODE), required=True,
                            validate=validate.Length(min=1, max=COUNTS_MAX_PROGRAMMES),
                            metadata={"description": f"a programme code; repeat it for each programme (1 to "
                                                     f"{COUNTS_MAX_PROGRAMMES})"})
    agency = fields.Str(validate=validate.Length(min=1, max=64),
                        metadata={"description": "OPD code (admin; an operator counts its own OPD only)"})


class EnrolmentCountsSchema(Schema):
    counts = fields.Dict(keys=fields.Str(), values=fields.Dict(keys=fields.Str(), values=fields.Int()),
                         metadata={"description": "{programme code: {enrolment status: number}} for every code "
                                                  "asked (upper case); a status with none is left out, a code "
                                                  "with no enrolments (or unknown) is {}. Statuses count "
                                                  "peserta only (the seats); narasumber: the speakers not "
                                                  "cancelled, any status"})


class BulkEnrolmentCsv(Schema):
    """Columns of the enrolment CSV (header row required; ',' or ';' separated, UTF-8)."""

    nip = NipField(required=True, metadata={"description": "also: nip_pppk, ni_pppk"})
    name = fields.Str(metadata={"description": "also: nama"})
    agency = fields.Str(metadata={"description": "OPD code; also: opd, instansi"})
    position = fields.Str(metadata={"description": "also: jabatan"})
    id_kind = fields.Str(metadata={"description": "nip or ni_pppk; told apart when blank"})
    reenrol = fields.Str(metadata={"description": "ya: enrol again an ASN whose enrolment in this programme was "
                                                  "cancelled (blank/tidak: it stays cancelled); also: daftar_ulang"})
    peran = fields.Str(metadata={"description": "peserta (also blank) or narasumber (seminar and lokakarya; an "
                                                "operator or admin; no seat); also: role"})


class BulkCompletionCsv(Schema):
    """Columns of the completion CSV: a score, and/or attended (ya/tidak)."""

    nip = NipField(required=True)
    score = fields.Str(metadata={"description": "0-100, decimal point or comma; also: nilai"})
    attended = fields.Str(metadata={"description": "ya/tidak, hadir/tidak hadir, true/false, 1/0; also: hadir"})


class BulkRowSchema(Schema):
    """One line of the streamed answer (application/x-ndjson); the last line is a summary."""

    row = fields.Int(metadata={"description": "line in the file (the header is line 1)"})
    nip = fields.Str()
    accepted = fields.Bool()
    outcome = fields.Str(metadata={"description": "created / reactivated / unchanged, or completed / unchanged"})
    note = fields.Str(metadata={"description": "cancelled_earlier: unchanged because the enrolment was cancelled "
                                               "and the row has no reenrol=ya"})
    enrolment_id = fields.Str()
    enrolment_status = fields.Str()
    role = fields.Str(metadata={"description": "enrolment rows: peserta or narasumber"})
    waitlist_position = fields.Int()
    result = fields.Str()
    jp_earned = fields.Int()
    field = fields.Str(metadata={"description": "rejected: the column to blame"})
    reason = fields.Str(metadata={"description": "rejected: why"})
    summary = fields.Dict(metadata={"description": "last line only: rows, accepted, rejected, per outcome"})



# -- the roster (daftar ASN) -------------------------------------------------------------------

class RosterImportQuery(Schema):
    """The query of POST /roster/import (checked further by domain.roster_import)."""

    mode = fields.Str(load_default=None, validate=validate.Length(max=16),
                      metadata={"description": "sebagian (partial, the default): adds and updates; penuh (full): "
                                               "replaces the roster of kode_opd, marking its aktif ASN missing "
                                               "from the file tidak_tercantum", "enum": ["sebagian", "penuh",
                                                                                        "partial", "full"]})
    kode_opd = fields.Str(load_default=None, validate=validate.Length(max=64),
                          metadata={"description": "with mode=penuh: the OPD whose roster the file replaces"})
    konfirmasi = fields.Str(load_default=None, validate=validate.Length(max=8),
                            metadata={"description": "ya: go ahead although more than ROSTER_CONFIRM_LEFT_SHARE "
                                                     "(default half) of the OPD's aktif ASN would be marked left "
                                                     "(domain.parse_yes: any case)",
                                      "enum": ["ya", "y", "yes", "true", "1", "tidak", "t", "no", "n", "false", "0", ""]})
    format = fields.Str(load_default=None, validate=validate.OneOf(("csv", "ndjson")),
                        metadata={"description": "csv: the results as CSV (or send Accept: text/csv)"})


class RosterCsv(Schema):
    """Columns of a roster file: CSV (UTF-8; ',' ';' or tab) or XLSX (first sheet, header row).
    Headers are compared without case, spaces or punctuation, and the SIASN export's names
    are accepted. A column the file lacks leaves the stored value alone; a blank optional cell
    clears it. Rejected rows name the column and the reason in Bahasa Indonesia."""

    nip = NipField(required=True, metadata={"description": "NIP or NI PPPK, printed form with spaces accepted; "
                                                           "also: nip_baru, NIP BARU. Stored as a number by Excel "
                                                           "(1,98E+17) it is refused: its last digits are lost"})
    nama = fields.Str(metadata={"description": "required for a new ASN; also: name, nama_lengkap"})
    jenis_asn = fields.Str(metadata={"description": "PNS (CPNS counts as PNS) or PPPK; derived from the number "
                                                    "when blank; also: jenis_pegawai, jenis_pegawai_nama"})
    kode_opd = fields.Str(metadata={"description": "OPD code (shared reference agencies); also: opd, unor_id; "
                                                   "or nama_opd / unor_nama with the OPD's name"})
    jabatan = fields.Str(metadata={"description": "position; also: jabatan_nama"})
    golongan = fields.Str(metadata={"description": "PNS I/a..IV/e, PPPK I..XVII; also: pangkat, gol_akhir_nama, "
                                                   "golongan_nama"})
    nip_atasan = fields.Str(metadata={"description": "the supervisor's (atasan langsung) NIP; also: "
                                                     "nip_atasan_langsung"})
    status = fields.Str(metadata={"description": "aktif (default), pensiun, pindah (mutasi keluar), berhenti "
                                                 "(diberhentikan), meninggal (wafat); also: kedudukan_hukum_nama"})
    email = fields.Str(metadata={"description": "sent privately to notification, never stored here nor published "
                                                "(ADR 0080). email and telepon are one contact: a file with either "
                                                "column states both, a blank cell clears"})
    telepon = fields.Str(metadata={"description": "normalised to E.164 +62...; also: nomor_hp, no_hp"})
    tmt = fields.Str(metadata={"description": "start of service, YYYY-MM-DD, DD-MM-YYYY or DD/MM/YYYY, not in the "
                                              "future; also: tmt_cpns, tmt_pppk. Blank for a PNS: the appointment "
                                              "month in the NIP (digits 9-14)"})


class RosterRowSchema(Schema):
    """One line of the streamed answer of a roster import; the last line is a summary."""

    row = fields.Int(metadata={"description": "line of the CSV, or row of the sheet (the header is 1); absent on "
                                              "the lines of ASN a full import marked tidak_tercantum (after the "
                                              "rows: outcome left, status tidak_tercantum)"})
    nip = fields.Str()
    accepted = fields.Bool()
    outcome = fields.Str(metadata={"description": "created / updated / unchanged; left for an ASN a full import "
                                                  "marked tidak_tercantum"})
    changed = fields.List(fields.Str(), metadata={"description": "updated: the fields that changed (kontak: the "
                                                                 "e-mail or telephone)"})
    status = fields.Str(validate=validate.OneOf(ROSTER_STATUSES))
    field = fields.Str(metadata={"description": "rejected: the column to blame"})
    reason = fields.Str(metadata={"description": "rejected: why, in Bahasa Indonesia"})
    summary = fields.Dict(metadata={"description": "last line only: rows, accepted, rejected, created, updated, "
                                                   "unchanged, left (marked tidak_tercantum), seconds"})


class RosterQuery(PageQuery):
    agency = fields.Str(validate=validate.Length(min=1, max=64), metadata={"description": "OPD code"})
    kode_opd = fields.Str(validate=validate.Length(min=1, max=64), metadata={"description": "the same as agency"})
    status = fields.Str(validate=validate.OneOf(ROSTER_STATUSES))
    jenis_asn = fields.Str(validate=validate.OneOf(JENIS_ASN))
    never_enrolled = fields.Str(validate=validate.OneOf(("ya", "tidak", "true", "false", "1", "0")),
                                metadata={"description": "ya: only ASN with no enrolment of any status, ever"})
    q = fields.Str(validate=validate.Length(min=1, max=100),
                   metadata={"description": "the beginning of a name (case ignored), or a NIP or its beginning"})

    @post_load
    def normalise(self, data, **kwargs):
        if "kode_opd" in data:
            data.setdefault("agency", data.pop("kode_opd"))
        data["never_enrolled"] = data.get("never_enrolled") in ("ya", "true", "1")
        return data


class RosterEntrySchema(Schema):
    nip = fields.Str(attribute="_id")
    id_kind = fields.Str(validate=validate.OneOf(ID_KINDS))
    name = fields.Str()
    jenis_asn = fields.Str(validate=validate.OneOf(JENIS_ASN))
    agency = fields.Str()
    agency_name = fields.Str(allow_none=True)
    position = fields.Str(allow_none=True)
    golongan = fields.Str(allow_none=True)
    supervisor_nip = fields.Str(allow_none=True)
    status = fields.Str(validate=validate.OneOf(ROSTER_STATUSES))
    tmt = fields.Str(allow_none=True, metadata={"description": "start of service, YYYY-MM-DD"})
    version = fields.Int()
    never_enrolled = fields.Method("_never_enrolled", metadata={"type": "boolean"})
    # Whether the roster upload gave an e-mail / a telephone; the values are never stored here
    # nor shown (notification keeps them, ADR 0080).
    has_email = fields.Bool(dump_default=False)
    has_phone = fields.Bool(dump_default=False)
    registered_at = UtcDateTime()
    updated_at = UtcDateTime()
    left_at = UtcDateTime(allow_none=True)
    left_reason = fields.Str(allow_none=True)

    def _never_enrolled(self, entry):
        return not entry.get("ever_enrolled")


class SupervisorSchema(Schema):
    nip = fields.Str()
    name = fields.Str(allow_none=True, metadata={"description": "when the supervisor is on the roster"})


class ActingViewSchema(Schema):
    """An acting supervisor (Plt/Plh) named by an operator until ``ends_at``."""

    supervisor_nip = fields.Str(attribute="_id")
    acting_nip = fields.Str()
    acting_name = fields.Str(allow_none=True)
    kind = fields.Str(validate=validate.OneOf(ACTING_KINDS))
    agency = fields.Str()
    ends_at = UtcDateTime()
    assigned_at = UtcDateTime()


class RosterEntryViewSchema(RosterEntrySchema):
    supervisor = fields.Nested(SupervisorSchema, allow_none=True)
    enrolments = fields.Int(metadata={"description": "enrolments of any status, ever"})
    acting = fields.Nested(ActingViewSchema, allow_none=True,
                           metadata={"description": "this supervisor's acting supervisor (Plt/Plh) in force"})
    acting_for = fields.List(fields.Str(), metadata={"description": "the supervisors this ASN acts for now"})
    staff_count = fields.Int(metadata={"description": "aktif roster entries whose supervisor is this ASN"})


class ActingSchema(Schema):
    """PUT /roster/<nip>/acting: who acts for the supervisor, as what, until when."""

    acting_nip = NipField(required=True, metadata={"description": "the acting person, aktif on the roster"})
    kind = fields.Str(required=True, validate=validate.OneOf(ACTING_KINDS),
                      metadata={"description": "plt (pelaksana tugas) or plh (pelaksana harian)"})
    ends_at = UtcDateTime(required=True, metadata={"description": "in the future, at most a year ahead"})


class ApprovalQuery(PageQuery):
    status = fields.Str(load_default="awaiting", validate=validate.OneOf(("awaiting", "decided")),
                        metadata={"description": "awaiting (default): undecided requests; decided: approved, "
                                                 "declined or lapsed"})
    since = UtcDateTime(metadata={"description": "only requests decided (status=decided) or made "
                                                          "(status=awaiting) at or after this time (RFC 3339 with "
                                                          "an offset)"})


class ApprovalPageSchema(Schema):
    items = fields.List(fields.Nested(EnrolmentSchema))
    next_cursor = fields.Str(allow_none=True)
    total = fields.Int()


class DecisionSchema(Schema):
    decision = fields.Str(required=True, validate=validate.OneOf((APPROVED, DECLINED)))
    reason = fields.Str(allow_none=True, load_default=None,
                        validate=[validate.Length(min=1, max=REASON_MAX), SafeText()],
                        metadata={"description": "required when declined; reaches the ASN"})

    @validates_schema
    def reason_when_declined(self, data, **kwargs):
        if data.get("decision") == DECLINED and not (data.get("reason") or "").strip():
            raise ValidationError("alasan wajib diisi bila permohonan ditolak", "reason")


class LinkSchema(Schema):
    token = fields.Str(required=True, validate=validate.Length(min=1, max=512),
                       metadata={"description": "the token of the approver's link"})


class LinkDecisionSchema(DecisionSchema, LinkSchema):
    pass


class RosterPageSchema(Schema):
    items = fields.List(fields.Nested(RosterEntrySchema))
    next_cursor = fields.Str(allow_none=True)
    total = fields.Int()



# -- operator console: marking a session, the JP preview (issue 21) --------------------------------

class SessionSchema(Schema):
    date = fields.Str(metadata={"format": "date", "description": "the day (WIB), YYYY-MM-DD"})
    label = fields.Str(metadata={"description": "e.g. Hari 1 \u2013 Senin, 7 Juni 2027"})


class MarkingRowSchema(Schema):
    enrolment_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    present = fields.Bool(allow_none=True, load_default=None,
                          metadata={"description": "present at the session; null leaves attendance as it is"})
    score = _score(allow_none=True, load_default=None,
                   metadata={"description": "recorded with the completion (complete=true); a no-show has none"})


class MarkingSchema(Schema):
    session = fields.Date(allow_none=True, load_default=None,
                          metadata={"description": "the day (WIB) of the programme marked; may be left out for a "
                                                   "one-day programme (its day) or a self-paced one (attendance "
                                                   "as a whole)"})
    rows = fields.List(fields.Nested(MarkingRowSchema), required=True,
                       validate=validate.Length(min=1, max=MARKING_MAX_ROWS))
    complete = fields.Bool(load_default=False,
                           metadata={"description": "also record completions (passed/failed/no-show): a scheduled "
                                                    "kind once the programme has ended (409 before); a self-paced "
                                                    "kind for each row giving present or score"})


class MarkingResultSchema(Schema):
    enrolment_id = fields.Str()
    nip = fields.Str(allow_none=True, dump_default=None)
    name = fields.Str(allow_none=True, dump_default=None)
    accepted = fields.Bool()
    outcome = fields.Str(allow_none=True, dump_default=None,
                         validate=validate.OneOf(("recorded", "completed", "unchanged")),
                         metadata={"description": "accepted: recorded (attendance), completed, or unchanged"})
    attendance = fields.Dict(keys=fields.Str(), values=fields.Bool(), allow_none=True, dump_default=None,
                             metadata={"description": "the enrolment's attendance per session after the marking"})
    status = fields.Str(allow_none=True, dump_default=None, validate=validate.OneOf(ENROLMENT_STATUSES))
    result = fields.Str(allow_none=True, dump_default=None, validate=validate.OneOf(("passed", "failed", "no_show")))
    field = fields.Str(allow_none=True, dump_default=None,
                       metadata={"description": "rejected: enrolment_id, present, score, status, programme"})
    reason = fields.Str(allow_none=True, dump_default=None,
                        metadata={"description": "rejected: why (an enrolment of another OPD reads as not enrolled)"})


class MarkingSummarySchema(Schema):
    accepted = fields.Int()
    rejected = fields.Int()
    completed = fields.Int(metadata={"description": "completions recorded by this marking"})
    unchanged = fields.Int(metadata={"description": "accepted rows that were recorded already"})


class MarkingAnswerSchema(Schema):
    session = fields.Str(allow_none=True, metadata={"format": "date",
                                                    "description": "the day marked; null: a self-paced programme "
                                                                   "marked as a whole"})
    results = fields.List(fields.Nested(MarkingResultSchema))
    summary = fields.Nested(MarkingSummarySchema)


class JpQuery(Schema):
    kind = fields.Str(required=True, validate=validate.OneOf(PROGRAMME_KINDS))
    duration_minutes = fields.Int(validate=validate.Range(min=1, max=100_000),
                                  metadata={"description": "learning time (as in a programme)"})
    duration_days = fields.Float(validate=validate.Range(min=0, min_inclusive=False, max=365), allow_nan=False,
                                 metadata={"description": "days (as in a programme)"})
    starts_at = UtcDateTime(metadata={"description": "with ends_at and no duration: the WIB days between count"})
    ends_at = UtcDateTime()


class JpPreviewSchema(Schema):
    jp = fields.Int(allow_none=True, metadata={"description": "null while the input determines no JP (rule says "
                                                              "what is missing)"})
    rule = fields.Str(metadata={"description": "the rule applied, in words (Bahasa Indonesia)"})
    rule_key = fields.Str(allow_none=True, metadata={"description": "its key in jp_rules.yaml: minutes_per_jp, "
                                                                    "jp_per_day.<kind> or jp_per_day.default"})
    duration_minutes = fields.Int(allow_none=True)
    duration_days = fields.Float(allow_none=True, metadata={"description": "the days counted (from the dates when "
                                                                           "no duration was given)"})
