"""Requests and responses of the reporting HTTP API (marshmallow): queries and bodies are
loaded by these schemas, answers are what they dump, and the OpenAPI document comes from them."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from shared.events.common import COMPETENCY_TYPES, PROGRAMME_KINDS
from shared.nip import NipField
from shared.paging import page_query
from shared.reference import agencies as reference_agencies
from shared.timefmt import iso

from services.reporting.domain import SORTS

YEAR = validate.Range(min=2000, max=2100)
# The agency filter takes an OPD of the shared reference list (or one the events named): the
# document lists the reference codes so that clients offer what the service accepts.
AGENCY_CODES = list(reference_agencies())
# The most a list page may hold (the first version's ``per_page`` allowed as many).
MAX_LIMIT = 1000


class UtcTime(fields.DateTime):
    """A moment as the API writes it everywhere: RFC 3339 in UTC with ``Z``."""

    def _serialize(self, value, attr, obj, **kwargs):
        return iso(value)


class PageQuery(page_query(MAX_LIMIT)):
    # Left unset so the service's PAGE_SIZE applies (config.default_page_size).
    limit = fields.Int(load_default=None, validate=validate.Range(1, MAX_LIMIT),
                       metadata={"description": f"items per page, at most {MAX_LIMIT} (default: PAGE_SIZE, 50)"})


class YearQuery(Schema):
    year = fields.Int(load_default=None, validate=YEAR, metadata={"description": "default: the current year (WIB)"})


class DashboardQuery(YearQuery):
    agency = fields.Str(load_default=None, metadata={"enum": AGENCY_CODES,
                                                     "description": "OPD code; empty for every agency"})


class ComplianceQuery(YearQuery, PageQuery):
    agency = fields.Str(load_default=None, metadata={"enum": AGENCY_CODES, "description": "OPD code, e.g. DISKOMINFO"})
    kind = fields.Str(load_default=None, validate=validate.OneOf(PROGRAMME_KINDS))
    competency_type = fields.Str(load_default=None, validate=validate.OneOf(COMPETENCY_TYPES))
    sort = fields.Str(load_default="agency", validate=validate.OneOf(SORTS))


class ProgrammesQuery(YearQuery, PageQuery):
    kind = fields.Str(load_default=None, validate=validate.OneOf(PROGRAMME_KINDS))
    competency_type = fields.Str(load_default=None, validate=validate.OneOf(COMPETENCY_TYPES))


class LedgerExportQuery(YearQuery):
    agency = fields.Str(load_default=None, metadata={"enum": AGENCY_CODES, "description": "OPD code"})
    nip = NipField(load_default=None)


class NeverEnrolledQuery(YearQuery, PageQuery):
    agency = fields.Str(load_default=None, metadata={"enum": AGENCY_CODES,
                                                     "description": "OPD code; an operator: its own (the default)"})


class NeverEnrolledExportQuery(YearQuery):
    agency = fields.Str(load_default=None, metadata={"enum": AGENCY_CODES,
                                                     "description": "OPD code; an operator: its own (the default)"})


class TeamQuery(YearQuery):
    # Required of an admin or operator; an ASN who leaves it out means themself (usecases.team).
    supervisor = NipField(required=True, metadata={
        "description": "NIP of the supervisor (atasan langsung) whose team to show: an operator only a supervisor "
                       "of its own agency; an ASN only themself, and may leave it out"})


class ComplianceExportQuery(YearQuery):
    agency = fields.Str(load_default=None, metadata={"enum": AGENCY_CODES, "description": "OPD code"})
    kind = fields.Str(load_default=None, validate=validate.OneOf(PROGRAMME_KINDS))
    competency_type = fields.Str(load_default=None, validate=validate.OneOf(COMPETENCY_TYPES))


# -- responses --------------------------------------------------------------
class AgencyRow(Schema):
    agency = fields.Str()
    agency_name = fields.Str(allow_none=True)
    known_asn = fields.Int(metadata={"description": "rostered_asn + unlisted_asn: the ASN the figures are over"})
    rostered_asn = fields.Int(metadata={"description": "ASN active on the roster in this year (at its end, or now "
                                                       "for the current year): TMT in or before it, not left in "
                                                       "or before it"})
    unlisted_asn = fields.Int(metadata={"description": "ASN not on the roster who earned JP in this year"})
    never_enrolled = fields.Int(metadata={"description": "of rostered_asn, those with no enrolment by the end of "
                                                         "this year (they count as 0 JP)"})
    asn_with_jp = fields.Int()
    met_target = fields.Int(metadata={"description": "ASN who reached their own yearly target (by jenis_asn, "
                                                     "pro-rated from a TMT in the year)"})
    below_target = fields.Int()
    met_rate = fields.Float(allow_none=True)
    jp_total = fields.Int()
    average_jp = fields.Float(allow_none=True, metadata={"description": "JP per known ASN (over known_asn)"})
    distribution = fields.Dict(keys=fields.Str(), values=fields.Int(),
                               metadata={"description": "ASN per JP bucket: 0, 1-4, 5-9, ..."})
    jp_by_competency_type = fields.Dict(keys=fields.Str(), values=fields.Int())
    jp_by_kind = fields.Dict(keys=fields.Str(), values=fields.Int())


class ComplianceResponse(Schema):
    year = fields.Int()
    target_jp = fields.Int()
    filters = fields.Dict()
    totals = fields.Dict(metadata={"description": "over every agency of the answer, not only this page"})
    items = fields.List(fields.Nested(AgencyRow), metadata={"description": "this page of agencies"})
    next_cursor = fields.Str(allow_none=True, metadata={"description": "cursor of the next page; null on the last"})
    total_agencies = fields.Int()
    page = fields.Int(allow_none=True, metadata={"description": "deprecated (one release): the page asked for"})
    per_page = fields.Int(metadata={"description": "deprecated (one release): the limit"})
    agencies = fields.List(fields.Nested(AgencyRow), metadata={"description": "deprecated (one release): items"})


class NeverEnrolledAsn(Schema):
    nip = fields.Str()
    name = fields.Str(allow_none=True)
    agency = fields.Str(allow_none=True)
    agency_name = fields.Str(allow_none=True)
    position = fields.Str(allow_none=True, metadata={"description": "jabatan"})
    golongan = fields.Str(allow_none=True, metadata={"description": "pangkat/golongan"})
    jenis_asn = fields.Str(allow_none=True, metadata={"description": "PNS or PPPK"})
    tmt = fields.Str(allow_none=True, metadata={"description": "start of service, YYYY-MM-DD, when known"})
    supervisor_nip = fields.Str(allow_none=True, metadata={"description": "NIP of the atasan langsung"})


class NeverEnrolledResponse(Schema):
    year = fields.Int()
    agency = fields.Str(allow_none=True, metadata={"description": "the agency listed; null: every agency"})
    total = fields.Int(metadata={"description": "never-enrolled ASN of the answer, over every page"})
    items = fields.List(fields.Nested(NeverEnrolledAsn), metadata={"description": "this page, in NIP order"})
    next_cursor = fields.Str(allow_none=True, metadata={"description": "cursor of the next page; null on the last"})


class LedgerEntry(Schema):
    enrolment_id = fields.Str(attribute="_id")
    programme_code = fields.Str()
    programme_title = fields.Str()
    kind = fields.Str()
    competency_type = fields.Str()
    jp = fields.Int()
    role = fields.Str(dump_default="peserta", metadata={
        "description": "peserta, or narasumber: the ASN spoke at the seminar or lokakarya (their JP count alike)"})
    completed_at = UtcTime()
    score = fields.Float(allow_none=True)
    agency_at_completion = fields.Str()
    certificate_number = fields.Str(allow_none=True)
    certificate_status = fields.Str(allow_none=True)
    learning_mode = fields.Str(metadata={"description": "klasikal or non-klasikal, by programme kind "
                                                        "(REPORTING_KLASIKAL_KINDS)"})


class LedgerYear(Schema):
    year = fields.Int()
    jp_total = fields.Int()
    target_jp = fields.Int(metadata={"description": "the ASN's own target of the year: by jenis_asn (PNS, PPPK), "
                                                    "pro-rated from a TMT in that year"})
    target_met = fields.Bool()
    jp_missing = fields.Int()
    jp_by_competency_type = fields.Dict(keys=fields.Str(), values=fields.Int())
    jp_by_kind = fields.Dict(keys=fields.Str(), values=fields.Int())
    jp_by_learning_mode = fields.Dict(keys=fields.Str(), values=fields.Int(),
                                      metadata={"description": "JP of the year's entries: klasikal, non-klasikal"})
    entries = fields.List(fields.Nested(LedgerEntry))


class LedgerCheckpoint(Schema):
    id = fields.Str(metadata={"description": "YEAR-LABEL, e.g. 2026-Q4"})
    label = fields.Str(metadata={"description": "in Bahasa Indonesia, e.g. triwulan IV tahun 2026"})
    target = fields.Int(metadata={"description": "JP the ASN owes by this checkpoint: their yearly target's share "
                                                 "at it (REPORTING_CHECKPOINT_TARGETS), pro-rated from a TMT in the "
                                                 "year; 0 when appointed after it"})


class LedgerResponse(Schema):
    nip = fields.Str()
    name = fields.Str()
    agency = fields.Str()
    agency_name = fields.Str(allow_none=True)
    target_jp = fields.Int(metadata={"description": "the PNS yearly target (JP_TARGET); the ASN's own is target"})
    target = fields.Int(metadata={"description": "the ASN's own yearly target of the year asked (default the "
                                                 "current year, WIB): by jenis_asn, pro-rated from a TMT in it"})
    checkpoint = fields.Nested(LedgerCheckpoint, metadata={
        "description": "the current checkpoint of the year asked (the next one not yet past; the last of a past "
                       "year) with the ASN's pro-rated target at it"})
    years = fields.List(fields.Nested(LedgerYear))


class TeamCheckpoint(Schema):
    id = fields.Str(metadata={"description": "YEAR-LABEL, e.g. 2026-Q4"})
    label = fields.Str(metadata={"description": "in Bahasa Indonesia, e.g. triwulan IV tahun 2026"})
    target_share = fields.Float(metadata={"description": "share of the yearly target owed by this checkpoint "
                                                         "(0.25 at Q1 by default)"})


class TeamMember(Schema):
    nip = fields.Str()
    name = fields.Str(allow_none=True)
    position = fields.Str(allow_none=True, metadata={"description": "jabatan"})
    golongan = fields.Str(allow_none=True, metadata={"description": "pangkat/golongan"})
    jp = fields.Int(metadata={"description": "JP credited in the year"})
    target = fields.Int(metadata={"description": "their own yearly target: by jenis_asn, pro-rated from a TMT in "
                                                 "the year"})
    checkpoint_target = fields.Int(metadata={"description": "their pro-rated target at the current checkpoint"})
    met_target = fields.Bool(metadata={"description": "jp >= target"})
    on_track = fields.Bool(metadata={"description": "jp >= checkpoint_target"})


class TeamSummary(Schema):
    count = fields.Int()
    met_target = fields.Int()
    on_track = fields.Int()


class TeamResponse(Schema):
    year = fields.Int()
    checkpoint = fields.Nested(TeamCheckpoint)
    members = fields.List(fields.Nested(TeamMember), metadata={
        "description": "the supervisor's staff aktif on the roster, in name order (never ranked by JP)"})
    summary = fields.Nested(TeamSummary, allow_none=True, metadata={
        "description": "null for a team of fewer than REPORTING_PEERS_MIN_ASN (5) members: no aggregate singles "
                       "people out"})


class ProgrammeStatsResponse(Schema):
    code = fields.Str()
    title = fields.Str(allow_none=True)
    kind = fields.Str(allow_none=True)
    competency_type = fields.Str(allow_none=True)
    jp = fields.Int(allow_none=True)
    status = fields.Str(metadata={"description": "published, cancelled, or unknown (seen only in enrolments)"})
    capacity = fields.Int(allow_none=True)
    starts_at = UtcTime(allow_none=True)
    enrolment_opens_at = UtcTime(allow_none=True)
    enrolment_closes_at = UtcTime(allow_none=True)
    enrolled = fields.Int(metadata={"description": "peserta holding a seat now, not yet completed (the seat, "
                                                   "result and rate figures count peserta only)"})
    waitlisted = fields.Int()
    cancelled = fields.Int()
    completed = fields.Int()
    passed = fields.Int()
    failed = fields.Int()
    no_shows = fields.Int()
    pass_rate = fields.Float(allow_none=True, metadata={"description": "passed / (passed + failed)"})
    no_show_rate = fields.Float(allow_none=True)
    seats_taken = fields.Int()
    fill_rate = fields.Float(allow_none=True, metadata={"description": "seats taken / capacity"})
    speakers = fields.Int(metadata={"description": "narasumber enrolled or completed (no seat; in no rate)"})
    speakers_completed = fields.Int(metadata={"description": "narasumber whose completion is recorded"})


class ProgrammesResponse(Schema):
    items = fields.List(fields.Nested(ProgrammeStatsResponse), metadata={"description": "this page, in code order"})
    next_cursor = fields.Str(allow_none=True, metadata={"description": "cursor of the next page; null on the last"})
    total = fields.Int()
    page = fields.Int(allow_none=True, metadata={"description": "deprecated (one release): the page asked for"})
    per_page = fields.Int(metadata={"description": "deprecated (one release): the limit"})
    programmes = fields.List(fields.Nested(ProgrammeStatsResponse),
                             metadata={"description": "deprecated (one release): items"})


class MonthCertificates(Schema):
    month = fields.Str()
    issued = fields.Int()
    revoked = fields.Int()
    expiring = fields.Int(metadata={"description": "valid certificates whose validity ends this month"})
    expired = fields.Int()


class CertificatesMonthlyResponse(Schema):
    year = fields.Int()
    months = fields.List(fields.Nested(MonthCertificates))
    agencies = fields.List(fields.Dict())


class ShortfallJob(Schema):
    """A shortfall checkpoint run as a job: ``POST /admin/shortfall/<checkpoint>/run`` and
    ``GET /admin/shortfall/<checkpoint>``."""

    checkpoint = fields.Str(attribute="_id", metadata={"description": "e.g. 2026-Q2"})
    status = fields.Str(metadata={"description": "queued, running or done"})
    progress = fields.Float(allow_none=True, metadata={"description": "share of the population checked, 0 to 1 "
                                                                      "(null until it is counted)"})
    total = fields.Int(allow_none=True, metadata={"description": "ASN the checkpoint checks, counted at its start: "
                                                                 "active on the roster by its day, and ASN not on "
                                                                 "the roster seen in its year"})
    checked = fields.Int(load_default=0, dump_default=0)
    nudged = fields.Int(dump_default=0, metadata={"description": "ASN below their pro-rated target, nudged once"})
    escalated = fields.Int(dump_default=0, metadata={"description": "nudged ASN listed to their OPD operator"})
    supervisor_summaries = fields.Int(dump_default=0,
                                      metadata={"description": "nudged ASN listed to their supervisor"})
    targets = fields.Dict(keys=fields.Str(), values=fields.Int(), allow_none=True,
                          metadata={"description": "the checkpoint's JP target of a full-year PNS and PPPK"})
    requested = fields.Bool(dump_default=False, metadata={"description": "asked for by an admin (a replica "
                                                                         "takes it up until it is done)"})
    requested_at = UtcTime(allow_none=True)
    started_at = UtcTime(allow_none=True)
    finished_at = UtcTime(allow_none=True)
    # The synchronous answer's names, deprecated (one release): checked, nudged, status.
    already_done = fields.Bool(metadata={"description": "deprecated (one release): status is done"})
    asn_checked = fields.Int(dump_default=0, metadata={"description": "deprecated (one release): checked"})
    flagged = fields.Int(dump_default=0, metadata={"description": "deprecated (one release): nudged"})


class RebuildRequest(Schema):
    """``POST /admin/rebuild``: an empty body, or how long the replay may stay silent."""

    class Meta:
        unknown = RAISE

    idle_timeout_s = fields.Float(load_default=None, validate=validate.Range(min=1, max=3600),
                                  metadata={"description": "give up when no replayed event arrives this long"})


class RebuildResponse(Schema):
    generation = fields.Int(metadata={"description": "the read-model generation now current"})
    previous_generation = fields.Int(allow_none=True)
    events = fields.Int(metadata={"description": "events the producers replayed"})
    applied = fields.Int()
    duplicates = fields.Int()
    ignored = fields.Int()
    malformed = fields.Int()
    unauthorised = fields.Int(metadata={"description": "copies not published by their producer's broker user"})
    seconds = fields.Float()
