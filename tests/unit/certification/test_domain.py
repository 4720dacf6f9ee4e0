"""Certificate rules without I/O: eligibility, numbers, codes, validity, status, what a verifier sees."""
from __future__ import annotations

import copy
from datetime import date, datetime, timezone

import pytest

from services.certification import config, domain
from services.certification.config import Signatory
from shared.timefmt import parse_time, wib_date
from shared.events import registry

COMPLETED = registry.latest("enrollment", "completed").example


def completion(**changes) -> dict:
    data = copy.deepcopy(COMPLETED)
    programme = changes.pop("programme", {})
    data["programme"].update(programme)
    data.update(changes)
    return data


def certificate(**changes) -> dict:
    base = {"number": "0001/BKN-BKT/SERT-PBJ/2026", "verification_code": "K7Q2M9XW4RTD8HVB3N",
            "holder": COMPLETED["participant"], "programme": COMPLETED["programme"], "jp": 32,
            "issued_on": "2026-03-05", "valid_until": "2029-03-05", "revoked": None, "superseded_by": None,
            "completed_at": datetime(2026, 3, 5, 9, 30, tzinfo=timezone.utc),
            "issued_at": datetime(2026, 3, 5, 9, 31, tzinfo=timezone.utc)}
    base.update(changes)
    return base


def test_only_a_passed_completion_of_a_certifying_programme_earns_a_certificate():
    assert domain.grants_certificate(completion())
    assert not domain.grants_certificate(completion(result="failed", passed=False))
    assert not domain.grants_certificate(completion(result="no_show", passed=False))
    assert not domain.grants_certificate(completion(programme={"grants_certificate": False}))


def test_number_follows_the_configured_format():
    assert domain.format_number("{seq:04d}/BKN-BKT/SERT-{line}/{year}", 42, 2026, "PBJ") == "0042/BKN-BKT/SERT-PBJ/2026"
    assert domain.format_number("SERT.{year}.{seq:06d}", 7, 2027, "X") == "SERT.2027.000007"


@pytest.mark.parametrize("organisers, expected", [
    (["PEMKOT_BUKITTINGGI"], "0042/BKT/SERT-PBJ/2026"),              # the city alone: no BKN in it
    (["BKN", "PEMKOT_BUKITTINGGI"], "0042/BKN-BKT/SERT-PBJ/2026"),   # joint: as numbered before
    (["PEMKOT_BUKITTINGGI", "BKN"], "0042/BKT-BKN/SERT-PBJ/2026"),   # in the programme's order
    (["LKPP"], "0042/LKPP/SERT-PBJ/2026"),
    (["BPSDM_SUMBAR", "PEMKOT_BUKITTINGGI"], "0042/BPSDM-SB-BKT/SERT-PBJ/2026"),
    ([], "0042/BKT/SERT-PBJ/2026"),                                   # none named: the city's own
])
def test_the_numbers_issuer_part_follows_the_programmes_organisers(organisers, expected):
    issuer = domain.number_issuer({"organisers": organisers})
    assert domain.format_number(config.DEFAULT_NUMBER_FORMAT, 42, 2026, "PBJ", issuer) == expected
    # a format of the first version, with a fixed issuer, still numbers as it did
    assert domain.format_number("{seq:04d}/BKN-BKT/SERT-{line}/{year}", 42, 2026, "PBJ", issuer) == \
        "0042/BKN-BKT/SERT-PBJ/2026"


SEMINAR = {"kind": "seminar", "title": "Keamanan Informasi bagi ASN"}


