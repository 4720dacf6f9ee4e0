"""Who may call what, through the real services: 401 without a valid token, 403 for the wrong
role or the wrong agency, and the anonymous routes stay anonymous."""
from __future__ import annotations

import time

import jwt
import pytest

from shared import auth
from tests.security.conftest import ADMIN, OTHER, OWN, nip
from tests.support import TEST_AUTH_SECRET, auth_headers, auth_token

OPERATOR = auth_headers("operator", agency=OWN)

PROTECTED = [
    ("enrollment", "GET", "/enrolments"),
    ("enrollment", "POST", "/programmes"),
    ("certification", "GET", "/certificates"),
    ("certification", "POST", "/certificates/x/revoke"),
    ("notification", "GET", "/deliveries"),
    ("notification", "POST", "/recipients/bulk"),
    ("reporting", "GET", "/compliance"),
    ("reporting", "GET", "/dashboard"),
]


def _expired() -> str:
    return auth_token("admin", ttl_s=60, now=time.time() - 7200)


def _forged() -> str:
    cfg = auth.load_config(environ={"AUTH_SECRET": "an-attacker-guessing-the-secret-0123456789"})
    return auth.issue_token(cfg, role="admin")


def _unsigned() -> str:
    now = int(time.time())
    return jwt.encode({"sub": "x", "role": "admin", "iss": "asn-platform", "aud": "asn-platform", "iat": now,
                       "exp": now + 600}, None, algorithm="none")


BAD_CREDENTIALS = {
    "absent": {},
    "expired": lambda: {"Authorization": f"Bearer {_expired()}"},
    "forged": lambda: {"Authorization": f"Bearer {_forged()}"},
    "unsigned": lambda: {"Authorization": f"Bearer {_unsigned()}"},
    "garbage": {"Authorization": "Bearer not-a-token"},
    "basic": {"Authorization": "Basic YWRtaW46YWRtaW4="},
}


@pytest.mark.parametrize("kind", sorted(BAD_CREDENTIALS))
def test_an_absent_expired_forged_or_malformed_token_gets_401_on_every_service(platform, kind):
    headers = BAD_CREDENTIALS[kind]
    headers = headers() if callable(headers) else headers
    for service, method, path in PROTECTED:
        response = platform.call(service, method, path, headers=headers)
        assert response.status_code == 401, (service, method, path, response.text)
        assert response.json()["error"] == "unauthenticated"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("service, method, path, role", [
    ("enrollment", "POST", "/programmes", "operator"),
    ("enrollment", "PATCH", "/programmes/X", "asn"),
    # (an ASN may enrol themself since issue 20: tests/integration/enrollment/test_approval.py)
    ("enrollment", "POST", "/programmes/X/marking", "asn"),
    ("enrollment", "POST", "/enrolments/x/promote", "asn"),
    ("certification", "POST", "/certificates/x/revoke", "operator"),
    ("notification", "POST", "/recipients/bulk", "asn"),
    ("notification", "GET", "/agencies/DISKOMINFO/contact", "asn"),
    ("reporting", "GET", "/compliance", "asn"),
    ("reporting", "POST", "/admin/shortfall/2026-Q1/run", "operator"),
])
def test_the_wrong_role_gets_403(platform, service, method, path, role):
    headers = auth_headers(role, agency=OWN, nip=platform.own_nip)
    response = platform.call(service, method, path, headers=headers, json={})
    assert response.status_code == 403, response.text
    assert response.json()["field"] == "role"


# -- an operator of DISKOMINFO and the staff of DINKES --------------------------------------------
def test_an_operator_cannot_enrol_a_participant_of_another_agency(platform):
    """(An operator enrolling its own registered staff: tests/security/test_enrollment_review.py.)"""
    other_new = {"nip": nip(303), "name": "Peserta Dinkes", "agency": OTHER}
    refused = platform.call("enrollment", "POST", f"/programmes/{platform.programme}/enrolments",
                            headers=OPERATOR, json=other_new)
    assert refused.status_code == 403 and refused.json()["field"] == "nip"
    # nor by claiming the other agency's known ASN for its own agency
    moved = platform.call("enrollment", "POST", f"/programmes/{platform.programme}/enrolments", headers=OPERATOR,
                          json={"nip": platform.other_nip, "agency": OWN})
    assert moved.status_code == 403
    listed = platform.call("enrollment", "GET", "/enrolments", headers=ADMIN,
                           params={"programme": platform.programme, "nip": nip(303)}).json()
    assert listed["total"] == 0


