"""The roster (daftar ASN) against the real broker and store: CSV and XLSX imports with a SIASN
export's headers, idempotent re-upload, the events and the private contact path, a full
import's confirmation, bad rows, the list and its filters, and enrolment from the roster."""
from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from datetime import date, datetime, timedelta

import pytest
from kombu import Connection, Exchange, Queue
from openpyxl import Workbook

from services.enrollment.service import EnrollmentService
from shared.events.envelope import parse
from tests.integration.enrollment.conftest import Running, bind_tap
from tests.integration.enrollment.factories import nip, programme
from tests.support import auth_headers, get_messages

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SIASN_HEADER = ("NIP BARU;NAMA;JENIS_PEGAWAI_NAMA;UNOR_NAMA;JABATAN_NAMA;GOL_AKHIR_NAMA;NIP_ATASAN_LANGSUNG;"
                "KEDUDUKAN_HUKUM_NAMA;EMAIL;NOMOR_HP;TMT_CPNS\n")
HEADER = "nip,nama,jenis_asn,kode_opd,jabatan,golongan,nip_atasan,status,email,telepon,tmt\n"


def printed(n: str) -> str:
    """A NIP as printed on an ID card: 19700101 199501 1 001."""
    return f"{n[:8]} {n[8:14]} {n[14]} {n[15:]}"


def pppk(i: int) -> str:
    return f"19930522202221{1 + i % 2}{i % 999 + 1:03d}"


def row(n: str, name: str, agency: str = "DISKOMINFO", **cells) -> str:
    values = {"nip": n, "nama": name, "jenis_asn": "", "kode_opd": agency, "jabatan": "Analis Kebijakan",
              "golongan": "III/b", "nip_atasan": "", "status": "aktif", "email": "", "telepon": "", "tmt": "",
              **cells}
    return ",".join(values[c] for c in HEADER.strip().split(",")) + "\n"


def upload(service: Running, body, params: dict | None = None, content_type: str = "text/csv", **kw):
    data = body.encode("utf-8") if isinstance(body, str) else body
    headers = {"Content-Type": content_type, **kw.pop("headers", {})}
    return service.post("/roster/import", data=data, params=params or {}, headers=headers, **kw)


def lines(response) -> tuple[list[dict], dict]:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    items = [json.loads(line) for line in response.text.splitlines()]
    return items[:-1], items[-1]["summary"]


def bind_private(amqp_uri: str) -> str:
    """A queue on enrollment.private, where the contact data goes (as notification's would be)."""
    name = f"test.private.{uuid.uuid4().hex[:8]}"
    with Connection(amqp_uri) as conn:
        Queue(name, Exchange("enrollment.private", "topic", durable=True), routing_key="#",
              durable=False, auto_delete=False)(conn.channel()).declare()
    return name


def private_events(service: Running, queue: str, expected: int, timeout: float = 20.0) -> list:
    messages = get_messages(service.settings.amqp_uri, queue, expected, timeout=timeout)
    assert len(messages) == expected, f"expected {expected} private events, got {len(messages)}"
    return [parse(m.body, m.properties.get("content_type")) for m in messages]


def entry(service: Running, n: str) -> dict:
    response = service.get(f"/roster/{n}")
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def configured(container_factory, settings, monkeypatch):
    """A service of its own started with the given environment (the configuration is read at start)."""
    from shared.store import connect

    clients = []

    def start(**env) -> Running:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        tap = bind_tap(settings.amqp_uri)
        container_factory(EnrollmentService, settings.nameko_config()).start()
        client = connect(settings)
        clients.append(client)
        return Running(f"http://{settings.http_address}", settings, client[settings.db_name], tap)

    yield start
    for client in clients:
        client.close()


# -- imports and events ---------------------------------------------------------------------------------

