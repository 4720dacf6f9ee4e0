"""Open Badges 3.0 credentials: eddsa-jcs-2022 proofs, did:key, the revocation status list."""
from __future__ import annotations

import base64
import copy
from datetime import datetime, timezone

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

from services.certification.adapters import credential
from services.certification.adapters.credential import CredentialError, Issuer
from shared.events import registry

EXAMPLE = registry.latest("enrollment", "completed").example
SEED = bytes(range(32))


@pytest.fixture
def issuer() -> Issuer:
    return Issuer(credential.load_signing_key(base64.b64encode(SEED).decode()),
                  "Badan Kepegawaian Negara dan Pemerintah Kota Bukittinggi", "https://sertifikat.example.id")


@pytest.fixture
def certificate() -> dict:
    return {"_id": "c1", "number": "0042/BKN-BKT/SERT-PBJ/2026", "verification_code": "K7Q2M9XW4RTD8HVB3N",
            "credential_id": "2f1c6a8e-8f0e-4b0a-9a55-8b8a1f2f3e4d", "status_index": 42,
            "identity_salt": "a1b2c3d4", "holder": EXAMPLE["participant"], "programme": EXAMPLE["programme"],
            "jp": 32, "issued_on": "2026-03-05", "valid_until": "2029-03-05",
            "issued_at": datetime(2026, 3, 5, 9, 31, 12, tzinfo=timezone.utc)}


def signed(certificate, issuer) -> dict:
    doc = credential.build_credential(certificate, issuer, "https://sertifikat.example.id/verify/K7Q2M9XW4RTD8HVB3N")
    return credential.sign(doc, issuer, certificate["issued_at"])


