"""The reads that keep the portal's pages to one call each, against the real broker and store:
GET /enrolments/counts (a page of programmes with their enrolments per status, scoped like
GET /enrolments: an operator its own OPD's, an ASN refused) and GET /approvals' ``total`` and
``since`` (the home page's count, the last 30 days of decisions)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from tests.integration.enrollment.conftest import Running
from tests.integration.enrollment.factories import participant, programme, ts
from tests.integration.enrollment.test_approval import approval_programme, asn, roster, self_enrol, team, team_rows
from tests.support import auth_headers

OPERATOR = auth_headers("operator", agency="DISKOMINFO")
OTHER_OPERATOR = auth_headers("operator", agency="DINKES")


def code() -> str:
    return f"HITUNG-{uuid.uuid4().hex[:8].upper()}"


def enrol(svc: Running, programme_code: str, i: int, agency: str) -> dict:
    answer = svc.post(f"/programmes/{programme_code}/enrolments", participant(i, agency=agency))
    assert answer.status_code == 201, answer.text
    return answer.json()


def counts(svc: Running, codes: list[str], headers: dict | None = None, **params):
    return svc.get("/enrolments/counts", params={"programme": codes, **params}, headers=headers or {})


def test_one_call_counts_each_programmes_enrolments_by_status_an_operator_its_own_opds_only(enrollment):
    full, open_, empty = code(), code(), code()
    enrollment.create_published(programme(full, capacity=2))
    enrollment.create_published(programme(open_))
    enrollment.create_published(programme(empty))
    enrol(enrollment, full, 8101, "DISKOMINFO")
    enrol(enrollment, full, 8102, "DINKES")
    enrol(enrollment, full, 8103, "DISKOMINFO")  # the programme is full: waitlisted
    cancelled = enrol(enrollment, open_, 8104, "DISKOMINFO")
    assert enrollment.post(f"/enrolments/{cancelled['id']}/cancel", {}).status_code == 200
    enrol(enrollment, open_, 8105, "DINKES")

    everyone = counts(enrollment, [full, open_, empty])
    assert everyone.status_code == 200, everyone.text
    assert everyone.json() == {"counts": {full: {"enrolled": 2, "waitlisted": 1},
                                          open_: {"cancelled": 1, "enrolled": 1}, empty: {}}}
    # the operator's own OPD, whatever it asks for; the same numbers as GET /enrolments' totals
    own = counts(enrollment, [full, open_, empty], OPERATOR)
    assert own.json()["counts"] == {full: {"enrolled": 1, "waitlisted": 1}, open_: {"cancelled": 1}, empty: {}}
    listed = enrollment.get("/enrolments", params={"programme": full, "status": "waitlisted", "limit": 1},
                            headers=OPERATOR).json()
    assert listed["total"] == own.json()["counts"][full]["waitlisted"]
    assert counts(enrollment, [full, open_], OTHER_OPERATOR).json()["counts"] == {
        full: {"enrolled": 1}, open_: {"enrolled": 1}}
    assert counts(enrollment, [full], OPERATOR, agency="diskominfo").status_code == 200
    # an admin may name one OPD; codes are matched whatever their case and given once
    assert counts(enrollment, [full.lower(), full], agency="DINKES").json() == {"counts": {full: {"enrolled": 1}}}


def test_counts_are_refused_to_an_asn_another_opds_operator_naming_it_and_bad_input(enrollment):
    some = code()
    enrollment.create_published(programme(some))
    enrol(enrollment, some, 8111, "DISKOMINFO")
    refused = counts(enrollment, [some], auth_headers("asn", nip=participant(8111)["nip"]))
    assert refused.status_code == 403 and refused.json()["field"] == "role", refused.text
    other = counts(enrollment, [some], OTHER_OPERATOR, agency="DISKOMINFO")
    assert other.status_code == 403, other.text
    anonymous = enrollment.get("/enrolments/counts", params={"programme": some}, headers={"Authorization": ""})
    assert anonymous.status_code == 401
    missing = enrollment.get("/enrolments/counts")
    assert missing.status_code == 422 and "programme" in missing.json()["errors"], missing.text
    bad = counts(enrollment, ["bukan kode!"])
    assert bad.status_code == 422 and "programme" in bad.json()["errors"], bad.text
    too_many = counts(enrollment, [f"P{i}" for i in range(101)])
    assert too_many.status_code == 422 and "programme" in too_many.json()["errors"]


# -- GET /approvals: total and since ----------------------------------------------------------------

def test_approvals_give_their_total_and_since_keeps_the_recent_decisions(enrollment):
    head, staff, second, _ = team(8200)
    roster(enrollment, *team_rows(8200))
    first, other = code(), code()
    approval_programme(enrollment, first)
    approval_programme(enrollment, other)
    decided = self_enrol(enrollment, first, staff).json()
    self_enrol(enrollment, other, staff)
    self_enrol(enrollment, first, second)

    awaiting = enrollment.get("/approvals", params={"limit": 1}, headers=asn(head)).json()
    assert (len(awaiting["items"]), awaiting["total"]) == (1, 3)
    assert enrollment.post(f"/enrolments/{decided['id']}/approval", {"decision": "approved"},
                           headers=asn(head)).status_code == 200
    assert enrollment.get("/approvals", params={"limit": 1}, headers=asn(head)).json()["total"] == 2

    now = datetime.now(timezone.utc)
    recent = enrollment.get("/approvals", headers=asn(head),
                            params={"status": "decided", "since": ts(now - timedelta(days=30))}).json()
    assert ([i["id"] for i in recent["items"]], recent["total"]) == ([decided["id"]], 1)
    later = enrollment.get("/approvals", headers=asn(head),
                           params={"status": "decided", "since": ts(now + timedelta(minutes=5))}).json()
    assert (later["items"], later["total"]) == ([], 0)
    # awaiting: since is when the request was made
    assert enrollment.get("/approvals", headers=asn(head), params={
        "since": ts(now + timedelta(minutes=5))}).json()["total"] == 0
    assert enrollment.get("/approvals", headers=asn(head), params={
        "since": ts(now - timedelta(hours=1))}).json()["total"] == 2
    naive = enrollment.get("/approvals", headers=asn(head), params={"status": "decided",
                                                                   "since": "2026-01-01T00:00:00"})
    assert naive.status_code == 422 and "since" in naive.json()["errors"], naive.text
