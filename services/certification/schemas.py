"""marshmallow schemas of the certification HTTP API: requests (with the caps on what callers
send, checked before any costly work) and responses (what the routes answer is what these
schemas dump).

Anyone may call the verification routes, so every value that feeds a computation whose cost
grows with its size (base58 decoding, JSON canonicalisation, a store look-up keyed by it) is
measured first and refused with a 422 naming the field and the limit. The body of a public
route is already at most 64 KiB (shared.http); these caps are on what is inside.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date

from marshmallow import EXCLUDE, Schema, fields, pre_dump, validate
from marshmallow.experimental.context import Context

from shared.errors import Invalid
from shared.events.common import PARTICIPATION_ROLES, ParticipantSnapshot, ProgrammeSnapshot
from shared.http import BadRequest
from shared.nip import NipField
from shared.paging import page_query
from shared.timefmt import iso
from services.certification import domain
from services.certification.adapters.credential import MAX_PROOF_VALUE_CHARS

# A presented credential: ours is ~4 KB and 7 levels deep. 64 KiB is the public body cap.
MAX_CREDENTIAL_BYTES = 64 * 1024
MAX_CREDENTIAL_DEPTH = 32
# did:key:z6Mk... (57 characters) "#" z6Mk... (49): 256 leaves room for other DID methods
# we refuse anyway, with a clear reason instead of a 422.
MAX_VERIFICATION_METHOD_CHARS = 256
MAX_CREDENTIAL_ID_CHARS = 256  # urn:uuid:<36 characters>
# A verification code is 18 characters; people type it with dashes and spaces.
MAX_CODE_CHARS = 64
# Certificate ids are 24 hexadecimal characters (ObjectId strings).
MAX_CERTIFICATE_ID_CHARS = 64
# Far more status lists than certificates will ever be issued (131,072 certificates per
# list); bounds the number a caller may send.
MAX_LIST_NUMBER = 9_999
MAX_PAGE_SIZE = 100


# -- requests ------------------------------------------------------------------------------

class RevokeRequest(Schema):
    reason = fields.Str(required=True, validate=validate.Length(min=5, max=500),
                        metadata={"description": "why it is revoked; shown on the verification page"})


class ListQuery(page_query(MAX_PAGE_SIZE, default_limit=20)):
    nip = NipField(metadata={"description": "the holder's NIP (spaces as printed are fine)"})
    programme = fields.Str(validate=validate.Length(min=1, max=64))


class StatusListQuery(Schema):
    class Meta:
        unknown = EXCLUDE  # a verifier's cache-busting parameter must not break verification

    list = fields.Int(load_default=0, validate=validate.Range(min=0, max=MAX_LIST_NUMBER),
                      metadata={"description": "which list; 0 (the default) is the one at the plain address"})


def _too_long(field: str, limit: int, what: str = "characters") -> Invalid:
    return Invalid(f"{field} is longer than {limit} {what}", field=field, limit=limit)


def certificate_id(text: str) -> str:
    """A certificate id from the path, refused when longer than any id can be (it is
    echoed in the 404's message and used as a store key)."""
    if len(text) > MAX_CERTIFICATE_ID_CHARS:
        raise _too_long("certificate_id", MAX_CERTIFICATE_ID_CHARS)
    return text


def verification_code(text: str) -> str | None:
    """A code from the verification URL in canonical form, or None when it cannot be one
    (answered as unknown, like any other). Over-long text is refused first: nothing that
    long is a code, and it is not worth a regular expression or a store look-up."""
    if len(text) > MAX_CODE_CHARS:
        raise _too_long("code", MAX_CODE_CHARS)
    return domain.normalise_code(text)


def presented_credential(raw: bytes) -> dict:
    """The credential a caller presents for verification, parsed and within bounds: a JSON
    object at most MAX_CREDENTIAL_DEPTH levels deep whose proof fields and id are not
    over-long. 400 for what is not a JSON object, 422 naming the field for what is too big."""
    if not raw:
        raise BadRequest("request body is empty; a credential (JSON object) is expected")
    if len(raw) > MAX_CREDENTIAL_BYTES:  # the route's body cap says the same; kept for direct callers
        raise Invalid(f"the credential is over {MAX_CREDENTIAL_BYTES} bytes", field="credential",
                      limit=MAX_CREDENTIAL_BYTES)
    try:
        document = json.loads(raw)
    except RecursionError:  # the C parser gives up at ~1,000 levels: cheaply, but not a ValueError
        raise _nested_too_deep() from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadRequest("request body must be a JSON object (a credential)")
    # Checked before the depth walk: these are the fields whose size drives the cost.
    proof = document.get("proof")
    if isinstance(proof, dict):
        for field, limit in (("proofValue", MAX_PROOF_VALUE_CHARS),
                             ("verificationMethod", MAX_VERIFICATION_METHOD_CHARS)):
            value = proof.get(field)
            if isinstance(value, str) and len(value) > limit:
                raise _too_long(f"proof.{field}", limit)
    identifier = document.get("id")
    if isinstance(identifier, str) and len(identifier) > MAX_CREDENTIAL_ID_CHARS:
        raise _too_long("id", MAX_CREDENTIAL_ID_CHARS)
    if _depth_exceeds(document, MAX_CREDENTIAL_DEPTH):
        # RFC 8785 canonicalisation recurses once per level: a deep document would end in a
        # RecursionError (a 500) after costing a pass over it.
        raise _nested_too_deep()
    return document


def _nested_too_deep() -> Invalid:
    return Invalid(f"the credential is nested more than {MAX_CREDENTIAL_DEPTH} levels deep",
                   field="credential", limit=MAX_CREDENTIAL_DEPTH)


def _depth_exceeds(document: object, limit: int) -> bool:
    """Whether ``document`` nests objects/arrays more than ``limit`` levels (iterative: no
    recursion on the caller's input)."""
    stack = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values() if isinstance(v, (dict, list)))
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value if isinstance(v, (dict, list)))
    return False