def test_an_operators_bulk_upload_rejects_the_rows_of_another_agency_one_by_one(platform):
    csv = f"nip,name,agency\n{platform.own_nip},Satu,{OWN}\n{nip(306)},Dua,{OTHER}\n"
    response = platform.call("enrollment", "POST", f"/programmes/{platform.programme}/enrolments/bulk",
                             headers={**OPERATOR, "Content-Type": "text/csv"}, data=csv.encode())
    lines = [line for line in response.text.splitlines() if line]
    import json
    rows = [json.loads(line) for line in lines[:-1]]
    assert [(r["nip"], r["accepted"]) for r in rows] == [(platform.own_nip, True), (nip(306), False)]
    assert rows[1]["field"] == "nip"


def test_an_operator_sees_and_acts_on_its_own_staffs_enrolments_only(platform):
    assert platform.call("enrollment", "GET", f"/enrolments/{platform.own_enrolment}",
                         headers=OPERATOR).status_code == 200
    assert platform.call("enrollment", "GET", f"/enrolments/{platform.other_enrolment}",
                         headers=OPERATOR).status_code == 403
    assert platform.call("enrollment", "POST", f"/enrolments/{platform.other_enrolment}/cancel",
                         headers=OPERATOR, json={}).status_code == 403
    assert platform.call("enrollment", "GET", "/enrolments", headers=OPERATOR,
                         params={"agency": OTHER}).status_code == 403
    listed = platform.call("enrollment", "GET", "/enrolments", headers=OPERATOR).json()
    assert listed["total"] >= 1 and {e["participant"]["agency"] for e in listed["items"]} == {OWN}


def test_an_operator_sees_certificates_of_its_own_staff_only(platform):
    assert platform.call("certification", "GET", f"/certificates/{platform.own_certificate}",
                         headers=OPERATOR).status_code == 200
    for suffix in ("", "/pdf", "/credential"):
        assert platform.call("certification", "GET", f"/certificates/{platform.other_certificate}{suffix}",
                             headers=OPERATOR).status_code == 403
    listed = platform.call("certification", "GET", "/certificates", headers=OPERATOR).json()
    assert {c["holder"]["agency"] for c in listed["items"]} == {OWN}


def test_an_operator_sees_only_its_own_staffs_recipients_and_inboxes(platform):
    assert platform.call("notification", "GET", f"/recipients/{platform.own_nip}", headers=OPERATOR).ok
    assert platform.call("notification", "GET", f"/recipients/{platform.other_nip}",
                         headers=OPERATOR).status_code == 403
    assert platform.call("notification", "GET", f"/inbox/{platform.own_nip}", headers=OPERATOR).ok
    assert platform.call("notification", "GET", f"/inbox/{platform.other_nip}", headers=OPERATOR).status_code == 403
    taken = platform.call("notification", "PUT", f"/recipients/{platform.other_nip}", headers=OPERATOR,
                          json={"name": "Diambil", "agency": OWN, "email": "x@bukittinggi.example"})
    assert taken.status_code == 403
    assert platform.call("notification", "GET", "/deliveries", headers=OPERATOR,
                         params={"nip": platform.other_nip}).status_code == 403
    assert platform.call("notification", "PUT", f"/agencies/{OTHER}/contact", headers=OPERATOR,
                         json={"name": "Operator", "email": "op@bukittinggi.example"}).status_code == 403


def test_an_operator_sees_only_its_own_agencys_figures(platform):
    assert platform.call("reporting", "GET", "/compliance", headers=OPERATOR,
                         params={"agency": OTHER}).status_code == 403
    compliance = platform.call("reporting", "GET", "/compliance", headers=OPERATOR).json()
    assert [row["agency"] for row in compliance["agencies"]] == [OWN]
    assert platform.call("reporting", "GET", f"/ledger/{platform.own_nip}", headers=OPERATOR).ok
    assert platform.call("reporting", "GET", f"/ledger/{platform.other_nip}", headers=OPERATOR).status_code == 403
    export = platform.call("reporting", "GET", "/exports/ledger.csv", headers=OPERATOR)
    assert platform.own_nip in export.text and platform.other_nip not in export.text
    dashboard = platform.call("reporting", "GET", "/dashboard", headers=OPERATOR)
    assert dashboard.status_code == 200 and OTHER not in dashboard.text.split("<select")[0]


