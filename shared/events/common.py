"""Payload parts shared by several events, so every event is self-contained."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared import nip as nip_rules

PROGRAMME_KINDS = ("pelatihan", "sertifikasi", "seminar", "lokakarya", "e-learning", "coaching", "mentoring")
COMPETENCY_TYPES = ("teknis", "manajerial", "sosial_kultural", "pemerintahan")
ORGANISERS = ("BKN", "PEMKOT_BUKITTINGGI")
ID_KINDS = ("nip", "ni_pppk")


class ProgrammeSnapshot(Schema):
    """What a consumer needs to know of a programme without asking enrollment."""

    code = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    title = fields.Str(required=True)
    kind = fields.Str(required=True, validate=validate.OneOf(PROGRAMME_KINDS))
    competency_type = fields.Str(required=True, validate=validate.OneOf(COMPETENCY_TYPES))
    jp = fields.Int(required=True, validate=validate.Range(min=0))
    organisers = fields.List(fields.Str(validate=validate.OneOf(ORGANISERS)), required=True)
    speakers = fields.List(fields.Str(), load_default=list)
    starts_at = fields.DateTime(required=True, allow_none=True)
    ends_at = fields.DateTime(required=True, allow_none=True)
    location = fields.Str(allow_none=True)
    grants_certificate = fields.Bool(required=True)
    certificate_validity_months = fields.Int(allow_none=True, load_default=None)
    # Recertification: programmes of the same competency line supersede older certificates.
    certification_line = fields.Str(allow_none=True, load_default=None)


class ParticipantSnapshot(Schema):
    """The ASN the event is about. No contact data: that stays in notification."""

    nip = fields.Str(required=True, validate=validate.Regexp(nip_rules.PATTERN))
    id_kind = fields.Str(required=True, validate=validate.OneOf(ID_KINDS))
    name = fields.Str(required=True)
    agency = fields.Str(required=True)  # OPD code, e.g. DISKOMINFO
    agency_name = fields.Str(allow_none=True, load_default=None)
    position = fields.Str(allow_none=True, load_default=None)


EXAMPLE_PROGRAMME = {
    "code": "PBJ-2026-01",
    "title": "Sertifikasi Pengadaan Barang/Jasa Pemerintah Tingkat Dasar",
    "kind": "sertifikasi",
    "competency_type": "teknis",
    "jp": 32,
    "organisers": ["BKN", "PEMKOT_BUKITTINGGI"],
    "speakers": [],
    "starts_at": "2026-03-02T01:00:00Z",
    "ends_at": "2026-03-05T09:00:00Z",
    "location": "Aula Balai Kota Bukittinggi",
    "grants_certificate": True,
    "certificate_validity_months": 36,
    "certification_line": "PBJ",
}

EXAMPLE_PARTICIPANT = {
    "nip": "198503122010011002",
    "id_kind": "nip",
    "name": "Rahmat Hidayat",
    "agency": "DISKOMINFO",
    "agency_name": "Dinas Komunikasi dan Informatika",
    "position": "Pranata Komputer Ahli Muda",
}
