"""The roster (daftar ASN) in notification, against the real broker and store: the private
``asn_contact`` on ``enrollment.private`` fills the recipient record (newest version wins),
the public roster events decide an ASN's agency and name, and an ASN who left gets no more
nudges or reminders."""
from __future__ import annotations

import copy
from datetime import timedelta

from services.notification.store import ROSTER
from shared.events import envelope, registry
from shared.events.common import EXAMPLE_ROSTER_ENTRY
from shared.mongo import PROCESSED
from tests.integration.notification.conftest import wib
from tests.support import auth_headers, publish_event, publish_raw, wait_for

NIP = "198503122010011002"
EMAIL = "rahmat.hidayat@bukittinggikota.go.id"
OPERATOR = {agency: auth_headers("operator", agency=agency) for agency in ("DISKOMINFO", "DINKES")}


def entry(version: int, **changes) -> dict:
    return {**EXAMPLE_ROSTER_ENTRY, "nip": NIP, "version": version, **changes}


def roster_event(service, name: str, asn: dict, **data) -> dict:
    at = {"asn_registered": "registered_at", "asn_updated": "updated_at", "asn_left": "left_at"}[name]
    body = {"asn": asn, at: "2026-01-05T02:00:00Z", **data}
    if name == "asn_updated":
        body.setdefault("changed", ["agency"])
    return publish_event(service.settings.amqp_uri, "enrollment", name, body, subject=asn["nip"])


def contact(service, version: int, email: str | None = EMAIL, phone: str | None = "+6281266001122",
            nip: str = NIP) -> dict:
    return publish_event(service.settings.amqp_uri, "enrollment", "asn_contact",
                         {"nip": nip, "email": email, "phone": phone, "version": version,
                          "changed_at": "2026-01-05T02:00:00Z"}, subject=nip)


def handled(service, event: dict) -> None:
    """Until the service recorded ``event`` as processed (applied or found not newer)."""
    wait_for(lambda: service.db[PROCESSED].find_one({"event_id": event["id"]}), message=f"{event['type']} handled")


def recipient(service) -> dict:
    reply = service.http("GET", f"/recipients/{NIP}")
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_an_asn_contact_on_the_private_exchange_fills_the_recipient_and_only_a_newer_version_changes_it(
        start_notification, smtp):
    service = start_notification(smtp.port)
    handled(service, roster_event(service, "asn_registered", entry(1)))
    handled(service, contact(service, 2))
    record = recipient(service)
    assert (record["email"], record["phone"], record["name"], record["agency"]) == (
        EMAIL, "+6281266001122", "Rahmat Hidayat", "DISKOMINFO")
    assert record["channels"] is None and record["opt_outs"] == []  # the defaults: e-mail and inbox

    # the ASN chooses their channels; an older contact version arriving late changes nothing
    chosen = service.http("PUT", f"/recipients/{NIP}", headers=auth_headers("asn", nip=NIP), json={
        "email": EMAIL, "phone": "+6281266001122", "channels": ["email", "webhook"], "opt_outs": ["reminder"]})
    assert chosen.status_code == 200, chosen.text
    assert (chosen.json()["name"], chosen.json()["agency"]) == ("Rahmat Hidayat", "DISKOMINFO")  # the roster's
    handled(service, contact(service, 1, email="lama@bukittinggikota.go.id", phone="+6281200000000"))
    assert recipient(service)["email"] == EMAIL

    # a newer version wins; None clears; the channels and opt-outs the ASN chose stay
    handled(service, contact(service, 3, email="rahmat.baru@bukittinggikota.go.id", phone=None))
    record = recipient(service)
    assert (record["email"], record["phone"]) == ("rahmat.baru@bukittinggikota.go.id", None)
    assert (record["channels"], record["opt_outs"]) == (["email", "webhook"], ["reminder"])

    # and the next message goes to the new address
    publish_event(service.settings.amqp_uri, "certification", "certified",
                  copy.deepcopy(registry.latest("certification", "certified").example))
    [email] = wait_for(lambda: smtp.to("rahmat.baru@"), message="the certificate e-mail at the new address")
    assert smtp.to("lama@") == [] and "Rahmat Hidayat" in email.as_string()


