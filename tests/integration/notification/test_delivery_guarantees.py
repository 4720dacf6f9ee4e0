"""Retries, give-ups, undeliverable recipients, quiet hours, reminders and nudges."""
from __future__ import annotations

import copy
from datetime import timedelta

from kombu import Connection, Exchange, Queue

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from services.notification import commands, dependencies
from services.notification.adapters.channels import DELIVERY_HEADER, ID_HEADER, new_secret, verify
from shared.events import registry
from tests.integration.notification.conftest import WEBHOOK_SECRET, wib
from tests.support import body_json, get_messages, publish_event, wait_for

NIP = "198503122010011002"
NIP_SITI = "199001012015032001"
EMAIL = "rahmat.hidayat@bukittinggikota.go.id"


def example(service: str, name: str, **changes) -> dict:
    data = copy.deepcopy(registry.latest(service, name).example)
    data.update(changes)
    return data


def subject(email) -> str:
    return " ".join(email["Subject"].split())  # long subjects arrive folded


def person(nip: str, name: str) -> dict:
    return {**registry.latest("enrollment", "enrolled").example["participant"], "nip": nip, "name": name}


def register(service, nip: str = NIP, **fields) -> None:
    body = {"name": "Rahmat Hidayat", "email": EMAIL, **fields}
    reply = service.http("PUT", f"/recipients/{nip}", json=body)
    assert reply.status_code in (200, 201), reply.text


def bind_external_queue(amqp_uri: str, routing_key: str) -> str:
    """A subscriber of notification.events, as another government system would bind one."""
    name = f"external.notification.{routing_key}"
    with Connection(amqp_uri) as conn:
        Queue(name, Exchange("notification.events", "topic", durable=True), routing_key=routing_key,
              durable=True)(conn.channel()).declare()
    return name


def test_smtp_down_then_up_delivers_the_email_once_after_a_retry(start_notification, smtp_down):
    service = start_notification(smtp_down.port, backoff_s=(0.3,))
    register(service)
    event = publish_event(service.settings.amqp_uri, "certification", "certified", example("certification", "certified"))

    retrying = wait_for(lambda: service.delivery(source_event_id=event["id"], channel="email", attempts={"$gte": 1}),
                        message="a failed first attempt")
    assert retrying["status"] in ("pending", "sending")
    assert "unavailable" in retrying["history"][0]["detail"]

    smtp_down.start()
    delivered = wait_for(lambda: service.delivery(source_event_id=event["id"], channel="email", status="delivered"),
                         timeout=20, message="delivery after the SMTP server came back")
    assert delivered["attempts"] >= 2
    [email] = smtp_down.messages()
    assert email[DELIVERY_HEADER] == str(delivered["_id"])
    assert email["Message-ID"] == f"<{delivered['_id']}.bangkom@bukittinggikota.go.id>"
    assert subject(email) == "Sertifikat Anda terbit: 0042/BKN-BKT/SERT-PBJ/2026"
    assert [e["data"]["delivery_id"] for e in service.emitted("delivered") if e["data"]["channel"] == "email"] == [
        str(delivered["_id"])]
    assert service.emitted("failed") == []


def test_an_email_resent_after_a_death_between_the_smtp_answer_and_its_record_carries_the_same_message_id(
        start_notification, smtp, monkeypatch):
    """The one window of a copy: the server said 250, the replica died before recording it. The
    claim expires, the delivery is sent again, and the copy is the same email to a mail system."""
    real_record = commands.record_outcome
    died = []

    def dies_once_after_the_250(tx, delivery, status, *args, **kwargs):
        if delivery["channel"] == "email" and status == "delivered" and not died:
            died.append(delivery["_id"])
            raise RuntimeError("replica killed after the SMTP server's 250")
        return real_record(tx, delivery, status, *args, **kwargs)

    monkeypatch.setattr(commands, "record_outcome", dies_once_after_the_250)
    monkeypatch.setattr(dependencies, "RECOVER_EVERY_S", 0.2)  # expired claims back to pending at once
    service = start_notification(smtp.port, claim_lease_s=1.0)
    register(service)
    event = publish_event(service.settings.amqp_uri, "certification", "certified", example("certification", "certified"))

    delivered = wait_for(lambda: service.delivery(source_event_id=event["id"], channel="email", status="delivered"),
                         timeout=30, message="the email delivered after the claim expired")
    emails = smtp.to(EMAIL)
    assert died == [delivered["_id"]] and len(emails) == 2  # sent twice: at least once, never lost
    assert {e["Message-ID"] for e in emails} == {f"<{delivered['_id']}.bangkom@bukittinggikota.go.id>"}
    assert {e[DELIVERY_HEADER] for e in emails} == {str(delivered["_id"])}
    assert [h["outcome"] for h in delivered["history"]] == ["claim_expired", "delivered"]
    # Recorded once: one delivered event, whatever the copies.
    assert [e["data"]["delivery_id"] for e in service.emitted("delivered") if e["data"]["channel"] == "email"] == [
        str(delivered["_id"])]


