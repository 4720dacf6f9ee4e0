"""Bulk CSV enrolment and completion: per-row results, bad rows, idempotent re-upload."""
from __future__ import annotations

import csv
import io
import json

from tests.integration.enrollment.factories import nip, programme, upcoming

HEADER = "nip,nama,opd,jabatan\n"


def lines(response) -> tuple[list[dict], dict]:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("application/x-ndjson")
    items = [json.loads(line) for line in response.text.splitlines()]
    return items[:-1], items[-1]["summary"]


def upload(enrollment, path, text: str, **kw):
    return enrollment.post(path, data=text.encode("utf-8"), headers={"Content-Type": "text/csv"}, **kw)


def test_a_csv_with_bad_rows_enrols_the_good_ones_and_says_why_each_bad_one_failed(enrollment):
    enrollment.create_published(programme("BLK-01", capacity=3))
    enrollment.events(1)
    text = HEADER + "".join([
        f"{nip(1)},Rahmat Hidayat,DISKOMINFO,Pranata Komputer\n",
        "19850312201001100,Pendek,DINKES,\n",                       # 17 digits
        f"{nip(2)},Siti Aminah,dinkes,Bidan\n",                     # agency case is forgiven
        f"{nip(3)},Tanpa OPD,DINAS-ANTAH,\n",                       # unknown agency
        "198503122010131002,Bulan Salah,DINKES,\n",                 # appointment month 13
        "\n",                                                       # blank line: skipped
        f"{nip(1)},Rahmat Hidayat,DISKOMINFO,Pranata Komputer\n",   # the same ASN twice
        f"{nip(4)},Budi Santoso,BPBD,\n",
        f"{nip(5)},Dewi Lestari,RSUD,Perawat\n",                    # the 4th seat: waitlisted
        "199305222022212012,Pegawai PPPK,DISDIKBUD,Guru\n",
    ])
    rows, summary = lines(upload(enrollment, "/programmes/BLK-01/enrolments/bulk", text))

    by_row = {r["row"]: r for r in rows}
    assert [r["row"] for r in rows] == [2, 3, 4, 5, 6, 8, 9, 10, 11]
    assert (by_row[3]["accepted"], by_row[3]["field"]) == (False, "nip") and "18 digits" in by_row[3]["reason"]
    assert (by_row[5]["field"], by_row[6]["field"]) == ("agency", "nip")
    assert "not a month" in by_row[6]["reason"]
    assert by_row[8]["outcome"] == "unchanged" and by_row[8]["enrolment_id"] == by_row[2]["enrolment_id"]
    assert [by_row[n]["enrolment_status"] for n in (2, 4, 9, 10, 11)] == \
        ["enrolled", "enrolled", "enrolled", "waitlisted", "waitlisted"]
    assert (by_row[10]["waitlist_position"], by_row[11]["waitlist_position"]) == (1, 2)
    assert summary["rows"] == 9 and summary["accepted"] == 6 and summary["rejected"] == 3
    assert summary["created"] == 5 and summary["unchanged"] == 1
    events = enrollment.events(5)
    assert sorted(e.name for e in events) == ["enrolled"] * 3 + ["waitlisted"] * 2
    pppk = next(e for e in events if e.data["participant"]["nip"] == "199305222022212012")
    assert pppk.data["participant"]["id_kind"] == "ni_pppk"

    # the same file again changes nothing and emits nothing
    rows_again, summary_again = lines(upload(enrollment, "/programmes/BLK-01/enrolments/bulk", text))
    assert summary_again.get("created", 0) == 0
    assert summary_again["unchanged"] == 6 and summary_again["rejected"] == 3
    assert enrollment.raw_events(1, timeout=0.5) == []
    assert enrollment.get("/enrolments", params={"programme": "BLK-01"}).json()["total"] == 5


def test_a_semicolon_separated_excel_file_with_a_bom_is_read(enrollment):
    enrollment.create_published(programme("BLK-02"))
    text = "\ufeffNIP;Nama;OPD\n" + f"{nip(7)};Yusuf Chaniago;DISHUB\n"
    rows, summary = lines(upload(enrollment, "/programmes/BLK-02/enrolments/bulk", text))
    assert rows[0]["accepted"] is True and summary["created"] == 1


