"""The roster's rules without I/O: each cell of a roster row (Bahasa Indonesia reasons), what a
row changes and which event it is, a full import's confirmation, the contact digest, the
appointment month in a NIP, and the file reader (headers, CSV and XLSX cells)."""
from __future__ import annotations

import io
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from services.enrollment import domain
from services.enrollment.adapters import bulk_files
from shared import nip as nip_rules
from shared.spreadsheet import cell_text
from shared.errors import Conflict, Forbidden, Invalid

TODAY = date(2026, 12, 7)
NIP = "198503122010011002"
HEAD = "197801052003121004"
PPPK = "199305222022212012"
ADMIN = domain.Actor(role="admin")
OPERATOR = domain.Actor(role="operator", agency="DISKOMINFO")


def read(**cells) -> domain.RosterRow:
    return domain.read_roster_row({"nip": NIP, **cells}, TODAY)


def reason(**cells) -> tuple[str, str]:
    with pytest.raises(Invalid) as err:
        read(**cells)
    return err.value.field, err.value.message


# -- shared.nip: the appointment month ------------------------------------------------------------

def test_the_appointment_month_of_a_pns_is_in_digits_9_to_14_and_an_ni_pppk_has_none():
    assert nip_rules.appointment_month(NIP) == date(2010, 1, 1)
    assert nip_rules.appointment_month("19850312 201007 1 002") == date(2010, 7, 1)
    assert nip_rules.appointment_month(PPPK) is None
    assert nip_rules.appointment_month("1985031220101") is None


# -- cells -------------------------------------------------------------------------------------------

def test_a_full_row_is_read_into_the_roster_fields():
    row = read(nama="Rahmat Hidayat", jenis_asn="CPNS", kode_opd="diskominfo", jabatan="Pranata Komputer",
               golongan="Penata Muda Tk. I (III/b)", nip_atasan="19780105 200312 1 004", status="Aktif",
               email=" Rahmat@Bukittinggikota.go.id ", telepon="0812-6600-1122", tmt="01/03/2010")
    assert row.fields == {"name": "Rahmat Hidayat", "jenis_asn": "PNS", "agency": "DISKOMINFO",
                          "agency_name": "Dinas Komunikasi dan Informatika", "position": "Pranata Komputer",
                          "golongan": "III/b", "supervisor_nip": HEAD, "status": "aktif", "tmt": "2010-03-01"}
    assert row.contact == ("rahmat@bukittinggikota.go.id", "+6281266001122")


def test_a_column_the_file_lacks_is_not_a_field_and_a_blank_optional_cell_clears():
    row = read(status="pensiun")
    assert row.fields == {"status": "pensiun"} and row.contact is None
    row = read(jabatan="", golongan="", nip_atasan="", tmt="", email="")
    assert row.fields == {"position": None, "golongan": None, "supervisor_nip": None, "tmt": None}
    assert row.contact == (None, None)


@pytest.mark.parametrize("text, expected", [
    ("0812-6600-1122", "+6281266001122"), ("+62 812 6600 1122", "+6281266001122"), ("6281266001122", "+6281266001122"),
    ("81266001122", "+6281266001122"), ("(0752) 21234", "+6275221234"),
])
def test_telephones_become_e164(text, expected):
    assert domain.normalise_phone(text) == expected


@pytest.mark.parametrize("cells, field, words", [
    ({"nip": "19850312201001100"}, "nip", "harus 18 angka, bukan 17"),
    ({"nip": "198502302010011002"}, "nip", "tanggal lahirnya"),
    ({"nip": "198503122010131002"}, "nip", "bulan pengangkatannya"),
    ({"nip": "1,98503E+17"}, "nip", "tersimpan sebagai angka"),
    ({"nip": "1.98503122010011e+17"}, "nip", "format kolom nip sebagai Teks"),
    ({"nama": "=1+1"}, "nama", "rumus"),
    ({"nama": "Siti <b>"}, "nama", "harus diawali huruf"),
    ({"nama": "A" * 201}, "nama", "lebih dari 200 karakter"),
    ({"jabatan": "@SUM(A1)"}, "jabatan", "rumus"),
    ({"jenis_asn": "honorer"}, "jenis_asn", "tidak dikenal"),
    ({"kode_opd": "DINAS-ANTAH"}, "kode_opd", "bukan OPD Kota Bukittinggi"),
    ({"nama_opd": "Dinas Antah Berantah"}, "nama_opd", "bukan nama OPD"),
    ({"golongan": "III/e"}, "golongan", "III/a sampai III/d"),
    ({"golongan": "XVIII"}, "golongan", "tidak dikenal"),
    ({"nip_atasan": NIP}, "nip_atasan", "orang lain"),
    ({"nip_atasan": "123"}, "nip_atasan", "harus 18 angka"),
    ({"status": "cuti"}, "status", "tidak dikenal"),
    ({"email": "rahmat@"}, "email", "bukan alamat surel"),
    ({"telepon": "+65 9123 4567"}, "telepon", "bukan nomor Indonesia"),
    ({"telepon": "0812"}, "telepon", "bukan nomor telepon yang sah"),
    ({"tmt": "2026-12-08"}, "tmt", "masa depan"),
    ({"tmt": "31/02/2020"}, "tmt", "bukan tanggal yang sah"),
    ({"tmt": "maret 2020"}, "tmt", "bukan tanggal yang sah"),
])
def test_a_bad_cell_names_its_column_and_says_why_in_bahasa_indonesia(cells, field, words):
    got_field, message = reason(**cells)
    assert got_field == field and words in message, message


