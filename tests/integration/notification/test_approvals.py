"""Supervisor approval (izin atasan) and acting supervisors (Plt/Plh) in notification, against
the real broker and store, with enrollment's events published directly: the approver's
message with the portal link and the deadline in WIB (the private ``approval_link``), the
reminder repeating that link, the ASN told of each outcome, the acting person told of their
delegation; a duplicate sends once; an inbox read by someone else is recorded."""
from __future__ import annotations

import copy
import json

from services.notification.store import APPROVALS
from shared import metrics
from shared.access_log import ACCESS_LOG
from shared.events import registry
from shared.events.common import EXAMPLE_ROSTER_ENTRY
from shared.mongo import PROCESSED
from tests.support import auth_headers, publish_event, publish_raw, wait_for

PORTAL = "https://portal.bangkom.test"
APPROVER = "197801052003121004"
ASN = "198503122010011002"
ACTING = "198002142005012003"
ENROLMENT, OTHER_ENROLMENT = "6752c1f0a4b1c2d3e4f50607", "6752c1f0a4b1c2d3e4f50608"
TOKEN = "NjdlNTJjMWYwYTRiMWMyZDNlNGY1MDYwNy4xOTc4MDEwNTIwMDMxMjEwMDQuMTc2ODI3MDUwMA.c2lnbmF0dXJl"
APPROVER_EMAIL, ASN_EMAIL = "yusnani@bukittinggikota.go.id", "rahmat@bukittinggikota.go.id"
DEADLINE_WIB = "Kamis, 8 Januari 2026 pukul 10.00 WIB"  # expires_at 03.00 UTC


def handled(service, event: dict) -> None:
    wait_for(lambda: service.db[PROCESSED].find_one({"event_id": event["id"]}), message=f"{event['type']} handled")


def publish(service, name: str, **changes) -> dict:
    data = copy.deepcopy(registry.latest("enrollment", name).example)
    data.update(changes)
    if "participant" in data:
        data["participant"] = {**data["participant"], "nip": ASN, "name": "Rahmat Hidayat"}
    event = publish_event(service.settings.amqp_uri, "enrollment", name, data,
                          subject=data.get("enrolment_id") or data["supervisor_nip"])
    handled(service, event)
    return event


def on_roster(service, nip: str, name: str, email: str | None) -> None:
    amqp = service.settings.amqp_uri
    handled(service, publish_event(amqp, "enrollment", "asn_registered", {
        "asn": {**EXAMPLE_ROSTER_ENTRY, "nip": nip, "name": name, "supervisor_nip": None, "version": 1},
        "registered_at": "2026-01-05T02:00:00Z"}, subject=nip))
    if email:
        handled(service, publish_event(amqp, "enrollment", "asn_contact", {
            "nip": nip, "email": email, "phone": None, "version": 1, "changed_at": "2026-01-05T02:00:00Z"},
            subject=nip))


def inbox(service, nip: str, headers: dict | None = None) -> list[dict]:
    reply = service.http("GET", f"/inbox/{nip}", headers=headers)
    assert reply.status_code == 200, reply.text
    return reply.json()["items"]


def text_of(email) -> str:
    return email.get_payload()[0].get_payload(decode=True).decode()