def test_after_the_last_attempt_the_delivery_is_failed_and_a_failed_event_is_published(
        start_notification, smtp_down):
    service = start_notification(smtp_down.port, max_attempts=3, backoff_s=(0.1,))
    queue = bind_external_queue(service.settings.amqp_uri, "failed")
    register(service)
    event = publish_event(service.settings.amqp_uri, "certification", "revoked", example("certification", "revoked"))

    [message] = get_messages(service.settings.amqp_uri, queue, 1, timeout=20)
    failed = body_json(message)
    assert failed["type"] == "id.go.bkn.bangkom.notification.failed.v1"
    assert failed["data"]["nip"] == NIP and failed["data"]["channel"] == "email"
    assert failed["data"]["message_kind"] == "revoked" and failed["data"]["attempts"] == 3
    assert failed["data"]["source_event_id"] == event["id"]
    assert "gave up after 3 attempts" in failed["data"]["reason"]
    delivery = service.delivery(source_event_id=event["id"], channel="email")
    assert delivery["status"] == "failed" and delivery["attempts"] == 3
    assert [h["outcome"] for h in delivery["history"]] == ["retry", "retry", "failed"]


def test_an_asn_without_contact_data_is_recorded_undeliverable_once_and_still_gets_the_inbox(
        start_notification, smtp):
    service = start_notification(smtp.port)
    event = publish_event(service.settings.amqp_uri, "enrollment", "completed",
                          example("enrollment", "completed", participant=person(NIP_SITI, "Siti Aminah")))

    email = wait_for(lambda: service.delivery(source_event_id=event["id"], channel="email", status="undeliverable"),
                     message="the email recorded undeliverable")
    assert email["attempts"] == 0 and len(email["history"]) == 1  # no retry loop
    [failed] = service.emitted("failed")
    assert failed["data"]["reason"] == f"undeliverable: ASN {NIP_SITI} has no email address on record"
    inbox = service.http("GET", f"/inbox/{NIP_SITI}").json()
    assert [m["kind"] for m in inbox["items"]] == ["completed_passed"]
    log = service.http("GET", "/deliveries", params={"nip": NIP_SITI}).json()["items"]
    assert sorted((d["channel"], d["status"]) for d in log) == [("email", "undeliverable"), ("inbox", "delivered")]
    assert smtp.messages() == []


def test_a_webhook_answering_503_is_retried_and_every_call_carries_a_valid_signature(
        start_notification, smtp, webhook):
    service = start_notification(smtp.port)
    register(service, phone="081266123456", channels=["webhook"])
    webhook.replies = [503]
    event = publish_event(service.settings.amqp_uri, "enrollment", "waitlisted", example("enrollment", "waitlisted"))

    delivered = wait_for(lambda: service.delivery(source_event_id=event["id"], channel="webhook", status="delivered"),
                         message="the webhook delivery after one 503")
    assert len(webhook.requests) == 2 and delivered["attempts"] == 2
    assert {r["headers"][DELIVERY_HEADER] for r in webhook.requests} == {str(delivered["_id"])}
    assert {r["headers"][ID_HEADER] for r in webhook.requests} == {str(delivered["_id"])}  # same id on retry
    for request in webhook.requests:
        assert verify(WEBHOOK_SECRET, request["body"], request["headers"])["delivery_id"] == str(delivered["_id"])
        with pytest.raises(WebhookVerificationError):
            verify(new_secret(), request["body"], request["headers"])
    payload = webhook.payloads()[-1]
    assert payload["to"]["phone"] == "+6281266123456"
    assert "daftar tunggu urutan ke-3" in payload["text"]
    assert smtp.messages() == []  # the ASN chose the webhook only


