"""The electronic signature of the certificate PDF (PAdES, pyHanko): a signed certificate
validates against the root it chains to and covers the whole file; a changed byte or an
appended update that changes the page is detected; configured key material (PEM or PKCS#12,
as a national CA such as BSrE issues it) signs without code changes, and key material that
cannot sign stops the service at start naming its variable."""
from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pypdf import PdfReader
from pyhanko.keys import load_private_key_from_pemder_data
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.timestamps import DummyTimeStamper
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from services.certification import config
from services.certification.adapters import pades
from services.certification.adapters.pdf import render_certificate
from shared.production import ProductionConfigError
from tests.unit.certification.test_pdf_and_ratelimit import URL, certificate

VARIABLES = ("KEY", "KEY_FILE", "KEY_PASSPHRASE", "KEY_PASSPHRASE_FILE", "CHAIN", "CHAIN_FILE", "PKCS12",
             "PKCS12_FILE", "PKCS12_PASSPHRASE", "PKCS12_PASSPHRASE_FILE")


@pytest.fixture(autouse=True)
def no_signing_environment(monkeypatch):
    """Nothing of the machine's environment leaks into these tests."""
    for name in VARIABLES:
        for prefix in ("CERTIFICATION_", ""):
            monkeypatch.delenv(f"{prefix}PDF_SIGNING_{name}", raising=False)
    for name in ("CERTIFICATION_PDF_TSA_URL", "PDF_TSA_URL", "ASN_ENV", "CERTIFICATION_ASN_ENV"):
        monkeypatch.delenv(name, raising=False)


# -- a chain like a national CA's: root -> intermediate -> the official's signing certificate --