@pytest.mark.parametrize("text, status", [
    ("Aktif", "aktif"), ("", "aktif"), ("PENSIUN", "pensiun"), ("Mutasi Keluar", "pindah"), ("pindah", "pindah"),
    ("Diberhentikan dengan hormat", "berhenti"), ("berhenti", "berhenti"), ("Wafat", "meninggal"),
    ("Meninggal Dunia", "meninggal"), ("Tugas Belajar", "aktif"),
])
def test_statuses_as_personnel_files_write_them(text, status):
    assert domain.parse_roster_status(text) == status


@pytest.mark.parametrize("text, golongan", [("III/c", "III/c"), ("iii / C", "III/c"), ("Pembina (IV/a)", "IV/a"),
                                            ("IX", "IX"), ("Golongan XVII", "XVII"), ("v", "V")])
def test_golongan_of_pns_and_pppk(text, golongan):
    assert domain.parse_golongan(text) == golongan


def test_an_agency_is_also_found_by_its_name_as_siasn_writes_it():
    assert read(nama_opd="dinas  komunikasi DAN informatika").fields["agency"] == "DISKOMINFO"


# -- what a row changes -------------------------------------------------------------------------------

def plan(actor=ADMIN, mode=domain.PARTIAL, agency=None) -> domain.RosterImport:
    return domain.RosterImport(actor, mode, agency)


def stored(**overrides) -> dict:
    return {"_id": NIP, "id_kind": "nip", "name": "Rahmat Hidayat", "jenis_asn": "PNS", "agency": "DISKOMINFO",
            "agency_name": "Dinas Komunikasi dan Informatika", "position": "Pranata Komputer", "golongan": "III/b",
            "supervisor_nip": HEAD, "status": "aktif", "tmt": "2010-01-01", "version": 3, **overrides}


def test_a_new_asn_needs_a_name_and_an_agency_and_gets_the_tmt_of_the_nip():
    with pytest.raises(Invalid) as err:
        domain.merge_roster_entry(None, read(kode_opd="DINKES"), plan())
    assert err.value.field == "nama" and "wajib" in err.value.message
    with pytest.raises(Invalid) as err:
        domain.merge_roster_entry(None, read(nama="Rina"), plan())
    assert err.value.field == "kode_opd"
    entry = domain.merge_roster_entry(None, read(nama="Rina", kode_opd="DINKES"), plan())
    assert (entry["status"], entry["tmt"], entry["jenis_asn"], entry["position"]) == ("aktif", "2010-01-01", "PNS", None)
    pppk = domain.merge_roster_entry(None, domain.read_roster_row({"nip": PPPK, "nama": "Dewi", "kode_opd": "RSUD"},
                                                                  TODAY), plan())
    assert (pppk["jenis_asn"], pppk["tmt"]) == ("PPPK", None)


def test_a_file_of_nip_and_status_changes_only_the_status_and_the_event_is_asn_left():
    before = stored()
    after = domain.merge_roster_entry(before, read(status="pensiun"), plan())
    assert domain.roster_changed_fields(before, after) == ["status"]
    assert domain.roster_event(before, after) == "asn_left"
    assert domain.roster_event(after, domain.merge_roster_entry(after, read(status="aktif"), plan())) == "asn_updated"
    assert domain.roster_event(before, domain.merge_roster_entry(before, read(nama="Rahmat Hidayat"), plan())) is None
    assert domain.roster_event(None, after) == "asn_registered"


def test_someone_a_full_import_missed_comes_back_aktif_when_a_file_names_them_again():
    missed = stored(status="tidak_tercantum")
    assert domain.merge_roster_entry(missed, read(nama="Rahmat Hidayat"), plan())["status"] == "aktif"
    retired = stored(status="pensiun")
    assert domain.merge_roster_entry(retired, read(nama="Rahmat Hidayat"), plan())["status"] == "pensiun"


