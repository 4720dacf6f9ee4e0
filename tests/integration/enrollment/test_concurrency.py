"""Capacity, waitlist order and one-enrolment-per-NIP under concurrency, across two replicas."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import requests

from deploy.processes import free_port
from services.enrollment.service import EnrollmentService
from tests.integration.enrollment.conftest import bind_tap
from tests.integration.enrollment.factories import participant, upcoming
from shared.events.envelope import parse
from tests.support import auth_headers, get_messages

ADMIN = auth_headers()


def start_replicas(container_factory, settings, count: int) -> list[str]:
    urls = []
    for _ in range(count):
        replica = replace(settings, http_address=f"127.0.0.1:{free_port()}")
        container_factory(EnrollmentService, replica.nameko_config()).start()
        urls.append(f"http://{replica.http_address}")
    return urls


def test_50_concurrent_enrolments_into_10_seats_on_two_replicas_give_10_seats_and_40_waitlisted_in_order(
        container_factory, settings):
    tap = bind_tap(settings.amqp_uri)
    a, b = start_replicas(container_factory, settings, 2)
    assert requests.post(f"{a}/programmes", json=upcoming("CON-01", capacity=10), headers=ADMIN, timeout=10).status_code == 201
    assert requests.post(f"{a}/programmes/CON-01/publish", headers=ADMIN, timeout=10).status_code == 200

    def enrol(i):
        url = a if i % 2 else b
        response = requests.post(f"{url}/programmes/CON-01/enrolments", json=participant(i), headers=ADMIN, timeout=60)
        assert response.status_code == 201, response.text
        return response.json()

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(enrol, range(50)))

    enrolled = [r for r in results if r["status"] == "enrolled"]
    waitlisted = [r for r in results if r["status"] == "waitlisted"]
    assert (len(enrolled), len(waitlisted)) == (10, 40)
    # positions at arrival are 1..40, each given once, and follow the order of arrival
    assert sorted(r["waitlist_position_at_arrival"] for r in waitlisted) == list(range(1, 41))
    by_position = sorted(waitlisted, key=lambda r: r["waitlist_position_at_arrival"])
    arrived = [r["waitlisted_at"] for r in by_position]
    assert arrived == sorted(arrived)
    # nobody got a seat after someone who arrived before them was waitlisted
    assert max(r["enrolled_at"] for r in enrolled) <= min(arrived)

    programme_now = requests.get(f"{b}/programmes/CON-01", headers=ADMIN, timeout=10).json()
    assert (programme_now["seats_taken"], programme_now["waitlisted"]) == (10, 40)

    # an outside subscriber saw the same: 10 enrolled, 40 waitlisted with the same positions
    events = {e.subject: e for e in (parse(m.body) for m in get_messages(settings.amqp_uri, tap, 51))
              if e.name in ("enrolled", "waitlisted")}
    assert len(events) == 50
    for r in results:
        assert events[r["id"]].name == r["status"]
        assert events[r["id"]].data.get("position") == r["waitlist_position_at_arrival"]

    # a retry storm on both replicas creates nothing new
    with ThreadPoolExecutor(max_workers=20) as pool:
        again = list(pool.map(lambda i: requests.post(f"{a if i % 2 else b}/programmes/CON-01/enrolments",
                                                      json=participant(i % 5), headers=ADMIN, timeout=60), range(20)))
    assert {r.status_code for r in again} == {200}
    assert requests.get(f"{a}/enrolments", params={"programme": "CON-01"}, headers=ADMIN, timeout=10).json()["total"] == 50

    # cancelling a seat before the start promotes the first waitlisted
    first_waiting = next(r for r in waitlisted if r["waitlist_position_at_arrival"] == 1)
    second_waiting = next(r for r in waitlisted if r["waitlist_position_at_arrival"] == 2)
    requests.post(f"{b}/enrolments/{enrolled[0]['id']}/cancel", json={}, headers=ADMIN, timeout=10)
    assert requests.get(f"{a}/enrolments/{first_waiting['id']}", headers=ADMIN, timeout=10).json()["status"] == "enrolled"
    assert requests.get(f"{a}/enrolments/{second_waiting['id']}", headers=ADMIN, timeout=10).json()["waitlist_position"] == 1