# -- an ASN: themself only --------------------------------------------------------------------------
def test_an_asn_sees_their_own_enrolments_ledger_inbox_and_certificates_only(platform):
    me = auth_headers("asn", nip=platform.own_nip)
    mine = platform.call("enrollment", "GET", "/enrolments", headers=me).json()
    assert {e["nip"] for e in mine["items"]} == {platform.own_nip}
    assert platform.call("enrollment", "GET", "/enrolments", headers=me,
                         params={"nip": platform.other_nip}).status_code == 403
    assert platform.call("enrollment", "GET", f"/enrolments/{platform.other_enrolment}", headers=me).status_code == 403
    assert platform.call("reporting", "GET", f"/ledger/{platform.own_nip}", headers=me).ok
    assert platform.call("reporting", "GET", f"/ledger/{platform.other_nip}", headers=me).status_code == 403
    assert platform.call("notification", "GET", f"/inbox/{platform.own_nip}", headers=me).ok
    assert platform.call("notification", "GET", f"/inbox/{platform.other_nip}", headers=me).status_code == 403
    assert platform.call("certification", "GET", f"/certificates/{platform.own_certificate}", headers=me).ok
    assert platform.call("certification", "GET", f"/certificates/{platform.other_certificate}",
                         headers=me).status_code == 403
    certificates = platform.call("certification", "GET", "/certificates", headers=me).json()
    assert {c["holder"]["nip"] for c in certificates["items"]} == {platform.own_nip}


# -- anonymous ----------------------------------------------------------------------------------
def test_verification_health_metrics_and_api_documents_need_no_token_even_with_a_bad_one(platform):
    certificate = platform.call("certification", "GET", f"/certificates/{platform.own_certificate}",
                                headers=ADMIN).json()
    for headers in ({}, {"Authorization": "Bearer rubbish"}):
        view = platform.call("certification", "GET", f"/verify/{certificate['verification_code']}",
                             headers={**headers, "Accept": "application/json"})
        assert view.status_code == 200 and view.json()["status"] == "valid"
        assert platform.call("certification", "GET", "/status/revocation", headers=headers).status_code == 200
        for service in platform.urls:
            for path in ("/health/live", "/metrics", "/openapi.json", "/asyncapi.json"):
                assert platform.call(service, "GET", path, headers=headers).status_code == 200, (service, path)


def test_each_service_serves_the_asyncapi_contract_of_its_own_events(platform):
    for service in platform.urls:
        document = platform.call(service, "GET", "/asyncapi.json").json()
        assert document["asyncapi"].startswith("3.")
        addresses = {channel["address"] for channel in document["channels"].values()}
        exchanges = {channel["bindings"]["amqp"]["exchange"]["name"] for channel in document["channels"].values()}
        assert exchanges == {f"{service}.events"}, (service, exchanges)
        assert addresses, service


def test_a_revocation_records_the_authenticated_admin_not_a_name_from_the_body(platform):
    admin = auth_headers("admin", subject="admin.bkpsdm")
    response = platform.call("certification", "POST", f"/certificates/{platform.other_certificate}/revoke",
                             headers=admin, json={"reason": "Data peserta tidak sesuai"})
    assert response.status_code == 200 and response.json()["revoked"]["by"] == "admin.bkpsdm"
    spoofed = platform.call("certification", "POST", f"/certificates/{platform.other_certificate}/revoke",
                            headers=admin, json={"reason": "Data peserta tidak sesuai", "revoked_by": "someone"})
    assert spoofed.status_code == 422 and "revoked_by" in spoofed.json()["errors"]


def test_no_token_or_secret_reaches_the_logs(platform, records):
    token = auth_token("operator", agency=OWN)
    forged = _forged()
    platform.call("enrollment", "GET", "/enrolments", headers={"Authorization": f"Bearer {token}"})
    platform.call("enrollment", "GET", f"/enrolments/{platform.other_enrolment}",
                  headers={"Authorization": f"Bearer {token}"})
    platform.call("reporting", "GET", "/compliance", headers={"Authorization": f"Bearer {forged}"})
    platform.call("notification", "PUT", f"/recipients/{platform.own_nip}",
                  headers={"Authorization": f"Bearer {token}"}, data=b"{not json")
    text = "\n".join(r.getMessage() + str(getattr(r, "fields", "")) + str(r.exc_text or "")
                     for r in records.records)
    assert records.records, "the services logged nothing at DEBUG: the check would prove nothing"
    for secret in (token, forged, token.split(".")[2], TEST_AUTH_SECRET):
        assert secret not in text
