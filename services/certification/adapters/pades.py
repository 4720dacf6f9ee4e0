"""The electronic signature of a certificate PDF: a PAdES baseline signature (pyHanko) with a
configured key and certificate chain, so a national CA's certificate (BSrE) is plugged in by
configuration alone (docs/security.md, "Tanda tangan elektronik sertifikat (PAdES)").

Key material comes as PEM/DER (the private key, optionally encrypted, and the chain: the
signer's certificate first, then its intermediates) or as one PKCS#12 file. Without any, a
development chain is generated once per process: a root "Bangkom Dev Root CA" and a signer
certificate it issued, both marked as development so production mode refuses them.
"""
from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache, cached_property

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.x509.oid import NameOID
from pyhanko.keys import load_certs_from_pemder_data, load_private_key_from_pemder_data
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps import HTTPTimeStamper, TimeStamper, TimestampRequestError
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

from shared.errors import DomainError

log = logging.getLogger(__name__)

REASON = "Sertifikat pengembangan kompetensi ASN"
FIELD_NAME = "TandaTanganElektronik"
# The development chain is recognised by this organisation name (in any certificate of a chain).
DEV_ORGANISATION = "Bangkom Development (bukan untuk produksi)"
DEV_ROOT_NAME = "Bangkom Dev Root CA"
DEV_SIGNER_NAME = "Bangkom Dev Penanda Tangan Sertifikat (pengembangan)"


class SigningMaterialError(ValueError):
    """Key material that cannot sign; ``part`` is which: "key", "chain", "pair" (the key does
    not fit the chain) or "pkcs12"."""

    def __init__(self, part: str, reason: str):
        super().__init__(reason)
        self.part = part


class TimestampUnavailable(DomainError):
    """The configured time-stamping authority did not answer: no PDF rather than one without
    the time stamp the operator asked for (a later download is signed again)."""

    status = 503
    code = "timestamp_unavailable"


@dataclass(frozen=True)
class SigningSource:
    """The configured key material, as read from the environment (kept out of reprs)."""

    key: bytes | None = field(default=None, repr=False)  # PEM or DER private key
    key_passphrase: bytes | None = field(default=None, repr=False)
    chain: bytes | None = field(default=None, repr=False)  # PEM/DER: signer's certificate, then intermediates
    pkcs12: bytes | None = field(default=None, repr=False)
    pkcs12_passphrase: bytes | None = field(default=None, repr=False)

    @property
    def configured(self) -> bool:
        return bool(self.pkcs12 or self.key or self.chain)


@dataclass(frozen=True)
class DevelopmentChain:
    root: asn1_x509.Certificate
    signer: asn1_x509.Certificate
    key_pem: bytes = field(repr=False)

    @property
    def chain_pem(self) -> bytes:
        return b"".join(_pem(c) for c in (self.signer, self.root))


def _pem(certificate: asn1_x509.Certificate) -> bytes:
    return x509.load_der_x509_certificate(certificate.dump()).public_bytes(serialization.Encoding.PEM)


@cache
def development_chain() -> DevelopmentChain:
    """This process's development chain (generated on first use, about a tenth of a second;
    never written anywhere: a restart makes a new one, which only development accepts)."""
    now = datetime.now(timezone.utc)
    root_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signer_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "ID"),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, DEV_ORGANISATION),
                          x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def builder(subject: str, issuer: str, public_key) -> x509.CertificateBuilder:
        return (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(name(issuer))
                .public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=365))
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))

    root = (builder(DEV_ROOT_NAME, DEV_ROOT_NAME, root_key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .sign(root_key, hashes.SHA256()))
    # Validators (pyHanko's default among them) want non-repudiation on a document signer.
    signer = (builder(DEV_SIGNER_NAME, DEV_ROOT_NAME, signer_key.public_key())
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                                           data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                           crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
              .sign(root_key, hashes.SHA256()))
    key_pem = signer_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
    return DevelopmentChain(asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER)),
                            asn1_x509.Certificate.load(signer.public_bytes(serialization.Encoding.DER)), key_pem)


def is_development(certificates) -> bool:
    """Whether any of ``certificates`` (asn1crypto) belongs to a development chain."""
    for certificate in certificates:
        for name in (certificate.subject, certificate.issuer):
            if name.native.get("organization_name") == DEV_ORGANISATION:
                return True
    return False


def _certificates(data: bytes) -> list[asn1_x509.Certificate]:
    try:
        return list(load_certs_from_pemder_data(data))
    except (ValueError, TypeError) as exc:
        raise SigningMaterialError("chain", f"not PEM or DER certificates ({exc})") from None


def _public_key_der(key_info) -> bytes:
    """The SubjectPublicKeyInfo (DER) of an asn1crypto private key."""
    private = serialization.load_der_private_key(key_info.dump(), password=None)
    return private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)


