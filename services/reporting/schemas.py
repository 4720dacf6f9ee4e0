"""Query parameters and responses of the reporting HTTP API (marshmallow: validation + OpenAPI)."""
from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from shared.events.common import COMPETENCY_TYPES, PROGRAMME_KINDS

from services.reporting.queries import SORTS

YEAR = validate.Range(min=2000, max=2100)


class YearQuery(Schema):
    year = fields.Int(load_default=None, validate=YEAR, metadata={"description": "default: the current year (WIB)"})


class DashboardQuery(YearQuery):
    agency = fields.Str(load_default=None, metadata={"description": "OPD code; empty for every agency"})


class ComplianceQuery(YearQuery):
    agency = fields.Str(load_default=None, metadata={"description": "OPD code, e.g. DISKOMINFO"})
    kind = fields.Str(load_default=None, validate=validate.OneOf(PROGRAMME_KINDS))
    competency_type = fields.Str(load_default=None, validate=validate.OneOf(COMPETENCY_TYPES))
    sort = fields.Str(load_default="agency", validate=validate.OneOf(SORTS))
    page = fields.Int(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Int(load_default=None, validate=validate.Range(min=1, max=1000))


class ProgrammesQuery(YearQuery):
    kind = fields.Str(load_default=None, validate=validate.OneOf(PROGRAMME_KINDS))
    competency_type = fields.Str(load_default=None, validate=validate.OneOf(COMPETENCY_TYPES))
    page = fields.Int(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Int(load_default=None, validate=validate.Range(min=1, max=1000))


class LedgerExportQuery(YearQuery):
    agency = fields.Str(load_default=None)
    nip = fields.Str(load_default=None, validate=validate.Regexp(r"^\d{18}$", error="NIP must be 18 digits"))


class ComplianceExportQuery(YearQuery):
    agency = fields.Str(load_default=None)
    kind = fields.Str(load_default=None, validate=validate.OneOf(PROGRAMME_KINDS))
    competency_type = fields.Str(load_default=None, validate=validate.OneOf(COMPETENCY_TYPES))


class RebuildRequest(Schema):
    idle_timeout_s = fields.Float(load_default=None, validate=validate.Range(min=1))


# -- responses (documentation) --------------------------------------------------------------
class AgencyRow(Schema):
    agency = fields.Str()
    agency_name = fields.Str(allow_none=True)
    known_asn = fields.Int(metadata={"description": "ASN the platform has seen, in this agency, by this year"})
    asn_with_jp = fields.Int()
    met_target = fields.Int()
    below_target = fields.Int()
    met_rate = fields.Float(allow_none=True)
    jp_total = fields.Int()
    average_jp = fields.Float(allow_none=True, metadata={"description": "JP per known ASN"})
    distribution = fields.Dict(keys=fields.Str(), values=fields.Int(),
                               metadata={"description": "ASN per JP bucket: 0, 1-4, 5-9, ..."})
    jp_by_competency_type = fields.Dict(keys=fields.Str(), values=fields.Int())
    jp_by_kind = fields.Dict(keys=fields.Str(), values=fields.Int())


class ComplianceResponse(Schema):
    year = fields.Int()
    target_jp = fields.Int()
    filters = fields.Dict()
    totals = fields.Dict()
    page = fields.Int()
    per_page = fields.Int()
    total_agencies = fields.Int()
    agencies = fields.List(fields.Nested(AgencyRow))


class LedgerEntry(Schema):
    enrolment_id = fields.Str()
    programme_code = fields.Str()
    programme_title = fields.Str()
    kind = fields.Str()
    competency_type = fields.Str()
    jp = fields.Int()
    completed_at = fields.DateTime()
    score = fields.Float(allow_none=True)
    agency_at_completion = fields.Str()
    certificate_number = fields.Str(allow_none=True)
    certificate_status = fields.Str(allow_none=True)


class LedgerYear(Schema):
    year = fields.Int()
    jp_total = fields.Int()
    target_met = fields.Bool()
    jp_missing = fields.Int()
    jp_by_competency_type = fields.Dict(keys=fields.Str(), values=fields.Int())
    jp_by_kind = fields.Dict(keys=fields.Str(), values=fields.Int())
    entries = fields.List(fields.Nested(LedgerEntry))


class LedgerResponse(Schema):
    nip = fields.Str()
    name = fields.Str()
    agency = fields.Str()
    agency_name = fields.Str(allow_none=True)
    target_jp = fields.Int()
    years = fields.List(fields.Nested(LedgerYear))


class ProgrammeStatsResponse(Schema):
    code = fields.Str()
    title = fields.Str(allow_none=True)
    kind = fields.Str(allow_none=True)
    competency_type = fields.Str(allow_none=True)
    jp = fields.Int(allow_none=True)
    status = fields.Str(metadata={"description": "published, cancelled, or unknown (seen only in enrolments)"})
    capacity = fields.Int(allow_none=True)
    starts_at = fields.DateTime(allow_none=True)
    enrolment_opens_at = fields.DateTime(allow_none=True)
    enrolment_closes_at = fields.DateTime(allow_none=True)
    enrolled = fields.Int(metadata={"description": "holding a seat now, not yet completed"})
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


class ProgrammesResponse(Schema):
    page = fields.Int()
    per_page = fields.Int()
    total = fields.Int()
    programmes = fields.List(fields.Nested(ProgrammeStatsResponse))


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


class ShortfallRunResponse(Schema):
    checkpoint = fields.Str()
    status = fields.Str()
    already_done = fields.Bool()
    asn_checked = fields.Int()
    flagged = fields.Int()
    flagged_now = fields.Int()


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
