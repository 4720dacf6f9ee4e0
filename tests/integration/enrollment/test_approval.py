"""Supervisor approval (izin atasan) and acting supervisors (Plt/Plh), against the real broker and
store (ADR 0092): ASN self-enrolment from the roster, a request holding its seat, approval and
decline with the waitlist moving, the signed single-use link, reminder then lapse on the
injected clock, the acting supervisor while the delegation lasts, and who is refused where."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from services.enrollment.service import EnrollmentService
from shared import topology
from shared.events.envelope import parse
from shared.store import connect
from tests.integration.enrollment.conftest import Running, bind_tap, settings_for
from tests.integration.enrollment.factories import nip, programme, ts, upcoming
from tests.integration.enrollment.test_roster import bind_private, private_events, row, upload, HEADER
from tests.support import auth_headers, get_messages

AGENCY = "DISKOMINFO"
OPERATOR = auth_headers("operator", agency=AGENCY)
OTHER_OPERATOR = auth_headers("operator", agency="DINKES")


def call(service: Running, method: str, path: str, json=None, headers: dict | None = None):
    """A request with exactly ``headers`` (no admin token added)."""
    return requests.request(method, service.url + path, json=json, headers=headers or {}, timeout=30)


def asn(n: str) -> dict:
    return auth_headers("asn", nip=n)


def roster(service: Running, *rows: str) -> None:
    response = upload(service, HEADER + "".join(rows))
    assert response.status_code == 200 and '"rejected": 0' in response.text, response.text


def team(base: int) -> tuple[str, str, str, str]:
    """NIPs of a supervisor, two of their staff and a colleague who may act for the supervisor."""
    return nip(base), nip(base + 1), nip(base + 2), nip(base + 3)


def team_rows(base: int) -> list[str]:
    head, staff, second, colleague = team(base)
    return [row(head, "Dr. Yuliani Syafitri"), row(staff, "Rahmat Hidayat", nip_atasan=head),
            row(second, "Siti Aminah", nip_atasan=head), row(colleague, "Hendra Gunawan")]


def events_until(service: Running, names: set[str], timeout: float = 20.0) -> dict[str, object]:
    """The events of the tap by name, read until every one of ``names`` came (others are kept too)."""
    seen: dict[str, object] = {}
    end = time.monotonic() + timeout
    while not names <= seen.keys() and time.monotonic() < end:
        for message in get_messages(service.settings.amqp_uri, service.tap, 1, timeout=0.5):
            event = parse(message.body, message.properties.get("content_type"))
            seen.setdefault(event.name, event)
    assert names <= seen.keys(), f"missing {sorted(names - seen.keys())}; got {sorted(seen)}"
    return seen


def approval_programme(service: Running, code: str, **overrides) -> dict:
    return service.create_published(programme(code, requires_supervisor_approval=True, **overrides))


def self_enrol(service: Running, code: str, n: str, **kw):
    return service.post(f"/programmes/{code}/enrolments", {"nip": n}, headers=asn(n), **kw)


# -- self-enrolment ----------------------------------------------------------------------------------

def test_an_asn_enrols_only_themself_and_only_while_aktif_on_the_roster(enrollment):
    head, staff, second, _ = team(7100)
    roster(enrollment, *team_rows(7100)[:2], row(second, "Siti Aminah", status="pensiun", nip_atasan=head))
    enrollment.create_published(programme("SELF-01"))

    other = enrollment.post("/programmes/SELF-01/enrolments", {"nip": head}, headers=asn(staff))
    assert other.status_code == 403 and other.json()["field"] == "nip", other.text
    stranger = nip(7199)
    assert self_enrol(enrollment, "SELF-01", stranger).status_code == 403  # not on the roster
    retired = self_enrol(enrollment, "SELF-01", second)
    assert retired.status_code == 403 and "daftar ASN" in retired.json()["message"]

    mine = self_enrol(enrollment, "SELF-01", staff)
    assert mine.status_code == 201, mine.text
    # the roster gives who they are; no approval needed for this programme
    body = mine.json()
    assert (body["status"], body["participant"]["name"], body["approval"]) == ("enrolled", "Rahmat Hidayat", None)
    assert enrollment.get("/programmes/SELF-01").json()["requires_supervisor_approval"] is False


def test_no_supervisor_on_the_roster_is_409_in_bahasa_indonesia(enrollment):
    lone = nip(7150)
    roster(enrollment, row(lone, "Yusuf Chaniago"))
    approval_programme(enrollment, "SELF-02")
    refused = self_enrol(enrollment, "SELF-02", lone)
    assert refused.status_code == 409, refused.text
    assert refused.json()["message"] == "Atasan langsung Anda belum tercatat di daftar ASN; hubungi operator OPD"
    assert enrollment.get("/enrolments", params={"programme": "SELF-02"}).json()["total"] == 0


# -- approve / decline --------------------------------------------------------------------------------

def test_a_request_holds_its_seat_until_the_supervisor_approves_then_it_is_an_ordinary_enrolment(enrollment):
    head, staff, second, _ = team(7200)
    roster(enrollment, *team_rows(7200))
    approval_programme(enrollment, "APR-01", capacity=1)

    asked = self_enrol(enrollment, "APR-01", staff)
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert (request["status"], request["holds"], request["enrolled_at"]) == ("awaiting_approval", "seat", None)
    approval = request["approval"]
    assert (approval["approver_nip"], approval["approver_name"], approval["acting"], approval["decision"]) == (
        head, "Dr. Yuliani Syafitri", None, None)
    requested = datetime.fromisoformat(approval["requested_at"].replace("Z", "+00:00"))
    assert datetime.fromisoformat(approval["expires_at"].replace("Z", "+00:00")) - requested == timedelta(hours=72)
    assert self_enrol(enrollment, "APR-01", staff).status_code == 200  # a retry: the same request
    # the seat is held: the next one waits
    assert enrollment.get("/programmes/APR-01").json()["seats_left"] == 0
    waiting = enrollment.post("/programmes/APR-01/enrolments", {"nip": second}, headers=OPERATOR).json()
    assert waiting["status"] == "waitlisted" and waiting["approval"] is None  # staff need no approval
    requested_event = events_until(enrollment, {"approval_requested", "waitlisted"})["approval_requested"]
    assert (requested_event.data["approver_nip"], requested_event.data["holds"]) == (head, "seat")
    assert requested_event.data["programme"]["requires_supervisor_approval"] is True

    listed = enrollment.get("/approvals", headers=asn(head)).json()
    assert [(i["id"], i["programme"]["title"], i["participant"]["name"]) for i in listed["items"]] == [
        (request["id"], "Pelatihan Analisis Kebijakan Publik", "Rahmat Hidayat")]
    assert enrollment.get("/approvals", headers=asn(second)).json()["items"] == []
    assert request["id"] in [i["id"] for i in enrollment.get("/approvals", headers=OPERATOR).json()["items"]]
    assert enrollment.get("/approvals", headers=OTHER_OPERATOR).json()["items"] == []

    decision = {"decision": "approved"}
    for who in (asn(staff), asn(second), OPERATOR, auth_headers()):  # only the approver decides
        refused = enrollment.post(f"/enrolments/{request['id']}/approval", decision, headers=who)
        assert refused.status_code == 403, refused.text
    approved = enrollment.post(f"/enrolments/{request['id']}/approval", decision, headers=asn(head))
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["approval"]["decision"]) == ("enrolled", "approved")
    events = events_until(enrollment, {"approval_granted", "enrolled"})
    assert events["approval_granted"].data["status"] == "enrolled"
    assert events["enrolled"].data["enrolment_id"] == request["id"]

    again = enrollment.post(f"/enrolments/{request['id']}/approval", {"decision": "declined", "reason": "x"},
                            headers=asn(head))
    assert again.status_code == 409 and again.json()["error"] == "already_decided"
    assert again.json()["message"] == "Permohonan ini sudah diputuskan (disetujui)"
    assert enrollment.get("/approvals", headers=asn(head)).json()["items"] == []
    assert [i["id"] for i in enrollment.get("/approvals", headers=asn(head),
                                            params={"status": "decided"}).json()["items"]] == [request["id"]]


def test_a_declined_request_frees_its_seat_for_the_first_on_the_waitlist(enrollment):
    head, staff, second, _ = team(7300)
    roster(enrollment, *team_rows(7300))
    approval_programme(enrollment, "APR-02", capacity=1, starts_at=upcoming("APR-02")["starts_at"])
    request = self_enrol(enrollment, "APR-02", staff).json()
    waiting = enrollment.post("/programmes/APR-02/enrolments", {"nip": second}, headers=OPERATOR).json()
    events_until(enrollment, {"approval_requested", "waitlisted"})

    no_reason = enrollment.post(f"/enrolments/{request['id']}/approval", {"decision": "declined"},
                                headers=asn(head))
    assert no_reason.status_code == 422 and "reason" in no_reason.json()["errors"], no_reason.text
    too_long = enrollment.post(f"/enrolments/{request['id']}/approval", {"decision": "declined", "reason": "x" * 501},
                               headers=asn(head))
    assert too_long.status_code == 422
    declined = enrollment.post(f"/enrolments/{request['id']}/approval",
                               {"decision": "declined", "reason": "Bertepatan dengan penyusunan anggaran"},
                               headers=asn(head))
    assert declined.status_code == 200, declined.text
    body = declined.json()
    assert (body["status"], body["approval"]["decision"], body["approval"]["reason"]) == (
        "cancelled", "declined", "Bertepatan dengan penyusunan anggaran")
    events = events_until(enrollment, {"approval_declined", "enrolled"})
    assert events["approval_declined"].data["reason"] == "Bertepatan dengan penyusunan anggaran"
    assert events["enrolled"].data["enrolment_id"] == waiting["id"]
    assert events["enrolled"].data["promoted_from_waitlist"] is True
    assert enrollment.get(f"/enrolments/{waiting['id']}").json()["status"] == "enrolled"
    seen = enrollment.get(f"/enrolments/{request['id']}", headers=asn(staff)).json()  # the ASN sees why
    assert seen["approval"]["decision"] == "declined"
    # asked again: a new request
    again = self_enrol(enrollment, "APR-02", staff)
    assert again.status_code == 201 and again.json()["status"] == "awaiting_approval"
    assert (again.json()["holds"], again.json()["waitlist_position"]) == ("waitlist", 1)


def test_the_signed_link_is_for_its_approver_once(enrollment):
    head, staff, second, _ = team(7400)
    roster(enrollment, *team_rows(7400))
    private = bind_private(enrollment.settings.amqp_uri)
    approval_programme(enrollment, "LNK-01")
    request = self_enrol(enrollment, "LNK-01", staff).json()
    [link] = [e for e in private_events(enrollment, private, 1) if e.name == "approval_link"]
    assert (link.data["enrolment_id"], link.data["approver_nip"], link.data["participant_name"]) == (
        request["id"], head, "Rahmat Hidayat")
    token = link.data["token"]
    assert token not in str(events_until(enrollment, {"approval_requested"})["approval_requested"].data)

    opened = enrollment.post("/approvals/link", {"token": token}, headers=asn(head))
    assert opened.status_code == 200 and opened.json()["id"] == request["id"], opened.text
    assert opened.json()["programme"]["code"] == "LNK-01"
    for who in (asn(staff), asn(second), OPERATOR):
        assert enrollment.post("/approvals/link", {"token": token}, headers=who).status_code == 403
        assert enrollment.post("/approvals/link/decision", {"token": token, "decision": "approved"},
                               headers=who).status_code == 403
    payload, signature = token.split(".")
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + signature
    for bad in (tampered, token + "x", "no-token"):
        answer = enrollment.post("/approvals/link/decision", {"token": bad, "decision": "approved"},
                                 headers=asn(head))
        assert answer.status_code == 422 and answer.json()["field"] == "token", answer.text

    decided = enrollment.post("/approvals/link/decision", {"token": token, "decision": "approved"},
                              headers=asn(head))
    assert decided.status_code == 200 and decided.json()["status"] == "enrolled", decided.text
    second_use = enrollment.post("/approvals/link/decision", {"token": token, "decision": "declined",
                                                              "reason": "berubah pikiran"}, headers=asn(head))
    assert second_use.status_code == 409 and second_use.json()["error"] == "already_decided"
    assert enrollment.get(f"/enrolments/{request['id']}").json()["status"] == "enrolled"


# -- the clock: reminders, lapses, acting supervisors -------------------------------------------------

class Clock:
    def __init__(self):
        self.now = datetime.now(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clocked(container_factory, service_env, monkeypatch):
    """A service of its own on a clock the test moves, sweeping every 0.2 s."""
    monkeypatch.setenv("ENROLLMENT_CASCADE_SWEEP_INTERVAL_S", "0.2")
    clock = Clock()
    settings = settings_for(service_env, extra={"clock": clock})
    topology.declare_service(settings)
    container_factory(EnrollmentService, settings.nameko_config()).start()
    client = connect(settings)
    yield Running(f"http://{settings.http_address}", settings, client[settings.db_name],
                  bind_tap(settings.amqp_uri)), clock
    client.close()


def test_a_request_nobody_decides_is_reminded_then_lapses_and_frees_its_seat(clocked):
    enrollment, clock = clocked
    head, staff, second, _ = team(7500)
    roster(enrollment, *team_rows(7500))
    approval_programme(enrollment, "LPS-01", capacity=1, starts_at=upcoming("LPS-01")["starts_at"])
    request = self_enrol(enrollment, "LPS-01", staff).json()
    waiting = enrollment.post("/programmes/LPS-01/enrolments", {"nip": second}, headers=OPERATOR).json()
    events_until(enrollment, {"approval_requested", "waitlisted"})

    clock.now += timedelta(hours=47)  # not yet within the 24 h before expiry
    time.sleep(0.6)
    assert enrollment.get(f"/enrolments/{request['id']}").json()["approval"]["reminded_at"] is None
    clock.now += timedelta(hours=2)
    reminded = events_until(enrollment, {"approval_reminded"})["approval_reminded"]
    assert reminded.data["approver_nip"] == head and reminded.data["expires_at"] == request["approval"]["expires_at"]
    assert enrollment.get(f"/enrolments/{request['id']}").json()["status"] == "awaiting_approval"

    clock.now += timedelta(hours=24)
    events = events_until(enrollment, {"approval_lapsed", "enrolled"})
    assert events["enrolled"].data["enrolment_id"] == waiting["id"]
    lapsed = enrollment.get(f"/enrolments/{request['id']}").json()
    assert (lapsed["status"], lapsed["approval"]["decision"]) == ("cancelled", "lapsed")
    late = enrollment.post(f"/enrolments/{request['id']}/approval", {"decision": "approved"}, headers=asn(head))
    assert late.status_code == 409 and late.json()["message"] == "Permohonan ini sudah diputuskan (kedaluwarsa)"
    assert "approval_reminded" not in events  # one reminder per request


def test_an_acting_supervisor_receives_requests_while_the_delegation_lasts_and_not_after(clocked):
    enrollment, clock = clocked
    head, staff, second, colleague = team(7600)
    roster(enrollment, *team_rows(7600))
    approval_programme(enrollment, "PLT-01")
    approval_programme(enrollment, "PLT-02")
    ends = ts(clock.now + timedelta(days=2))
    body = {"acting_nip": colleague, "kind": "plt", "ends_at": ends}

    for who, status in ((OTHER_OPERATOR, 403), (asn(head), 403), (asn(colleague), 403)):
        refused = call(enrollment, "PUT", f"/roster/{head}/acting", body, headers=who)
        assert refused.status_code == status, refused.text
    assert enrollment.get(f"/roster/{head}").json()["acting"] is None
    for bad, field in (({**body, "acting_nip": head}, "acting_nip"), ({**body, "kind": "wakil"}, "kind"),
                       ({**body, "ends_at": ts(clock.now - timedelta(hours=1))}, "ends_at"),
                       ({**body, "ends_at": ts(clock.now + timedelta(days=400))}, "ends_at"),
                       ({**body, "acting_nip": nip(7699)}, "acting_nip")):
        answer = call(enrollment, "PUT", f"/roster/{head}/acting", bad, headers=OPERATOR)
        assert answer.status_code == 422 and field in answer.text, answer.text

    named = call(enrollment, "PUT", f"/roster/{head}/acting", body, headers=OPERATOR)
    assert named.status_code == 200, named.text
    assert (named.json()["acting"]["acting_nip"], named.json()["acting"]["kind"], named.json()["staff_count"]) == (
        colleague, "plt", 2)
    assert enrollment.get(f"/roster/{colleague}", headers=asn(colleague)).json()["acting_for"] == [head]
    assigned = events_until(enrollment, {"acting_supervisor_assigned"})["acting_supervisor_assigned"]
    assert (assigned.data["supervisor_nip"], assigned.data["acting_nip"], assigned.data["agency"]) == (
        head, colleague, AGENCY)

    during = self_enrol(enrollment, "PLT-01", staff).json()
    assert (during["approval"]["approver_nip"], during["approval"]["acting"]) == (colleague, "plt")
    assert [i["id"] for i in enrollment.get("/approvals", headers=asn(colleague)).json()["items"]] == [during["id"]]
    assert enrollment.get("/approvals", headers=asn(head)).json()["items"] == []

    clock.now += timedelta(days=2, minutes=1)  # the delegation ended
    assert enrollment.get(f"/roster/{head}").json()["acting"] is None
    assert enrollment.get(f"/roster/{colleague}").json()["acting_for"] == []
    after = self_enrol(enrollment, "PLT-02", second).json()
    assert (after["approval"]["approver_nip"], after["approval"]["acting"]) == (head, None)

    call(enrollment, "PUT", f"/roster/{head}/acting",
         {**body, "kind": "plh", "ends_at": ts(clock.now + timedelta(days=1))},
         headers=OPERATOR)
    assert call(enrollment, "DELETE", f"/roster/{head}/acting", None, headers=OTHER_OPERATOR).status_code == 403
    assert call(enrollment, "DELETE", f"/roster/{head}/acting", None, headers=asn(head)).status_code == 403
    revoked = call(enrollment, "DELETE", f"/roster/{head}/acting", None, headers=OPERATOR)
    assert revoked.status_code == 200 and revoked.json()["acting"] is None
    assert events_until(enrollment, {"acting_supervisor_revoked"})["acting_supervisor_revoked"].data[
        "acting_nip"] == colleague


# -- who may call what --------------------------------------------------------------------------------

def test_every_approval_route_refuses_a_caller_without_a_token(enrollment):
    some_id = "6752c1f0a4b1c2d3e4f50607"
    for method, path, body in (("GET", "/approvals", None), ("POST", f"/enrolments/{some_id}/approval",
                                                              {"decision": "approved"}),
                               ("POST", "/approvals/link", {"token": "x"}),
                               ("POST", "/approvals/link/decision", {"token": "x", "decision": "approved"}),
                               ("PUT", f"/roster/{nip(1)}/acting", {}), ("DELETE", f"/roster/{nip(1)}/acting", None)):
        answer = call(enrollment, method, path, body)
        assert answer.status_code == 401, (method, path, answer.text)


def test_a_programmes_revision_rises_with_each_change_once_published_and_the_flag_can_be_set_later(enrollment):
    created = enrollment.post("/programmes", programme("REV-01")).json()
    assert (created["revision"], created["requires_supervisor_approval"]) == (1, False)
    assert enrollment.patch("/programmes/REV-01", {"capacity": 20}).json()["revision"] == 1  # a draft: no one saw it
    assert enrollment.post("/programmes/REV-01/publish").json()["revision"] == 1
    changed = enrollment.patch("/programmes/REV-01", {"requires_supervisor_approval": True}).json()
    assert (changed["revision"], changed["requires_supervisor_approval"]) == (2, True)
    updated = events_until(enrollment, {"programme_updated"})["programme_updated"]
    assert updated.data["programme"]["requires_supervisor_approval"] is True
    assert enrollment.post("/programmes/REV-01/cancel", {"reason": "Narasumber berhalangan"}).json()["revision"] == 3


def test_an_asn_withdrawing_a_waiting_request_frees_its_seat_and_the_supervisor_no_longer_sees_it(enrollment):
    head, staff, second, _ = team(7800)
    roster(enrollment, *team_rows(7800))
    approval_programme(enrollment, "WDR-01", capacity=1, starts_at=upcoming("WDR-01")["starts_at"])
    request = self_enrol(enrollment, "WDR-01", staff).json()
    waiting = enrollment.post("/programmes/WDR-01/enrolments", {"nip": second}, headers=OPERATOR).json()
    events_until(enrollment, {"approval_requested", "waitlisted"})
    withdrawn = enrollment.post(f"/enrolments/{request['id']}/cancel", {}, headers=asn(staff))
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "cancelled", withdrawn.text
    events = events_until(enrollment, {"cancelled", "enrolled"})
    assert (events["cancelled"].data["previous_status"], events["cancelled"].data["cancelled_by"]) == (
        "awaiting_approval", "participant")
    assert events["enrolled"].data["enrolment_id"] == waiting["id"]
    assert enrollment.get("/approvals", headers=asn(head)).json()["items"] == []
    late = enrollment.post(f"/enrolments/{request['id']}/approval", {"decision": "approved"}, headers=asn(head))
    assert late.status_code == 409