def test_jenis_asn_must_fit_the_identifier_and_golongan_the_jenis():
    with pytest.raises(Invalid) as err:
        domain.merge_roster_entry(None, read(nama="Rina", kode_opd="DINKES", jenis_asn="PPPK"), plan())
    assert err.value.field == "jenis_asn" and "NIP PNS" in err.value.message
    with pytest.raises(Invalid) as err:
        domain.merge_roster_entry(None, read(nama="Rina", kode_opd="DINKES", golongan="IX"), plan())
    assert err.value.field == "golongan" and "bukan golongan PNS" in err.value.message


def test_a_full_import_of_one_agency_rejects_rows_of_another_and_fills_a_missing_agency():
    full = plan(mode=domain.FULL, agency="DISKOMINFO")
    with pytest.raises(Invalid) as err:
        domain.merge_roster_entry(None, read(nama="Rina", kode_opd="DINKES"), full)
    assert err.value.field == "kode_opd" and "bukan OPD DISKOMINFO" in err.value.message
    assert domain.merge_roster_entry(None, read(nama="Rina"), full)["agency"] == "DISKOMINFO"


def test_an_operator_writes_its_own_agency_and_takes_over_only_someone_who_left_another():
    own = plan(actor=OPERATOR)
    assert domain.merge_roster_entry(None, read(nama="Rina"), own)["agency"] == "DISKOMINFO"
    with pytest.raises(Forbidden) as err:
        domain.merge_roster_entry(None, read(nama="Rina", kode_opd="DINKES"), own)
    assert err.value.field == "kode_opd"
    with pytest.raises(Forbidden) as err:
        domain.merge_roster_entry(stored(agency="DINKES"), read(kode_opd="DISKOMINFO"), own)
    assert (err.value.field, err.value.message) == ("nip", domain.ON_ANOTHER_ROSTER)
    moved_in = domain.merge_roster_entry(stored(agency="DINKES", status="pindah"),
                                         read(kode_opd="DISKOMINFO", status="aktif"), own)
    assert (moved_in["agency"], moved_in["status"]) == ("DISKOMINFO", "aktif")


# -- the import's parameters and a full import's confirmation ---------------------------------------

def test_import_parameters_and_who_may_use_them():
    assert domain.roster_import(ADMIN, None, None, None) == domain.RosterImport(ADMIN)
    assert domain.roster_import(ADMIN, "full", "dinkes", "true") == \
        domain.RosterImport(ADMIN, domain.FULL, "DINKES", True)
    assert domain.roster_import(OPERATOR, "penuh", "DISKOMINFO", "ya").agency == "DISKOMINFO"
    for args, error, field in [(("penuh", None, None), Invalid, "kode_opd"), (("sebagian", "DINKES", None), Invalid,
                               "kode_opd"), (("semua", None, None), Invalid, "mode"),
                               (("penuh", "DINKES", "boleh"), Invalid, "konfirmasi")]:
        with pytest.raises(error) as err:
            domain.roster_import(ADMIN, *args)
        assert err.value.field == field
    with pytest.raises(Forbidden):
        domain.roster_import(OPERATOR, "penuh", "DINKES", None)
    with pytest.raises(Forbidden):
        domain.roster_import(domain.Actor(role="asn", nip=NIP), None, None, None)


def test_a_full_import_marking_more_than_the_share_as_left_asks_for_confirmation():
    full = domain.RosterImport(ADMIN, domain.FULL, "DINKES")
    with pytest.raises(Conflict) as err:
        domain.check_full_import(full, active=10, missing=6, share=0.5)
    assert (err.value.details["would_mark_left"], err.value.details["active"]) == (6, 10)
    assert "6 dari 10 ASN aktif" in err.value.message and "konfirmasi=ya" in err.value.message
    domain.check_full_import(full, active=10, missing=5, share=0.5)  # half is not more than half
    domain.check_full_import(domain.RosterImport(ADMIN, domain.FULL, "DINKES", True), 10, 10, 0.5)
    domain.check_full_import(domain.RosterImport(ADMIN), 10, 10, 0.5)  # a partial import marks nobody
    domain.check_full_import(full, active=0, missing=0, share=0.5)


# -- contact, snapshot -------------------------------------------------------------------------------

def test_the_contact_digest_changes_with_either_value_and_depends_on_the_salt():
    digest = domain.contact_digest("garam", ("a@contoh.go.id", "+6281266001122"))
    assert digest == domain.contact_digest("garam", ("a@contoh.go.id", "+6281266001122"))
    assert digest != domain.contact_digest("garam", ("a@contoh.go.id", None))
    assert digest != domain.contact_digest("garam", (None, "+6281266001122"))
    assert digest != domain.contact_digest("lain", ("a@contoh.go.id", "+6281266001122"))
    assert "contoh" not in digest and len(digest) == 64


