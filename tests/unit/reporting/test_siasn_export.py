"""SIASN's course-history record (riwayat kursus): the row, the kind -> SIASN code mapping read
from configuration, and the XLSX that keeps the NIP as text."""
from __future__ import annotations

import io
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook

from services.reporting import config
from services.reporting.adapters import exports
from shared.events.common import PROGRAMME_KINDS

NIP = "198503122010011002"
DEFAULT = config.read_siasn_mapping(config.DEFAULT_SIASN_MAPPING)


def _entry(**changes) -> dict:
    entry = {"nip": NIP, "name": "Rahmat", "agency": "DISKOMINFO", "year": 2026, "programme_code": "PEL-PBJ-2026",
             "programme_title": "Pelatihan Pengadaan Barang/Jasa", "kind": "pelatihan", "competency_type": "teknis",
             "organisers": ["BKN", "PEMKOT_BUKITTINGGI"], "location": "Aula Balai Kota",
             # 2 March 01:00 UTC is 08:00 WIB; 5 March 18:00 UTC is already 6 March in WIB
             "starts_at": datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc),
             "ends_at": datetime(2026, 3, 5, 18, 0, tzinfo=timezone.utc),
             "completed_at": datetime(2026, 3, 6, 3, 0, tzinfo=timezone.utc), "jp": 24, "score": 88.0,
             "certificate_number": "0001/BKN-BKT/SERT-PBJ/2026", "certificate_status": "valid"}
    entry.update(changes)
    return entry


def _row(entry: dict, mapping: config.SiasnMapping = DEFAULT) -> dict:
    return dict(zip(exports.SIASN_HEADER, exports.siasn_row(entry, mapping)))


def _mapping_file(tmp_path: Path, kinds: dict) -> Path:
    path = tmp_path / "siasn.yaml"
    path.write_text(yaml.safe_dump({"kinds": kinds}), encoding="utf-8")
    return path


def _all_kinds(**overrides) -> dict:
    kinds = {k: {"jenisDiklatId": 3, "jenisKursusSertipikat": "T"} for k in PROGRAMME_KINDS}
    kinds.update(overrides)
    return kinds


def test_a_row_carries_every_field_of_siasns_course_record_and_nothing_of_another_record():
    assert _row(_entry()) == {
        "nipBaru": NIP, "jenisDiklatId": "3", "jenisKursusSertipikat": "T",
        "namaKursus": "Pelatihan Pengadaan Barang/Jasa",
        "institusiPenyelenggara": "Badan Kepegawaian Negara; Pemerintah Kota Bukittinggi",
        "jumlahJam": 24, "tanggalKursus": "02-03-2026", "tanggalSelesaiKursus": "06-03-2026", "tahunKursus": 2026,
        "nomorSertipikat": "0001/BKN-BKT/SERT-PBJ/2026"}
    # the person's name, competency type and place belong to other SIASN records
    assert not {"nama", "nip", "jenisKompetensi", "lokasi"} & set(exports.SIASN_HEADER)


def test_the_shipped_mapping_gives_each_kind_siasns_code_and_letter():
    codes = {kind: (DEFAULT.course_type(kind, "teknis").jenis_diklat_id,
                    DEFAULT.course_type(kind, "teknis").jenis_kursus_sertipikat) for kind in PROGRAMME_KINDS}
    assert codes == {"pelatihan": (3, "T"), "sertifikasi": (13, "T"), "seminar": (9, "P"), "lokakarya": (4, "P"),
                     "e-learning": (16, "T"), "coaching": (14, "T"), "mentoring": (15, "T")}


@pytest.mark.parametrize("kind, competency, expected", [
    ("pelatihan", "manajerial", ("5", "T")),       # Pelatihan Manajerial
    ("pelatihan", "sosial_kultural", ("6", "T")),  # Pelatihan Sosial Kultural
    ("pelatihan", "pemerintahan", ("3", "T")),     # no type of its own: Diklat Teknis
    ("seminar", "manajerial", ("9", "P")),         # only a training's type follows its competency
])
def test_a_trainings_siasn_type_follows_its_competency_type(kind, competency, expected):
    row = _row(_entry(kind=kind, competency_type=competency))
    assert (row["jenisDiklatId"], row["jenisKursusSertipikat"]) == expected


def test_the_codes_come_from_the_file_named_by_the_environment(tmp_path, monkeypatch):
    path = _mapping_file(tmp_path, _all_kinds(seminar={"jenisDiklatId": 42, "jenisKursusSertipikat": "X"}))
    monkeypatch.setenv("REPORTING_SIASN_MAPPING", str(path))
    mapping = config.load().siasn
    row = _row(_entry(kind="seminar", competency_type="teknis", certificate_number=None), mapping)
    assert (row["jenisDiklatId"], row["jenisKursusSertipikat"]) == ("42", "X")