def test_the_credential_is_an_open_badge_with_vc2_and_ob3_contexts(certificate, issuer):
    doc = signed(certificate, issuer)
    assert doc["@context"] == ["https://www.w3.org/ns/credentials/v2",
                               "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
    assert doc["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert doc["issuer"]["id"].startswith("did:key:z6Mk")
    assert doc["validFrom"] == "2026-03-05T09:31:12Z"
    assert doc["validUntil"] == "2029-03-05T16:59:59Z"  # end of the day in WIB
    subject = doc["credentialSubject"]
    assert subject["achievement"]["creditsAvailable"] == 32 and subject["creditsEarned"] == 32
    assert subject["achievement"]["fieldOfStudy"] == "Kompetensi Teknis"
    assert subject["licenseNumber"] == "0042/BKN-BKT/SERT-PBJ/2026"
    assert doc["credentialStatus"]["type"] == "BitstringStatusListEntry"
    assert doc["credentialStatus"]["statusListIndex"] == "42"
    assert "198503122010011002" not in repr(doc)  # the NIP only salted and hashed
    assert doc["proof"]["cryptosuite"] == "eddsa-jcs-2022"


def test_a_seminar_speakers_credential_names_the_role_and_claims_no_pass(certificate, issuer):
    certificate["programme"] = {**certificate["programme"], "kind": "seminar"}
    certificate["role"] = "narasumber"
    subject = signed(certificate, issuer)["credentialSubject"]
    assert subject["role"] == "Narasumber"  # OB 3.0 AchievementSubject.role
    assert "lulus" not in subject["achievement"]["criteria"]["narrative"].lower()
    del certificate["role"]
    assert "role" not in signed(certificate, issuer)["credentialSubject"]  # a participant: no role claimed


def test_a_signed_credential_verifies_and_the_proof_follows_eddsa_jcs_2022(certificate, issuer):
    doc = signed(certificate, issuer)
    credential.verify_proof(doc, issuer.did)
    # recompute by the spec: sha256(JCS(proof config)) || sha256(JCS(document)), Ed25519
    proof = dict(doc["proof"])
    value = proof.pop("proofValue")
    unsecured = {k: v for k, v in doc.items() if k != "proof"}
    import hashlib
    message = hashlib.sha256(rfc8785.dumps(proof)).digest() + hashlib.sha256(rfc8785.dumps(unsecured)).digest()
    issuer.key.public_key().verify(credential.base58btc_decode(value[1:]), message)


@pytest.mark.parametrize("path, value", [
    (("credentialSubject", "creditsEarned"), 320),
    (("credentialSubject", "licenseNumber"), "0043/BKN-BKT/SERT-PBJ/2026"),
    (("validUntil",), "2099-03-05T16:59:59Z"),
    (("credentialSubject", "identifier", 0, "identityHash"), "Orang Lain"),
], ids=["jp", "number", "validity", "name"])
def test_a_tampered_credential_fails_verification(certificate, issuer, path, value):
    doc = signed(certificate, issuer)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(CredentialError, match="signature does not match"):
        credential.verify_proof(doc, issuer.did)


def test_a_credential_re_signed_with_another_key_is_not_ours(certificate, issuer):
    forger = Issuer(Ed25519PrivateKey.generate(), issuer.name, issuer.base_url)
    forged = signed(certificate, forger)
    credential.verify_proof(forged)  # self-consistent ...
    with pytest.raises(CredentialError, match="not issued by this service"):
        credential.verify_proof(forged, issuer.did)  # ... but not by the trusted issuer
    forged["issuer"] = issuer.profile()  # claiming our issuer with a foreign key
    with pytest.raises(CredentialError, match="issuer's key"):
        credential.verify_proof(forged, issuer.did)


def test_a_credential_without_a_proof_fails(certificate, issuer):
    doc = signed(certificate, issuer)
    del doc["proof"]
    with pytest.raises(CredentialError, match="no proof"):
        credential.verify_proof(doc, issuer.did)


def test_did_key_matches_the_published_ed25519_test_vector():
    # did:key spec test vector (Ed25519, seed of 32 zero bytes is not published; use the key itself)
    public = bytes.fromhex("3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    did = credential.did_key(Ed25519PublicKey.from_public_bytes(public))
    assert did == "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
    assert credential.public_key_of_did(did).public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw) == public


def test_base58btc_round_trips_and_keeps_leading_zero_bytes():
    for data in (b"", b"\0\0abc", bytes(range(256)), b"hello world"):
        # a caller may allow more than the default cap (sized for keys and signatures)
        assert credential.base58btc_decode(credential.base58btc_encode(data), max_chars=400) == data
    assert credential.base58btc_encode(b"hello world") == "StV1DL6CwTryKyV"


def test_the_key_loads_from_a_seed_or_a_pem_and_bad_keys_are_refused():
    pem = Ed25519PrivateKey.from_private_bytes(SEED).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    from_seed = credential.load_signing_key(base64.b64encode(SEED).decode())
    from_pem = credential.load_signing_key(pem)
    assert credential.did_key(from_seed.public_key()) == credential.did_key(from_pem.public_key())
    with pytest.raises(ValueError, match="32-byte"):
        credential.load_signing_key(base64.b64encode(b"short").decode())
    with pytest.raises(ValueError, match="neither"):
        credential.load_signing_key("not a key!")


def test_the_status_list_sets_exactly_the_revoked_bits_of_a_fixed_size_list(issuer):
    doc = credential.status_list_credential([3, 42, 131071], issuer, datetime(2026, 4, 1, tzinfo=timezone.utc))
    credential.verify_proof(doc, issuer.did)
    assert doc["id"] == "https://sertifikat.example.id/status/revocation"
    encoded = doc["credentialSubject"]["encodedList"]
    assert [i for i in (0, 3, 4, 41, 42, 43, 131070, 131071) if credential.status_bit(encoded, i)] == [3, 42, 131071]
    empty = credential.status_list_credential([], issuer, datetime(2026, 4, 1, tzinfo=timezone.utc))
    assert not credential.status_bit(empty["credentialSubject"]["encodedList"], 131071)
    with pytest.raises(ValueError, match="outside"):  # a list never grows: 131,072 entries each
        credential.encode_status_list([131072])
    second = credential.status_list_credential([7], issuer, datetime(2026, 4, 1, tzinfo=timezone.utc), 1)
    assert second["id"] == "https://sertifikat.example.id/status/revocation?list=1"


def test_a_credential_points_at_the_list_and_entry_of_its_status_index():
    first = credential.status_entry("https://x.id", 42)
    assert first == {"id": "https://x.id/status/revocation#42", "type": "BitstringStatusListEntry",
                     "statusPurpose": "revocation", "statusListIndex": "42",
                     "statusListCredential": "https://x.id/status/revocation"}  # as issued so far
    later = credential.status_entry("https://x.id", 131072 + 5)
    assert later["statusListCredential"] == "https://x.id/status/revocation?list=1"
    assert later["statusListIndex"] == "5" and later["id"] == "https://x.id/status/revocation?list=1#5"


def test_the_base58_decoder_refuses_over_long_input_before_decoding():
    signature = credential.base58btc_encode(b"\xff" * 64)
    assert len(signature) <= credential.MAX_PROOF_VALUE_CHARS - 1
    assert credential.base58btc_decode(signature) == b"\xff" * 64
    with pytest.raises(CredentialError, match="longer than 128"):
        credential.base58btc_decode("2" * 300_000)


def test_verifying_does_not_modify_the_document(certificate, issuer):
    doc = signed(certificate, issuer)
    before = copy.deepcopy(doc)
    credential.verify_proof(doc, issuer.did)
    assert doc == before
