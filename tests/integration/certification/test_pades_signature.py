"""The certificate PDF as the running service serves it carries a PAdES signature that
pyHanko validates; configured key material (a national CA's chain) is used without code
changes, and key material that cannot sign keeps the service from starting."""
from __future__ import annotations

import io

import pypdfium2
import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from services.certification.adapters import pades
from tests.integration.certification.helpers import issue
from tests.unit.certification.test_pades import make_chain


def validate(pdf: bytes, root):
    [signature] = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    return signature, validate_pdf_signature(signature, ValidationContext(trust_roots=[root]))


def test_the_served_certificate_pdf_is_signed_over_the_whole_file(start, settings, db, api):
    start()
    certificate = issue(settings, db, "enr-pades-1")
    response = api.get(f"/certificates/{certificate['_id']}/pdf")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    pdf = response.content

    # In development the service signs with this process's generated chain.
    signature, status = validate(pdf, pades.development_chain().root)
    assert status.intact and status.valid and status.trusted and status.bottom_line
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert signature.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert signature.sig_object["/Reason"] == "Sertifikat pengembangan kompetensi ASN"
    assert signature.sig_object["/Name"] == pades.DEV_SIGNER_NAME
    assert len(pypdfium2.PdfDocument(pdf)) == 1  # a PDF reader still opens the one-page certificate

    # the holder's number in the document's title, changed by one digit
    number = certificate["number"].encode()
    forged = pdf.replace(number, number[:3] + bytes([number[3] ^ 1]) + number[4:], 1)
    assert forged != pdf
    assert not validate(forged, pades.development_chain().root)[1].intact


def test_a_configured_chain_signs_the_served_pdf(start, settings, db, api, tmp_path, monkeypatch):
    chain = make_chain("Dra. Yulia Sari")
    (tmp_path / "key.pem").write_bytes(chain.key_pem(b"kata-sandi"))
    (tmp_path / "chain.pem").write_bytes(chain.chain_pem())
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_KEY_FILE", str(tmp_path / "key.pem"))
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_KEY_PASSPHRASE", "kata-sandi")
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_CHAIN_FILE", str(tmp_path / "chain.pem"))
    start()
    certificate = issue(settings, db, "enr-pades-2")
    pdf = api.get(f"/certificates/{certificate['_id']}/pdf").content

    signature, status = validate(pdf, chain.root_asn1)
    assert status.bottom_line and status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert signature.sig_object["/Name"] == "Dra. Yulia Sari"
    assert not validate(pdf, pades.development_chain().root)[1].trusted


def test_a_key_that_is_not_the_chains_keeps_the_service_from_starting(start, tmp_path, monkeypatch):
    chain, other = make_chain(), make_chain("Pejabat Lain")
    (tmp_path / "chain.pem").write_bytes(chain.chain_pem())
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_KEY", other.key_pem().decode())
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_CHAIN_FILE", str(tmp_path / "chain.pem"))
    with pytest.raises(ValueError, match="CERTIFICATION_PDF_SIGNING_KEY and CERTIFICATION_PDF_SIGNING_CHAIN_FILE: "
                                         "the private key does not belong"):
        start()
