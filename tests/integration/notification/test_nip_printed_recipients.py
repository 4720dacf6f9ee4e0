"""The recipients CSV takes a NIP as printed on documents (``19850312 201001 1 002``) and a PPPK
on a second contract; the record is kept under the 18 digits (issue 24)."""
from __future__ import annotations

import pytest

NIP = "198503122010011002"
PPPK_SECOND_CONTRACT = "199305222022222012"


@pytest.fixture
def service(start_notification):
    return start_notification()


def test_a_printed_nip_in_the_recipients_csv_is_the_same_recipient_as_its_digits(service):
    csv = (
        "nip;name;agency;email\n"
        "19850312 201001 1 002;Rahmat Hidayat;DISKOMINFO;rahmat@bukittinggikota.go.id\n"
        "19930522 202222 2 012;Dewi Lestari;RSUD;dewi@bukittinggikota.go.id\n"
        f"{NIP};Rahmat Lagi;DISKOMINFO;r2@bukittinggikota.go.id\n"
    ).encode()
    reply = service.http("POST", "/recipients/bulk", data=csv, headers={"Content-Type": "text/csv"})
    assert reply.status_code == 200, reply.text
    rows = {r["row"]: r for r in reply.json()["rows"]}
    assert (rows[2]["status"], rows[2]["nip"]) == ("created", NIP)
    assert (rows[3]["status"], rows[3]["nip"]) == ("created", PPPK_SECOND_CONTRACT)
    assert rows[4]["status"] == "invalid" and "first on line 2" in rows[4]["errors"]["nip"][0]
    assert service.http("GET", f"/recipients/{NIP}").json()["email"] == "rahmat@bukittinggikota.go.id"
    assert service.http("GET", f"/recipients/{PPPK_SECOND_CONTRACT}").json()["id_kind"] == "ni_pppk"


def test_a_printed_nip_in_the_path_reaches_the_same_recipient_and_inbox(service):
    printed = "19850312%20201001%201%20002"  # 19850312 201001 1 002 as a URL path segment
    reply = service.http("PUT", f"/recipients/{printed}",
                         json={"name": "Rahmat Hidayat", "agency": "DISKOMINFO", "email": "rahmat@bukittinggikota.go.id"})
    assert reply.status_code in (200, 201), reply.text
    assert reply.json()["nip"] == NIP
    assert service.http("GET", f"/recipients/{NIP}").json()["email"] == "rahmat@bukittinggikota.go.id"
    assert service.http("GET", f"/recipients/{printed}").json()["nip"] == NIP
    assert service.http("GET", f"/inbox/{printed}").status_code == 200