@dataclass
class Chain:
    root: x509.Certificate
    intermediate: x509.Certificate
    signer: x509.Certificate
    signer_key: ec.EllipticCurvePrivateKey
    intermediate_key: ec.EllipticCurvePrivateKey

    @property
    def root_asn1(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self.root.public_bytes(serialization.Encoding.DER))

    def chain_pem(self) -> bytes:
        """As the variable wants it: the signer's certificate, then the intermediate."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.signer, self.intermediate))

    def key_pem(self, passphrase: bytes | None = None) -> bytes:
        encryption = (serialization.BestAvailableEncryption(passphrase) if passphrase
                      else serialization.NoEncryption())
        return self.signer_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "ID"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Uji Balai Sertifikasi"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, issuer: str, public_key, issuer_key, *, ca: bool, days: int = 365,
                 usage: x509.ExtendedKeyUsage | None = None) -> x509.Certificate:
    now = datetime.now(timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - timedelta(days=2)).not_valid_after(now + timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=not ca and usage is None,
                                            key_encipherment=False, data_encipherment=False, key_agreement=False,
                                            key_cert_sign=ca, crl_sign=ca, encipher_only=False, decipher_only=False),
                              critical=True))
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def make_chain(signer_name: str = "Dra. Yulia Sari", *, signer_days: int = 365) -> Chain:
    root_key, intermediate_key, signer_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _certificate("Uji Root CA", "Uji Root CA", root_key.public_key(), root_key, ca=True)
    intermediate = _certificate("Uji CA Intermediate", "Uji Root CA", intermediate_key.public_key(), root_key,
                                ca=True)
    signer = _certificate(signer_name, "Uji CA Intermediate", signer_key.public_key(), intermediate_key, ca=False,
                          days=signer_days)
    return Chain(root, intermediate, signer, signer_key, intermediate_key)


def validate(pdf: bytes, root: asn1_x509.Certificate):
    [signature] = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    return signature, validate_pdf_signature(signature, ValidationContext(trust_roots=[root]))


def signed_certificate(cfg: config.CertificationConfig | None = None) -> bytes:
    cfg = cfg or config.CertificationConfig()
    return cfg.pdf_signer.sign(render_certificate(certificate(), URL, cfg))


# -- the development chain ------------------------------------------------------------------

def test_a_signed_certificate_is_valid_trusted_and_covers_the_whole_file():
    pdf = signed_certificate()
    signature, status = validate(pdf, pades.development_chain().root)
    assert status.intact and status.valid and status.trusted and status.bottom_line
    assert status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert status.modification_level == ModificationLevel.NONE
    assert status.md_algorithm == "sha256"
    dictionary = signature.sig_object
    assert dictionary["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES, not adbe.pkcs7.detached
    assert dictionary["/Reason"] == "Sertifikat pengembangan kompetensi ASN"
    assert dictionary["/Location"] == "Bukittinggi"
    assert dictionary["/Name"] == pades.DEV_SIGNER_NAME
    assert status.signing_cert.subject.native["common_name"] == pades.DEV_SIGNER_NAME
    # still the certificate people read
    text = " ".join(PdfReader(io.BytesIO(pdf)).pages[0].extract_text().split())
    assert "SERTIFIKAT" in text and "Rahmat Hidayat" in text


def test_the_development_chain_is_not_trusted_by_another_root():
    _, status = validate(signed_certificate(), make_chain().root_asn1)
    assert status.intact and status.valid  # the bytes are the signer's ...
    assert not status.trusted and not status.bottom_line  # ... but nobody vouches for the signer


def test_a_changed_byte_inside_the_signed_range_breaks_the_signature():
    pdf = signed_certificate()
    assert pdf.count(b"(Sertifikat 0042/") == 1
    forged = pdf.replace(b"(Sertifikat 0042/", b"(Sertifikat 0043/")  # the number in the document's title
    _, status = validate(forged, pades.development_chain().root)
    # the digest of the signed bytes no longer matches (the CMS signature itself still verifies)
    assert not status.intact and not status.bottom_line


def test_an_appended_update_that_changes_the_page_is_detected():
    pdf = signed_certificate()
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    # Cover the holder's name with a white box and write another name on top of it.
    font = generic.DictionaryObject({generic.NameObject("/Type"): generic.NameObject("/Font"),
                                     generic.NameObject("/Subtype"): generic.NameObject("/Type1"),
                                     generic.NameObject("/BaseFont"): generic.NameObject("/Helvetica")})
    stream = generic.StreamObject(stream_data=b"q 1 g 200 360 440 40 re f Q "
                                              b"BT /FPalsu 24 Tf 330 370 Td (Budi Palsu) Tj ET")
    writer.add_stream_to_page(0, writer.add_object(stream), resources=generic.DictionaryObject(
        {generic.NameObject("/Font"): generic.DictionaryObject({generic.NameObject("/FPalsu"): font})}))
    out = io.BytesIO()
    writer.write(out)
    changed = out.getvalue()
    assert changed.startswith(pdf) and "Budi Palsu" in PdfReader(io.BytesIO(changed)).pages[0].extract_text()

    _, status = validate(changed, pades.development_chain().root)
    assert status.intact and status.valid  # what was signed is untouched ...
    assert status.coverage == SignatureCoverageLevel.ENTIRE_REVISION  # ... but it is no longer the whole file
    assert status.modification_level == ModificationLevel.OTHER  # and the update is not an allowed one
    assert not status.bottom_line


def test_the_configuration_keeps_its_loaded_signer():
    cfg = config.CertificationConfig()
    assert cfg.pdf_signer is cfg.pdf_signer and cfg.pdf_signer.development
    assert config.load().pdf_signing is None  # nothing configured: the development chain


# -- configured key material (how a BSrE certificate is plugged in) -------------------------

def test_a_configured_pem_key_and_chain_sign_and_validate_against_their_root(tmp_path, monkeypatch):
    chain = make_chain()
    (tmp_path / "key.pem").write_bytes(chain.key_pem(b"rahasia-kunci"))
    (tmp_path / "chain.pem").write_bytes(chain.chain_pem())
    (tmp_path / "passphrase").write_text("rahasia-kunci\n")
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_KEY_FILE", str(tmp_path / "key.pem"))
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_KEY_PASSPHRASE_FILE", str(tmp_path / "passphrase"))
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_CHAIN_FILE", str(tmp_path / "chain.pem"))
    monkeypatch.setenv("CERTIFICATION_CERTIFICATE_PLACE", "Padang")

    cfg = config.load()
    assert not cfg.pdf_signer.development
    signature, status = validate(signed_certificate(cfg), chain.root_asn1)
    assert status.bottom_line and status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert signature.sig_object["/Name"] == "Dra. Yulia Sari" and signature.sig_object["/Location"] == "Padang"
    # the intermediate came from the chain variable: the verifier only knew the root
    assert [c.subject.native["common_name"] for c in status.validation_path] == \
        ["Uji Root CA", "Uji CA Intermediate", "Dra. Yulia Sari"]
    assert not validate(signed_certificate(cfg), pades.development_chain().root)[1].trusted


def test_a_pkcs12_file_signs_like_the_pem_pair(tmp_path, monkeypatch):
    chain = make_chain("Ir. Hendra Gunawan")
    bundle = pkcs12.serialize_key_and_certificates(
        b"penandatangan", chain.signer_key, chain.signer, [chain.intermediate],
        serialization.BestAvailableEncryption(b"sandi-p12"))
    (tmp_path / "signer.p12").write_bytes(bundle)
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_PKCS12_FILE", str(tmp_path / "signer.p12"))
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_PKCS12_PASSPHRASE", "sandi-p12")

    signature, status = validate(signed_certificate(config.load()), chain.root_asn1)
    assert status.bottom_line and signature.sig_object["/Name"] == "Ir. Hendra Gunawan"
    # or the file's base64 in the variable itself (a Kubernetes Secret's key as an env var)
    monkeypatch.delenv("CERTIFICATION_PDF_SIGNING_PKCS12_FILE")
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_PKCS12", base64.b64encode(bundle).decode())
    assert validate(signed_certificate(config.load()), chain.root_asn1)[1].bottom_line
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_PKCS12", "bukan base64!")
    with pytest.raises(ValueError, match="^CERTIFICATION_PDF_SIGNING_PKCS12: not base64"):
        config.load()


def test_key_material_that_cannot_sign_stops_the_start_naming_the_variable(tmp_path, monkeypatch):
    chain, other = make_chain(), make_chain("Pejabat Lain")
    (tmp_path / "chain.pem").write_bytes(chain.chain_pem())
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_CHAIN_FILE", str(tmp_path / "chain.pem"))

    # a key that is not the certificate's
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_KEY", other.key_pem().decode())
    with pytest.raises(ValueError, match="CERTIFICATION_PDF_SIGNING_KEY and CERTIFICATION_PDF_SIGNING_CHAIN_FILE: "
                                         "the private key does not belong to the signer's certificate"):
        config.load()
    # the chain in the wrong order: the intermediate first
    (tmp_path / "reversed.pem").write_bytes(b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in (chain.intermediate, chain.signer)))
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_CHAIN_FILE", str(tmp_path / "reversed.pem"))
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_KEY", chain.key_pem().decode())
    with pytest.raises(ValueError, match="the first certificate of the chain must be the signer's"):
        config.load()
    # an encrypted key without (or with a wrong) passphrase
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_CHAIN_FILE", str(tmp_path / "chain.pem"))
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_KEY", chain.key_pem(b"benar").decode())
    with pytest.raises(ValueError, match="^CERTIFICATION_PDF_SIGNING_KEY: cannot be read"):
        config.load()
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_KEY_PASSPHRASE", "salah")
    with pytest.raises(ValueError, match="^CERTIFICATION_PDF_SIGNING_KEY: cannot be read"):
        config.load()
    # a key without its chain, a missing file
    monkeypatch.delenv("CERTIFICATION_PDF_SIGNING_CHAIN_FILE")
    with pytest.raises(ValueError, match=r"^CERTIFICATION_PDF_SIGNING_CHAIN\(_FILE\): missing"):
        config.load()
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_CHAIN_FILE", str(tmp_path / "nope.pem"))
    with pytest.raises(ValueError, match="^CERTIFICATION_PDF_SIGNING_CHAIN_FILE: cannot read"):
        config.load()
    # a PKCS#12 file with a wrong passphrase
    monkeypatch.delenv("CERTIFICATION_PDF_SIGNING_KEY")
    monkeypatch.delenv("CERTIFICATION_PDF_SIGNING_CHAIN_FILE")
    (tmp_path / "signer.p12").write_bytes(pkcs12.serialize_key_and_certificates(
        b"x", chain.signer_key, chain.signer, None, serialization.BestAvailableEncryption(b"benar")))
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_PKCS12_FILE", str(tmp_path / "signer.p12"))
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_PKCS12_PASSPHRASE", "salah")
    with pytest.raises(ValueError, match="^CERTIFICATION_PDF_SIGNING_PKCS12_FILE: cannot be read"):
        config.load()


def test_an_expired_signing_certificate_stops_the_start(monkeypatch):
    chain = make_chain(signer_days=-1)
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_KEY", chain.key_pem().decode())
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_CHAIN", chain.chain_pem().decode())
    with pytest.raises(ValueError, match="^CERTIFICATION_PDF_SIGNING_CHAIN: the signer's certificate expired on"):
        config.load()


def test_production_refuses_no_key_material_and_the_development_chain(monkeypatch):
    # The PDF signing part of load() (the other production checks have their own tests).
    monkeypatch.setenv("ASN_ENV", "production")
    with pytest.raises(ProductionConfigError, match=r"CERTIFICATION_PDF_SIGNING_KEY\(_FILE\) with .*unset: "
                                                    "certificates would be signed with the generated development"):
        config._pdf_signing()
    dev = pades.development_chain()  # exported to variables: still refused
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_KEY", dev.key_pem.decode())
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_CHAIN", dev.chain_pem.decode())
    with pytest.raises(ProductionConfigError, match="CERTIFICATION_PDF_SIGNING_CHAIN: the development chain"):
        config._pdf_signing()
    chain = make_chain()
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_KEY", chain.key_pem().decode())
    monkeypatch.setenv("CERTIFICATION_PDF_SIGNING_CHAIN", chain.chain_pem().decode())
    assert config._pdf_signing()["pdf_signing"].key == chain.key_pem()


# -- time-stamping (a local TSA: no network) ------------------------------------------------

def _finished(coroutine):
    """The result of a coroutine that awaits nothing (under eventlet this server shares the OS
    thread, and so the running event loop, of the signing client: asyncio.run is refused)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the test TSA awaited something")


