"""Public verification, revocation, the PDF and the Open Badges credential over HTTP."""
from __future__ import annotations

import json

import pypdfium2
import zxingcpp

from services.certification.adapters.credential import status_bit
from tests.integration.certification.helpers import issue


def test_revoking_a_certificate_makes_verification_say_revoked_with_the_reason(start, settings, db, api, probe):
    start()
    certificate = issue(settings, db, "enr-1")
    probe.take(1)  # certified

    response = api.post(f"/certificates/{certificate['_id']}/revoke",
                        json={"reason": "Data peserta tidak sesuai"})
    assert response.status_code == 200 and response.json()["status"] == "revoked"
    [revoked] = probe.take(1)
    data = json.loads(revoked.body)["data"]
    assert json.loads(revoked.body)["type"] == "id.go.bkn.bangkom.certification.revoked.v1"
    assert data["reason"] == "Data peserta tidak sesuai" and data["number"] == certificate["number"]

    code = certificate["verification_code"]
    view = api.get(f"/verify/{code}", headers={"Accept": "application/json"}).json()
    assert view["status"] == "revoked"
    assert view["revocation_reason"] == "Data peserta tidak sesuai" and view["revoked_on"]
    page = api.get(f"/verify/{code}")
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Dicabut" in page.text and "Data peserta tidak sesuai" in page.text

    # a retried revoke changes nothing and announces nothing again
    again = api.post(f"/certificates/{certificate['_id']}/revoke", json={"reason": "Alasan lain sama sekali"})
    assert again.status_code == 200 and again.json()["revoked"]["reason"] == "Data peserta tidak sesuai"
    assert probe.pending() == 0
    # the signed status list carries the revocation for offline verifiers
    status_list = api.get("/status/revocation").json()
    assert status_bit(status_list["credentialSubject"]["encodedList"], certificate["status_index"])


def test_verification_shows_a_valid_certificate_in_bahasa_indonesia_without_personal_data(start, settings, db, api):
    start()
    certificate = issue(settings, db, "enr-1")
    code = certificate["verification_code"]

    page = api.get(f"/verify/{code}")
    assert page.status_code == 200
    for text in ("Verifikasi Sertifikat", "Sah (berlaku)", "Rahmat Hidayat", "32 JP", "5 Maret 2026",
                 "5 Maret 2029", "Sertifikasi Pengadaan Barang/Jasa Pemerintah Tingkat Dasar"):
        assert text in page.text, text
    view = api.get(f"/verify/{code.lower()[:4]}-{code.lower()[4:]}", headers={"Accept": "application/json"}).json()
    assert view["status"] == "valid" and view["number"] == certificate["number"]
    for private in (certificate["holder"]["nip"], certificate["_id"], certificate["enrolment_id"], "DISKOMINFO"):
        assert private not in page.text and private not in json.dumps(view)


def test_an_unknown_code_is_answered_as_unknown_in_json_and_html(start, settings, db, api):
    start()
    issue(settings, db, "enr-1")
    for code in ("ZZZZZZZZZZZZZZZZZZ", "not-a-code", "%3Cscript%3E"):
        as_json = api.get(f"/verify/{code}", headers={"Accept": "application/json"})
        assert as_json.status_code == 404 and as_json.json() == {"status": "unknown", "status_label": "Tidak ditemukan"}
        page = api.get(f"/verify/{code}")
        assert page.status_code == 404 and "tidak terdaftar" in page.text and "<script>" not in page.text


