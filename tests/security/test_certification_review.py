"""Security review of the certification service (issue 17): each test performs the attack.

1. an over-long proofValue (the base58 decoder was quadratic) or a huge / deeply nested
   credential must be refused before any costly work, and the replica must stay live;
2. the public revocation status list must have a fixed size (W3C Bitstring Status List);
3. ``GET /certificates`` pages are capped at 100;
4. production refuses the public development signing key and placeholder signatories;
5. the other public inputs (verification code, certificate id, list number) are capped;
and the expiry scan is an admin HTTP route instead of unauthenticated nameko RPC.
"""
from __future__ import annotations

import re

import base64
import gzip
import threading
import uuid
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nameko.containers import ServiceContainer

from deploy.processes import free_port
from services.certification import config as certification_config
from services.certification.adapters import credential
from services.certification.service import CertificationService
from shared.production import ProductionConfigError
from shared.store import connect
from tests.security.conftest import ADMIN, OWN
from tests.unit.certification.test_pades import make_chain
from tests.support import auth_headers, make_settings

STATUS_LIST_BYTES = 131072 // 8  # the W3C minimum size, and now the fixed size of every list


@pytest.fixture(scope="module")
def service_env(service_env):
    """This module sends more anonymous verification requests than the default burst allows;
    the limiter itself is tested in tests/integration/certification/test_verification.py."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CERTIFICATION_VERIFY_BURST", "500")
        patch.setenv("CERTIFICATION_VERIFY_RATE_PER_MINUTE", "6000")
        yield service_env


def _credential(platform) -> dict:
    response = platform.call("certification", "GET", f"/certificates/{platform.own_certificate}/credential",
                             headers=ADMIN)
    assert response.status_code == 200, response.text
    return response.json()


def _verify(platform, body: bytes | dict, timeout: float = 30):
    url = platform.urls["certification"] + "/credentials/verify"
    if isinstance(body, dict):
        return requests.post(url, json=body, timeout=timeout)
    return requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=timeout)


# -- 1. costly input on /credentials/verify --------------------------------------------------------
def test_an_over_long_proof_value_is_refused_at_once_and_the_replica_stays_live(platform):
    # The review's request: 300,000 characters. Public routes now take at most 64 KiB
    # (shared.http), so it is refused before the service reads it.
    review = _credential(platform)
    review["proof"]["proofValue"] = "z" + "2" * 300_000
    answer = _verify(platform, review)
    assert answer.status_code == 413 and "65536" in answer.json()["message"], answer.text
    # Under that cap a proofValue of 60,000 characters still cost seconds of the quadratic
    # decoder, with the replica's event loop blocked: it must be refused before decoding.
    attack = _credential(platform)
    attack["proof"]["proofValue"] = "z" + "2" * 60_000
    answers: list = []

    def send() -> None:
        for _ in range(5):
            try:
                answers.append(_verify(platform, attack, timeout=60))
            except requests.RequestException as exc:  # recorded, asserted below
                answers.append(exc)

    senders = [threading.Thread(target=send) for _ in range(2)]
    for sender in senders:
        sender.start()
    live = []
    try:
        while True:  # at least once, and as long as the attack goes on
            try:
                live.append(requests.get(platform.urls["certification"] + "/health/live", timeout=5).status_code)
            except requests.RequestException as exc:
                live.append(repr(exc))
            if not any(sender.is_alive() for sender in senders):
                break
    finally:
        for sender in senders:
            sender.join()
    assert live and set(live) == {200}, live
    assert len(answers) == 10
    for answer in answers:
        assert isinstance(answer, requests.Response), answer
        assert answer.status_code == 422, answer.text
        body = answer.json()
        assert body["field"] == "proof.proofValue" and body["limit"] == 90, body
        assert "90" in body["message"]
    # a genuine credential still verifies
    assert _verify(platform, _credential(platform)).json()["verified"] is True


def test_a_deeply_nested_credential_is_refused_cheaply(platform):
    deep = b'{"proof": {"proofValue": "z1"}, "credentialSubject": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"
    answer = _verify(platform, deep)
    assert answer.status_code == 422, answer.text  # was a 500: the JSON parser's recursion limit
    assert answer.json()["field"] == "credential" and answer.json()["limit"] == 32

    # deep enough to get past the JSON parser, not past canonicalisation (RFC 8785 recurses)
    nested: dict = {}
    inner = nested
    for _ in range(600):
        inner["a"] = {}
        inner = inner["a"]
    attack = {**_credential(platform), "credentialSubject": nested}
    answer = _verify(platform, attack)
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "credential"


def test_a_huge_credential_is_refused_before_it_is_read(platform):
    attack = _credential(platform)
    attack["credentialSubject"]["padding"] = [{"k": i} for i in range(60_000)]  # ~0.6 MB
    answer = _verify(platform, attack)
    assert answer.status_code == 413 and "65536" in answer.json()["message"], answer.text


def test_over_long_proof_fields_and_ids_are_named(platform):
    genuine = _credential(platform)
    for path, value, limit in (("verificationMethod", "did:key:z" + "6" * 5000, 256),):
        attack = {**genuine, "proof": {**genuine["proof"], path: value}}
        answer = _verify(platform, attack)
        assert answer.status_code == 422 and answer.json()["field"] == f"proof.{path}", answer.text
        assert answer.json()["limit"] == limit
    answer = _verify(platform, {**genuine, "id": "urn:uuid:" + "0" * 5000})
    assert answer.status_code == 422 and answer.json()["field"] == "id", answer.text


# -- 2. the revocation status list ----------------------------------------------------------------
def _bits(status_list: dict) -> bytes:
    encoded = status_list["credentialSubject"]["encodedList"]
    assert encoded.startswith("u")
    return gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))


def test_the_status_list_has_a_fixed_size_and_later_credentials_point_to_the_next_list(platform):
    settings = platform.settings["certification"]
    client = connect(settings)
    try:
        db = client[settings.db_name]
        # A certificate far down the sequence, revoked: it used to double the single public list.
        far = db.certificates.find_one({"_id": platform.own_certificate})
        far.update(_id=uuid.uuid4().hex[:24], enrolment_id=f"far-{uuid.uuid4().hex}",
                   number=f"FAR-{uuid.uuid4().hex}", verification_code=uuid.uuid4().hex[:18].upper(),
                   credential_id=str(uuid.uuid4()), status_index=200_000,
                   revoked={"reason": "Uji daftar status", "at": far["issued_at"], "by": "test"})
        db.certificates.insert_one(far)
        counter = db.counters.find_one({"_id": "status-list"})
        db.counters.update_one({"_id": "status-list"}, {"$set": {"seq": max(counter["seq"], 200_000)}})
    finally:
        client.close()

    first = platform.call("certification", "GET", "/status/revocation")
    assert first.status_code == 200
    assert first.json()["id"].endswith("/status/revocation")  # the address issued credentials point at
    assert len(_bits(first.json())) == STATUS_LIST_BYTES  # was 32 KiB: the list grew with the index

    issued = platform.call("certification", "GET", f"/certificates/{far['_id']}/credential", headers=ADMIN).json()
    status = issued["credentialStatus"]
    assert status["statusListIndex"] == str(200_000 - 131072)
    where = urlsplit(status["statusListCredential"])
    assert where.path == "/status/revocation" and where.query == "list=1"
    second = platform.call("certification", "GET", f"{where.path}?{where.query}")
    assert second.status_code == 200 and second.json()["id"] == status["statusListCredential"]
    credential.verify_proof(second.json(), issued["issuer"]["id"])
    bits = _bits(second.json())
    index = int(status["statusListIndex"])
    assert len(bits) == STATUS_LIST_BYTES and bits[index // 8] & (0x80 >> (index % 8))

    assert platform.call("certification", "GET", "/status/revocation?list=2").status_code == 404
    too_long = platform.call("certification", "GET", "/status/revocation?list=" + "9" * 5000)
    assert too_long.status_code == 422 and "list" in too_long.json()["errors"], too_long.text


# -- 3. page size ---------------------------------------------------------------------------------
def test_a_page_of_certificates_holds_at_most_100(platform):
    refused = platform.call("certification", "GET", "/certificates", headers=ADMIN, params={"per_page": 100_000})
    assert refused.status_code == 422 and "limit" in refused.json()["errors"], refused.text
    assert platform.call("certification", "GET", "/certificates", headers=ADMIN,
                         params={"per_page": 101}).status_code == 422
    assert platform.call("certification", "GET", "/certificates", headers=ADMIN,
                         params={"per_page": 100}).status_code == 200
    # ``per_page`` is the first version's name of ``limit`` (cursor paging, shared.paging)
    assert platform.call("certification", "GET", "/certificates", headers=ADMIN,
                         params={"limit": 101}).status_code == 422
    assert platform.call("certification", "GET", "/certificates", headers=ADMIN,
                         params={"limit": 100}).status_code == 200


# -- 5. the other public inputs -------------------------------------------------------------------
def test_an_over_long_verification_code_is_refused_in_json_and_in_bahasa_indonesia(platform):
    code = "A" * 5000
    as_json = platform.call("certification", "GET", f"/verify/{code}", headers={"Accept": "application/json"})
    assert as_json.status_code == 422, as_json.text
    assert as_json.json()["field"] == "code" and as_json.json()["limit"] == 64
    page = platform.call("certification", "GET", f"/verify/{code}")
    assert page.status_code == 422 and page.headers["Content-Type"].startswith("text/html")
    assert "terlalu panjang" in page.text and "64 karakter" in page.text and code not in page.text
    # a code as people type it (lower case, dashes, spaces) is still accepted
    typed = platform.call("certification", "GET", "/verify/" + "zzzz-zzzz-zzzz-zzzz-zz",
                          headers={"Accept": "application/json"})
    assert typed.status_code == 404 and typed.json()["status"] == "unknown"


@pytest.mark.parametrize("suffix", ["", "/pdf", "/credential"])
def test_an_over_long_certificate_id_is_refused_before_the_store_is_asked(platform, suffix):
    answer = platform.call("certification", "GET", f"/certificates/{'f' * 5000}{suffix}", headers=ADMIN)
    assert answer.status_code == 422, answer.text[:300]
    assert answer.json()["field"] == "certificate_id" and answer.json()["limit"] == 64
    assert platform.call("certification", "GET", f"/certificates/nope{suffix}", headers=ADMIN).status_code == 404


# -- 4. production refuses development keys ------------------------------------------------------
DEV_SEED_B64 = base64.b64encode(credential._DEV_SEED).decode()
REAL_KEY = base64.b64encode(bytes(range(1, 33))).decode()
REAL_SIGNATORIES = ('[{"role": "Kepala BKPSDM Kota Bukittinggi", "name": "Dra. Yulia Sari", '
                    '"nip": "197001011995032001"}]')


@pytest.fixture
def production(monkeypatch):
    for name in ("SIGNING_KEY", "SIGNATORIES"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(f"CERTIFICATION_{name}", raising=False)
    monkeypatch.setenv("ASN_ENV", "production")
    return monkeypatch


def _dev_pem() -> str:
    return Ed25519PrivateKey.from_private_bytes(credential._DEV_SEED).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


@pytest.mark.parametrize("key", [None, DEV_SEED_B64, "_pem", "dev-0123"])
def test_production_refuses_a_missing_or_public_development_signing_key(production, key):
    production.setenv("CERTIFICATION_SIGNATORIES", REAL_SIGNATORIES)
    if key is not None:
        production.setenv("CERTIFICATION_SIGNING_KEY", _dev_pem() if key == "_pem" else key)
    with pytest.raises(ProductionConfigError, match="CERTIFICATION_SIGNING_KEY"):
        certification_config.load()


def test_production_refuses_the_placeholder_signatories(production):
    production.setenv("CERTIFICATION_SIGNING_KEY", REAL_KEY)
    with pytest.raises(ProductionConfigError, match="CERTIFICATION_SIGNATORIES"):
        certification_config.load()  # the defaults: "Nama Pejabat BKN", "Nama Wali Kota"
    production.setenv("CERTIFICATION_SIGNATORIES",
                      '[{"role": "Wali Kota Bukittinggi", "name": "Nama Wali Kota", "nip": null}]')
    with pytest.raises(ProductionConfigError, match="CERTIFICATION_SIGNATORIES"):
        certification_config.load()


def test_production_starts_with_a_real_key_and_signatories_and_development_needs_neither(production):
    production.setenv("SIGNING_KEY", REAL_KEY)  # the generic name works as well as the prefixed one
    production.setenv("CERTIFICATION_SIGNATORIES", REAL_SIGNATORIES)
    with pytest.raises(ProductionConfigError, match="PDF_SIGNING"):  # the PDFs' key and chain (BSrE)
        certification_config.load()
    chain = make_chain()
    production.setenv("CERTIFICATION_PDF_SIGNING_KEY", chain.key_pem().decode())
    production.setenv("CERTIFICATION_PDF_SIGNING_CHAIN", chain.chain_pem().decode())
    loaded = certification_config.load()
    assert loaded.signing_key == REAL_KEY and loaded.signatories["*"][0].name == "Dra. Yulia Sari"
    production.delenv("SIGNING_KEY")
    production.delenv("CERTIFICATION_SIGNATORIES")
    production.delenv("CERTIFICATION_PDF_SIGNING_KEY")
    production.delenv("CERTIFICATION_PDF_SIGNING_CHAIN")
    production.setenv("ASN_ENV", "development")
    assert certification_config.load().signing_key is None  # make run: zero configuration


def test_a_production_container_without_a_signing_key_does_not_start(production, service_env):
    # A broker user of its own, so production's other refusal (the guest user) is not what stops
    # it: the checks run in the extensions' setup, in no fixed order, before any connection.
    own_user = re.sub(r"//[^@/]*@", "//asn-certification:unused@", service_env["AMQP_URI"])
    settings = make_settings("certification", service_env, http_address=f"127.0.0.1:{free_port()}",
                             amqp_uri=own_user)
    container = ServiceContainer(CertificationService, settings.nameko_config())
    try:
        with pytest.raises(ProductionConfigError, match="SIGNING_KEY"):
            container.start()
    finally:
        container.kill()


# -- beyond the review: no unauthenticated RPC (ADR 0061) -------------------------------------
def test_the_expiry_scan_runs_from_an_admin_route_only(platform):
    ran = platform.call("certification", "POST", "/admin/expiry-scan", headers=ADMIN)
    assert ran.status_code == 200 and set(ran.json()) == {"expired", "expiring"}, ran.text
    operator = auth_headers("operator", agency=OWN)
    assert platform.call("certification", "POST", "/admin/expiry-scan", headers=operator).status_code == 403
    assert platform.call("certification", "POST", "/admin/expiry-scan").status_code == 401
