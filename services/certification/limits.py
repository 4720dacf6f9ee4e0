"""Caps on what callers send the certification service, checked before any costly work.

Anyone may call the verification routes, so every value that feeds a computation whose
cost grows with its size (base58 decoding, JSON canonicalisation, a store look-up keyed by
it) is measured first and refused with a 422 naming the field and the limit. The body of a
public route is already at most 64 KiB (shared.http); these caps are on what is inside.
"""
from __future__ import annotations

import json

from shared.errors import Invalid
from shared.http import BadRequest
from services.certification import domain
from services.certification.credential import MAX_PROOF_VALUE_CHARS

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


def _too_long(field: str, limit: int, what: str = "characters") -> Invalid:
    return Invalid(f"{field} is longer than {limit} {what}", field=field, limit=limit)


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


def verification_code(text: str) -> str | None:
    """A code from the verification URL in canonical form, or None when it cannot be one
    (answered as unknown, like any other). Over-long text is refused first: nothing that
    long is a code, and it is not worth a regular expression or a store look-up."""
    if len(text) > MAX_CODE_CHARS:
        raise _too_long("code", MAX_CODE_CHARS)
    return domain.normalise_code(text)


def certificate_id(text: str) -> str:
    """A certificate id from the path, refused when longer than any id can be (it is
    echoed in the 404's message and used as a store key)."""
    if len(text) > MAX_CERTIFICATE_ID_CHARS:
        raise _too_long("certificate_id", MAX_CERTIFICATE_ID_CHARS)
    return text