class KeptKeySigner(signers.SimpleSigner):
    """pyHanko's SimpleSigner with its private key parsed once: SimpleSigner parses it on
    every signature, and cryptography checks an RSA key when parsing it (about 80 ms for 2048
    bits here, ten times the rendering of the PDF). RSA PKCS#1 v1.5 and ECDSA (what CAs such
    as BSrE issue) sign with the kept key; any other mechanism goes through SimpleSigner."""

    @cached_property
    def private_key(self):
        return serialization.load_der_private_key(self.signing_key.dump(), password=None)

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        try:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        except ValueError:
            mechanism = None
        key, digest = self.private_key, get_pyca_cryptography_hash(digest_algorithm)
        if mechanism == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, PKCS1v15(), digest)
        if mechanism == "ecdsa" and isinstance(key, ec.EllipticCurvePrivateKey):
            return key.sign(data, ec.ECDSA(digest))
        return super().sign_raw(data, digest_algorithm)


def load_signer(source: SigningSource) -> signers.SimpleSigner:
    """A pyHanko signer of ``source`` (the development chain when nothing is configured).
    Raises SigningMaterialError naming the part that is missing, unreadable or does not fit:
    a key without a chain, a key that is not the first certificate's, an expired signer."""
    if source.pkcs12:
        try:
            signer = signers.SimpleSigner.load_pkcs12_data(
                source.pkcs12, other_certs=_certificates(source.chain) if source.chain else (),
                passphrase=source.pkcs12_passphrase)
        except SigningMaterialError:
            raise
        except ValueError as exc:
            raise SigningMaterialError("pkcs12", f"cannot be read (wrong passphrase, or not PKCS#12?): "
                                                 f"{exc.__cause__ or exc}") from None
        if signer.signing_cert is None or signer.signing_key is None:
            raise SigningMaterialError("pkcs12", "holds no private key with its certificate")
        signer = KeptKeySigner(signing_cert=signer.signing_cert, signing_key=signer.signing_key,
                               cert_registry=signer.cert_registry)
        part = "pkcs12"
    else:
        if not source.configured:
            dev = development_chain()
            source = SigningSource(key=dev.key_pem, chain=dev.chain_pem)
        if not source.key:
            raise SigningMaterialError("key", "missing: a certificate chain is configured without its private key")
        if not source.chain:
            raise SigningMaterialError("chain", "missing: a private key is configured without its certificate chain")
        try:
            key = load_private_key_from_pemder_data(source.key, passphrase=source.key_passphrase)
        except (ValueError, TypeError) as exc:  # cryptography: bad data, wrong or missing passphrase
            raise SigningMaterialError("key", f"cannot be read as a PEM or DER private key ({exc})") from None
        certificates = _certificates(source.chain)
        if not certificates:
            raise SigningMaterialError("chain", "holds no certificate")
        registry = SimpleCertificateStore()
        registry.register_multiple(certificates[1:])
        signer = KeptKeySigner(signing_cert=certificates[0], signing_key=key, cert_registry=registry)
        part = "chain"
    if _public_key_der(signer.signing_key) != signer.signing_cert.public_key.dump():
        raise SigningMaterialError("pair" if part == "chain" else part, "the private key does not belong to the signer's certificate (the first "
                                         "certificate of the chain must be the signer's, then its intermediates)")
    if signer.signing_cert.not_valid_after < datetime.now(timezone.utc):
        raise SigningMaterialError(part, f"the signer's certificate expired on "
                                         f"{signer.signing_cert.not_valid_after:%Y-%m-%d}")
    return signer


def chain_of(signer: signers.SimpleSigner) -> list[asn1_x509.Certificate]:
    """The signer's certificate and the others it was loaded with."""
    return [signer.signing_cert, *signer.cert_registry]


def timestamper(url: str | None) -> TimeStamper | None:
    """An RFC 3161 time-stamping authority client (CERTIFICATION_PDF_TSA_URL), or None."""
    return HTTPTimeStamper(url, timeout=10) if url else None


class PdfSigner:
    """Signs certificate PDFs: one per configuration (``CertificationConfig.pdf_signer``)."""

    def __init__(self, signer: signers.SimpleSigner, location: str, tsa_url: str | None = None):
        self.signer = signer
        self.development = is_development(chain_of(signer))
        # The signer's name (/Name, shown by PDF readers) is the certificate's common name.
        self.metadata = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME, md_algorithm="sha256", subfilter=fields.SigSeedSubFilter.PADES,
            name=signer.subject_name, reason=REASON, location=location)
        self.timestamper = timestamper(tsa_url)

    def sign(self, pdf: bytes) -> bytes:
        """``pdf`` with an invisible PAdES signature covering the whole file."""
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        try:
            output = signers.sign_pdf(writer, self.metadata, signer=self.signer, timestamper=self.timestamper)
        except TimestampRequestError as exc:
            log.warning("the time-stamping authority did not answer: %s", exc.__cause__ or exc)
            raise TimestampUnavailable("Layanan cap waktu (TSA) tidak dapat dihubungi; unduh sertifikat lagi "
                                       "beberapa saat lagi.") from exc
        return output.getvalue()
