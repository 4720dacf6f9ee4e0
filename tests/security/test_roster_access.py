"""Who may import and read the roster (daftar ASN), through the real services: an admin any
agency; an operator its own agency only (rows of others rejected one by one, another agency's
ASN answered like an unknown NIP); an ASN their own entry; nobody else. No answer carries
contact data."""
from __future__ import annotations

import json

import pytest

from tests.security.conftest import ADMIN, OTHER, OWN, nip
from tests.support import auth_headers

OWN_OPERATOR = auth_headers("operator", agency=OWN)
OTHER_OPERATOR = auth_headers("operator", agency=OTHER)
HEADER = "nip,nama,kode_opd,email,telepon\n"


def _import(platform, text: str, headers: dict, **params):
    return platform.call("enrollment", "POST", "/roster/import", params=params, data=text.encode(),
                         headers={**headers, "Content-Type": "text/csv"})


def _rows(response) -> tuple[list[dict], dict]:
    assert response.status_code == 200, response.text
    items = [json.loads(line) for line in response.text.splitlines() if line]
    return items[:-1], items[-1]["summary"]


def _entry(platform, person: str, headers: dict = ADMIN):
    return platform.call("enrollment", "GET", f"/roster/{person}", headers=headers)


def test_an_operator_imports_its_own_agency_only_row_by_row(platform):
    mine, theirs = nip(801), nip(802)
    text = HEADER + (f"{mine},Staf Sendiri,{OWN},staf@contoh.go.id,081266001122\n"
                     f"{theirs},Staf Lain,{OTHER},,\n"
                     f"{platform.other_nip},Diambil Alih,{OWN},,\n")  # aktif on DINKES's roster
    rows, summary = _rows(_import(platform, text, OWN_OPERATOR))

    assert [(r["accepted"], r.get("field")) for r in rows] == [(True, None), (False, "kode_opd"), (False, "nip")]
    assert f"hanya dapat mengimpor ASN OPD {OWN}" in rows[1]["reason"]
    assert "OPD lain" in rows[2]["reason"] and OTHER not in rows[2]["reason"]
    assert (summary["accepted"], summary["rejected"]) == (1, 2)
    assert _entry(platform, theirs).status_code == 404
    other = _entry(platform, platform.other_nip).json()
    assert (other["agency"], other["name"]) == (OTHER, "Peserta 202")


def test_an_operators_full_import_is_for_its_own_agency_only(platform):
    refused = _import(platform, HEADER + f"{nip(803)},Staf Dinkes,{OTHER},,\n", OWN_OPERATOR, mode="penuh",
                      kode_opd=OTHER)
    assert refused.status_code == 403 and refused.json()["field"] == "kode_opd", refused.text
    assert _entry(platform, nip(803)).status_code == 404
    assert _entry(platform, platform.other_nip).json()["status"] == "aktif"
    own = platform.call("enrollment", "GET", "/roster", headers=ADMIN, params={"agency": OWN, "limit": 500}).json()
    text = HEADER + "".join(f"{e['nip']},{e['name']},{OWN},,\n" for e in own["items"] if e["status"] == "aktif")
    _, summary = _rows(_import(platform, text, OWN_OPERATOR, mode="penuh", kode_opd=OWN))
    assert (summary["rejected"], summary["left"]) == (0, 0)


@pytest.mark.parametrize("role", ["asn", None])
def test_an_asn_or_no_one_cannot_import(platform, role):
    headers = auth_headers("asn", nip=platform.own_nip) if role else {}
    response = _import(platform, HEADER + f"{nip(804)},Siapa Saja,{OWN},,\n", headers)
    assert response.status_code == (403 if role else 401), response.text
    assert _entry(platform, nip(804)).status_code == 404


def test_an_operator_reads_its_own_agencys_roster_and_another_agencys_asn_is_like_an_unknown_one(platform):
    listed = platform.call("enrollment", "GET", "/roster", headers=OWN_OPERATOR, params={"limit": 500})
    assert listed.status_code == 200 and {e["agency"] for e in listed.json()["items"]} == {OWN}
    assert platform.own_nip in {e["nip"] for e in listed.json()["items"]}
    assert platform.call("enrollment", "GET", "/roster", headers=OWN_OPERATOR,
                         params={"agency": OTHER}).status_code == 403
    assert _entry(platform, platform.own_nip, OWN_OPERATOR).status_code == 200

    unknown = nip(899)
    other = _entry(platform, platform.other_nip, OWN_OPERATOR)
    nobody = _entry(platform, unknown, OWN_OPERATOR)
    assert other.status_code == nobody.status_code == 404
    assert other.text.replace(platform.other_nip, "N") == nobody.text.replace(unknown, "N")
    assert _entry(platform, platform.other_nip, OTHER_OPERATOR).status_code == 200


def test_an_asn_reads_their_own_entry_only(platform):
    me = auth_headers("asn", nip=platform.own_nip)
    assert _entry(platform, platform.own_nip, me).json()["nip"] == platform.own_nip
    assert _entry(platform, platform.other_nip, me).status_code == 403
    assert _entry(platform, nip(898), me).status_code == 403  # an unknown NIP: the same answer
    listed = platform.call("enrollment", "GET", "/roster", headers=me).json()
    assert [e["nip"] for e in listed["items"]] == [platform.own_nip]
    others = platform.call("enrollment", "GET", "/roster", headers=me, params={"agency": OTHER}).json()
    assert others["items"] == [] and others["total"] == 0


def test_no_roster_answer_carries_contact_data(platform):
    person = nip(805)
    _rows(_import(platform, HEADER + f"{person},Punya Kontak,{OWN},rahasia@contoh.go.id,081299990000\n", ADMIN))
    answers = [_entry(platform, person, h) for h in (ADMIN, OWN_OPERATOR)] + [
        platform.call("enrollment", "GET", "/roster", headers=h, params={"q": person}) for h in (ADMIN, OWN_OPERATOR)]
    for answer in answers:
        assert answer.status_code == 200 and person in answer.text
        assert "rahasia" not in answer.text and "99990000" not in answer.text
    assert answers[0].json()["has_email"] is True


@pytest.mark.parametrize("method, path", [("GET", "/roster"), ("GET", "/roster/198503122010011002"),
                                          ("POST", "/roster/import")])
def test_the_roster_routes_need_a_token(platform, method, path):
    response = platform.call("enrollment", method, path, headers={})
    assert response.status_code == 401 and response.json()["error"] == "unauthenticated"