@pytest.mark.parametrize("programme, role, intro, role_line", [
    ({"kind": "pelatihan", "title": "Pelatihan Dasar CPNS"}, "peserta",
     "yang telah mengikuti dan dinyatakan LULUS", None),
    ({"kind": "sertifikasi", "title": "Sertifikasi PBJ Tingkat Dasar"}, "peserta",
     "yang telah mengikuti uji kompetensi dan dinyatakan LULUS", None),
    (SEMINAR, "peserta", "yang telah mengikuti Seminar", "sebagai Peserta"),
    (SEMINAR, "narasumber", "yang telah mengikuti Seminar", "sebagai Narasumber"),
    ({"kind": "seminar", "title": "Seminar Nasional Kearsipan"}, "peserta", "yang telah mengikuti", "sebagai Peserta"),
    ({"kind": "lokakarya", "title": "Penyusunan SOP"}, "narasumber", "yang telah mengikuti Lokakarya",
     "sebagai Narasumber"),
    ({"kind": "lokakarya", "title": "Workshop Penyusunan SOP"}, "peserta", "yang telah mengikuti", "sebagai Peserta"),
    ({"kind": "e-learning", "title": "Literasi Digital"}, "peserta",
     "yang telah menyelesaikan pembelajaran e-learning", None),
    ({"kind": "coaching", "title": "Kepemimpinan"}, "peserta", "yang telah mengikuti dan menyelesaikan Coaching", None),
    ({"kind": "mentoring", "title": "Mentoring Analis Kebijakan"}, "peserta",
     "yang telah mengikuti dan menyelesaikan", None),
])
def test_each_kind_has_its_wording_and_only_training_and_certification_say_passed(programme, role, intro,
                                                                                  role_line):
    wording = domain.wording(programme, role)
    assert (wording.intro, wording.role_line) == (intro, role_line)
    assert ("LULUS" in wording.intro) == (programme["kind"] in ("pelatihan", "sertifikasi"))


def test_a_speaker_is_never_said_to_have_passed():
    wording = domain.wording({"kind": "pelatihan", "title": "Pelatihan Kepemimpinan"}, "narasumber")
    assert "LULUS" not in wording.intro and wording.role_line == "sebagai Narasumber"


def test_a_seminar_speakers_passed_completion_earns_a_certificate_when_the_programme_grants_one():
    speaker = completion(programme={"kind": "seminar", "grants_certificate": True}, role="narasumber")
    assert domain.grants_certificate(speaker) and domain.role_of(speaker) == "narasumber"
    assert not domain.grants_certificate(completion(programme={"kind": "seminar", "grants_certificate": False},
                                                    role="narasumber"))
    assert domain.role_of(completion()) == "peserta"  # an event from before roles


def test_the_competency_line_falls_back_to_the_programme_code():
    assert domain.competency_line({"code": "pbj-2026-01", "certification_line": "pbj"}) == "PBJ"
    assert domain.competency_line({"code": "pbj-2026-01", "certification_line": None}) == "PBJ-2026-01"


FORMAT = "{seq:04d}/BKN-BKT/SERT-{line}/{year}"


def number(code: str, certification_line: str | None = None, number_format: str = FORMAT) -> str:
    programme = {"code": code, "certification_line": certification_line}
    return domain.format_number(number_format, 101, 2026, domain.number_line(programme, number_format))


@pytest.mark.parametrize("code, expected", [
    ("SERT-PKI-2026-01", "0101/BKN-BKT/SERT-PKI/2026"),     # not .../SERT-SERT-PKI-2026-01/2026
    ("sert-pki-2026", "0101/BKN-BKT/SERT-PKI/2026"),
    ("PBJ-2029-B", "0101/BKN-BKT/SERT-PBJ/2026"),
    ("K3_2026_02", "0101/BKN-BKT/SERT-K3/2026"),
    ("BENCH-01", "0101/BKN-BKT/SERT-BENCH/2026"),
    ("PKI-2026-BATCH-2", "0101/BKN-BKT/SERT-PKI/2026"),
    ("SERT-20", "0101/BKN-BKT/SERT-SERT/2026"),            # nothing but the prefix left: kept
    ("2026", "0101/BKN-BKT/SERT-2026/2026"),               # nothing left at all: the code
])
def test_a_number_without_a_certification_line_does_not_repeat_the_year_or_the_prefix(code, expected):
    assert number(code) == expected