def test_a_contact_arriving_before_the_roster_entry_still_reaches_the_asn_with_their_agency(start_notification):
    service = start_notification()
    handled(service, contact(service, 1))
    assert recipient(service)["email"] == EMAIL
    handled(service, roster_event(service, "asn_registered", entry(1, agency="DINKES", agency_name=None)))
    record = recipient(service)
    assert (record["agency"], record["name"], record["email"]) == ("DINKES", "Rahmat Hidayat", EMAIL)
    assert service.http("GET", f"/inbox/{NIP}", headers=OPERATOR["DINKES"]).status_code == 200


def test_public_roster_events_move_the_agency_by_version_and_enrolment_events_no_longer_do(start_notification):
    service = start_notification()
    amqp = service.settings.amqp_uri
    handled(service, roster_event(service, "asn_registered", entry(1)))
    assert service.http("GET", f"/inbox/{NIP}", headers=OPERATOR["DISKOMINFO"]).status_code == 200

    handled(service, roster_event(service, "asn_updated", entry(2, agency="DINKES", agency_name="Dinas Kesehatan",
                                                              name="Rahmat Hidayat, S.Kom.")))
    assert service.http("GET", f"/inbox/{NIP}", headers=OPERATOR["DINKES"]).status_code == 200
    assert service.http("GET", f"/inbox/{NIP}", headers=OPERATOR["DISKOMINFO"]).status_code == 403

    # an older roster version arriving late does not move them back
    handled(service, roster_event(service, "asn_updated", entry(1, agency="DISKOMINFO")))
    assert service.http("GET", f"/inbox/{NIP}", headers=OPERATOR["DINKES"]).status_code == 200
    # nor does an enrolment event, however new: the roster is the authority on a listed ASN
    enrolled = copy.deepcopy(registry.latest("enrollment", "enrolled").example)
    enrolled["participant"] = {**enrolled["participant"], "agency": "DISKOMINFO"}
    handled(service, publish_event(amqp, "enrollment", "enrolled", enrolled))
    assert service.http("GET", f"/inbox/{NIP}", headers=OPERATOR["DISKOMINFO"]).status_code == 403
    # the name comes from the roster too, once a recipient exists
    handled(service, contact(service, 1))
    assert recipient(service)["name"] == "Rahmat Hidayat, S.Kom."

    # an ASN not on the roster (unlisted) still gets their agency from enrollment's events
    unlisted = "199001012015032001"
    other = copy.deepcopy(enrolled)
    other["participant"] = {**other["participant"], "nip": unlisted, "agency": "DINKES", "listed": False}
    handled(service, publish_event(amqp, "enrollment", "enrolled", other))
    assert service.http("GET", f"/inbox/{unlisted}", headers=OPERATOR["DINKES"]).status_code == 200


