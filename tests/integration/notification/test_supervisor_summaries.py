"""A checkpoint's shortfalls against the real broker and store: each ASN's nudge (pro-rated
target, never-enrolled opening, the peer line), one summary per supervisor listing exactly
their staff below target, the OPD operator's summary for ``escalate_to: agency``."""
from __future__ import annotations

import copy
import json
from datetime import timedelta

from services.notification.store import ESCALATIONS
from shared import metrics
from shared.events import registry
from shared.events.common import EXAMPLE_ROSTER_ENTRY
from shared.mongo import PROCESSED
from tests.support import publish_event, publish_raw, wait_for

CHECKPOINT = "2026-Q2"
SUPERVISOR_A = "197801052003121004"  # Yusnani, on the roster with an e-mail
SUPERVISOR_B = "197502102000032002"  # on the roster, no contact data: inbox only
OPERATOR_EMAIL = "operator.diskominfo@bukittinggikota.go.id"
STAFF_A = [("198503122010011002", "Rahmat Hidayat"), ("199001012015032001", "Siti Aminah"),
           ("199205172019031003", "Andi Saputra")]
STAFF_B = [("198811232014022004", "Dewi Lestari")]
NO_SUPERVISOR = ("199407072020121005", "Fajar Pratama")  # escalated to the OPD


def text_of(email) -> str:
    return email.get_payload()[0].get_payload(decode=True).decode()


def handled(service, event: dict) -> None:
    wait_for(lambda: service.db[PROCESSED].find_one({"event_id": event["id"]}), message=f"{event['type']} handled")


def shortfall(nip: str, name: str, supervisor: str | None, **changes) -> dict:
    data = copy.deepcopy(registry.latest("reporting", "shortfall_detected").example)
    data.update(participant={**data["participant"], "nip": nip, "name": name}, checkpoint=CHECKPOINT,
                jp_total=4, jp_target=10, jp_missing=6, yearly_target=20, consecutive_shortfalls=1,
                never_enrolled=False, peers=None,
                supervisor={"nip": supervisor, "name": None} if supervisor else None,
                escalate_to=["supervisor"] if supervisor else ["agency"])
    data.update(changes)
    return data


