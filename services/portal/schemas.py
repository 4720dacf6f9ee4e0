"""Marshmallow schemas of what the pages take: query strings and forms (every form carries
the session's ``csrf_token``). They also document the routes (routes.py)."""
from __future__ import annotations

import re

from marshmallow import EXCLUDE, Schema, fields, validate

from shared.errors import NotFound
from shared.nip import digits_only

PER_PAGE = 20
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE  # a tracking parameter or an old field must not break a page


class _TypedNip(fields.Str):
    """A NIP typed in a form or a query: the printed form (``19850312 201001 1 002``) loses its
    spaces here; whether it is 18 digits is checked by the page, which answers in Bahasa
    Indonesia beside the field."""

    def _deserialize(self, value, attr, data, **kwargs):
        return digits_only(super()._deserialize(value, attr, data, **kwargs))


def _nip(description: str, **kwargs) -> _TypedNip:
    # no minimum length: a blank NIP is answered by the page (in Bahasa Indonesia), not here
    return _TypedNip(validate=validate.Length(max=40),
                     metadata={"description": f"{description} (spaces as printed are fine)"}, **kwargs)


class CsrfForm(_Lenient):
    csrf_token = fields.Str(required=True, validate=validate.Length(min=1, max=200),
                            metadata={"description": "the session's CSRF token (hidden field of every form)"})


class DevSignInForm(CsrfForm):
    sebagai = fields.Str(required=True, validate=validate.Length(min=3, max=80),
                         metadata={"description": "admin, operator:<KODE_OPD> or asn:<NIP>"})
    lanjut = fields.Str(load_default=None, validate=validate.Length(max=500),
                        metadata={"description": "the page to go to after signing in (a path of the portal)"})


class CancelForm(CsrfForm):
    kembali = fields.Str(load_default=None, validate=validate.Length(max=500),
                         metadata={"description": "the page to return to (a path of the portal)"})


class SignInQuery(_Lenient):
    lanjut = fields.Str(load_default=None, validate=validate.Length(max=500),
                        metadata={"description": "the page to go to after signing in"})
    q = fields.Str(load_default=None, validate=validate.Length(max=100),
                   metadata={"description": "development sign-in: the beginning of a name or a NIP"})
    keluar = fields.Str(load_default=None, validate=validate.Length(max=1),
                        metadata={"description": "1: just signed out"})


class CallbackQuery(_Lenient):
    code = fields.Str(load_default=None, validate=validate.Length(max=2048))
    state = fields.Str(load_default=None, validate=validate.Length(max=200))
    iss = fields.Str(load_default=None, validate=validate.Length(max=500))
    error = fields.Str(load_default=None, validate=validate.Length(max=200))
    error_description = fields.Str(load_default=None, validate=validate.Length(max=2000))


class CatalogueQuery(_Lenient):
    jenis = fields.Str(load_default=None, validate=validate.Length(max=40),
                       metadata={"description": "programme kind (pelatihan, seminar, ...)"})
    kompetensi = fields.Str(load_default=None, validate=validate.Length(max=40),
                            metadata={"description": "competency type (teknis, manajerial, ...)"})
    bulan = fields.Str(load_default=None, validate=validate.Length(max=7),
                       metadata={"description": "YYYY-MM: programmes starting that month (WIB)"})
    halaman = fields.Int(load_default=1, validate=validate.Range(min=1, max=1000))


class YearQuery(_Lenient):
    tahun = fields.Int(load_default=None, validate=validate.Range(min=2000, max=2100))


def _checked(value: str, what: str) -> str:
    if not _ID.match(value or ""):
        raise NotFound(f"{what} tidak ditemukan.")
    return value


def programme_code(value: str) -> str:
    return _checked(value, "Program").upper()


def enrolment_id(value: str) -> str:
    return _checked(value, "Pendaftaran")


def certificate_id(value: str) -> str:
    return _checked(value, "Sertifikat")


def message_id(value: str) -> str:
    return _checked(value, "Pesan")


# -- supervisor, operator and admin pages (izin atasan, tim saya, Plt/Plh, log akses) --
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,400}\.[A-Za-z0-9_-]{1,200}$")


class DecisionForm(CsrfForm):
    """A supervisor's decision (the reason is checked by domain.decision_errors, to show the
    error next to the field rather than as an error page)."""

    keputusan = fields.Str(load_default=None, validate=validate.Length(max=10),
                           metadata={"description": "setuju (approve) or tolak (decline)"})
    alasan = fields.Str(load_default=None, validate=validate.Length(max=5000),
                        metadata={"description": "the reason, required when declining (at most 500 characters)"})


