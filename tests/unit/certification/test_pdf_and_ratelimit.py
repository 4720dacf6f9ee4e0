"""The printed certificate (text and QR read back from the rendered page) and the
verification rate limiter."""
from __future__ import annotations

import copy
import io
from dataclasses import replace
from datetime import datetime, timezone

import pypdfium2
import zxingcpp
from pypdf import PdfReader

from services.certification import config
from services.certification.config import Signatory
from services.certification.adapters.pdf import render_certificate
from shared.ratelimit import TokenBuckets, client_address
from shared.events import registry

EXAMPLE = registry.latest("enrollment", "completed").example
URL = "https://sertifikat.bukittinggikota.go.id/verify/K7Q2M9XW4RTD8HVB3N"


def certificate() -> dict:
    return {"number": "0042/BKN-BKT/SERT-PBJ/2026", "verification_code": "K7Q2M9XW4RTD8HVB3N",
            "holder": copy.deepcopy(EXAMPLE["participant"]), "programme": copy.deepcopy(EXAMPLE["programme"]),
            "jp": 32, "issued_on": "2026-03-05", "valid_until": "2029-03-05",
            "issued_at": datetime(2026, 3, 5, tzinfo=timezone.utc)}


def text_of(cert: dict, configuration: config.CertificationConfig | None = None) -> str:
    pdf = render_certificate(cert, URL, configuration or config.CertificationConfig())
    return " ".join(PdfReader(io.BytesIO(pdf)).pages[0].extract_text().split())


def test_the_pdf_is_an_a4_landscape_certificate_in_bahasa_indonesia_with_configured_signatories():
    signatories = {"*": (Signatory("Kepala BKPSDM Kota Bukittinggi", "Dra. Yulia Sari", "197001011995032001"),)}
    pdf = render_certificate(certificate(), URL, replace(config.CertificationConfig(), signatories=signatories))
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (842, 595)
    text = " ".join(page.extract_text().split())
    for expected in ("SERTIFIKAT", "Nomor: 0042/BKN-BKT/SERT-PBJ/2026", "Rahmat Hidayat",
                     "NIP 19850312 201001 1 002", "yang telah mengikuti uji kompetensi dan dinyatakan LULUS",
                     "Sertifikasi Pengadaan Barang/Jasa Pemerintah Tingkat Dasar", "32 JP",
                     "Badan Kepegawaian Negara dan Pemerintah Kota Bukittinggi", "2–5 Maret 2026",
                     "berlaku sampai dengan 5 Maret 2029", "Bukittinggi, 5 Maret 2026",
                     "Kepala BKPSDM Kota Bukittinggi", "Dra. Yulia Sari", "NIP 19700101 199503 2 001",
                     "K7Q2-M9XW-4RTD-8HVB-3N", "Dokumen ini ditandatangani secara elektronik"):
        assert expected in text, expected
    assert text.count("Dra. Yulia Sari") == 1  # one signatory for both organisers, printed once


def test_the_holder_line_shows_the_printed_nip_pangkat_golongan_and_jabatan_from_the_roster():
    cert = certificate()
    cert["holder"].update(golongan="III/c", position="Pranata Komputer Ahli Muda")
    text = text_of(cert)
    assert "NIP 19850312 201001 1 002 · Pangkat/Golongan Penata (III/c)" in text
    assert "Pranata Komputer Ahli Muda – Dinas Komunikasi dan Informatika" in text
    assert "198503122010011002" not in text  # never the unspaced form

    cert["holder"].update(id_kind="ni_pppk", nip="199009132025242014", golongan="IX", position=None)
    text = text_of(cert)
    assert "NI PPPK 19900913 202524 2 014 · Golongan IX" in text
    assert "Pangkat" not in text  # a PPPK has a golongan but no pangkat
    assert "Jabatan" not in text and "– Dinas Komunikasi" not in text


