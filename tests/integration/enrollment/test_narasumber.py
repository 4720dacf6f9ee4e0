"""The narasumber (speaker) of a seminar or lokakarya, against the real broker and store (issue 24):
enrolled by staff only, taking no seat and never waitlisted, shown with their role, carrying it in
``enrolled`` and ``completed``, counted apart from the seats, and read from an enrolment file's
``peran`` column."""
from __future__ import annotations

import json
import uuid

from tests.integration.enrollment.factories import nip, participant, programme
from tests.integration.enrollment.test_approval import asn, roster
from tests.integration.enrollment.test_roster import row
from tests.support import auth_headers

OPERATOR = auth_headers("operator", agency="DISKOMINFO")


def code(prefix: str = "SEM") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


def seminar(c: str, **overrides) -> dict:
    return programme(c, **{"kind": "seminar", "jp": None, "duration_days": 1, "passing_score": None,
                            "competency_type": "pemerintahan", "speakers": ["Dr. Andalas Putra"], **overrides})


def enrol(svc, c: str, i: int, **extra):
    return svc.post(f"/programmes/{c}/enrolments", {**participant(i), **extra})


def test_a_narasumber_takes_no_seat_is_never_waitlisted_and_carries_the_role(enrollment):
    c = code()
    enrollment.create_published(seminar(c, capacity=1))
    seated = enrol(enrollment, c, 8201).json()
    waiting = enrol(enrollment, c, 8202).json()
    assert (seated["role"], seated["status"], waiting["status"]) == ("peserta", "enrolled", "waitlisted")

    speaker = enrol(enrollment, c, 8203, role="narasumber")
    assert speaker.status_code == 201, speaker.text
    assert (speaker.json()["role"], speaker.json()["status"]) == ("narasumber", "enrolled")
    assert speaker.json()["waitlist_position"] is None
    shown = enrollment.get(f"/programmes/{c}").json()
    assert (shown["seats_taken"], shown["seats_left"], shown["waitlisted"]) == (1, 0, 1)
    events = enrollment.events(4)
    assert [(e.name, e.data.get("role")) for e in events[1:]] == [
        ("enrolled", "peserta"), ("waitlisted", None), ("enrolled", "narasumber")]

    # the counts are of the seats; the speakers apart
    counts = enrollment.get("/enrolments/counts", params={"programme": [c]}).json()["counts"][c]
    assert counts == {"enrolled": 1, "waitlisted": 1, "narasumber": 1}
    listed = enrollment.get("/enrolments", params={"programme": c, "role": "narasumber"}).json()
    assert [e["id"] for e in listed["items"]] == [speaker.json()["id"]]
    assert enrollment.get("/enrolments", params={"programme": c, "role": "peserta"}).json()["total"] == 2

    # a retry answers the same enrolment; the other role is a conflict naming it
    assert enrol(enrollment, c, 8203, role="narasumber").status_code == 200
    other = enrol(enrollment, c, 8201, role="narasumber")
    assert other.status_code == 409 and other.json()["field"] == "role", other.text
    assert "sebagai peserta" in other.json()["message"]

    # cancelling the narasumber frees no seat and moves nobody
    cancelled = enrollment.post(f"/enrolments/{speaker.json()['id']}/cancel", {"reason": "Berhalangan"})
    assert cancelled.status_code == 200 and "waitlist_note" not in cancelled.json()
    [event] = enrollment.events(1)
    assert event.name == "cancelled"
    shown = enrollment.get(f"/programmes/{c}").json()
    assert (shown["seats_taken"], shown["waitlisted"]) == (1, 1)


def test_a_narasumber_completes_like_a_participant_with_the_role_in_the_event(enrollment):
    c = code()
    enrollment.create_published(seminar(c))
    speaker = enrol(enrollment, c, 8211, role="narasumber").json()
    enrollment.events(2)
    enrollment.after_end(seminar(c))
    done = enrollment.post(f"/enrolments/{speaker['id']}/completion", {"attended": True})
    assert done.status_code == 200, done.text
    assert (done.json()["result"], done.json()["jp_earned"], done.json()["role"]) == ("passed", 4, "narasumber")
    [event] = enrollment.events(1)
    assert (event.name, event.data["role"], event.data["jp_earned"]) == ("completed", "narasumber", 4)


def test_only_staff_enrol_a_narasumber_and_only_in_a_seminar_or_lokakarya(enrollment):
    c, training = code(), code("PKP")
    enrollment.create_published(seminar(c))
    enrollment.create_published(programme(training))
    member = nip(8221)
    roster(enrollment, row(member, "Rahmat Hidayat"), row(nip(8222), "Siti Aminah"))

    self_speaker = enrollment.post(f"/programmes/{c}/enrolments", {"nip": member, "role": "narasumber"},
                                   headers=asn(member))
    assert self_speaker.status_code == 403 and self_speaker.json()["field"] == "role", self_speaker.text
    wrong_kind = enrol(enrollment, training, 8223, role="narasumber")
    assert wrong_kind.status_code == 422 and wrong_kind.json()["field"] == "role", wrong_kind.text
    unknown = enrol(enrollment, c, 8223, role="moderator")
    assert unknown.status_code == 422 and "role" in unknown.json()["errors"]
    by_operator = enrollment.post(f"/programmes/{c}/enrolments", {"nip": nip(8222), "role": "narasumber"},
                                  headers=OPERATOR)
    assert by_operator.status_code == 201 and by_operator.json()["role"] == "narasumber", by_operator.text
    assert enrollment.get(f"/programmes/{c}").json()["seats_taken"] == 0
    # the ASN enrols themself as peserta, as before
    assert enrollment.post(f"/programmes/{c}/enrolments", {"nip": member}, headers=asn(member)).status_code == 201


def test_an_enrolment_file_names_the_role_in_a_peran_column(enrollment):
    c, training = code("LOK"), code("PKP")
    enrollment.create_published(seminar(c, kind="lokakarya", capacity=1))
    enrollment.create_published(programme(training))
    text = "nip,nama,opd,peran\n" + "".join([
        f"{nip(8231)},Andi Saputra,DINKES,\n",                # blank: peserta, takes the one seat
        f"{nip(8232)},Nur Aisyah,DINKES,Narasumber\n",       # no seat needed
        f"{nip(8233)},Fitri Handayani,DINKES,peserta\n",     # waitlisted
        f"{nip(8234)},Salah Isi,DINKES,moderator\n",
    ])
    response = enrollment.post(f"/programmes/{c}/enrolments/bulk", data=text.encode(),
                               headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    *rows, summary = [json.loads(line) for line in response.text.splitlines()]
    assert [(r["accepted"], r.get("role"), r.get("enrolment_status")) for r in rows[:3]] == [
        (True, "peserta", "enrolled"), (True, "narasumber", "enrolled"), (True, "peserta", "waitlisted")]
    assert (rows[3]["accepted"], rows[3]["field"]) == (False, "role") and "narasumber" in rows[3]["reason"]
    assert summary["summary"]["rejected"] == 1

    wrong_kind = enrollment.post(f"/programmes/{training}/enrolments/bulk",
                                 data=f"nip,nama,opd,role\n{nip(8235)},Budi,DINKES,narasumber\n".encode(),
                                 headers={"Content-Type": "text/csv"})
    [rejected, _] = [json.loads(line) for line in wrong_kind.text.splitlines()]
    assert (rejected["accepted"], rejected["field"]) == (False, "role")