class ActingForm(CsrfForm):
    """Set an acting supervisor (Plt/Plh); fields checked by domain.acting_errors."""

    atasan = _nip("NIP of the supervisor (atasan) to act for", load_default=None)
    pelaksana = _nip("NIP of the acting person", load_default=None)
    jenis = fields.Str(load_default=None, validate=validate.Length(max=10), metadata={"description": "plt or plh"})
    sampai = fields.Str(load_default=None, validate=validate.Length(max=20),
                        metadata={"description": "YYYY-MM-DD: the delegation ends at 23.59.59 WIB that day"})


class EndActingForm(CsrfForm):
    atasan = _nip("NIP of the supervisor whose Plt/Plh ends now", required=True)


class ActingQuery(_Lenient):
    atasan = _nip("NIP of a supervisor whose Plt/Plh to show", load_default=None)


class AccessLogQuery(_Lenient):
    nip = _nip("whose data was read (NIP)", load_default=None)
    pembaca = fields.Str(load_default=None, validate=validate.Length(max=200),
                         metadata={"description": "the reader's subject (as the log shows it)"})


def approval_token(value: str) -> str:
    """The token of an approval link (its shape only: enrollment checks the signature)."""
    if not _TOKEN.match(value or ""):
        raise NotFound("Tautan persetujuan tidak dikenali.")
    return value


# -- operator console: oversight (issue 21) --
class OversightQuery(_Lenient):
    """The dashboard's and the exports' filters (an operator's OPD is its own; naming another is refused)."""

    tahun = fields.Int(load_default=None, validate=validate.Range(min=2000, max=2100),
                       metadata={"description": "the year (default: this year, WIB)"})
    opd = fields.Str(load_default=None, validate=validate.Length(max=40),
                     metadata={"description": "OPD code (admin: empty for every OPD; an operator: its own)"})


class NeverEnrolledPageQuery(OversightQuery):
    setelah = fields.Str(load_default=None, validate=validate.Length(max=500),
                         metadata={"description": "the cursor of the next page (from the page's link)"})
    jumlah = fields.Int(load_default=50, validate=validate.Range(min=1, max=200),
                        metadata={"description": "ASN per page (default 50)"})


class CheckpointQuery(_Lenient):
    checkpoint = fields.Str(load_default=None, validate=validate.Length(max=20),
                            metadata={"description": "YEAR-LABEL, e.g. 2026-Q3"})


class CheckpointForm(CsrfForm):
    checkpoint = fields.Str(load_default=None, validate=validate.Length(max=20),
                            metadata={"description": "YEAR-LABEL of the checkpoint to run, e.g. 2026-Q3"})


class CertificatesPageQuery(_Lenient):
    setelah = fields.Str(load_default=None, validate=validate.Length(max=500),
                         metadata={"description": "the cursor of the next page (from the page's link)"})


class RevokeForm(CsrfForm):
    """Revoke a certificate (admin); the reason is checked by domain.revoke_errors beside the field."""

    alasan = fields.Str(load_default=None, validate=validate.Length(max=5000),
                        metadata={"description": "why the certificate is revoked (5 to 500 characters); shown on "
                                                 "the public verification page"})


# -- operator console: programmes (issue 21) --
def _text(max_length: int, description: str):
    return fields.Str(load_default=None, validate=validate.Length(max=max_length),
                      metadata={"description": description})


class ConsoleListQuery(_Lenient):
    status = _text(20, "draft, published or cancelled")
    jenis = _text(40, "programme kind")
    bulan = _text(7, "YYYY-MM: programmes starting that month (WIB)")
    halaman = fields.Int(load_default=1, validate=validate.Range(min=1, max=1000))


class ConsoleProgrammeQuery(_Lenient):
    cari = _text(100, "roster search: the beginning of a name, or a NIP (or its beginning)")
    opd = _text(64, "admin: only the enrolments of this OPD (an operator's own OPD is the API's)")