def test_a_siasn_export_registers_each_asn_without_contact_data_in_public_events_and_again_changes_nothing(
        enrollment):
    private = bind_private(enrollment.settings.amqp_uri)
    head, staff, cpns = nip(5001), nip(5002), nip(5003)
    text = SIASN_HEADER + "".join([
        f"{printed(head)};Dr. Rahmat Hidayat, M.Si.;PNS;Dinas Komunikasi dan Informatika;Kepala Dinas;"
        f"Pembina Utama Muda (IV/c);;Aktif;Rahmat.Hidayat@Bukittinggikota.go.id;0812-6600-1122;01-03-1995\n",
        f"{staff};Siti Aminah;PNS;Dinas Komunikasi dan Informatika;Pranata Komputer;III/b;{head};Aktif;"
        f"siti@bukittinggikota.go.id;+62 813 1234 5678;01/02/1995\n",
        f"{cpns};Yusuf Chaniago;CPNS;Dinas Komunikasi dan Informatika;Analis;II/c;{head};Aktif;;;\n",
    ])
    rows, summary = lines(upload(enrollment, text))

    assert [(r["row"], r["accepted"], r["outcome"]) for r in rows] == [(2, True, "created"), (3, True, "created"),
                                                                       (4, True, "created")], rows
    assert (summary["rows"], summary["created"], summary["rejected"]) == (3, 3, 0)
    events = {e.data["asn"]["nip"]: e for e in enrollment.events(3)}
    assert {e.name for e in events.values()} == {"asn_registered"}
    first = events[head].data["asn"]
    assert (first["name"], first["agency"], first["golongan"], first["jenis_asn"], first["status"], first["tmt"],
            first["version"]) == ("Dr. Rahmat Hidayat, M.Si.", "DISKOMINFO", "IV/c", "PNS", "aktif", "1995-03-01", 1)
    assert events[staff].data["asn"]["supervisor_nip"] == head and events[staff].data["asn"]["tmt"] == "1995-02-01"
    # no tmt given: a PNS's TMT is the appointment month in the NIP (digits 9-14)
    assert events[cpns].data["asn"]["tmt"] == f"{cpns[8:12]}-{cpns[12:14]}-01"
    assert events[cpns].data["asn"]["jenis_asn"] == "PNS"
    for event in events.values():
        body = json.dumps(event.data).lower()
        assert "bukittinggikota.go.id" not in body and "6600" not in body and "email" not in body

    contacts = {e.data["nip"]: e.data for e in private_events(enrollment, private, 2)}
    assert contacts[head]["email"] == "rahmat.hidayat@bukittinggikota.go.id"
    assert (contacts[head]["phone"], contacts[staff]["phone"]) == ("+6281266001122", "+6281312345678")
    assert contacts[head]["version"] == 1
    # the store keeps no contact, only a digest; GET says only whether one was given
    stored = enrollment.db.roster.find_one({"_id": head})
    assert "bukittinggikota" not in json.dumps(stored, default=str) and "6600" not in json.dumps(stored, default=str)
    shown = entry(enrollment, head)
    assert (shown["has_email"], shown["has_phone"]) == (True, True) and "email" not in shown

    rows_again, summary_again = lines(upload(enrollment, text))
    assert [r["outcome"] for r in rows_again] == ["unchanged"] * 3
    assert (summary_again["unchanged"], summary_again["created"], summary_again["updated"]) == (3, 0, 0)
    assert enrollment.raw_events(1, timeout=0.5) == []
    assert get_messages(enrollment.settings.amqp_uri, private, 1, timeout=0.5) == []