def test_verification_is_rate_limited_per_client_address(start, settings, api, monkeypatch):
    monkeypatch.setenv("CERTIFICATION_VERIFY_BURST", "3")
    monkeypatch.setenv("CERTIFICATION_VERIFY_RATE_PER_MINUTE", "1")
    monkeypatch.setenv("CERTIFICATION_TRUSTED_PROXY_HOPS", "1")
    start()
    first = [api.get("/verify/ZZZZZZZZZZZZZZZZZZ", headers={"X-Forwarded-For": "203.0.113.7"}).status_code
             for _ in range(4)]
    assert first == [404, 404, 404, 429]
    limited = api.get("/verify/ZZZZZZZZZZZZZZZZZZ", headers={"X-Forwarded-For": "203.0.113.7"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    other = api.get("/verify/ZZZZZZZZZZZZZZZZZZ", headers={"X-Forwarded-For": "198.51.100.20"})
    assert other.status_code == 404  # another client is still served


def test_the_pdf_endpoint_serves_a_certificate_whose_qr_opens_its_verification_page(start, settings, db, api):
    start()
    certificate = issue(settings, db, "enr-1")
    response = api.get(f"/certificates/{certificate['_id']}/pdf")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    assert 'filename="sertifikat-0001-BKN-BKT-SERT-PBJ-2026.pdf"' in response.headers["Content-Disposition"]
    image = pypdfium2.PdfDocument(response.content)[0].render(scale=2).to_pil()
    url = f"{settings.public_base_url}/verify/{certificate['verification_code']}"
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [url]


def test_a_tampered_credential_fails_verification_and_the_original_passes(start, settings, db, api):
    start()
    certificate = issue(settings, db, "enr-1")
    credential = api.get(f"/certificates/{certificate['_id']}/credential").json()
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["credentialSubject"]["licenseNumber"] == certificate["number"]

    ok = api.post("/credentials/verify", json=credential).json()
    assert ok == {"verified": True, "signature_valid": True, "status": "valid", "errors": []}

    credential["credentialSubject"]["achievement"]["creditsAvailable"] = 320
    credential["credentialSubject"]["creditsEarned"] = 320
    tampered = api.post("/credentials/verify", json=credential).json()
    assert tampered["verified"] is False and tampered["signature_valid"] is False
    assert "signature does not match" in tampered["errors"][0]


def test_a_revoked_credential_no_longer_verifies_although_its_signature_holds(start, settings, db, api):
    start()
    certificate = issue(settings, db, "enr-1")
    credential = api.get(f"/certificates/{certificate['_id']}/credential").json()
    api.post(f"/certificates/{certificate['_id']}/revoke", json={"reason": "Dokumen pendukung palsu"})
    result = api.post("/credentials/verify", json=credential).json()
    assert result["signature_valid"] is True and result["status"] == "revoked" and result["verified"] is False


def test_bad_requests_name_the_field_and_the_reason(start, settings, db, api):
    start()
    certificate = issue(settings, db, "enr-1")
    short = api.post(f"/certificates/{certificate['_id']}/revoke", json={"reason": "x"})
    assert short.status_code == 422 and "reason" in short.json()["errors"]
    missing = api.post(f"/certificates/{certificate['_id']}/revoke", json={})
    assert missing.status_code == 422 and "reason" in missing.json()["errors"]
    assert api.post(f"/certificates/{certificate['_id']}/revoke", data="{oops").status_code == 400
    unknown = api.post("/certificates/nope/revoke", json={"reason": "Data peserta tidak sesuai"})
    assert unknown.status_code == 404 and unknown.json()["field"] == "certificate_id"
    assert api.get("/certificates/nope").status_code == 404
    assert api.get("/certificates/nope/pdf").status_code == 404
    bad_nip = api.get("/certificates", params={"nip": "12345"})
    assert bad_nip.status_code == 422 and "nip" in bad_nip.json()["errors"]
    bad_page = api.get("/certificates", params={"per_page": "1000"})  # the first version's name of limit
    assert bad_page.status_code == 422 and "limit" in bad_page.json()["errors"]
    assert api.get("/certificates", params={"limit": "101"}).json()["errors"]["limit"]
    bad_cursor = api.get("/certificates", params={"cursor": "not-ours"})
    assert bad_cursor.status_code == 422 and bad_cursor.json()["field"] == "cursor"


def test_certificates_of_an_asn_are_listed_newest_first_in_pages(start, settings, db, api):
    start(max_workers=1)
    for i in range(5):
        issue(settings, db, f"enr-{i}", certification_line=f"L{i}")
    issue(settings, db, "someone-else", nip="199001012015032001")
    first = api.get("/certificates", params={"nip": "198503122010011002", "per_page": 2}).json()
    second = api.get("/certificates", params={"nip": "198503122010011002", "per_page": 2, "page": 3}).json()
    assert first["total"] == 5 and len(first["items"]) == 2 and len(second["items"]) == 1
    assert [c["enrolment_id"] for c in first["items"]] == ["enr-4", "enr-3"]
    assert second["items"][0]["enrolment_id"] == "enr-0"
    # cursor paging: limit and next_cursor walk the same order, the last page has no cursor
    walked, cursor = [], None
    while True:
        params = {"nip": "198503122010011002", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.get("/certificates", params=params).json()
        assert page["total"] == 5
        walked += [c["enrolment_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert walked == ["enr-4", "enr-3", "enr-2", "enr-1", "enr-0"]