class ProgrammeForm(CsrfForm):
    """The programme form (admin). Values go to enrollment as typed (times in WIB); the API's
    422 is shown beside each field (domain.programme_errors). ``penyelenggara`` may repeat."""

    kode = _text(64, "code (create only)")
    judul = _text(400, "title")
    deskripsi = _text(10000, "description")
    jenis = _text(40, "kind")
    kompetensi = _text(40, "competency type")
    jp = _text(20, "JP; empty: derived from the duration")
    durasi_menit = _text(20, "duration in minutes")
    durasi_hari = _text(20, "duration in days")
    penyelenggara = _text(40, "organiser (repeated): a code of shared/reference/organisers.csv (BKN, PEMKOT_BUKITTINGGI, LKPP…)")
    narasumber = _text(12000, "speakers, one per line (seminar, lokakarya)")
    mulai = _text(40, "start, YYYY-MM-DDTHH:MM in WIB")
    selesai = _text(40, "end, YYYY-MM-DDTHH:MM in WIB")
    lokasi = _text(600, "place")
    daftar_buka = _text(40, "enrolment opens, YYYY-MM-DDTHH:MM in WIB")
    daftar_tutup = _text(40, "enrolment closes, YYYY-MM-DDTHH:MM in WIB")
    kapasitas = _text(20, "seats")
    nilai_lulus = _text(20, "passing score 0-100")
    sertifikat = _text(10, "empty (automatic), ya or tidak")
    masa_berlaku = _text(20, "certificate validity in months")
    jalur_sertifikasi = _text(128, "certification line")
    izin_atasan = _text(10, "ya: self-enrolment needs the supervisor's approval")


class ReasonForm(CsrfForm):
    alasan = _text(2000, "the reason (cancelling a programme: 3-500 characters; an enrolment: 1-500)")
    kode = _text(64, "the programme page to return to")


class ConsoleEnrolForm(CsrfForm):
    nip = _nip("NIP of an ASN aktif on the roster (an operator: of its own OPD)", required=True)
    peran = fields.Str(load_default="peserta", validate=validate.OneOf(("peserta", "narasumber")),
                       metadata={"description": "peserta, or narasumber of a seminar or lokakarya (no seat)"})


class PromoteForm(CsrfForm):
    kode = _text(64, "the programme page to return to")


class JpPreviewQuery(_Lenient):
    jenis = _text(40, "programme kind")
    mulai = _text(40, "start, YYYY-MM-DDTHH:MM in WIB")
    selesai = _text(40, "end, YYYY-MM-DDTHH:MM in WIB")
    durasi_menit = _text(20, "duration in minutes")
    durasi_hari = _text(20, "duration in days")
    jp = _text(20, "JP given (then shown as given)")


# -- operator console: uploads and marking (issue 21) --
class UploadQuery(_Lenient):
    """What an upload is (the page's query, and the query of the streamed upload)."""

    jenis = fields.Str(load_default=None, validate=validate.Length(max=20),
                       metadata={"description": "pendaftaran (bulk enrolment), kelulusan (bulk completion) or "
                                                "daftar-asn (roster import)", "enum": ["pendaftaran", "kelulusan",
                                                                                      "daftar-asn"]})
    program = fields.Str(load_default=None, validate=validate.Length(max=64),
                         metadata={"description": "the programme's code (pendaftaran, kelulusan)"})
    mode = fields.Str(load_default=None, validate=validate.Length(max=16),
                      metadata={"description": "daftar-asn: sebagian (adds and updates, the default) or penuh",
                                "enum": ["sebagian", "penuh"]})
    kode_opd = fields.Str(load_default=None, validate=validate.Length(max=64),
                          metadata={"description": "daftar-asn with mode=penuh: the OPD whose roster is replaced "
                                                   "(an operator: always its own)"})
    konfirmasi = fields.Str(load_default=None, validate=validate.Length(max=8),
                            metadata={"description": "ya: a full import may mark more than half of the OPD's ASN "
                                                     "as left"})


class UploadForm(UploadQuery):
    """The upload form posted without JavaScript (multipart/form-data, the file in ``berkas``)."""

    csrf_token = fields.Str(required=True, validate=validate.Length(min=1, max=200),
                            metadata={"description": "the session's CSRF token"})
    berkas = fields.Raw(load_default=None, metadata={"type": "string", "format": "binary",
                                                     "description": "the CSV or XLSX file"})


class MarkingQuery(_Lenient):
    sesi = fields.Str(load_default=None, validate=validate.Length(max=10),
                      metadata={"description": "YYYY-MM-DD: the session (a day of the programme in WIB) to mark"})


class MarkingForm(CsrfForm):
    """The marking table: besides these, hadir-<enrolment id> (ya, tidak or empty: not recorded) and
    nilai-<enrolment id> (0-100, with lengkap) for each participant (the programme's enrolled and
    completed ones, read again when the form arrives)."""

    sesi = fields.Str(load_default=None, validate=validate.Length(max=10),
                      metadata={"description": "YYYY-MM-DD: the session marked (none for a self-paced programme)"})
    lengkap = fields.Str(load_default=None, validate=validate.Length(max=5),
                         metadata={"description": "ya: also record completions (scheduled programmes once ended, "
                                                  "self-paced ones per person)"})