def test_an_asn_who_left_gets_no_new_nudge_and_their_waiting_reminder_is_dropped(start_notification, smtp, clock):
    service = start_notification(smtp.port)
    amqp = service.settings.amqp_uri
    handled(service, roster_event(service, "asn_registered", entry(1)))
    handled(service, contact(service, 1))
    handled(service, publish_event(amqp, "enrollment", "enrolled",
                                   copy.deepcopy(registry.latest("enrollment", "enrolled").example)))
    [reminder] = service.deliveries(kind="reminder", channel="email")
    assert reminder["status"] == "pending"  # due the day before the programme

    handled(service, roster_event(service, "asn_left", entry(2, status="pensiun"), reason="pensiun"))
    assert service.db[ROSTER].find_one({"_id": NIP})["status"] == "pensiun"
    dropped = service.delivery(_id=reminder["_id"])
    assert (dropped["status"], dropped["last_error"]) == ("dropped", "ASN left the roster (pensiun)")

    shortfall = copy.deepcopy(registry.latest("reporting", "shortfall_detected").example)
    shortfall["participant"]["nip"] = NIP
    handled(service, publish_event(amqp, "reporting", "shortfall_detected", shortfall))
    assert service.messages(nip=NIP, kind="nudge") == []
    assert service.db.escalations.count_documents({}) == 0  # nor listed to a supervisor or the OPD
    # an enrolment accepted before the roster caught up gets its message, but no reminder
    late = copy.deepcopy(registry.latest("enrollment", "enrolled").example)
    late["enrolment_id"] = "after-leaving"
    handled(service, publish_event(amqp, "enrollment", "enrolled", late))
    assert service.deliveries(enrolment_id="after-leaving", kind="reminder") == []

    # at the programme's eve nothing is sent to them
    clock.now = wib(2026, 3, 1, 8, 0) + timedelta(minutes=1)
    service.wake()
    wait_for(lambda: service.db.deliveries.count_documents({"status": {"$in": ["pending", "sending"]}}) == 0,
             message="nothing left to send")
    assert [m["Subject"] for m in smtp.to(EMAIL) if "Pengingat" in m["Subject"]] == []

    # back on the roster (a higher version, aktif): nudged again at the next checkpoint
    handled(service, roster_event(service, "asn_updated", entry(3, status="aktif"), changed=["status"]))
    again = copy.deepcopy(shortfall)
    again["checkpoint"] = "2026-Q4"
    handled(service, publish_event(amqp, "reporting", "shortfall_detected", again))
    assert len(service.messages(nip=NIP, kind="nudge")) == 1


def enrolment_event(service, name: str, nip: str, agency: str, at: str) -> dict:
    """An enrollment event about ``nip`` in ``agency``, stamped ``at`` (its CloudEvent time)."""
    data = copy.deepcopy(registry.latest("enrollment", name).example)
    data["participant"] = {**data["participant"], "nip": nip, "agency": agency, "listed": False}
    definition = registry.latest("enrollment", name)
    event = envelope.new_event(definition, data["enrolment_id"], data, time=at)
    publish_raw(service.settings.amqp_uri, definition.exchange, definition.name, envelope.encode(event))
    return event


def test_an_unlisted_asn_follows_the_newest_enrolment_event_and_a_late_older_one_moves_nobody_back(
        start_notification):
    service = start_notification()
    unlisted = "199001012015032001"
    handled(service, enrolment_event(service, "enrolled", unlisted, "DINKES", "2026-03-01T02:00:00Z"))
    assert service.http("GET", f"/inbox/{unlisted}", headers=OPERATOR["DINKES"]).status_code == 200
    # the ASN's own recipient record (e-mail), which the agency then follows
    reply = service.http("PUT", f"/recipients/{unlisted}", json={"name": "Siti Aminah", "agency": "DINKES",
                                                                 "email": "siti@bukittinggikota.go.id"})
    assert reply.status_code == 201, reply.text

    # moved to DISKOMINFO: the completion says so; the recipient record follows
    handled(service, enrolment_event(service, "completed", unlisted, "diskominfo", "2026-03-20T02:00:00Z"))
    assert service.http("GET", f"/inbox/{unlisted}", headers=OPERATOR["DISKOMINFO"]).status_code == 200
    assert service.http("GET", f"/inbox/{unlisted}", headers=OPERATOR["DINKES"]).status_code == 403
    assert service.http("GET", f"/recipients/{unlisted}").json()["agency"] == "DISKOMINFO"

    # a cancellation stamped before the completion, arriving after it, moves nobody back
    handled(service, enrolment_event(service, "cancelled", unlisted, "DINKES", "2026-03-10T02:00:00Z"))
    assert service.http("GET", f"/inbox/{unlisted}", headers=OPERATOR["DINKES"]).status_code == 403
    assert service.http("GET", f"/recipients/{unlisted}").json()["agency"] == "DISKOMINFO"
    # the messages of all three reached the ASN's inbox
    inbox = service.http("GET", f"/inbox/{unlisted}").json()
    assert len(inbox["items"]) == 3, inbox
