"""Open Badges 3.0 credentials: build, sign (Ed25519, Data Integrity ``eddsa-jcs-2022``), verify.

Why eddsa-jcs-2022 (docs/decisions/0022-open-badges-credential-signing.md): it is a W3C
Data Integrity cryptosuite that keeps the credential a plain, readable JSON document and
needs only JSON canonicalisation (RFC 8785, the ``rfc8785`` library) instead of RDF dataset
canonicalisation. The issuer is a ``did:key`` derived from the public key, so a verifier
needs nothing but the credential to check the signature; revocation is published as a
signed W3C Bitstring Status List.
"""
from __future__ import annotations

import base64
import gzip
import hashlib
import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from services.certification.domain import (NARASUMBER, ROLE_LABELS_ID, competency_label, criteria,
                                          organiser_names, role_of)
from shared.timefmt import end_of_day_wib

log = logging.getLogger(__name__)

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
OB_SCHEMA = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
CRYPTOSUITE = "eddsa-jcs-2022"
STATUS_LIST_PATH = "/status/revocation"
# Every list has exactly this many entries: 16 KiB, the W3C minimum, so a list neither reveals
# how few entries it has nor grows with the number of certificates. Certificate n is entry
# n % STATUS_LIST_BITS of list n // STATUS_LIST_BITS; list 0 is the address issued credentials use.
STATUS_LIST_BITS = 131072
_ED25519_MULTICODEC = b"\xed\x01"
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# Longest input base58btc_decode accepts. Decoding costs quadratic time in the length (one
# big-integer multiplication per character) and never yields to eventlet: 300,000 characters
# held a replica for 11 s. Our values are short: an Ed25519 signature (64 bytes) is at most 88
# characters, a did:key (34 bytes) 48.
MAX_BASE58_CHARS = 128
# A proofValue: "z" (base58btc multibase) and at most 88 characters of a 64-byte signature.
MAX_PROOF_VALUE_CHARS = 90
# Public on purpose: local runs and tests only. Production sets CERTIFICATION_SIGNING_KEY.
_DEV_SEED = hashlib.sha256(b"asn-bangkom development signing key - never use in production").digest()


class CredentialError(ValueError):
    """A credential that is malformed or whose proof does not verify."""


# -- encodings -----------------------------------------------------------------------------