def test_a_seminar_speaker_is_certified_as_narasumber_and_a_participant_as_peserta_never_as_passed():
    cert = certificate()
    cert["programme"].update(kind="seminar", title="Seminar Keamanan Informasi", certificate_validity_months=None)
    cert["role"] = "narasumber"
    speaker = text_of(cert)
    assert "yang telah mengikuti Seminar Keamanan Informasi sebagai Narasumber" in speaker
    assert "LULUS" not in speaker
    del cert["role"]  # certificates issued before roles were participants
    participant = text_of(cert)
    assert "sebagai Peserta" in participant and "LULUS" not in participant


def test_the_signatories_follow_the_programmes_organisers():
    signatories = {"BKN": (Signatory("Kepala Kantor Regional XII BKN Pekanbaru", "Drs. Andi Wijaya", None),),
                   "PEMKOT_BUKITTINGGI": (Signatory("Wali Kota Bukittinggi", "H. Hendra Saputra", None),),
                   "LKPP": (Signatory("Direktur Sertifikasi Profesi LKPP", "Dr. Sari Lestari", None),)}
    configuration = replace(config.CertificationConfig(), signatories=signatories)
    cert = certificate()
    cert["programme"]["organisers"] = ["PEMKOT_BUKITTINGGI"]
    city = text_of(cert, configuration)
    assert "H. Hendra Saputra" in city and "Andi Wijaya" not in city  # the city alone: not signed by BKN
    assert "Badan Kepegawaian Negara" not in city and "Kantor Regional" not in city
    assert city.startswith("PEMERINTAH KOTA BUKITTINGGI SERTIFIKAT")
    cert["programme"]["organisers"] = ["LKPP", "PEMKOT_BUKITTINGGI"]
    joint = text_of(cert, configuration)
    assert "Dr. Sari Lestari" in joint and "H. Hendra Saputra" in joint and "Drs. Andi Wijaya" not in joint
    assert joint.startswith("LEMBAGA KEBIJAKAN PENGADAAN BARANG/JASA PEMERINTAH")  # the header, in its order
    assert "PEMERINTAH KOTA BUKITTINGGI SERTIFIKAT" in joint
    # the signatories stored when it was issued win over today's configuration
    cert["signatories"] = [{"organiser": "LKPP", "role": "Direktur", "name": "Ir. Budi Santoso", "nip": None}]
    assert "Ir. Budi Santoso" in text_of(cert, configuration)
    assert "Dr. Sari Lestari" not in text_of(cert, configuration)


def test_the_qr_code_on_the_rendered_page_opens_the_verification_url():
    pdf = render_certificate(certificate(), URL, config.CertificationConfig())
    image = pypdfium2.PdfDocument(pdf)[0].render(scale=2).to_pil()
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [URL]


def test_a_pppk_holder_is_labelled_with_ni_pppk_and_a_permanent_certificate_has_no_end_date():
    cert = certificate()
    cert["holder"].update(id_kind="ni_pppk", nip="199009132025242014")
    cert["valid_until"] = None
    text = text_of(cert)
    assert "NI PPPK 19900913 202524 2 014" in text
    assert "berlaku sampai" not in text


def test_a_client_gets_its_burst_then_waits_for_the_sustained_rate():
    now = [0.0]
    buckets = TokenBuckets(rate_per_minute=60, burst=3, clock=lambda: now[0])
    assert [buckets.take("10.0.0.1") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("10.0.0.1") == 1.0  # one token a second
    assert buckets.take("10.0.0.2") == 0.0  # another client is not affected
    now[0] = 1.0
    assert buckets.take("10.0.0.1") == 0.0


def test_the_limiter_forgets_the_least_recent_clients_first():
    buckets = TokenBuckets(rate_per_minute=1, burst=1, max_keys=2, clock=lambda: 0.0)
    buckets.take("a"), buckets.take("b"), buckets.take("c")
    assert buckets.take("a") == 0.0  # "a" was dropped, so it starts with a full bucket again
    assert buckets.take("c") > 0


def test_the_client_address_comes_from_trusted_proxies_only():
    assert client_address("10.1.1.1", "6.6.6.6, 203.0.113.9", 0) == "10.1.1.1"
    assert client_address("10.1.1.1", "6.6.6.6, 203.0.113.9", 1) == "203.0.113.9"
    assert client_address("10.1.1.1", "203.0.113.9", 2) == "10.1.1.1"  # fewer hops than trusted