def test_a_certification_line_is_printed_as_given_and_other_formats_keep_the_code_prefix():
    assert number("SERT-PKI-2026-01", certification_line="pki") == "0101/BKN-BKT/SERT-PKI/2026"
    assert number("SERT-PKI-2026-01", number_format="{line}.{year}.{seq:05d}") == "SERT-PKI.2026.00101"


def test_validity_adds_calendar_months_and_clamps_to_the_month_end():
    assert domain.valid_until(date(2026, 3, 5), 36) == date(2029, 3, 5)
    assert domain.valid_until(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert domain.valid_until(date(2028, 2, 29), 12) == date(2029, 2, 28)
    assert domain.valid_until(date(2026, 3, 5), None) is None


def test_the_issue_day_is_the_day_in_bukittinggi_not_in_utc():
    # 18:30 UTC on 5 March is 01:30 WIB on 6 March
    assert wib_date(parse_time("2026-03-05T18:30:00Z")) == date(2026, 3, 6)


def test_verification_codes_carry_90_random_bits_in_crockford_base32():
    codes = {domain.new_verification_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in list(codes)[:50]:
        assert len(code) == 18 and set(code) <= set(domain.CROCKFORD)
    # every position varies, i.e. no fixed prefix shrinks the space
    assert all(len({c[i] for c in codes}) > 20 for i in range(18))


def test_a_code_typed_by_a_person_is_normalised_and_garbage_is_rejected():
    assert domain.normalise_code("k7q2-m9xw-4rtd-8hvb-3n") == "K7Q2M9XW4RTD8HVB3N"
    assert domain.normalise_code("K7Q2 M9XW 4RTD 8HVB 3N") == "K7Q2M9XW4RTD8HVB3N"
    assert domain.normalise_code("O0IL" + "2" * 14) == "0011" + "2" * 14
    assert domain.normalise_code("K7Q2M9XW4RTD8HVB3") is None  # too short
    assert domain.normalise_code("U" * 18) is None  # U is not in the alphabet
    assert domain.normalise_code("../../etc/passwd") is None


def test_status_is_revoked_before_superseded_before_expired():
    today = date(2026, 6, 1)
    assert domain.status_of(certificate(), today) == domain.VALID
    assert domain.status_of(certificate(valid_until="2026-06-01"), today) == domain.VALID  # last valid day
    assert domain.status_of(certificate(valid_until="2026-05-31"), today) == domain.EXPIRED
    assert domain.status_of(certificate(valid_until=None), date(2090, 1, 1)) == domain.VALID
    assert domain.status_of(certificate(superseded_by="x", valid_until="2026-01-01"), today) == domain.SUPERSEDED
    revoked = {"reason": "Data tidak sesuai", "at": datetime(2026, 4, 1, tzinfo=timezone.utc), "by": "admin"}
    assert domain.status_of(certificate(revoked=revoked, superseded_by="x"), today) == domain.REVOKED


def test_expiring_is_due_within_the_notice_period_and_expired_after_the_last_day():
    cert = certificate(valid_until="2026-07-01")
    assert not domain.expiring_due(cert, date(2026, 5, 31), 30)
    assert domain.expiring_due(cert, date(2026, 6, 1), 30)
    assert domain.expiring_due(cert, date(2026, 7, 1), 30)
    assert not domain.expired_due(cert, date(2026, 7, 1))
    assert domain.expired_due(cert, date(2026, 7, 2))
    assert not domain.expired_due(certificate(valid_until="2026-07-01", superseded_by="x"), date(2026, 8, 1))
    assert not domain.expiring_due(certificate(valid_until=None), date(2026, 6, 1), 30)


def test_a_newer_completion_is_the_newer_certificate_even_if_issued_earlier():
    old = certificate(completed_at=datetime(2023, 1, 1, tzinfo=timezone.utc),
                      issued_at=datetime(2026, 5, 1, tzinfo=timezone.utc))
    new = certificate(completed_at=datetime(2026, 3, 1, tzinfo=timezone.utc),
                      issued_at=datetime(2026, 3, 1, tzinfo=timezone.utc))
    assert domain.is_newer(new, old) and not domain.is_newer(old, new)


def test_the_verifier_sees_name_programme_jp_dates_and_status_but_no_nip_or_ids():
    view = domain.verification_view(certificate(_id="6752c3aa", enrolment_id="e1"), None, date(2026, 6, 1),
                                    lambda code: f"https://x/verify/{code}")
    assert view["status"] == "valid" and view["holder_name"] == "Rahmat Hidayat"
    assert view["jp"] == 32 and view["issued_on"] == "2026-03-05" and view["valid_until"] == "2029-03-05"
    flat = repr(view)
    for secret in ("198503122010011002", "6752c3aa", "e1", "DISKOMINFO", "K7Q2M9XW4RTD8HVB3N"):
        assert secret not in flat


def test_the_verifier_sees_the_holders_role_and_the_organisers_full_names():
    speaker = certificate(role="narasumber", programme={**COMPLETED["programme"], "kind": "seminar",
                                                        "organisers": ["LKPP", "PEMKOT_BUKITTINGGI"]})
    view = domain.verification_view(speaker, None, date(2026, 6, 1), str)
    assert (view["role"], view["role_label"]) == ("narasumber", "Narasumber")
    assert view["organisers"] == ["Lembaga Kebijakan Pengadaan Barang/Jasa Pemerintah", "Pemerintah Kota Bukittinggi"]
    assert domain.verification_view(certificate(), None, date(2026, 6, 1), str)["role_label"] == "Peserta"


def _people(*names: str) -> tuple[Signatory, ...]:
    return tuple(Signatory(f"Jabatan {n}", n, None) for n in names)


def test_the_signatories_are_those_of_the_programmes_organisers_at_most_three():
    by_organiser = {"BKN": _people("Andi"), "PEMKOT_BUKITTINGGI": _people("Budi", "Citra"), "LKPP": _people("Dewi"),
                    "*": _people("Eka")}
    names = lambda organisers: [s["name"] for s in domain.signatories_for({"organisers": organisers}, by_organiser)]
    assert names(["PEMKOT_BUKITTINGGI"]) == ["Budi", "Citra"]  # the city alone: no one from BKN
    assert names(["BKN", "PEMKOT_BUKITTINGGI"]) == ["Andi", "Budi", "Citra"]
    # four would not fit: every organiser's first signatory before anyone's second, in the programme's order
    assert names(["PEMKOT_BUKITTINGGI", "BKN", "LKPP"]) == ["Budi", "Andi", "Dewi"]
    assert names(["ANRI"]) == ["Eka"]  # no list of its own: the "*" list
    assert names(["ANRI", "BPKP"]) == ["Eka"]  # one person signing for two organisers signs once
    assert names([]) == ["Budi", "Citra"]  # no organiser named: the city's own programme
    [stored] = domain.signatories_for({"organisers": ["LKPP"]}, by_organiser)
    assert stored == {"organiser": "LKPP", "role": "Jabatan Dewi", "name": "Dewi", "nip": None}


def test_a_superseded_certificate_points_to_its_successor():
    successor = {"number": "0009/BKN-BKT/SERT-PBJ/2029", "issued_on": "2029-02-01", "verification_code": "NEWCODE"}
    view = domain.verification_view(certificate(superseded_by="new"), successor, date(2029, 2, 2),
                                    lambda code: f"https://x/verify/{code}")
    assert view["status"] == "superseded"
    assert view["superseded_by"] == {"number": "0009/BKN-BKT/SERT-PBJ/2029", "issued_on": "2029-02-01",
                                     "verification_url": "https://x/verify/NEWCODE"}


def test_an_unknown_code_reveals_nothing_but_its_status():
    assert domain.verification_view(None, None, date(2026, 1, 1), str) == {
        "status": "unknown", "status_label": "Tidak ditemukan"}


@pytest.mark.parametrize("day, text", [(date(2026, 3, 5), "5 Maret 2026"), ("2029-12-31", "31 Desember 2029"),
                                       (None, "-")])
def test_dates_are_written_in_bahasa_indonesia(day, text):
    assert domain.date_id(day) == text