def test_quiet_hours_defer_a_routine_email_to_06_wib_but_not_a_promotion(start_notification, smtp, clock):
    clock.now = wib(2026, 1, 5, 22, 30)
    service = start_notification(smtp.port)
    register(service)
    amqp = service.settings.amqp_uri
    routine = publish_event(amqp, "enrollment", "completed", example("enrollment", "completed"))
    urgent = publish_event(amqp, "enrollment", "enrolled",
                           example("enrollment", "enrolled", enrolment_id="e-9", promoted_from_waitlist=True))

    wait_for(lambda: service.delivery(source_event_id=urgent["id"], channel="email", kind="promoted",
                                      status="delivered"), message="the promotion delivered at night")
    [promotion] = smtp.messages()
    assert subject(promotion).startswith("Kursi tersedia")
    deferred = service.delivery(source_event_id=routine["id"], channel="email")
    assert deferred["status"] == "pending" and deferred["next_attempt_at"] == wib(2026, 1, 6, 6, 0)
    assert service.delivery(source_event_id=routine["id"], channel="inbox")["status"] == "delivered"

    clock.now = wib(2026, 1, 6, 6, 0)
    service.wake()
    wait_for(lambda: service.delivery(source_event_id=routine["id"], channel="email", status="delivered"),
             message="the deferred email at 06:00 WIB")
    assert len(smtp.messages()) == 2


def test_the_reminder_goes_the_day_before_and_is_dropped_when_the_enrolment_is_cancelled_in_any_order(
        start_notification, smtp, clock):
    service = start_notification(smtp.port)
    register(service)
    amqp = service.settings.amqp_uri
    enrolled = {e: example("enrollment", "enrolled", enrolment_id=e) for e in ("kept", "cancelled", "cancel-first")}
    # enrolled at 2026-01-10, cancelled at 2026-01-20 (the examples' times)
    cancel = {e: example("enrollment", "cancelled", enrolment_id=e) for e in ("cancelled", "cancel-first")}

    publish_event(amqp, "enrollment", "cancelled", cancel["cancel-first"])  # overtakes its `enrolled`
    wait_for(lambda: service.delivery(enrolment_id="cancel-first", kind="cancelled"), message="early cancellation")
    for e in ("kept", "cancelled", "cancel-first"):
        publish_event(amqp, "enrollment", "enrolled", enrolled[e])
    wait_for(lambda: len(service.deliveries(kind="reminder")) == 4, message="reminders of the two live enrolments")
    publish_event(amqp, "enrollment", "cancelled", cancel["cancelled"])
    wait_for(lambda: {d["status"] for d in service.deliveries(kind="reminder", enrolment_id="cancelled")} == {"dropped"},
             message="the reminder dropped")

    # the programme starts Monday 2 March 2026, 08.00 WIB: remind on Sunday at 08.00 WIB
    [reminder] = service.deliveries(kind="reminder", enrolment_id="kept", channel="email")
    assert reminder["next_attempt_at"] == wib(2026, 3, 1, 8, 0)
    clock.now = wib(2026, 3, 1, 8, 0)
    service.wake()
    wait_for(lambda: any(m["Subject"].startswith("Pengingat") for m in smtp.messages()), message="the reminder email")
    wait_for(lambda: service.delivery(kind="reminder", enrolment_id="kept", channel="inbox", status="delivered"))

    reminders = [m for m in smtp.messages() if m["Subject"].startswith("Pengingat")]
    assert len(reminders) == 1
    assert subject(reminders[0]) == ("Pengingat: Sertifikasi Pengadaan Barang/Jasa Pemerintah Tingkat Dasar "
                                       "dimulai Senin, 2 Maret 2026 pukul 08.00 WIB")
    assert service.deliveries(enrolment_id="cancel-first", kind={"$in": ["enrolled", "reminder"]}) == []
    inbox_kinds = [m["kind"] for m in service.http("GET", f"/inbox/{NIP}").json()["items"]]
    assert inbox_kinds.count("reminder") == 1