def test_the_snapshot_carries_the_public_fields_and_no_contact():
    snapshot = domain.roster_snapshot({**stored(), "contact_digest": "x", "contact_salt": "y", "has_email": True})
    assert set(snapshot) == {"nip", "id_kind", "name", "jenis_asn", "agency", "agency_name", "position", "golongan",
                             "supervisor_nip", "status", "tmt", "version"}


# -- the file reader -----------------------------------------------------------------------------------

@pytest.mark.parametrize("header, column", [("NIP BARU", "nip"), ("nip-baru", "nip"), (" Jenis_Pegawai_Nama ", "jenis_asn"),
                                            ("UNOR_ID", "kode_opd"), ("Unor Nama", "nama_opd"),
                                            ("GOL_AKHIR_NAMA", "golongan"), ("NIP Atasan Langsung", "nip_atasan"),
                                            ("KEDUDUKAN_HUKUM_NAMA", "status"), ("NOMOR_HP", "telepon"),
                                            ("TMT CPNS", "tmt"), ("E-mail", "email"), ("NIP_LAMA", None)])
def test_headers_of_operators_and_of_a_siasn_export(header, column):
    assert bulk_files.ROSTER_COLUMNS.get(bulk_files.roster_header_key(header)) == column


def test_a_csv_roster_keeps_blank_cells_apart_from_missing_columns_and_skips_a_title_row():
    text = "Daftar ASN Dinkes 2026\n\nNIP;Nama;Status\n198503122010011002;Rina;\n\n197801052003121004;Budi\n"
    rows = bulk_files.read_roster(io.BytesIO(text.encode()), False, 10)
    assert rows == [(4, {"nip": "198503122010011002", "nama": "Rina", "status": ""}),
                    (6, {"nip": "197801052003121004", "nama": "Budi", "status": ""})]


def test_a_roster_without_a_nip_column_or_over_the_cap_is_refused_whole():
    with pytest.raises(Invalid) as err:
        bulk_files.read_roster(io.BytesIO(b"nama,opd\nRina,DINKES\n"), False, 10)
    assert err.value.field == "file" and "nip" in err.value.message
    with pytest.raises(bulk_files.TooManyRows):
        bulk_files.read_roster(io.BytesIO(b"nip\n1\n2\n3\n"), False, 2)


def test_xlsx_cells_are_read_as_the_text_a_csv_would_carry():
    book = Workbook()
    book.active.append(["NIP", "TMT", "HP", "Aktif", "Nilai"])
    book.active.append(["198503122010011002", datetime(2010, 1, 1), 81266001122, True, 86.5])
    book.active.append([1.98503122010011e17, date(2011, 2, 3), None, None, None])
    out = io.BytesIO()
    book.save(out)
    out.seek(0)
    assert bulk_files.is_xlsx(out, None)
    rows = bulk_files.read_roster(out, True, 10)
    assert rows[0] == (2, {"nip": "198503122010011002", "tmt": "2010-01-01", "telepon": "81266001122"})
    assert rows[1][1]["nip"] == "1.98503122010011e+17" and rows[1][1]["tmt"] == "2011-02-03"
    assert cell_text(True) == "ya" and cell_text(86.5) == "86.5"


def test_an_old_xls_or_a_broken_workbook_is_refused_with_what_to_do():
    with pytest.raises(Invalid) as err:
        bulk_files.is_xlsx(io.BytesIO(b"\xd0\xcf\x11\xe0rest"), None)
    assert ".xls" in err.value.message and ".xlsx" in err.value.message
    broken = io.BytesIO(b"PK\x03\x04 not a zip at all")
    assert bulk_files.is_xlsx(broken, None)
    with pytest.raises(Invalid) as err:
        bulk_files.read_roster(broken, True, 10)
    assert "bukan XLSX" in err.value.message
    assert bulk_files.is_xlsx(io.BytesIO(b"nip\n"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def test_a_workbook_unpacking_to_more_than_the_cap_is_refused_as_a_zip_bomb(monkeypatch):
    book = Workbook()
    book.active.append(["NIP", "NAMA"])
    book.active.append(["198503122010011002", "Rina " * 200])
    out = io.BytesIO()
    book.save(out)
    monkeypatch.setattr(bulk_files, "XLSX_MAX_UNPACKED", 2000)
    with pytest.raises(Invalid) as err:
        bulk_files.read_roster(io.BytesIO(out.getvalue()), True, 10)
    assert err.value.field == "file" and "terlalu besar" in err.value.message
