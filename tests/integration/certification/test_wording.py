"""What a certificate says, end to end: a seminar speaker's completion through the running
service (real RabbitMQ and SecantusDB) becomes a certificate "sebagai Narasumber", numbered and
signed for the programme's organisers."""
from __future__ import annotations

import io
import json

from pypdf import PdfReader

from tests.integration.certification.helpers import completion
from tests.support import publish_event, wait_for

SEMINAR = {"code": "SEM-2026-07", "kind": "seminar", "title": "Seminar Keamanan Informasi bagi ASN",
           "organisers": ["PEMKOT_BUKITTINGGI"], "grants_certificate": True, "certificate_validity_months": None,
           "certification_line": None, "jp": 4}


def test_a_seminar_speakers_completion_yields_a_certificate_as_narasumber_signed_by_the_city_alone(
        start, settings, db, api, probe):
    start()
    publish_event(settings.amqp_uri, "enrollment", "completed",
                  completion("sem-speaker", role="narasumber", participant={"golongan": "III/c"}, **SEMINAR))
    [message] = probe.take(1)
    certified = json.loads(message.body)["data"]
    assert certified["role"] == "narasumber"
    assert certified["number"] == "0001/BKT/SERT-SEM/2026"  # the city's issuer code alone, no BKN
    stored = db.certificates.find_one({"_id": certified["certificate_id"]})
    assert stored["role"] == "narasumber" and stored["holder"]["golongan"] == "III/c"

    response = api.get(f"/certificates/{certified['certificate_id']}/pdf")
    assert response.status_code == 200
    text = " ".join(PdfReader(io.BytesIO(response.content)).pages[0].extract_text().split())
    assert "yang telah mengikuti Seminar Keamanan Informasi bagi ASN sebagai Narasumber" in text
    assert "LULUS" not in text
    assert "NIP 19850312 201001 1 002 · Pangkat/Golongan Penata (III/c)" in text
    assert "Wali Kota Bukittinggi" in text and "BKN" not in text.replace(certified["number"], "")
    assert "Dokumen ini ditandatangani secara elektronik" in text

    code = certified["verification_url"].rsplit("/", 1)[1]
    view = api.get(f"/verify/{code}", headers={"Accept": "application/json"}).json()
    assert (view["role"], view["role_label"]) == ("narasumber", "Narasumber")
    assert view["organisers"] == ["Pemerintah Kota Bukittinggi"]
    assert "Narasumber" in api.get(f"/verify/{code}").text
    assert api.get(f"/certificates/{certified['certificate_id']}").json()["role"] == "narasumber"


def test_a_seminar_participants_older_completion_event_without_a_role_is_certified_as_peserta(
        start, settings, db, api):
    start()
    publish_event(settings.amqp_uri, "enrollment", "completed", completion("sem-participant", **SEMINAR))
    certificate = wait_for(lambda: db.certificates.find_one({"enrolment_id": "sem-participant"}),
                           message="the participant's certificate")
    assert certificate["role"] == "peserta"
    pdf = api.get(f"/certificates/{certificate['_id']}/pdf").content
    text = " ".join(PdfReader(io.BytesIO(pdf)).pages[0].extract_text().split())
    assert "sebagai Peserta" in text and "LULUS" not in text