def test_each_supervisor_gets_one_summary_of_exactly_their_staff_and_the_opd_gets_the_rest(
        start_notification, smtp, clock):
    service = start_notification(smtp.port)
    amqp = service.settings.amqp_uri
    for nip, name, version in ((SUPERVISOR_A, "Yusnani", 1), (SUPERVISOR_B, "Hendra Gunawan", 1)):
        handled(service, publish_event(amqp, "enrollment", "asn_registered", {
            "asn": {**EXAMPLE_ROSTER_ENTRY, "nip": nip, "name": name, "supervisor_nip": None, "version": version},
            "registered_at": "2026-01-05T02:00:00Z"}))
    handled(service, publish_event(amqp, "enrollment", "asn_contact", {
        "nip": SUPERVISOR_A, "email": "yusnani@bukittinggikota.go.id", "phone": None, "version": 1,
        "changed_at": "2026-01-05T02:00:00Z"}))
    # the supervisor's own preferences: opting out of nudges does not touch a duty summary
    reply = service.http("PUT", f"/recipients/{SUPERVISOR_A}", json={
        "email": "yusnani@bukittinggikota.go.id", "opt_outs": ["nudge", "reminder"]})
    assert reply.status_code == 200, reply.text
    assert service.http("PUT", "/agencies/diskominfo/contact",
                        json={"name": "Yulia Putri", "email": OPERATOR_EMAIL}).status_code == 201
    for nip, name in STAFF_A + STAFF_B + [NO_SUPERVISOR]:
        assert service.http("PUT", f"/recipients/{nip}", json={"email": f"{nip}@bukittinggikota.go.id"}).ok

    events = [publish_event(amqp, "reporting", "shortfall_detected",
                            shortfall(nip, name, SUPERVISOR_A, never_enrolled=(nip == STAFF_A[1][0]),
                                      jp_total=0 if nip == STAFF_A[1][0] else 4,
                                      jp_missing=10 if nip == STAFF_A[1][0] else 6,
                                      peers={"agency_asn": 42, "met_share": 0.64} if nip == STAFF_A[0][0] else None))
              for nip, name in STAFF_A]
    events += [publish_event(amqp, "reporting", "shortfall_detected", shortfall(*STAFF_B[0], SUPERVISOR_B)),
               publish_event(amqp, "reporting", "shortfall_detected", shortfall(*NO_SUPERVISOR, None))]
    duplicate_type = events[0]["type"]
    duplicates_before = metrics.EVENTS_DUPLICATE.labels(duplicate_type)._value.get()
    for event in events[:2]:  # redelivered, as after a relay crash
        publish_raw(amqp, "reporting.events", "shortfall_detected", json.dumps(event).encode())
    # the checkpoint run again (a new event for the same ASN and checkpoint)
    rerun = publish_event(amqp, "reporting", "shortfall_detected", shortfall(*STAFF_A[2], SUPERVISOR_A))
    for event in events + [rerun]:
        handled(service, event)
    wait_for(lambda: metrics.EVENTS_DUPLICATE.labels(duplicate_type)._value.get() - duplicates_before == 2,
             message="the two redelivered events skipped")

    # every ASN is nudged once, whatever the copies
    for nip, _ in STAFF_A + STAFF_B + [NO_SUPERVISOR]:
        assert len(service.messages(nip=nip, kind="nudge")) == 1, nip
    nudge = {nip: service.messages(nip=nip, kind="nudge")[0]["text"] for nip, _ in STAFF_A}
    assert "Capaian Anda: 4 JP; target sampai akhir triwulan II tahun 2026: 10 JP, jadi masih kurang 6 JP." in nudge[STAFF_A[0][0]]
    assert "Target Anda untuk tahun 2026: 20 JP." in nudge[STAFF_A[0][0]]
    assert "64% rekan di Dinas Komunikasi dan Informatika sudah memenuhi target." in nudge[STAFF_A[0][0]]
    assert "rekan di" not in nudge[STAFF_A[2][0]]  # no peers in the event: no peer line
    assert nudge[STAFF_A[1][0]].startswith(
        "Yth. Siti Aminah,\n\nAnda belum pernah mengikuti pengembangan kompetensi tahun ini (2026).")
    assert "belum pernah" not in nudge[STAFF_A[0][0]]

    # the summaries wait to collect the checkpoint, then go out once
    assert smtp.to("yusnani@") == [] and smtp.to(OPERATOR_EMAIL) == []
    clock.now += timedelta(minutes=11)
    service.wake()
    [summary_a] = wait_for(lambda: smtp.to("yusnani@"), message="supervisor A's summary")
    wait_for(lambda: service.messages(nip=SUPERVISOR_B, kind="supervisor_summary", visible_at={"$ne": None}),
             message="supervisor B's summary in the inbox")
    [operator] = wait_for(lambda: smtp.to(OPERATOR_EMAIL), message="the OPD operator's summary")
    wait_for(lambda: service.db.deliveries.count_documents({"status": {"$in": ["pending", "sending"]}}) == 0,
             message="every delivery settled")

    assert " ".join(summary_a["Subject"].split()) == "3 staf Anda di bawah target JP (triwulan II tahun 2026)"
    text_a = text_of(summary_a)
    assert text_a.startswith("Yth. Yusnani,")  # the supervisor's name from the roster
    assert [line.split(",")[0] for line in text_a.splitlines() if line[:3] in ("1. ", "2. ", "3. ", "4. ")] == [
        "1. Andi Saputra", "2. Rahmat Hidayat", "3. Siti Aminah"]
    assert "Rahmat Hidayat, NIP 19850312 201001 1 002" in text_a
    assert "JP sejauh ini: 0 JP; target sampai akhir triwulan II tahun 2026: 10 JP; kurang 10 JP" in text_a
    assert "Dewi Lestari" not in text_a and "Fajar Pratama" not in text_a

    [message_a] = service.messages(nip=SUPERVISOR_A, kind="supervisor_summary")
    [message_b] = service.messages(nip=SUPERVISOR_B, kind="supervisor_summary")
    assert message_a["subject"] == "3 staf Anda di bawah target JP (triwulan II tahun 2026)"
    assert message_b["subject"] == "1 staf Anda di bawah target JP (triwulan II tahun 2026)"
    assert "Yth. Hendra Gunawan," in message_b["text"] and "Dewi Lestari, NIP 19881123 201402 2 004" in message_b["text"]
    inbox_b = service.http("GET", f"/inbox/{SUPERVISOR_B}").json()["items"]
    assert [m["kind"] for m in inbox_b] == ["supervisor_summary"]
    [undeliverable] = service.deliveries(nip=SUPERVISOR_B, kind="supervisor_summary", channel="email")
    assert undeliverable["status"] == "undeliverable"  # B has no e-mail on the roster: the inbox has it

    text_operator = text_of(operator)
    assert " ".join(operator["Subject"].split()) == "1 ASN Dinas Komunikasi dan Informatika di bawah target JP (triwulan II tahun 2026)"
    assert "Fajar Pratama (NIP 199407072020121005)" in text_operator and "atasan langsung belum tercatat" in text_operator
    assert not any(name in text_operator for _, name in STAFF_A + STAFF_B)

    digests = {d["_id"]: d for d in service.db[ESCALATIONS].find()}
    assert set(digests) == {f"supervisor:{SUPERVISOR_A}|{CHECKPOINT}", f"supervisor:{SUPERVISOR_B}|{CHECKPOINT}",
                            f"DISKOMINFO|{CHECKPOINT}"}
    assert sorted(i["nip"] for i in digests[f"supervisor:{SUPERVISOR_A}|{CHECKPOINT}"]["items"]) == sorted(
        nip for nip, _ in STAFF_A)
    assert all(d["sent"] == 1 for d in digests.values())
    assert len(smtp.to("yusnani@")) == 1 and len(smtp.to(OPERATOR_EMAIL)) == 1