def test_the_approver_gets_the_link_and_deadline_once_a_reminder_repeats_it_and_the_asn_hears_the_refusal(
        start_notification, smtp):
    service = start_notification(smtp.port, portal_public_url=PORTAL)
    on_roster(service, APPROVER, "Yusnani, S.E.", APPROVER_EMAIL)
    on_roster(service, ASN, "Rahmat Hidayat", ASN_EMAIL)
    publish(service, "approval_requested", enrolment_id=ENROLMENT, approver_nip=APPROVER,
            expires_at="2026-01-08T03:00:00Z")
    link_event = publish(service, "approval_link", enrolment_id=ENROLMENT, approver_nip=APPROVER,
                         participant_nip=ASN, participant_name="Rahmat Hidayat", token=TOKEN,
                         expires_at="2026-01-08T03:00:00Z")

    link = f"{PORTAL}/persetujuan/{TOKEN}"
    [request] = inbox(service, APPROVER)
    assert request["kind"] == "approval_request"
    assert request["subject"].startswith("Permohonan izin atasan: Rahmat Hidayat – ")
    assert link in request["text"] and f"sebelum {DEADLINE_WIB}" in request["text"]
    assert "Yth. Yusnani, S.E." in request["text"]
    [email] = wait_for(lambda: smtp.to(APPROVER_EMAIL), message="the approval request e-mail")
    assert link in text_of(email)
    # the ASN was told their enrolment waits, holding their seat until the same deadline
    [waiting] = inbox(service, ASN)
    assert waiting["kind"] == "approval_pending" and f"Kursi Anda ditahan sampai {DEADLINE_WIB}" in waiting["text"]

    # the same event redelivered, and the same link in an event of its own: still one message
    duplicates = metrics.EVENTS_DUPLICATE.labels(link_event["type"])
    before = duplicates._value.get()
    publish_raw(service.settings.amqp_uri, "enrollment.private", "approval_link", json.dumps(link_event).encode())
    publish_event(service.settings.amqp_uri, "enrollment", "approval_link", link_event["data"], subject=ENROLMENT)
    wait_for(lambda: duplicates._value.get() >= before + 2, message="both copies skipped")
    assert len(inbox(service, APPROVER)) == 1
    assert len(service.deliveries(kind="approval_request", channel="email")) == 1

    # the reminder repeats the kept link
    publish(service, "approval_reminded", enrolment_id=ENROLMENT, approver_nip=APPROVER,
            expires_at="2026-01-08T03:00:00Z")
    reminder = inbox(service, APPROVER)[0]
    assert reminder["kind"] == "approval_reminder" and reminder["subject"].startswith("Pengingat")
    assert link in reminder["text"] and DEADLINE_WIB in reminder["text"]
    wait_for(lambda: len(smtp.to(APPROVER_EMAIL)) == 2, message="the reminder e-mail")

    # declined: the ASN learns why; the link is no longer kept, and a late reminder sends nothing
    publish(service, "approval_declined", enrolment_id=ENROLMENT, approver_nip=APPROVER,
            reason="Bertepatan dengan penyusunan anggaran")
    declined = inbox(service, ASN)[0]
    assert declined["kind"] == "approval_declined"
    assert "Yusnani, S.E. tidak menyetujui" in declined["text"]
    assert "Alasan  : Bertepatan dengan penyusunan anggaran" in declined["text"]
    emails = wait_for(lambda: [e for e in smtp.to(ASN_EMAIL) if "tidak disetujui" in e["Subject"]],
                      message="the refusal e-mail")
    assert len(emails) == 1
    record = service.db[APPROVALS].find_one({"_id": ENROLMENT})
    assert record["decision"] == "declined" and "token" not in record
    publish(service, "approval_reminded", enrolment_id=ENROLMENT, approver_nip=APPROVER,
            reminded_at="2026-01-07T03:00:30Z")
    assert [m["kind"] for m in inbox(service, APPROVER)] == ["approval_reminder", "approval_request"]


def test_the_asn_hears_approval_and_lapse_the_acting_person_is_told_and_other_readers_of_an_inbox_are_logged(
        start_notification, smtp):
    service = start_notification(smtp.port, portal_public_url=PORTAL)
    on_roster(service, APPROVER, "Yusnani, S.E.", None)
    on_roster(service, ASN, "Rahmat Hidayat", ASN_EMAIL)
    publish(service, "approval_granted", enrolment_id=ENROLMENT, approver_nip=APPROVER, status="enrolled")
    publish(service, "approval_lapsed", enrolment_id=OTHER_ENROLMENT, approver_nip=APPROVER,
            lapsed_at="2026-01-08T03:00:30Z")
    lapsed, granted = inbox(service, ASN, auth_headers("asn", nip=ASN))  # newest first
    assert granted["kind"] == "approval_granted" and "Yusnani, S.E. menyetujui" in granted["text"]
    assert "Anda terdaftar sebagai peserta" in granted["text"]
    assert lapsed["kind"] == "approval_lapsed" and "kedaluwarsa" in lapsed["subject"]
    assert "Sampai Kamis, 8 Januari 2026 pukul 10.00 WIB Yusnani, S.E. belum memutuskan" in lapsed["text"]
    wait_for(lambda: len(smtp.to(ASN_EMAIL)) == 2, message="both e-mails to the ASN")

    publish(service, "acting_supervisor_assigned", supervisor_nip=APPROVER, acting_nip=ACTING,
            acting_name="Hendra Gunawan, S.T.", kind="plh", ends_at="2026-03-31T09:00:00Z")
    [told] = inbox(service, ACTING)
    assert told["kind"] == "acting_assigned"
    assert told["subject"] == "Anda ditunjuk sebagai Pelaksana Harian (Plh) atasan Yusnani, S.E."
    assert "sampai Selasa, 31 Maret 2026 pukul 16.00 WIB" in told["text"] and f"{PORTAL}/persetujuan" in told["text"]

    # the ASN's own reads are not recorded; an admin's and an operator's are, naming who read whose inbox
    assert service.db[ACCESS_LOG].count_documents({"subject_nip": ASN}) == 0
    inbox(service, ASN)  # as an admin
    inbox(service, ASN, auth_headers("operator", agency="DISKOMINFO"))
    reads = list(service.db[ACCESS_LOG].find({"subject_nip": ASN}).sort("_id", 1))
    assert [(r["reader"]["role"], r["what"]) for r in reads] == [("admin", "inbox"), ("operator", "inbox")]
    listed = service.http("GET", f"/admin/access-log?nip={ASN}")
    assert listed.status_code == 200 and len(listed.json()["items"]) == 2
