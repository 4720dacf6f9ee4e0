"""Payload parts shared by several events, so every event is self-contained."""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from shared import nip as nip_rules
from shared.reference import organisers

PROGRAMME_KINDS = ("pelatihan", "sertifikasi", "seminar", "lokakarya", "e-learning", "coaching", "mentoring")
COMPETENCY_TYPES = ("teknis", "manajerial", "sosial_kultural", "pemerintahan")
# The reference list of organisers (shared/reference/organisers.csv): BKN, the city, LAN, LKPP…
ORGANISERS = tuple(organisers())
# How an ASN takes part in a programme: as a participant, or as its speaker (narasumber) in a
# seminar or workshop, who may receive a certificate "sebagai Narasumber" (issue 24).
PARTICIPATION_ROLES = ("peserta", "narasumber")
ID_KINDS = ("nip", "ni_pppk")
JENIS_ASN = ("PNS", "PPPK")
# On the roster: ``aktif`` counts; the others have left (``tidak_tercantum``: missing from a
# full import of their agency).
ROSTER_STATUSES = ("aktif", "pensiun", "pindah", "berhenti", "meninggal", "tidak_tercantum")
LEFT_STATUSES = ROSTER_STATUSES[1:]


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
    # Self-enrolment waits for the ASN's supervisor (izin atasan, issue 20); absent before it.
    requires_supervisor_approval = fields.Bool(load_default=False)


class ParticipantSnapshot(Schema):
    """The ASN the event is about. No contact data: that stays in notification."""

    nip = fields.Str(required=True, validate=validate.Regexp(nip_rules.PATTERN))
    id_kind = fields.Str(required=True, validate=validate.OneOf(ID_KINDS))
    name = fields.Str(required=True)
    agency = fields.Str(required=True)  # OPD code, e.g. DISKOMINFO
    agency_name = fields.Str(allow_none=True, load_default=None)
    position = fields.Str(allow_none=True, load_default=None)
    # From the roster (issue 19); absent in events of ASN enrolled before it or not on it.
    golongan = fields.Str(allow_none=True, load_default=None)  # pangkat/golongan, e.g. "III/c"
    jenis_asn = fields.Str(allow_none=True, load_default=None, validate=validate.OneOf(JENIS_ASN))
    listed = fields.Bool(allow_none=True, load_default=None)  # on the roster (False: accepted as unlisted)


class RosterEntrySnapshot(Schema):
    """An ASN as the roster (daftar ASN) of enrollment knows them. No contact data: e-mail and
    telephone reach notification on enrollment's private exchange (ADR 0080)."""

    nip = fields.Str(required=True, validate=validate.Regexp(nip_rules.PATTERN))
    id_kind = fields.Str(required=True, validate=validate.OneOf(ID_KINDS))
    name = fields.Str(required=True)
    jenis_asn = fields.Str(required=True, validate=validate.OneOf(JENIS_ASN))
    agency = fields.Str(required=True)  # OPD code
    agency_name = fields.Str(allow_none=True, load_default=None)
    position = fields.Str(allow_none=True, load_default=None)  # jabatan
    golongan = fields.Str(allow_none=True, load_default=None)  # pangkat/golongan
    supervisor_nip = fields.Str(allow_none=True, load_default=None,  # nip_atasan (atasan langsung)
                                validate=validate.Regexp(nip_rules.PATTERN))
    status = fields.Str(required=True, validate=validate.OneOf(ROSTER_STATUSES))
    # Start of service (TMT) when known: the ``tmt`` column, or a new CPNS's appointment month
    # from the NIP. A target is pro-rated from it in the year it falls in.
    tmt = fields.Date(allow_none=True, load_default=None)
    # Increases with every change of this ASN's entry: a consumer keeps the highest it saw.
    version = fields.Int(required=True, validate=validate.Range(min=1))


EXAMPLE_ROSTER_ENTRY = {
    "nip": "198503122010011002", "id_kind": "nip", "name": "Rahmat Hidayat", "jenis_asn": "PNS",
    "agency": "DISKOMINFO", "agency_name": "Dinas Komunikasi dan Informatika",
    "position": "Pranata Komputer Ahli Muda", "golongan": "III/c", "supervisor_nip": "197801052003121004",
    "status": "aktif", "tmt": "2010-01-01", "version": 1,
}


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