def _workbook(rows: list[list]) -> bytes:
    book = Workbook()
    sheet = book.active
    for values in rows:
        sheet.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _exact_number(xlsx: bytes, cell: str, digits: str) -> bytes:
    """The workbook with ``cell`` holding ``digits`` as an exact number literal, as some tools
    write it (openpyxl and Excel write 15-17 significant digits, losing an 18-digit NIP's end)."""
    source, out = zipfile.ZipFile(io.BytesIO(xlsx)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, count = re.subn(rf'(<c r="{cell}"[^>]*><v>)[^<]*(</v>)'.encode(),
                                      rb"\g<1>" + digits.encode() + rb"\g<2>", data)
                assert count == 1
            target.writestr(item, data)
    return out.getvalue()


def test_an_xlsx_workbook_is_read_from_its_first_sheet_and_a_nip_excel_kept_as_a_number_is_refused(enrollment):
    as_text, exact, rounded = nip(5011), nip(5012), nip(5013)
    body = _workbook([
        ["NIP_BARU", "NAMA", "JENIS_PEGAWAI_NAMA", "KODE_OPD", "JABATAN_NAMA", "GOLONGAN_NAMA", "NOMOR_HP", "TMT_CPNS"],
        [as_text, "Andi Saputra", "PNS", "DINKES", "Epidemiolog", "III/a", 81266001122, datetime(2001, 4, 1)],
        [int(exact), "Nur Aisyah", "PNS", "DINKES", "Bidan", "III/c", "081312345678", "2003-01-01"],
        [float(rounded), "Budi Santoso", "PNS", "DINKES", "Perawat", "II/d", None, None],
        [None, None, None, None, None, None, None, None],
        [pppk(1), "Dewi Lestari", "PPPK", "DINKES", "Perawat", "IX", None, None],
    ])
    body = _exact_number(body, "A3", exact)
    rows, summary = lines(upload(enrollment, body, content_type=XLSX))

    by_row = {r["row"]: r for r in rows}
    assert sorted(by_row) == [2, 3, 4, 6]  # sheet rows; the blank row 5 is skipped
    assert (by_row[2]["accepted"], by_row[3]["accepted"], by_row[6]["accepted"]) == (True, True, True)
    assert (by_row[4]["accepted"], by_row[4]["field"]) == (False, "nip")
    assert "sebagai angka" in by_row[4]["reason"] and "Teks" in by_row[4]["reason"]
    assert summary["created"] == 3 and summary["rejected"] == 1
    assert entry(enrollment, as_text)["tmt"] == "2001-04-01" and entry(enrollment, as_text)["has_phone"] is True
    assert (entry(enrollment, exact)["name"], entry(enrollment, pppk(1))["jenis_asn"]) == ("Nur Aisyah", "PPPK")
    assert enrollment.get(f"/roster/{rounded}").status_code == 404
    enrollment.events(3)

    # the same workbook as a form's file part of unknown type: told apart by its zip magic
    again = enrollment.post("/roster/import", files={"file": ("daftar.xlsx", body, "application/octet-stream")})
    rows_again, summary_again = lines(again)
    assert summary_again["unchanged"] == 3 and summary_again["rejected"] == 1


def test_each_change_is_one_event_with_the_version_and_a_contact_change_is_private_only(enrollment):
    private = bind_private(enrollment.settings.amqp_uri)
    person = nip(5021)
    lines(upload(enrollment, HEADER + row(person, "Fitri Handayani", "DINSOS", email="fitri@contoh.go.id")))
    [registered] = enrollment.events(1)
    assert registered.name == "asn_registered" and registered.data["asn"]["version"] == 1
    private_events(enrollment, private, 1)

    rows, _ = lines(upload(enrollment, HEADER + row(person, "Fitri Handayani", "DINSOS", golongan="III/c",
                                                   email="fitri@contoh.go.id")))
    assert (rows[0]["outcome"], rows[0]["changed"]) == ("updated", ["golongan"])
    [updated] = enrollment.events(1)
    assert (updated.name, updated.data["changed"], updated.data["asn"]["version"]) == ("asn_updated", ["golongan"], 2)

    # a file of NIP and status only: the other fields stay; an aktif ASN leaving is asn_left
    rows, _ = lines(upload(enrollment, f"nip,status\n{person},Pensiun\n"))
    assert rows[0]["status"] == "pensiun"
    [left] = enrollment.events(1)
    assert (left.name, left.data["reason"], left.data["asn"]["version"], left.data["asn"]["golongan"]) == \
        ("asn_left", "pensiun", 3, "III/c")

    # coming back to aktif is an update naming the status
    lines(upload(enrollment, f"nip,status\n{person},aktif\n"))
    [back] = enrollment.events(1)
    assert (back.name, back.data["changed"], back.data["asn"]["version"]) == ("asn_updated", ["status"], 4)

    # only the telephone changes: the private event with its own version, no public one
    rows, _ = lines(upload(enrollment, HEADER + row(person, "Fitri Handayani", "DINSOS", golongan="III/c",
                                                   email="fitri@contoh.go.id", telepon="0812 7000 1000")))
    assert (rows[0]["outcome"], rows[0]["changed"]) == ("updated", ["kontak"])
    [contact] = private_events(enrollment, private, 1)
    assert (contact.data["email"], contact.data["phone"], contact.data["version"]) == \
        ("fitri@contoh.go.id", "+6281270001000", 2)
    assert enrollment.raw_events(1, timeout=0.5) == []
    assert entry(enrollment, person)["version"] == 4


def test_bad_rows_get_a_row_a_column_and_a_reason_in_bahasa_indonesia_and_the_good_rows_are_all_kept(enrollment):
    good = [nip(5031 + i) for i in range(5)]
    bad = [nip(5041 + i) for i in range(12)]
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    text = HEADER + "".join([
        row(good[0], "Rina Marlina", "DISHUB"),
        row("19850312201001100", "NIP Pendek", "DISHUB"),                                 # 3: 17 digits
        row(bad[0], "=HYPERLINK(\"\"http://x\"\")", "DISHUB"),                              # 4: formula
        row(bad[1], "Tanpa OPD", "DINAS-ANTAH"),                                           # 5
        row(bad[2], "Salah Jenis", "DISHUB", jenis_asn="PPPK"),                            # 6: a NIP, not NI PPPK
        row(bad[3], "Salah Golongan", "DISHUB", golongan="III/e"),                         # 7
        row(bad[4], "Atasan Sendiri", "DISHUB", nip_atasan=bad[4]),                        # 8
        row(bad[5], "Surel Salah", "DISHUB", email="bukan-surel"),                          # 9
        row(good[1], "Andi Saputra", "DISHUB", telepon="0812-6600-1122"),
        row(bad[6], "Telepon Salah", "DISHUB", telepon="12345"),                           # 11
        row(bad[7], "TMT Depan", "DISHUB", tmt=tomorrow),                                  # 12
        row(bad[8], "Status Aneh", "DISHUB", status="cuti panjang"),                       # 13
        row(good[2], "Nur Aisyah", "DISHUB", golongan="Penata Muda (III/a)"),
        row(good[0], "Rina Lagi", "DISHUB"),                                               # 15: twice
        row(bad[9], "", "DISHUB"),                                                         # 16: new without a name
        row(bad[10], "TMT Salah", "DISHUB", tmt="31-02-2020"),                             # 17
        row(good[3], "Budi Santoso", "DISHUB", tmt="15-07-2019", nip_atasan=printed(good[0])),
        row(bad[11], "Golongan PPPK", "DISHUB", golongan="XVIII"),                         # 19
        row(good[4], "Dewi Lestari", "DISHUB", status="Meninggal Dunia"),
    ])
    rows, summary = lines(upload(enrollment, text))

    rejected = {r["row"]: (r["field"], r["reason"]) for r in rows if not r["accepted"]}
    assert {line: field for line, (field, _) in rejected.items()} == {
        3: "nip", 4: "nama", 5: "kode_opd", 6: "jenis_asn", 7: "golongan", 8: "nip_atasan", 9: "email",
        11: "telepon", 12: "tmt", 13: "status", 15: "nip", 16: "nama", 17: "tmt", 19: "golongan"}
    reasons = {line: reason for line, (_, reason) in rejected.items()}
    assert "harus 18 angka, bukan 17" in reasons[3]
    assert "rumus" in reasons[4]
    assert "bukan OPD Kota Bukittinggi" in reasons[5]
    assert "tidak cocok" in reasons[6] and "tidak ada" in reasons[7]
    assert "atasan langsung adalah orang lain" in reasons[8]
    assert "bukan alamat surel" in reasons[9] and "bukan nomor telepon" in reasons[11]
    assert "masa depan" in reasons[12] and "bukan tanggal yang sah" in reasons[17]
    assert "tidak dikenal" in reasons[13] and "sudah ada di baris 2" in reasons[15]
    assert "wajib" in reasons[16]
    assert (summary["rows"], summary["accepted"], summary["rejected"], summary["created"]) == (19, 5, 14, 5)
    for person in good:
        assert enrollment.get(f"/roster/{person}").status_code == 200
    for person in bad:
        assert enrollment.get(f"/roster/{person}").status_code == 404
    assert entry(enrollment, good[0])["name"] == "Rina Marlina"  # the first row decides
    assert entry(enrollment, good[2])["golongan"] == "III/a"
    assert entry(enrollment, good[3])["supervisor_nip"] == good[0]
    assert entry(enrollment, good[4])["status"] == "meninggal"
    assert sorted(e.name for e in enrollment.events(5)) == ["asn_registered"] * 5


def test_results_can_be_had_as_csv(enrollment):
    text = HEADER + row(nip(5061), "Yusuf Piliang", "DPUPR") + row("123", "Salah", "DPUPR")
    response = upload(enrollment, text, params={"format": "csv"})
    assert response.headers["Content-Type"].startswith("text/csv")
    table = response.text.splitlines()
    assert table[0].startswith("row,nip,accepted,outcome")
    assert table[1].startswith(f"2,{nip(5061)},true,created") and ",false," in table[2]
    assert table[-1].startswith("summary,")


# -- a full import of one agency -------------------------------------------------------------------------

def test_a_full_import_leaving_out_more_than_half_of_an_agency_asks_for_confirmation_and_writes_nothing(
        isolated_enrollment):
    service = isolated_enrollment
    staff = [nip(5101 + i) for i in range(6)]
    lines(upload(service, HEADER + "".join(row(n, f"Pegawai {i}", "BAPPELITBANGDA") for i, n in enumerate(staff))))
    service.events(6)
    kept = HEADER + row(staff[0], "Pegawai Nol Berganti", "BAPPELITBANGDA") + row(staff[1], "Pegawai 1",
                                                                                  "BAPPELITBANGDA") \
        + row(nip(5120), "Pegawai Dinkes", "DINKES")
    params = {"mode": "penuh", "kode_opd": "BAPPELITBANGDA"}

    refused = upload(service, kept, params=params)
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert (body["would_mark_left"], body["active"], body["kode_opd"], body["field"]) == \
        (4, 6, "BAPPELITBANGDA", "konfirmasi")
    assert "4 dari 6 ASN aktif" in body["message"] and "konfirmasi=ya" in body["message"]
    assert service.db.roster.count_documents({"agency": "BAPPELITBANGDA", "status": "aktif"}) == 6
    assert entry(service, staff[0])["name"] == "Pegawai 0"  # the file's change was not written either
    assert service.raw_events(1, timeout=0.5) == []

    rows, summary = lines(upload(service, kept, params={**params, "konfirmasi": "ya"}))
    file_rows = [r for r in rows if "row" in r]
    left = [r for r in rows if "row" not in r]
    assert [(r["accepted"], r.get("outcome")) for r in file_rows] == [(True, "updated"), (True, "unchanged"),
                                                                      (False, None)]
    assert file_rows[2]["field"] == "kode_opd" and "bukan OPD BAPPELITBANGDA" in file_rows[2]["reason"]
    assert sorted(r["nip"] for r in left) == sorted(staff[2:])
    assert {(r["outcome"], r["status"]) for r in left} == {("left", "tidak_tercantum")}
    assert (summary["rows"], summary["left"], summary["updated"], summary["rejected"]) == (3, 4, 1, 1)
    events = service.events(5)
    assert sorted(e.name for e in events) == ["asn_left"] * 4 + ["asn_updated"]
    assert {e.data["reason"] for e in events if e.name == "asn_left"} == {"tidak_tercantum"}
    assert entry(service, staff[3])["status"] == "tidak_tercantum"
    assert service.get("/roster", params={"agency": "BAPPELITBANGDA", "status": "aktif"}).json()["total"] == 2

    # the same again: nothing more to mark; someone missed comes back aktif with the next file
    _, summary = lines(upload(service, kept, params={**params, "konfirmasi": "ya"}))
    assert (summary["left"], summary["unchanged"]) == (0, 2)
    rows, summary = lines(upload(service, kept + row(staff[3], "Pegawai 3", "BAPPELITBANGDA"), params=params))
    assert summary["updated"] == 1 and summary["left"] == 0
    [back] = [e for e in service.events(1)]
    assert (back.name, back.data["asn"]["status"], back.data["changed"]) == ("asn_updated", "aktif", ["status"])


def test_a_full_import_leaving_out_at_most_the_share_goes_ahead_without_confirmation(configured):
    service = configured(ENROLLMENT_ROSTER_CONFIRM_LEFT_SHARE="0.25")
    staff = [nip(5201 + i) for i in range(8)]
    lines(upload(service, HEADER + "".join(row(n, f"Staf {i}", "KESBANGPOL") for i, n in enumerate(staff))))
    params = {"mode": "full", "kode_opd": "kesbangpol"}
    three_missing = HEADER + "".join(row(n, f"Staf {i}", "KESBANGPOL") for i, n in enumerate(staff[:5]))
    refused = upload(service, three_missing, params=params)
    assert refused.status_code == 409 and refused.json()["would_mark_left"] == 3  # 3 > 0.25 * 8
    two_missing = HEADER + "".join(row(n, f"Staf {i}", "KESBANGPOL") for i, n in enumerate(staff[:6]))
    _, summary = lines(upload(service, two_missing, params=params))  # 2 = 0.25 * 8: no confirmation needed
    assert (summary["left"], summary["unchanged"]) == (2, 6)


@pytest.mark.parametrize("params, field", [
    ({"mode": "penuh"}, "kode_opd"),
    ({"mode": "penuh", "kode_opd": "DINAS-ANTAH"}, "kode_opd"),
    ({"mode": "semua"}, "mode"),
    ({"kode_opd": "DINKES"}, "kode_opd"),
    ({"mode": "penuh", "kode_opd": "DINKES", "konfirmasi": "mungkin"}, "konfirmasi"),
])
def test_bad_import_parameters_are_refused_naming_them(enrollment, params, field):
    response = upload(enrollment, HEADER + row(nip(5300), "Siapa Saja", "DINKES"), params=params)
    assert response.status_code == 422 and response.json()["field"] == field, response.text
    assert enrollment.get(f"/roster/{nip(5300)}").status_code == 404


# -- huge and garbage bodies ----------------------------------------------------------------------------

def test_garbage_and_unreadable_files_are_refused_whole_with_a_reason(enrollment):
    cases = {
        b"\x00\xff\xfe garbage \x80\x81" * 50: "UTF-8",
        b"PK\x03\x04" + b"\x00not really a zip" * 20: "XLSX",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100: ".xls",
        "nama,opd\nTanpa NIP,DINKES\n".encode(): "nip",
        b"": "kosong",
    }
    for body, words in cases.items():
        response = upload(enrollment, body)
        assert response.status_code == 422, (body[:20], response.text)
        assert response.json()["field"] == "file" and words in response.json()["message"], response.text
    assert enrollment.db.roster.count_documents({"name": "Tanpa NIP"}) == 0


def test_a_file_over_the_size_or_row_cap_is_refused_before_anything_is_written(configured):
    service = configured(ENROLLMENT_BULK_MAX_BYTES="2000", ENROLLMENT_BULK_MAX_ROWS="3")
    big = upload(service, HEADER + row(nip(5400), "A" * 3000, "DINKES"))
    assert big.status_code == 413, big.text
    many = upload(service, HEADER + "".join(row(nip(5401 + i), f"Pegawai {i}", "DINKES") for i in range(4)))
    assert many.status_code == 413 and many.json()["max_rows"] == 3, many.text
    assert "paling banyak 3 baris" in many.json()["message"]
    assert service.db.roster.count_documents({}) == 0


# -- the list -----------------------------------------------------------------------------------------

def test_the_roster_lists_by_agency_status_jenis_name_and_never_enrolled_a_page_at_a_time(isolated_enrollment):
    service = isolated_enrollment
    head = nip(5501)
    staff = [nip(5502 + i) for i in range(6)]
    text = HEADER + row(head, "Hendra Gunawan", "DISPERINDAG", golongan="IV/b") + "".join(
        row(n, name, "DISPERINDAG", nip_atasan=head) for n, name in zip(staff, [
            "Ahmad Syafii", "ahmad Zulkifli", "Rina Marlina", "Siti Aminah", "Yusuf Chaniago", "Zainal Abidin"])) \
        + row(pppk(7), "Dewi Pppk", "DISPERINDAG", golongan="VII") \
        + row(nip(5520), "Orang Dinkes", "DINKES") + row(nip(5521), "Sudah Pensiun", "DISPERINDAG", status="pensiun")
    lines(upload(service, text))
    service.create_published(programme("ROS-LIST-01", capacity=50))
    for person in staff[:2]:
        assert service.post("/programmes/ROS-LIST-01/enrolments", {"nip": person}).status_code == 201
    enrolment = service.post("/programmes/ROS-LIST-01/enrolments", {"nip": staff[2]}).json()
    assert service.post(f"/enrolments/{enrolment['id']}/cancel", {}).status_code == 200  # enrolled once still counts

    def listed(**params) -> list[str]:
        page = service.get("/roster", params=params)
        assert page.status_code == 200, page.text
        return [e["nip"] for e in page.json()["items"]]

    everyone = sorted([head, *staff, pppk(7), nip(5521)])
    assert listed(agency="disperindag", limit=100) == everyone
    assert listed(kode_opd="DISPERINDAG", status="aktif", limit=100) == sorted([head, *staff, pppk(7)])
    assert listed(agency="DISPERINDAG", status="pensiun") == [nip(5521)]
    assert listed(agency="DISPERINDAG", jenis_asn="PPPK") == [pppk(7)]
    assert listed(agency="DISPERINDAG", never_enrolled="ya", status="aktif", limit=100) == \
        sorted([head, *staff[3:], pppk(7)])
    assert sorted(listed(q="AHMAD")) == sorted(staff[:2])
    assert listed(q=printed(staff[3])) == [staff[3]]
    assert listed(q=staff[4][:14]) == [staff[4]]  # the beginning of a NIP (birth date and appointment month)

    pages, cursor = [], None
    while True:
        page = service.get("/roster", params={"agency": "DISPERINDAG", "limit": 3,
                                              **({"cursor": cursor} if cursor else {})}).json()
        pages.append([e["nip"] for e in page["items"]])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [len(p) for p in pages] == [3, 3, 3] and sum(pages, []) == everyone

    shown = entry(service, staff[0])
    assert shown["supervisor"] == {"nip": head, "name": "Hendra Gunawan"}
    assert (shown["enrolments"], shown["never_enrolled"]) == (1, False)
    assert (entry(service, staff[2])["enrolments"], entry(service, staff[2])["never_enrolled"]) == (1, False)
    assert (entry(service, head)["supervisor"], entry(service, head)["never_enrolled"]) == (None, True)
    assert service.get("/roster", params={"status": "cuti"}).status_code == 422


# -- enrolment takes the ASN from the roster ---------------------------------------------------------

def test_enrolment_takes_name_agency_jabatan_and_golongan_from_the_roster(enrollment):
    person = nip(5601)
    lines(upload(enrollment, HEADER + row(person, "Rahmat Hidayat", "DISKOMINFO", jabatan="Pranata Komputer",
                                          golongan="III/c")))
    enrollment.create_published(programme("ROS-ENR-01"))
    enrollment.events(2)
    operator = auth_headers("operator", agency="DISKOMINFO")

    response = enrollment.post("/programmes/ROS-ENR-01/enrolments",
                               {"nip": printed(person), "name": "Nama Lain", "position": "Jabatan Lain"},
                               headers=operator)
    assert response.status_code == 201, response.text
    participant = response.json()["participant"]
    assert (participant["name"], participant["agency"], participant["position"], participant["golongan"],
            participant["jenis_asn"], participant["listed"]) == \
        ("Rahmat Hidayat", "DISKOMINFO", "Pranata Komputer", "III/c", "PNS", True)
    [enrolled] = enrollment.events(1)
    assert enrolled.data["participant"]["golongan"] == "III/c" and enrolled.data["participant"]["listed"] is True

    # an operator of another agency, or naming another agency, cannot; an admin naming another is 409
    other = enrollment.post("/programmes/ROS-ENR-01/enrolments", {"nip": person},
                            headers=auth_headers("operator", agency="DINKES"))
    assert other.status_code == 403 and other.json()["field"] == "nip"
    moved = enrollment.post("/programmes/ROS-ENR-01/enrolments", {"nip": person, "agency": "DINKES"})
    assert moved.status_code == 409 and moved.json()["field"] == "agency"

    # an ASN who left the roster is no longer the operator's to enrol
    lines(upload(enrollment, f"nip,status\n{person},pindah\n"))
    enrollment.events(1)
    enrollment.create_published(programme("ROS-ENR-02"))
    gone = enrollment.post("/programmes/ROS-ENR-02/enrolments", {"nip": person}, headers=operator)
    assert gone.status_code == 403, gone.text


def test_an_unlisted_asn_is_enrolled_by_an_admin_as_unlisted_and_never_by_an_operator(enrollment):
    enrollment.create_published(programme("ROS-UNL-01"))
    stranger = {"nip": nip(5701), "name": "Pegawai Kantor Imigrasi", "agency": "SETDA"}
    operator = enrollment.post("/programmes/ROS-UNL-01/enrolments", stranger,
                               headers=auth_headers("operator", agency="SETDA"))
    assert operator.status_code == 403 and operator.json()["field"] == "nip"
    admin = enrollment.post("/programmes/ROS-UNL-01/enrolments", stranger)
    assert admin.status_code == 201, admin.text
    participant = admin.json()["participant"]
    assert (participant["listed"], participant["agency"], participant["golongan"]) == (False, "SETDA", None)
    # a bulk row of an operator for an unlisted ASN is rejected, the rostered one goes in
    rostered = nip(5702)
    lines(upload(enrollment, HEADER + row(rostered, "Sudah Terdaftar", "SETDA")))
    response = enrollment.post("/programmes/ROS-UNL-01/enrolments/bulk",
                               data=f"nip\n{rostered}\n{nip(5703)}\n".encode(),
                               headers={**auth_headers("operator", agency="SETDA"), "Content-Type": "text/csv"})
    results = [json.loads(line) for line in response.text.splitlines()][:-1]
    assert [(r["accepted"], r.get("field")) for r in results] == [(True, None), (False, "nip")]


def test_with_unlisted_refused_only_rostered_asn_are_enrolled(configured):
    service = configured(ENROLLMENT_UNLISTED="tolak")
    rostered = nip(5801)
    lines(upload(service, HEADER + row(rostered, "Ada Di Daftar", "DISDUKCAPIL")))
    service.create_published(programme("ROS-TOLAK-01"))
    refused = service.post("/programmes/ROS-TOLAK-01/enrolments",
                           {"nip": nip(5802), "name": "Di Luar Daftar", "agency": "DISDUKCAPIL"})
    assert refused.status_code == 422 and refused.json()["field"] == "nip", refused.text
    assert "ENROLLMENT_UNLISTED=tolak" in refused.json()["message"]
    assert service.post("/programmes/ROS-TOLAK-01/enrolments", {"nip": rostered}).status_code == 201
    response = service.post("/programmes/ROS-TOLAK-01/enrolments/bulk",
                            data=f"nip,nama,opd\n{nip(5803)},Lain Lagi,DISDUKCAPIL\n".encode(),
                            headers={"Content-Type": "text/csv"})
    [result] = [json.loads(line) for line in response.text.splitlines()][:-1]
    assert (result["accepted"], result["field"]) == (False, "nip")


def test_a_bad_unlisted_setting_stops_the_service_naming_its_variable(monkeypatch):
    from services.enrollment import config
    from shared.config import load as load_settings

    monkeypatch.setenv("ENROLLMENT_UNLISTED", "mungkin")
    with pytest.raises(ValueError, match="ENROLLMENT_UNLISTED"):
        config.load(load_settings("enrollment"))
    monkeypatch.setenv("ENROLLMENT_UNLISTED", "refuse")
    assert config.load(load_settings("enrollment")).unlisted == "refuse"


def test_two_uploads_of_one_file_at_once_register_each_asn_once(enrollment):
    from concurrent.futures import ThreadPoolExecutor

    staff = [nip(5901 + i) for i in range(40)]
    text = HEADER + "".join(row(n, f"Pegawai Serentak {i}", "DISPORA") for i, n in enumerate(staff))
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: lines(upload(enrollment, text)), range(2)))
    created = sum(summary["created"] for _, summary in answers)
    unchanged = sum(summary["unchanged"] for _, summary in answers)
    assert (created, unchanged) == (40, 40), [summary for _, summary in answers]
    events = enrollment.events(40)
    assert sorted(e.data["asn"]["nip"] for e in events) == sorted(staff)
    assert {e.name for e in events} == {"asn_registered"}
    assert enrollment.raw_events(1, timeout=0.5) == []
