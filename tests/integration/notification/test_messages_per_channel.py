"""Each public event reaches the ASN by email (real SMTP), signed webhook and inbox, once."""
from __future__ import annotations

import copy
import email.policy
import json
from email.parser import BytesParser

from services.notification.adapters.channels import DELIVERY_HEADER, verify
from shared import metrics
from shared.events import registry
from tests.integration.notification.conftest import WEBHOOK_SECRET
from tests.support import publish_event, publish_raw, wait_for

NIP = "198503122010011002"
EMAIL = "rahmat.hidayat@bukittinggikota.go.id"


def example(service: str, name: str, **changes) -> dict:
    data = copy.deepcopy(registry.latest(service, name).example)
    data.update(changes)
    return data


EVENTS = [  # (source, event, data, message kind, words the email must contain)
    ("enrollment", "enrolled", example("enrollment", "enrolled", enrolment_id="e-1"), "enrolled",
     "Pendaftaran Anda telah diterima"),
    ("enrollment", "enrolled", example("enrollment", "enrolled", enrolment_id="e-2", promoted_from_waitlist=True),
     "promoted", "naik dari daftar tunggu"),
    ("enrollment", "waitlisted", example("enrollment", "waitlisted", enrolment_id="e-3"), "waitlisted",
     "urutan ke-3"),
    ("enrollment", "cancelled", example("enrollment", "cancelled", enrolment_id="e-4"), "cancelled",
     "Tugas dinas luar kota"),
    ("enrollment", "completed", example("enrollment", "completed", enrolment_id="e-5"), "completed_passed",
     "LULUS"),
    ("enrollment", "completed", example("enrollment", "completed", enrolment_id="e-6", result="failed",
                                        passed=False, jp_earned=0, score=52.0), "completed_failed", "nilai 52,0"),
    ("certification", "certified", example("certification", "certified"), "certified",
     "https://sertifikat.bukittinggikota.go.id/verify/K7Q2M9XW4RTD8HVB3N"),
    ("certification", "revoked", example("certification", "revoked"), "revoked", "DICABUT"),
    ("certification", "expiring", example("certification", "expiring"), "expiring", "30 hari"),
    ("reporting", "shortfall_detected", example("reporting", "shortfall_detected", consecutive_shortfalls=1),
     "nudge", "Capaian Anda: 8 JP"),
]


def test_each_event_kind_produces_its_message_by_email_webhook_and_inbox(start_notification, smtp, webhook):
    service = start_notification(smtp.port)
    reply = service.http("PUT", f"/recipients/{NIP}", json={
        "name": "Rahmat Hidayat", "email": EMAIL, "phone": "0812-6612-3456", "channels": ["email", "webhook"]})
    assert reply.status_code == 201, reply.text
    sent = {}
    for source, name, data, kind, _ in EVENTS:
        sent[kind] = publish_event(service.settings.amqp_uri, source, name, data)["id"]

    emails = wait_for(lambda: len(smtp.messages()) == len(EVENTS) and smtp.messages(), timeout=30,
                      message="one email per event")
    wait_for(lambda: len(webhook.requests) == len(EVENTS), message="one webhook call per event")
    inbox = wait_for(lambda: (page := service.http("GET", f"/inbox/{NIP}").json())["unread"] == len(EVENTS)
                     and page, message="one inbox message per event")

    wait_for(lambda: service.db.deliveries.count_documents(
        {"status": {"$in": ["pending", "sending"]}, "kind": {"$ne": "reminder"}}) == 0, message="outcomes recorded")
    by_delivery = {}
    for message in emails:
        parsed = BytesParser(policy=email.policy.default).parsebytes(message.as_bytes())
        by_delivery[parsed[DELIVERY_HEADER]] = parsed
    for source, name, data, kind, words in EVENTS:
        [delivery] = service.deliveries(source_event_id=sent[kind], channel="email", kind=kind)
        assert delivery["status"] == "delivered" and delivery["kind"] == kind
        received = by_delivery[str(delivery["_id"])]
        assert received["To"].addresses[0].addr_spec == EMAIL
        assert words in received.get_body(("plain",)).get_content()
        assert received.get_body(("html",)).get_content().lstrip().startswith("<!DOCTYPE html>")
    certified = by_delivery[str(service.delivery(source_event_id=sent["certified"], channel="email")["_id"])]
    assert certified["Subject"] == "Sertifikat Anda terbit: 0042/BKN-BKT/SERT-PBJ/2026"

    for request in webhook.requests:
        assert verify(WEBHOOK_SECRET, request["body"], request["headers"])
    payloads = {p["kind"]: p for p in webhook.payloads()}
    assert set(payloads) == {kind for *_, kind, _ in EVENTS}
    assert payloads["promoted"]["to"]["phone"] == "+6281266123456"
    assert payloads["promoted"]["nip"] == NIP
    assert "Senin, 2 Maret 2026 pukul 08.00 WIB" in payloads["promoted"]["text"]

    assert {m["kind"] for m in inbox["items"]} == {kind for *_, kind, _ in EVENTS}
    # the reminders of the two enrolments wait for the day before the programme
    assert {d["status"] for d in service.deliveries(kind="reminder")} == {"pending"}

    first = inbox["items"][0]
    read = service.http("POST", f"/inbox/{NIP}/{first['id']}/read")
    assert read.status_code == 200 and read.json()["read_at"]
    assert service.http("POST", f"/inbox/{NIP}/{first['id']}/read").json() == read.json()  # idempotent
    assert service.http("GET", f"/inbox/{NIP}").json()["unread"] == len(EVENTS) - 1
    assert service.http("GET", f"/inbox/{NIP}?unread=true").json()["items"][0]["id"] != first["id"]

    # every delivery produced one `delivered` event through the outbox
    delivered = service.emitted("delivered")
    assert len(delivered) == 3 * len(EVENTS)
    assert len({e["data"]["delivery_id"] for e in delivered}) == 3 * len(EVENTS)