@pytest.fixture
def local_tsa():
    """An RFC 3161 time-stamping authority on 127.0.0.1 (pyHanko's test TSA); yields its
    URL and its root certificate."""
    chain = make_chain()
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # pyHanko's test TSA is RSA-only
    tsa_cert = _certificate("Uji TSA", "Uji CA Intermediate", tsa_key.public_key(), chain.intermediate_key,
                            ca=False, usage=x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]))
    der = tsa_cert.public_bytes(serialization.Encoding.DER)
    key_der = tsa_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    stamper = DummyTimeStamper(asn1_x509.Certificate.load(der), load_private_key_from_pemder_data(key_der, None),
                               certs_to_embed=[asn1_x509.Certificate.load(
                                   chain.intermediate.public_bytes(serialization.Encoding.DER))])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            request = tsp.TimeStampReq.load(self.rfile.read(int(self.headers["Content-Length"])))
            body = _finished(stamper.async_request_tsa_response(request)).dump()
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/tsa", chain.root_asn1
    server.shutdown()
    server.server_close()


def test_a_configured_tsa_time_stamps_the_signature(local_tsa, monkeypatch):
    url, tsa_root = local_tsa
    monkeypatch.setenv("CERTIFICATION_PDF_TSA_URL", url)
    cfg = config.load()
    [signature] = PdfFileReader(io.BytesIO(signed_certificate(cfg))).embedded_signatures
    status = validate_pdf_signature(signature, ValidationContext(trust_roots=[pades.development_chain().root]),
                                    ts_validation_context=ValidationContext(trust_roots=[tsa_root]))
    assert status.bottom_line and status.timestamp_validity is not None
    assert status.timestamp_validity.intact and status.timestamp_validity.trusted
    assert abs(status.timestamp_validity.timestamp - datetime.now(timezone.utc)) < timedelta(minutes=5)


def test_without_a_tsa_the_signature_carries_no_time_stamp_and_a_bad_url_stops_the_start(monkeypatch):
    _, status = validate(signed_certificate(), pades.development_chain().root)
    assert status.timestamp_validity is None
    monkeypatch.setenv("CERTIFICATION_PDF_TSA_URL", "tsa.bsre.example")
    with pytest.raises(ValueError, match="CERTIFICATION_PDF_TSA_URL = 'tsa.bsre.example': must be an http"):
        config.load()


def test_an_unreachable_tsa_answers_503_instead_of_serving_an_unstamped_pdf(monkeypatch):
    monkeypatch.setenv("CERTIFICATION_PDF_TSA_URL", "http://127.0.0.1:9/tsa")  # the discard port: refused
    with pytest.raises(pades.TimestampUnavailable) as raised:
        signed_certificate(config.load())
    assert raised.value.status == 503 and "cap waktu" in raised.value.message