@pytest.mark.parametrize("kinds, reason", [
    (_all_kinds(kursus={"jenisDiklatId": 11, "jenisKursusSertipikat": "T"}), "'kursus' is not a programme kind"),
    ({k: v for k, v in _all_kinds().items() if k != "coaching"}, "no SIASN type for the programme kind coaching"),
    (_all_kinds(seminar={"jenisDiklatId": "9", "jenisKursusSertipikat": "P"}), "jenisDiklatId '9'"),
    (_all_kinds(seminar={"jenisDiklatId": 9, "jenisKursusSertipikat": "Seminar"}), "jenisKursusSertipikat 'Seminar'"),
    (_all_kinds(seminar={"jenisDiklatId": 9}), "kinds.seminar: needs jenisDiklatId and jenisKursusSertipikat"),
    (_all_kinds(seminar={"jenisDiklatId": 9, "jenisKursusSertipikat": "P", "jenisDiklat": 9}), "unknown key"),
    (_all_kinds(pelatihan={"jenisDiklatId": 3, "jenisKursusSertipikat": "T",
                           "competency": {"kepemimpinan": {"jenisDiklatId": 1, "jenisKursusSertipikat": "T"}}}),
     "'kepemimpinan' is not a competency type"),
])
def test_a_broken_mapping_stops_the_service_at_start_naming_the_variable(tmp_path, monkeypatch, kinds, reason):
    monkeypatch.setenv("REPORTING_SIASN_MAPPING", str(_mapping_file(tmp_path, kinds)))
    with pytest.raises(ValueError) as refused:
        config.load()
    assert "REPORTING_SIASN_MAPPING" in str(refused.value) and reason in str(refused.value)


def test_a_missing_mapping_file_is_named_at_start(tmp_path, monkeypatch):
    monkeypatch.setenv("REPORTING_SIASN_MAPPING", str(tmp_path / "tidak-ada.yaml"))
    with pytest.raises(ValueError, match="REPORTING_SIASN_MAPPING.*tidak-ada.yaml"):
        config.load()


def test_a_revoked_certificates_number_is_not_carried_and_no_certificate_leaves_it_empty():
    assert _row(_entry(certificate_status="revoked"))["nomorSertipikat"] == ""
    assert _row(_entry(certificate_number=None, certificate_status=None))["nomorSertipikat"] == ""
    assert _row(_entry(certificate_status="expired"))["nomorSertipikat"] == "0001/BKN-BKT/SERT-PBJ/2026"


def test_a_self_paced_course_without_dates_is_dated_by_its_completion_in_wib():
    row = _row(_entry(kind="e-learning", starts_at=None, ends_at=None,
                      completed_at=datetime(2025, 12, 31, 18, 0, tzinfo=timezone.utc)))
    assert (row["tanggalKursus"], row["tanggalSelesaiKursus"]) == ("01-01-2026", "01-01-2026")
    assert (row["jenisDiklatId"], row["jenisKursusSertipikat"]) == ("16", "T")


def test_a_kind_the_mapping_does_not_know_leaves_the_codes_empty_rather_than_wrong():
    row = _row(_entry(kind="kursus-lama"))
    assert (row["jenisDiklatId"], row["jenisKursusSertipikat"]) == ("", "")


def test_an_organiser_missing_from_the_reference_list_keeps_its_code():
    assert _row(_entry(organisers=["LKPP", "BADAN_BARU"]))["institusiPenyelenggara"] == \
        "Lembaga Kebijakan Pengadaan Barang/Jasa Pemerintah; BADAN_BARU"


def test_the_xlsx_keeps_the_nip_as_text_and_numbers_as_numbers():
    rows = [exports.siasn_row(_entry(), DEFAULT),
            exports.siasn_row(_entry(nip="199009132025242014", certificate_number="=HYPERLINK(\"x\")"), DEFAULT)]
    sheet = load_workbook(io.BytesIO(exports.xlsx_bytes("Riwayat kursus SIASN", exports.SIASN_HEADER, rows,
                                                        exports.SIASN_TEXT_COLUMNS))).active
    header = [c.value for c in sheet[1]]
    assert header == exports.SIASN_HEADER
    first, second = (dict(zip(header, row)) for row in sheet.iter_rows(min_row=2))
    nip = first["nipBaru"]
    assert (nip.value, nip.data_type, nip.number_format) == (NIP, "s", "@")
    assert (second["nipBaru"].value, second["nipBaru"].number_format) == ("199009132025242014", "@")
    assert (first["jenisDiklatId"].value, first["jenisDiklatId"].number_format) == ("3", "@")
    assert (first["jumlahJam"].value, first["jumlahJam"].data_type) == (24, "n")
    assert (first["tahunKursus"].value, first["tahunKursus"].data_type) == (2026, "n")
    # a text column is still neutralised against formula injection
    assert (second["nomorSertipikat"].value, second["nomorSertipikat"].data_type) == ("'=HYPERLINK(\"x\")", "s")


def test_the_csv_neutralises_a_formula_course_title():
    body = b"".join(exports.csv_stream(exports.SIASN_HEADER,
                                       [exports.siasn_row(_entry(programme_title="=1+1"), DEFAULT)]))
    assert ",'=1+1," in body.decode("utf-8-sig")
