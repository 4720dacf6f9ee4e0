"""Marshmallow schemas of what the pages take: query strings and forms (every form carries
the session's ``csrf_token``). They also document the routes (routes.py)."""
from __future__ import annotations

import re

from marshmallow import EXCLUDE, Schema, fields, validate

from shared.errors import NotFound

PER_PAGE = 20
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE  # a tracking parameter or an old field must not break a page


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

    atasan = fields.Str(load_default=None, validate=validate.Length(max=40),
                        metadata={"description": "NIP of the supervisor (atasan) to act for"})
    pelaksana = fields.Str(load_default=None, validate=validate.Length(max=40),
                           metadata={"description": "NIP of the acting person"})
    jenis = fields.Str(load_default=None, validate=validate.Length(max=10), metadata={"description": "plt or plh"})
    sampai = fields.Str(load_default=None, validate=validate.Length(max=20),
                        metadata={"description": "YYYY-MM-DD: the delegation ends at 23.59.59 WIB that day"})


class EndActingForm(CsrfForm):
    atasan = fields.Str(required=True, validate=validate.Length(min=1, max=40),
                        metadata={"description": "NIP of the supervisor whose Plt/Plh ends now"})


class ActingQuery(_Lenient):
    atasan = fields.Str(load_default=None, validate=validate.Length(max=40),
                        metadata={"description": "NIP of a supervisor whose Plt/Plh to show"})


class AccessLogQuery(_Lenient):
    nip = fields.Str(load_default=None, validate=validate.Length(max=40),
                     metadata={"description": "whose data was read (NIP)"})
    pembaca = fields.Str(load_default=None, validate=validate.Length(max=200),
                         metadata={"description": "the reader's subject (as the log shows it)"})


def approval_token(value: str) -> str:
    """The token of an approval link (its shape only: enrollment checks the signature)."""
    if not _TOKEN.match(value or ""):
        raise NotFound("Tautan persetujuan tidak dikenali.")
    return value