def register(service, **fields) -> None:
    reply = service.http("PUT", f"/recipients/{NIP}", json={"name": "Rahmat Hidayat", "email": EMAIL, **fields})
    assert reply.status_code in (200, 201), reply.text


def test_the_delivery_log_pages_through_a_nip_and_filters_by_event(start_notification, smtp):
    service = start_notification(smtp.port)
    register(service)
    ids = [publish_event(service.settings.amqp_uri, "certification", "expiring",
                         example("certification", "expiring", certificate_id=f"c-{i}"))["id"] for i in range(3)]
    wait_for(lambda: len(smtp.messages()) == 3, message="three emails")

    seen, cursor = [], None
    while True:
        page = service.http("GET", "/deliveries", params={"nip": NIP, "limit": 4, **({"cursor": cursor} if cursor else {})}).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 6 and len({d["id"] for d in seen}) == 6  # email + inbox per event, no repeats
    by_event = service.http("GET", "/deliveries", params={"event_id": ids[1]}).json()["items"]
    assert sorted(d["channel"] for d in by_event) == ["email", "inbox"]
    assert all(d["status"] == "delivered" and d["source_event_id"] == ids[1] for d in by_event)
    bad = service.http("GET", "/deliveries", params={"nip": "12345", "status": "lost"})
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"nip", "status"}


def test_duplicate_events_and_two_replicas_send_each_message_once(start_notification, smtp):
    first = start_notification(smtp.port)
    start_notification(smtp.port)  # a second replica on the same queues and database
    register(first)
    amqp = first.settings.amqp_uri
    duplicates_before = metrics.EVENTS_DUPLICATE.labels(registry.latest("certification", "certified").type)._value.get()
    events = [publish_event(amqp, "certification", "certified",
                            example("certification", "certified", certificate_id=f"c-{i}", number=f"{i:04d}/BKN-BKT/SERT-PBJ/2026"))
              for i in range(12)]
    for event in events[::2]:  # redelivered, as after a relay crash
        publish_raw(amqp, "certification.events", "certified", json.dumps(event).encode())

    wait_for(lambda: metrics.EVENTS_DUPLICATE.labels(events[0]["type"])._value.get() - duplicates_before == 6,
             timeout=30, message="the six duplicates skipped")
    wait_for(lambda: len(smtp.messages()) >= 12, timeout=30, message="twelve emails")
    wait_for(lambda: first.db.deliveries.count_documents({"status": {"$in": ["pending", "sending"]}}) == 0)
    subjects = sorted(m["Subject"] for m in smtp.messages())
    assert subjects == sorted(f"Sertifikat Anda terbit: {i:04d}/BKN-BKT/SERT-PBJ/2026" for i in range(12))
    assert first.db.deliveries.count_documents({}) == 24  # one email and one inbox delivery per event
    assert first.db.messages.count_documents({}) == 12
