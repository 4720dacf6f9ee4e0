"""A seminar's narasumber hears from the running notification service, by email (real SMTP),
signed webhook and inbox, that they are the speaker: enrolled, completed, certified; never
about seats or a waitlist."""
from __future__ import annotations

import copy
import email.policy
from email.parser import BytesParser

from shared.events import registry
from tests.support import publish_event, wait_for

NIP = "198503122010011002"
EMAIL = "rahmat.hidayat@bukittinggikota.go.id"
SEMINAR = {"kind": "seminar", "title": "Seminar Integritas ASN", "code": "SEM-INT-2026", "jp": 4,
           "grants_certificate": True, "speakers": ["Rahmat Hidayat"]}


def speaker_event(service: str, name: str, **changes) -> dict:
    data = copy.deepcopy(registry.latest(service, name).example)
    data["programme"].update(SEMINAR)
    data.update(changes, role="narasumber")
    return data


EVENTS = [  # (source, event, data, message kind, words the email's subject and text must contain)
    ("enrollment", "enrolled", speaker_event("enrollment", "enrolled", enrolment_id="n-1"), "enrolled",
     ("Anda terdaftar sebagai narasumber", "Anda terdaftar sebagai narasumber pada seminar berikut")),
    ("enrollment", "completed", speaker_event("enrollment", "completed", enrolment_id="n-1", jp_earned=4),
     "completed_passed", ("Terima kasih, narasumber", "4 JP dicatat ke riwayat pengembangan kompetensi Anda")),
    ("certification", "certified", speaker_event("certification", "certified", enrolment_id="n-1", jp=4),
     "certified", ("Sertifikat narasumber Anda terbit", "Peran          : Narasumber")),
]


def test_a_speaker_is_told_they_are_narasumber_in_every_channel(start_notification, smtp, webhook):
    service = start_notification(smtp.port)
    reply = service.http("PUT", f"/recipients/{NIP}", json={
        "name": "Rahmat Hidayat", "email": EMAIL, "phone": "0812-6612-3456", "channels": ["email", "webhook"]})
    assert reply.status_code == 201, reply.text
    for source, name, data, _, _ in EVENTS:
        publish_event(service.settings.amqp_uri, source, name, data)

    emails = wait_for(lambda: len(smtp.messages()) == len(EVENTS) and smtp.messages(), timeout=30,
                      message="one email per event")
    wait_for(lambda: len(webhook.requests) == len(EVENTS), message="one webhook call per event")
    inbox = wait_for(lambda: (page := service.http("GET", f"/inbox/{NIP}").json())["unread"] == len(EVENTS)
                     and page, message="one inbox message per event")
    wait_for(lambda: service.db.deliveries.count_documents(
        {"status": {"$in": ["pending", "sending"]}, "kind": {"$ne": "reminder"}}) == 0, message="outcomes recorded")

    parsed = {}
    for message in emails:
        mail = BytesParser(policy=email.policy.default).parsebytes(message.as_bytes())
        parsed[mail["Subject"].split(":")[0]] = mail
    for source, name, data, kind, (subject, words) in EVENTS:
        mail = parsed[subject]
        text, html = mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()
        assert words in text, kind
        assert "narasumber" in html.lower(), kind
        for seat_words in ("kursi", "daftar tunggu", "LULUS"):
            assert seat_words not in text and seat_words not in html, (kind, seat_words)

    payloads = {p["kind"]: p for p in webhook.payloads()}
    assert set(payloads) == {kind for *_, kind, _ in EVENTS}
    assert "Anda terdaftar sebagai narasumber pada \"Seminar Integritas ASN\"" in payloads["enrolled"]["text"]
    assert "narasumber" in payloads["completed_passed"]["text"] and "lulus" not in payloads["completed_passed"]["text"]
    assert "sebagai narasumber" in payloads["certified"]["text"]

    titles = {m["kind"]: m["subject"] for m in inbox["items"]}
    assert titles["enrolled"] == "Anda terdaftar sebagai narasumber: Seminar Integritas ASN"
    # the speaker's reminder waits for the day before the seminar, worded for a speaker too
    [reminder] = service.messages(kind="reminder")
    assert "tempat Anda menjadi narasumber" in reminder["text"] and "kursi" not in reminder["text"]