def test_results_can_be_had_as_csv_for_a_spreadsheet(enrollment):
    enrollment.create_published(programme("BLK-03"))
    text = HEADER + f"{nip(8)},Rina Marlina,DINSOS,\n123,Salah,DINSOS,\n"
    response = upload(enrollment, "/programmes/BLK-03/enrolments/bulk?format=csv", text)
    assert response.headers["Content-Type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert (table[0]["accepted"], table[0]["enrolment_status"]) == ("true", "enrolled")
    assert (table[1]["accepted"], table[1]["field"]) == ("false", "nip")
    assert table[-1]["row"] == "summary"


def test_a_file_without_a_nip_column_or_for_a_closed_programme_is_refused_whole(enrollment):
    enrollment.create_published(programme("BLK-04"))
    no_nip = upload(enrollment, "/programmes/BLK-04/enrolments/bulk", "nama,opd\nA,DINKES\n")
    assert no_nip.status_code == 422 and no_nip.json()["field"] == "file" and "nip" in no_nip.json()["message"]
    empty = upload(enrollment, "/programmes/BLK-04/enrolments/bulk", "")
    assert empty.status_code == 422 and "empty" in empty.json()["message"]
    latin1 = enrollment.post("/programmes/BLK-04/enrolments/bulk", data="nip,nama\n1,Andr\xe9\n".encode("latin-1"),
                             headers={"Content-Type": "text/csv"})
    assert latin1.status_code == 422 and "UTF-8" in latin1.json()["message"]
    enrollment.post("/programmes", programme("BLK-05"))
    draft = upload(enrollment, "/programmes/BLK-05/enrolments/bulk", HEADER + f"{nip(1)},A,DINKES,\n")
    assert draft.status_code == 409


def test_a_completion_csv_records_each_result_and_rejects_rows_it_cannot_apply(enrollment):
    enrollment.create_published(programme("BLK-06", capacity=4, jp=24, passing_score=70))
    enrol = HEADER + "".join(f"{nip(i)},Peserta {i},DISKOMINFO,\n" for i in range(5))
    lines(upload(enrollment, "/programmes/BLK-06/enrolments/bulk", enrol))
    enrollment.events(6)
    early, summary = lines(upload(enrollment, "/programmes/BLK-06/completions/bulk", f"nip,nilai\n{nip(0)},90\n"))
    assert (early[0]["accepted"], early[0]["field"]) == (False, "programme") and summary["rejected"] == 1
    assert "setelah program berakhir" in early[0]["reason"]  # not ended yet: nothing recorded
    enrollment.after_end(programme("BLK-06"))
    text = "nip,nilai,hadir\n" + "".join([
        f"{nip(0)},\"86,5\",ya\n",        # decimal comma
        f"{nip(1)},55,\n",                # failed
        f"{nip(2)},,tidak\n",             # no-show
        f"{nip(3)},seratus,\n",           # not a number
        f"{nip(4)},90,\n",                # waitlisted: cannot complete
        f"{nip(99)},90,\n",               # not enrolled here
        f"{nip(3)},,\n",                  # nothing to record
    ])
    rows, summary = lines(upload(enrollment, "/programmes/BLK-06/completions/bulk", text))

    assert [(r["accepted"], r.get("result"), r.get("jp_earned")) for r in rows[:3]] == \
        [(True, "passed", 24), (True, "failed", 0), (True, "no_show", 0)]
    assert rows[3]["field"] == "score" and "not a number" in rows[3]["reason"]
    assert "waitlisted" in rows[4]["reason"]
    assert rows[5]["reason"] == "not enrolled in BLK-06"
    assert rows[6]["accepted"] is False
    assert (summary["completed"], summary["rejected"]) == (3, 4)
    completed = {e.data["participant"]["nip"]: e.data for e in enrollment.events(3)}
    assert completed[nip(0)]["score"] == 86.5 and completed[nip(0)]["jp_earned"] == 24

    rows_again, summary_again = lines(upload(enrollment, "/programmes/BLK-06/completions/bulk", text))
    assert summary_again.get("completed", 0) == 0 and summary_again["unchanged"] == 3
    assert enrollment.raw_events(1, timeout=0.5) == []


def test_a_csv_sent_as_a_form_file_is_read_like_a_raw_body(enrollment):
    enrollment.create_published(programme("BLK-07"))
    text = HEADER + f"{nip(11)},Fitri Handayani,KESBANGPOL,Analis\n"
    response = enrollment.post("/programmes/BLK-07/enrolments/bulk",
                               files={"file": ("peserta.csv", text.encode(), "text/csv")})
    rows, summary = lines(response)
    assert rows[0]["enrolment_status"] == "enrolled" and summary["created"] == 1


def test_uploading_the_same_file_again_leaves_an_asn_who_cancelled_meanwhile_cancelled(enrollment):
    enrollment.create_published(upcoming("BLK-08", capacity=2))  # not started: the waitlist moves by itself
    enrollment.events(1)
    text = HEADER + "".join(f"{nip(20 + i)},Peserta {i},DISKOMINFO,\n" for i in range(3))
    rows, _ = lines(upload(enrollment, "/programmes/BLK-08/enrolments/bulk", text))
    enrollment.events(3)
    cancelled = enrollment.post(f"/enrolments/{rows[0]['enrolment_id']}/cancel", {"cancelled_by": "participant"})
    assert cancelled.json()["status"] == "cancelled"
    assert [e.name for e in enrollment.events(2)] == ["cancelled", "enrolled"]  # the waitlisted one moves up

    rows_again, summary_again = lines(upload(enrollment, "/programmes/BLK-08/enrolments/bulk", text))

    first = rows_again[0]
    assert (first["outcome"], first["note"], first["enrolment_status"]) == \
        ("unchanged", "cancelled_earlier", "cancelled")
    assert first["enrolment_id"] == rows[0]["enrolment_id"]
    assert summary_again["unchanged"] == 3 and summary_again["cancelled_earlier"] == 1
    assert summary_again.get("reactivated", 0) == 0
    assert enrollment.raw_events(1, timeout=0.5) == []  # no new `enrolled` or `waitlisted`
    assert enrollment.get(f"/enrolments/{first['enrolment_id']}").json()["status"] == "cancelled"
    assert [r["enrolment_status"] for r in rows_again[1:]] == ["enrolled", "enrolled"]


def test_a_reenrol_ya_column_enrols_a_cancelled_asn_again_at_the_end_of_the_queue(enrollment):
    enrollment.create_published(upcoming("BLK-09", capacity=1))
    enrollment.events(1)
    text = HEADER + f"{nip(30)},Andi Saputra,DINKES,\n{nip(31)},Nur Aisyah,DINKES,\n"
    rows, _ = lines(upload(enrollment, "/programmes/BLK-09/enrolments/bulk", text))
    enrollment.post(f"/enrolments/{rows[0]['enrolment_id']}/cancel", {})
    enrollment.events(4)  # enrolled, waitlisted, cancelled, enrolled (promoted)

    again = "nip,nama,opd,daftar_ulang\n" + f"{nip(30)},Andi Saputra,DINKES,ya\n{nip(31)},Nur Aisyah,DINKES,ya\n" \
        + f"{nip(32)},Salah Isi,DINKES,mungkin\n"
    rows_again, summary_again = lines(upload(enrollment, "/programmes/BLK-09/enrolments/bulk", again))

    assert (rows_again[0]["outcome"], rows_again[0]["enrolment_status"], rows_again[0]["waitlist_position"]) == \
        ("reactivated", "waitlisted", 1)
    assert rows_again[0]["enrolment_id"] == rows[0]["enrolment_id"]
    # the view counts the comeback, so a calendar's copy of it outranks the cancellation it saw
    assert enrollment.get(f"/enrolments/{rows[0]['enrolment_id']}").json()["reactivations"] == 1
    assert rows_again[1]["outcome"] == "unchanged" and "note" not in rows_again[1]  # active: reenrol is moot
    assert (rows_again[2]["accepted"], rows_again[2]["field"]) == (False, "reenrol")
    assert summary_again["reactivated"] == 1
    [event] = enrollment.events(1)
    assert event.name == "waitlisted" and event.data["participant"]["nip"] == nip(30)