# -- responses -----------------------------------------------------------------------------

class UtcDateTime(fields.DateTime):
    """A stored time as RFC 3339 in UTC with ``Z``."""

    def _serialize(self, value, attr, obj, **kwargs):
        return iso(value)


class IsoDate(fields.Date):
    """A calendar day, stored as its ISO text (``issued_on``, ``valid_until``): given as is."""

    def _serialize(self, value, attr, obj, **kwargs):
        return value if value is None or isinstance(value, str) else value.isoformat()


class Snapshot(fields.Nested):
    """The holder or programme as the ``completed`` event carried it (validated when it
    arrived, kept as it came): documented by its schema, answered as stored."""

    def _serialize(self, value, attr, obj, **kwargs):
        return value


@dataclass(frozen=True)
class Seen:
    """What a certificate's status and links depend on: the day (WIB) and the public address.
    ``with Context(Seen(...)):`` around the dump of a ``Certificate`` or ``CertificatePage``."""
    today: date
    base_url: str


class Revocation(Schema):
    reason = fields.Str()
    at = UtcDateTime()
    by = fields.Str()


class Certificate(Schema):
    id = fields.Str(attribute="_id")
    number = fields.Str(metadata={"example": "0042/BKN-BKT/SERT-PBJ/2026"})
    status = fields.Str(validate=validate.OneOf(("valid", "revoked", "expired", "superseded")))
    enrolment_id = fields.Str()
    holder = Snapshot(ParticipantSnapshot)
    programme = Snapshot(ProgrammeSnapshot)
    role = fields.Str(validate=validate.OneOf(PARTICIPATION_ROLES),
                      metadata={"description": "peserta, or narasumber (a seminar's or workshop's speaker)"})
    jp = fields.Int()
    issued_on = IsoDate()
    issued_at = UtcDateTime()
    valid_until = IsoDate(allow_none=True)
    verification_code = fields.Str()
    verification_url = fields.Url()
    revoked = fields.Nested(Revocation, allow_none=True)
    supersedes = fields.Str(allow_none=True)
    superseded_by = fields.Str(allow_none=True)
    pdf_url = fields.Url()
    credential_url = fields.Url()

    @pre_dump
    def derived(self, certificate: dict, **kwargs) -> dict:
        """Its status today and its addresses, beside what is stored."""
        seen: Seen = Context.get()
        base = seen.base_url.rstrip("/")
        return {**certificate, "status": domain.status_of(certificate, seen.today),
                "verification_url": domain.verification_url(base, certificate["verification_code"]),
                "pdf_url": f"{base}/certificates/{certificate['_id']}/pdf",
                "credential_url": f"{base}/certificates/{certificate['_id']}/credential",
                "valid_until": certificate.get("valid_until"), "supersedes": certificate.get("supersedes"),
                "role": domain.role_of(certificate),
                "superseded_by": certificate.get("superseded_by")}


class CertificatePage(Schema):
    items = fields.List(fields.Nested(Certificate))
    next_cursor = fields.Str(allow_none=True,
                             metadata={"description": "give it as cursor for the next page; null on the last"})
    total = fields.Int()
    page = fields.Int(allow_none=True, metadata={"description": "deprecated (one release): the page asked for"})
    per_page = fields.Int(metadata={"description": "deprecated (one release): the same as limit"})


class Successor(Schema):
    number = fields.Str()
    issued_on = IsoDate()
    verification_url = fields.Url()


class Verification(Schema):
    """What a public verifier may see (``domain.verification_view``)."""
    status = fields.Str(validate=validate.OneOf(("valid", "revoked", "expired", "superseded", "unknown")))
    status_label = fields.Str(metadata={"description": "the status in Bahasa Indonesia"})
    number = fields.Str()
    holder_name = fields.Str()
    programme_title = fields.Str()
    programme_kind = fields.Str()
    competency_type = fields.Str()
    organisers = fields.List(fields.Str())
    role = fields.Str(validate=validate.OneOf(PARTICIPATION_ROLES))
    role_label = fields.Str(metadata={"description": "Peserta or Narasumber, as the certificate says"})
    jp = fields.Int()
    issued_on = IsoDate()
    valid_until = IsoDate(allow_none=True)
    revoked_on = IsoDate(allow_none=True)
    revocation_reason = fields.Str(allow_none=True)
    superseded_by = fields.Nested(Successor, allow_none=True)


class CredentialCheck(Schema):
    verified = fields.Bool(metadata={"description": "signature valid and the certificate currently valid"})
    signature_valid = fields.Bool()
    status = fields.Str()
    errors = fields.List(fields.Str())


class ExpiryScanResult(Schema):
    expired = fields.Int(metadata={"description": "certificates announced as expired by this run"})
    expiring = fields.Int(metadata={"description": "certificates announced as expiring by this run"})