def base58btc_encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rem = divmod(number, 58)
        out = _BASE58[rem] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def base58btc_decode(text: str, max_chars: int = MAX_BASE58_CHARS) -> bytes:
    """The bytes of ``text``; CredentialError for a character outside the alphabet or a text
    longer than ``max_chars`` (checked first, so the cost stays bounded)."""
    if len(text) > max_chars:
        raise CredentialError(f"base58btc value longer than {max_chars} characters")
    number = 0
    for char in text:
        index = _BASE58.find(char)
        if index < 0:
            raise CredentialError(f"not base58btc: {char!r}")
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def did_key(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "did:key:z" + base58btc_encode(_ED25519_MULTICODEC + raw)


def public_key_of_did(did: str) -> Ed25519PublicKey:
    if not did.startswith("did:key:z"):
        raise CredentialError("verificationMethod is not a did:key")
    decoded = base58btc_decode(did[len("did:key:z"):].split("#")[0])
    if not decoded.startswith(_ED25519_MULTICODEC) or len(decoded) != 34:
        raise CredentialError("did:key is not an Ed25519 key")
    return Ed25519PublicKey.from_public_bytes(decoded[2:])


def rfc3339(moment: datetime) -> str:
    """A credential's times: UTC in whole seconds with ``Z`` (what issued credentials carry;
    ``shared.timefmt.iso`` adds milliseconds)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


# -- keys ----------------------------------------------------------------------------------

def is_development_key(configured: str | None) -> bool:
    """Whether ``configured`` is unset or is the public development key (in any encoding):
    either way anyone can sign credentials this service would vouch for."""
    if not configured or not configured.strip():
        return True
    raw = load_signing_key(configured).private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return raw == _DEV_SEED


def load_signing_key(configured: str | None) -> Ed25519PrivateKey:
    """The issuer key from configuration: a PKCS#8 PEM, or base64 of the 32-byte seed.
    Without one, a fixed development key (logged as a warning)."""
    if not configured:
        log.warning("CERTIFICATION_SIGNING_KEY is not set: signing credentials with the public "
                    "development key; set a real key in production")
        return Ed25519PrivateKey.from_private_bytes(_DEV_SEED)
    text = configured.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(text.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("CERTIFICATION_SIGNING_KEY is a PEM key but not an Ed25519 one")
        return key
    try:
        seed = base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise ValueError("CERTIFICATION_SIGNING_KEY is neither a PEM key nor base64") from exc
    if len(seed) != 32:
        raise ValueError(f"CERTIFICATION_SIGNING_KEY must be a 32-byte Ed25519 seed, got {len(seed)} bytes")
    return Ed25519PrivateKey.from_private_bytes(seed)


@dataclass(frozen=True)
class Issuer:
    key: Ed25519PrivateKey
    name: str
    base_url: str

    @property
    def did(self) -> str:
        return did_key(self.key.public_key())

    @property
    def verification_method(self) -> str:
        return f"{self.did}#{self.did[len('did:key:'):]}"

    def profile(self) -> dict:
        return {"id": self.did, "type": ["Profile"], "name": self.name, "url": self.base_url}


# -- eddsa-jcs-2022 --------------------------------------------------------------------------

def _hash_data(document: dict, proof_config: dict) -> bytes:
    return hashlib.sha256(rfc8785.dumps(proof_config)).digest() + hashlib.sha256(rfc8785.dumps(document)).digest()


def sign(document: dict, issuer: Issuer, created: datetime) -> dict:
    """``document`` with a DataIntegrityProof (eddsa-jcs-2022) added."""
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    proof = {
        "@context": unsecured["@context"],
        "type": "DataIntegrityProof",
        "cryptosuite": CRYPTOSUITE,
        "created": rfc3339(created),
        "verificationMethod": issuer.verification_method,
        "proofPurpose": "assertionMethod",
    }
    signature = issuer.key.sign(_hash_data(unsecured, proof))
    return {**unsecured, "proof": {**proof, "proofValue": "z" + base58btc_encode(signature)}}


def verify_proof(document: dict, trusted_issuer_did: str | None = None) -> None:
    """Raise CredentialError unless ``document`` carries a valid eddsa-jcs-2022 proof by its
    issuer (and, if given, that issuer is the trusted one)."""
    if not isinstance(document, dict) or not isinstance(document.get("proof"), dict):
        raise CredentialError("the credential has no proof")
    proof = document["proof"]
    if proof.get("type") != "DataIntegrityProof" or proof.get("cryptosuite") != CRYPTOSUITE:
        raise CredentialError(f"unsupported proof; expected DataIntegrityProof {CRYPTOSUITE}")
    if proof.get("proofPurpose") != "assertionMethod":
        raise CredentialError("the proof purpose is not assertionMethod")
    method = proof.get("verificationMethod")
    proof_value = proof.get("proofValue")
    if not isinstance(method, str) or not isinstance(proof_value, str) or not proof_value.startswith("z"):
        raise CredentialError("the proof lacks a verificationMethod or a base58btc proofValue")
    if len(proof_value) > MAX_PROOF_VALUE_CHARS:  # before any decoding (see MAX_BASE58_CHARS)
        raise CredentialError(f"the proofValue is longer than {MAX_PROOF_VALUE_CHARS} characters")
    issuer = document.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, dict) else issuer
    if method.split("#")[0] != issuer_id:
        raise CredentialError("the proof was not made with the issuer's key")
    if trusted_issuer_did is not None and issuer_id != trusted_issuer_did:
        raise CredentialError("the credential was not issued by this service")
    unsecured = {k: v for k, v in document.items() if k != "proof"}
    proof_config = {k: v for k, v in proof.items() if k != "proofValue"}
    if "@context" in proof_config and proof_config["@context"] != unsecured.get("@context"):
        raise CredentialError("the proof's @context does not match the credential's")
    try:
        public_key_of_did(method).verify(base58btc_decode(proof_value[1:]), _hash_data(unsecured, proof_config))
    except InvalidSignature:
        raise CredentialError("the signature does not match the credential's content") from None
    except (TypeError, ValueError) as exc:  # non-JSON values, wrong lengths
        raise CredentialError(f"the proof cannot be checked: {exc}") from None


# -- Open Badges 3.0 -----------------------------------------------------------------------

def credential_url(credential_id: str) -> str:
    return f"urn:uuid:{credential_id}"


def identity_hash(nip: str, salt: str) -> str:
    return "sha256$" + hashlib.sha256((nip + salt).encode()).hexdigest()


def build_credential(certificate: dict, issuer: Issuer, verification_url: str) -> dict:
    """The certificate as an unsigned OpenBadgeCredential (W3C VC 2.0 + OB 3.0 contexts)."""
    programme, holder = certificate["programme"], certificate["holder"]
    organisers = organiser_names(programme)
    achievement = {
        "id": f"{issuer.base_url}/achievements/{programme['code']}",
        "type": ["Achievement"],
        "achievementType": "Certification" if programme["kind"] == "sertifikasi" else "Certificate",
        "name": programme["title"],
        "description": (f"{programme['title']} ({programme['jp']} JP), diselenggarakan oleh "
                        f"{' dan '.join(organisers)}."),
        "criteria": {"narrative": criteria(programme["kind"])},
        "creditsAvailable": programme["jp"],
        "fieldOfStudy": competency_label(programme["competency_type"]),
        "humanCode": programme["code"],
        "inLanguage": "id",
        "tag": [programme["competency_type"], programme["kind"]],
    }
    subject = {
        "type": ["AchievementSubject"],
        # The name in clear for a human verifier; the NIP only hashed (OB 3.0 IdentityObject).
        "identifier": [
            {"type": "IdentityObject", "identityType": "name", "hashed": False,
             "identityHash": holder["name"]},
            {"type": "IdentityObject", "identityType": "identifier", "hashed": True,
             "identityHash": identity_hash(holder["nip"], certificate["identity_salt"]),
             "salt": certificate["identity_salt"]},
        ],
        "achievement": achievement,
        "creditsEarned": certificate["jp"],
        "licenseNumber": certificate["number"],
    }
    if role_of(certificate) == NARASUMBER:  # OB 3.0 AchievementSubject.role: the holder's role in it
        subject["role"] = ROLE_LABELS_ID[NARASUMBER]
    if programme.get("starts_at"):
        subject["activityStartDate"] = programme["starts_at"]
    if programme.get("ends_at"):
        subject["activityEndDate"] = programme["ends_at"]
    credential = {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": credential_url(certificate["credential_id"]),
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "issuer": issuer.profile(),
        "name": programme["title"],
        "description": f"Sertifikat nomor {certificate['number']}; verifikasi: {verification_url}",
        "validFrom": rfc3339(certificate["issued_at"]),
        "credentialSubject": subject,
        "credentialStatus": status_entry(issuer.base_url, certificate["status_index"]),
        "credentialSchema": [{"id": OB_SCHEMA, "type": "1EdTechJsonSchemaValidator2019"}],
    }
    if certificate.get("valid_until"):
        credential["validUntil"] = rfc3339(end_of_day_wib(date.fromisoformat(certificate["valid_until"])))
    return credential


def credential_id_of(document: dict) -> str | None:
    """The certificate's credential uuid from a presented credential's ``id``."""
    value = document.get("id") if isinstance(document, dict) else None
    if isinstance(value, str) and value.startswith("urn:uuid:"):
        return value[len("urn:uuid:"):]
    return None


# -- Bitstring Status List (revocation) ------------------------------------------------------

def status_list_url(base_url: str, list_number: int) -> str:
    """The address of status list ``list_number``. List 0 keeps the plain address that every
    credential issued before the lists were split points at; the ingress routes the path
    exactly, so the others differ only in the query."""
    url = f"{base_url}{STATUS_LIST_PATH}"
    return url if list_number == 0 else f"{url}?list={list_number}"


def status_entry(base_url: str, status_index: int) -> dict:
    """A credential's ``credentialStatus``: its entry in the list that holds ``status_index``."""
    list_number, entry = divmod(status_index, STATUS_LIST_BITS)
    url = status_list_url(base_url, list_number)
    return {"id": f"{url}#{entry}", "type": "BitstringStatusListEntry", "statusPurpose": "revocation",
            "statusListIndex": str(entry), "statusListCredential": url}


def encode_status_list(entries: list[int]) -> str:
    """The ``encodedList`` of one list with ``entries`` (positions in the list) set."""
    bits = bytearray(STATUS_LIST_BITS // 8)
    for entry in entries:
        if not 0 <= entry < STATUS_LIST_BITS:
            raise ValueError(f"status list entry {entry} outside 0..{STATUS_LIST_BITS - 1}")
        bits[entry // 8] |= 0x80 >> (entry % 8)  # entry 0 is the first, leftmost bit
    encoded = base64.urlsafe_b64encode(gzip.compress(bytes(bits), mtime=0)).rstrip(b"=")
    return "u" + encoded.decode()


def status_bit(encoded_list: str, index: int) -> bool:
    if not encoded_list.startswith("u"):
        raise CredentialError("encodedList is not base64url multibase")
    raw = encoded_list[1:]
    bits = gzip.decompress(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def status_list_credential(revoked_entries: list[int], issuer: Issuer, now: datetime,
                           list_number: int = 0) -> dict:
    """Status list ``list_number``, signed, with the entries (positions in that list) of its
    revoked credentials set."""
    url = status_list_url(issuer.base_url, list_number)
    document = {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer.profile(),
        "validFrom": rfc3339(now),
        "credentialSubject": {"id": f"{url}#list", "type": "BitstringStatusList",
                              "statusPurpose": "revocation",
                              "encodedList": encode_status_list(sorted(revoked_entries))},
    }
    return sign(document, issuer, now)
