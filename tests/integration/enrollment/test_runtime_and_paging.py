"""The service's runtime as the template gives it: configuration read when the container starts
(the configured upload cap, the sweep's interval), the injected clock, the background sweep on
shared.background, cursor paging with the old parameters still accepted, printed NIPs."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.enrollment.service import EnrollmentService
from shared import topology
from shared.store import connect
from tests.integration.enrollment.conftest import Running, bind_tap, settings_for
from tests.integration.enrollment.factories import nip, participant, programme, ts
from tests.support import wait_for


@pytest.fixture
def start(container_factory, service_env):
    """Starts a service of its own with settings overridden (the environment is read at start)."""
    clients = []

    def started(**overrides) -> Running:
        settings = settings_for(service_env, **overrides)
        topology.declare_service(settings)
        container_factory(EnrollmentService, settings.nameko_config()).start()
        clients.append(connect(settings))
        return Running(f"http://{settings.http_address}", settings, clients[-1][settings.db_name],
                       bind_tap(settings.amqp_uri))

    yield started
    for client in clients:
        client.close()


def printed(number: str) -> str:
    """A NIP as printed on documents: ``19850312 201001 1 002``."""
    return f"{number[:8]} {number[8:14]} {number[14]} {number[15:]}"


def test_the_old_page_parameters_still_page_and_a_foreign_cursor_is_refused(isolated_enrollment):
    enrollment = isolated_enrollment
    for i in range(3):
        enrollment.post("/programmes", programme(f"OLD-{i}"))
    first = enrollment.get("/programmes", params={"per_page": 2}).json()
    second = enrollment.get("/programmes", params={"per_page": 2, "page": 2}).json()
    assert [p["code"] for p in first["items"]] == ["OLD-0", "OLD-1"] and first["total"] == 3
    assert [p["code"] for p in second["items"]] == ["OLD-2"] and second["next_cursor"] is None
    by_cursor = enrollment.get("/programmes", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert by_cursor["items"] == second["items"]
    foreign = enrollment.get("/programmes", params={"cursor": "OLD-0"})
    assert foreign.status_code == 422 and foreign.json()["field"] == "cursor"


def test_a_printed_nip_with_spaces_is_enrolled_and_listed_by_its_digits(enrollment):
    enrollment.create_published(programme("NIP-01"))
    enrolled = enrollment.post("/programmes/NIP-01/enrolments", participant(901, nip=printed(nip(901))))
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["nip"] == nip(901)
    listed = enrollment.get("/enrolments", params={"nip": printed(nip(901))}).json()
    assert [e["id"] for e in listed["items"]] == [enrolled.json()["id"]]
    short = enrollment.post("/programmes/NIP-01/enrolments", participant(902, nip="1985 0312"))
    assert short.status_code == 422 and "18 digits" in str(short.json()["errors"]["nip"])


def test_the_service_runs_on_the_injected_clock(start):
    at = datetime(2026, 3, 5, 2, 0, tzinfo=timezone.utc)
    enrollment = start(extra={"clock": lambda: at})
    window = {"starts_at": ts(at - timedelta(hours=1)), "ends_at": ts(at + timedelta(days=7)),
              "enrolment_opens_at": ts(at - timedelta(days=1)), "enrolment_closes_at": ts(at + timedelta(days=6))}
    published = enrollment.create_published(programme("CLK-01", **window))
    assert published["enrolment_open"] is True and published["published_at"] == "2026-03-05T02:00:00.000Z"
    enrolled = enrollment.post("/programmes/CLK-01/enrolments", participant(1)).json()
    assert enrolled["enrolled_at"] == "2026-03-05T02:00:00.000Z"
    [event] = [e for e in enrollment.events(2) if e.name == "enrolled"]
    assert event.data["enrolled_at"] == "2026-03-05T02:00:00.000Z"
    # a programme open by the wall clock is not open by the service's clock
    enrollment.post("/programmes", programme("CLK-02"))
    assert enrollment.get("/programmes/CLK-02").json()["enrolment_open"] is False


def test_the_background_sweep_finishes_an_interrupted_cancellation_by_itself(start, monkeypatch):
    monkeypatch.setenv("ENROLLMENT_CASCADE_SWEEP_INTERVAL_S", "0.2")  # read when the container starts
    enrollment = start()
    enrollment.create_published(programme("SWP-01", capacity=5))
    for i in range(3):
        enrollment.post("/programmes/SWP-01/enrolments", participant(i))
    enrollment.events(4)
    # the state a crash right after the programme's own transaction leaves behind
    enrollment.db.programmes.update_one({"_id": "SWP-01"}, {"$set": {
        "status": "cancelled", "cancel_reason": "Force majeure", "cascade_pending": True}})
    wait_for(lambda: enrollment.db.programmes.find_one({"_id": "SWP-01"})["cascade_pending"] is False,
             message="the sweep")
    assert enrollment.get("/enrolments", params={"programme": "SWP-01", "status": "cancelled"}).json()["total"] == 3
    assert {e.data["cancelled_by"] for e in enrollment.events(3)} == {"programme_cancelled"}


def test_an_upload_over_the_configured_size_is_refused_before_any_row_is_written(start, monkeypatch):
    monkeypatch.setenv("ENROLLMENT_BULK_MAX_BYTES", "200")  # read when the container starts
    enrollment = start()
    enrollment.create_published(programme("BYT-01"))
    rows = [f"{nip(800 + i)},Peserta {i},DINKES\n" for i in range(8)]
    assert len("nip,nama,opd\n" + "".join(rows)) > 200
    refused = enrollment.post("/programmes/BYT-01/enrolments/bulk", data=("nip,nama,opd\n" + "".join(rows)).encode(),
                              headers={"Content-Type": "text/csv"})
    assert refused.status_code == 413 and refused.json()["error"] == "payload_too_large", refused.text
    assert "200 bytes" in refused.json()["message"]
    assert enrollment.get("/enrolments", params={"programme": "BYT-01"}).json()["total"] == 0
    accepted = enrollment.post("/programmes/BYT-01/enrolments/bulk", headers={"Content-Type": "text/csv"},
                               data=("nip,nama,opd\n" + "".join(rows[:2])).encode())
    assert accepted.status_code == 200 and '"accepted": 2' in accepted.text, accepted.text
