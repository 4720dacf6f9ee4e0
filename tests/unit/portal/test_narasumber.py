"""A narasumber (speaker) of a seminar on the portal's pages: labelled "Narasumber" among the
participants of the console's programme page and the marking page, left out of the peserta count;
the ASN's own catalogue, history and certificates say "narasumber" where it applies."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from services.portal import domain
from services.portal.adapters import pages
from services.portal.domain import Identity
from tests.unit.portal.test_supervision import FakeVisit

NOW = datetime(2026, 3, 10, 3, 0, tzinfo=timezone.utc)
SEMINAR = {"code": "SEM-1", "title": "Seminar Integritas", "kind": "seminar", "competency_type": "manajerial",
           "jp": 4, "status": "published", "starts_at": "2026-03-20T01:00:00Z", "ends_at": "2026-03-20T07:00:00Z",
           "enrolment_opens_at": "2026-03-01T00:00:00Z", "enrolment_closes_at": "2026-03-19T00:00:00Z",
           "capacity": 2, "seats_taken": 2, "seats_left": 0, "waitlisted": 0, "speakers": ["Dr. Sari"],
           "enrolment_open": True, "location": "Aula"}


def enrolment(eid: str, name: str, nip: str, role: str | None = None, status: str = "enrolled") -> dict:
    out = {"id": eid, "programme_code": "SEM-1", "nip": nip, "status": status,
           "participant": {"nip": nip, "name": name, "agency": "SETDA"}, "result": None, "score": None,
           "jp_earned": None, "attendance_days": {}}
    if role:
        out["role"] = role
    return out


ROWS = [enrolment("e1", "Budi", "198503152010011002", "peserta"),
        enrolment("e2", "Zaki Narasumber", "198001012005011003", "narasumber"),
        enrolment("e3", "Ani", "199001012015012004")]  # written before roles: a peserta


def render(page: str, role: str = "operator", **context) -> str:
    identity = Identity(role=role, subject="s", name="Petugas", nip="197501012000031001",
                        agency="SETDA" if role == "operator" else None)
    return pages.html(page, visit=FakeVisit(identity), **context)


def test_the_speakers_come_first_among_the_seated_and_only_they_are_speakers():
    seated, queue, cancelled = domain.participant_rows(ROWS)
    assert [e["id"] for e in seated] == ["e2", "e3", "e1"] and not queue and not cancelled
    assert [domain.is_speaker(e) for e in seated] == [True, False, False]
    assert not domain.is_speaker(None)


def test_an_own_enrolment_as_speaker_reads_narasumber_and_a_peserta_s_as_before():
    assert domain.enrolment_text(ROWS[1]) == "Terdaftar sebagai narasumber"
    assert domain.enrolment_text({**ROWS[1], "status": "completed"}) == "Selesai sebagai narasumber"
    assert domain.enrolment_text(ROWS[0]) == domain.enrolment_text(ROWS[2]) == "Terdaftar"
    assert domain.enrolment_text({**ROWS[1], "status": "cancelled"}) == "Dibatalkan"


def test_the_console_programme_page_labels_the_speaker_and_counts_peserta_apart():
    seated, queue, cancelled = domain.participant_rows(ROWS)
    html = render("operator_program_detail.html", status=200, p=SEMINAR, seated=seated, queue=queue,
                  cancelled=cancelled, sessions=domain.session_days(SEMINAR), term="", found=[], jp={}, year=2026,
                  enrolled_nips={}, opd="", errors={}, form={}, now=NOW, status_text="Dibuka", seats="",
                  can_promote=lambda e: False, mark=domain.attendance_mark, enrolment_status=lambda e: "Terdaftar",
                  results=domain.RESULT_LABELS, nip_printed=domain.nip_printed, agencies={},
                  active=domain.CANCELLABLE)
    heading = re.search(r'<h2 id="participants-title">(.*?)</h2>', html, re.S).group(1)
    assert re.sub(r"<[^>]+>", "", heading) == "Peserta (2) dan narasumber (1)"
    rows = re.findall(r'<tr data-enrolment="(e\d)"[^>]*data-role="(\w+)">\s*<td>(.*?)</td>', html, re.S)
    assert [(eid, role) for eid, role, _ in rows] == [("e2", "narasumber"), ("e3", "peserta"), ("e1", "peserta")]
    assert [("Narasumber" in cell) for _, _, cell in rows] == [True, False, False]
    # the seats line is enrollment's (peserta only): two of two seats taken
    assert re.search(r'id="seats"[^>]*data-taken="2"', html)


def test_a_page_without_speakers_keeps_its_heading():
    seated, queue, cancelled = domain.participant_rows([ROWS[0], ROWS[2]])
    html = render("operator_program_detail.html", status=200, p=SEMINAR, seated=seated, queue=queue,
                  cancelled=cancelled, sessions=[], term="", found=[], jp={}, year=2026, enrolled_nips={}, opd="",
                  errors={}, form={}, now=NOW, status_text="Dibuka", seats="", can_promote=lambda e: False,
                  mark=domain.attendance_mark, enrolment_status=lambda e: "Terdaftar", results=domain.RESULT_LABELS,
                  nip_printed=domain.nip_printed, agencies={}, active=domain.CANCELLABLE)
    assert '<h2 id="participants-title">Peserta (2)</h2>' in html and "speaker-count" not in html


def test_the_history_marks_the_speaker_s_entry_narasumber():
    entries = [{"enrolment_id": "e2", "programme_code": "SEM-1", "programme_title": "Seminar Integritas",
                "kind": "seminar", "completed_at": "2026-03-20T08:00:00Z", "jp": 4, "role": "narasumber"},
               {"enrolment_id": "e9", "programme_code": "PEL-1", "programme_title": "Pelatihan Dasar",
                "kind": "pelatihan", "completed_at": "2026-02-20T08:00:00Z", "jp": 12}]
    html = render("riwayat.html", role="asn", year=2026, years=[2026], ledger={"target_jp": 20},
                  entry={"jp_total": 16, "target_jp": 20, "entries": entries}, checkpoint=None)
    speaker = re.search(r'<tr data-enrolment="e2" data-role="narasumber">(.*?)</tr>', html, re.S).group(1)
    other = re.search(r'<tr data-enrolment="e9" data-role="peserta">(.*?)</tr>', html, re.S).group(1)
    assert "Narasumber" in speaker and "Narasumber" not in other


def test_the_catalogue_and_certificates_say_narasumber_for_the_speaker():
    html = render("katalog.html", role="asn", programmes=[SEMINAR], mine={"SEM-1": ROWS[1]},
                  filters={"kind": None, "competency_type": None, "month": None}, total=1, page_no=1,
                  pages_total=1, months=[], seats_text=domain.seats_text, enrolment_text=domain.enrolment_text)
    card = re.search(r'<li class="card" data-programme="SEM-1"[^>]*data-role="narasumber">(.*?)</li>', html, re.S)
    assert card and "Terdaftar sebagai narasumber" in card.group(1)
    certificate = {"id": "c1", "number": "0001/BKT/SEM/2026", "jp": 4, "issued_on": "2026-03-20", "status": "valid",
                   "programme": {"title": "Seminar Integritas"}, "verification_url": "https://v/c1",
                   "role": "narasumber"}
    html = render("sertifikat.html", role="asn", certificates=[certificate, {**certificate, "id": "c2",
                                                                             "role": "peserta"}])
    assert html.count("Sebagai Narasumber") == 1