def test_nudges_are_throttled_per_period_and_repeated_shortfalls_reach_the_agency_operator_in_one_summary(
        start_notification, smtp, clock):
    """An older reporting (no ``escalate_to``): the threshold of consecutive misses decides."""
    service = start_notification(smtp.port, nudge_period=timedelta(days=30))
    register(service)
    register(service, NIP_SITI, name="Siti Aminah", email="siti.aminah@bukittinggikota.go.id")
    contact = service.http("PUT", "/agencies/diskominfo/contact",
                           json={"name": "Yulia Putri", "email": "operator.diskominfo@bukittinggikota.go.id"})
    assert contact.status_code == 201 and contact.json()["agency_name"] == "Dinas Komunikasi dan Informatika"
    amqp = service.settings.amqp_uri

    def shortfall(nip, name, checkpoint, consecutive, jp_total=8):
        data = example("reporting", "shortfall_detected", participant={**person(nip, name), "agency": "DISKOMINFO"},
                       checkpoint=checkpoint, consecutive_shortfalls=consecutive, jp_total=jp_total,
                       jp_missing=20 - jp_total)
        for added_by_issue_19 in ("yearly_target", "never_enrolled", "peers", "supervisor", "escalate_to"):
            del data[added_by_issue_19]
        return publish_event(amqp, "reporting", "shortfall_detected", data)

    shortfall(NIP, "Rahmat Hidayat", "2026-Q2", 1)
    wait_for(lambda: len(smtp.to(EMAIL)) == 1, message="the first nudge")
    clock.now += timedelta(days=10)
    second = shortfall(NIP, "Rahmat Hidayat", "2026-Q3", 2)
    shortfall(NIP_SITI, "Siti Aminah", "2026-Q3", 3, jp_total=0)
    wait_for(lambda: len(smtp.to("siti.aminah")) == 1, message="Siti's first nudge")
    wait_for(lambda: service.db.escalations.find_one({"_id": "DISKOMINFO|2026-Q3"}, {"items": 1}) and
             len(service.db.escalations.find_one({"_id": "DISKOMINFO|2026-Q3"})["items"]) == 2,
             message="both ASN in the checkpoint's summary")
    assert service.deliveries(source_event_id=second["id"]) == []  # throttled: within 30 days of the first

    clock.now += timedelta(minutes=11)  # the summary waits 10 minutes to collect the checkpoint
    service.wake()
    [summary] = wait_for(lambda: smtp.to("operator.diskominfo"), message="the operator's summary")
    assert subject(summary) == "2 ASN Dinas Komunikasi dan Informatika berulang kali di bawah target JP (triwulan III tahun 2026)"
    text = summary.get_payload()[0].get_payload(decode=True).decode()
    assert "Rahmat Hidayat (NIP 198503122010011002): 8 dari 20 JP" in text
    assert "Siti Aminah (NIP 199001012015032001): 0 dari 20 JP" in text

    clock.now += timedelta(days=21)  # 31 days after the first nudge
    shortfall(NIP, "Rahmat Hidayat", "2026-Q4", 3)
    wait_for(lambda: len(smtp.to(EMAIL)) == 2, message="a nudge again after the period")
    assert len(smtp.to("operator.diskominfo")) == 1


def test_a_rescheduled_programme_moves_its_reminder_and_the_reminder_shows_the_new_date(
        start_notification, smtp, clock):
    service = start_notification(smtp.port)
    register(service)
    amqp = service.settings.amqp_uri
    publish_event(amqp, "enrollment", "enrolled", example("enrollment", "enrolled", enrolment_id="moved"))
    wait_for(lambda: service.delivery(kind="reminder", channel="email"), message="the reminder scheduled")

    update = example("enrollment", "programme_updated")
    update["programme"] = {**update["programme"], "starts_at": "2026-03-09T01:00:00Z", "ends_at": "2026-03-12T09:00:00Z"}
    publish_event(amqp, "enrollment", "programme_updated", update)
    wait_for(lambda: service.delivery(kind="reminder", channel="email", next_attempt_at=wib(2026, 3, 8, 8, 0)),
             message="the reminder moved to the day before the new start")
    assert service.delivery(kind="reminder", channel="email")["due_at"] == wib(2026, 3, 8, 8, 0)

    clock.now = wib(2026, 3, 8, 8, 0)
    service.wake()
    wait_for(lambda: any(m["Subject"].startswith("Pengingat") for m in smtp.messages()), message="the reminder")
    [reminder] = [m for m in smtp.messages() if m["Subject"].startswith("Pengingat")]
    assert subject(reminder).endswith("dimulai Senin, 9 Maret 2026 pukul 08.00 WIB")
