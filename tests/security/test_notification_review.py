"""Security review of the notification service (issue 17), each finding as the attack itself:

1. an operator claimed an unknown ASN by writing its recipient record (the first writer chose
   the agency): now an ASN's agency comes from enrollment's events or an admin only;
2. a ``"`` in a display name added email recipients;
3. webhook signatures covered the body only (replayable) and signing was silently off
   without a secret: now Standard Webhooks, and production refuses to start unsigned;
4. the webhook URL (and a token in its query string) leaked into the delivery log and the
   public ``notification.failed`` event;
5. inputs of the other routes are bounded (page sizes, ids, cursors, CSV rows).
"""
from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import logging
import os
import secrets
from datetime import datetime, timedelta, timezone
from email import message_from_bytes, policy

import pytest
import standardwebhooks.webhooks as standard_webhooks
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from deploy import rabbit
from deploy.processes import free_port
from services.notification.config import NotificationConfig
from shared.events import envelope, registry
from tests.conftest import VHOST_PREFIX
# the notification fixtures (an SMTP server, a webhook receiver, a replica of the service)
from tests.integration.notification.conftest import (WEBHOOK_SECRET, clock, smtp, start_notification,  # noqa: F401
                                                     webhook)
from tests.security.conftest import ADMIN, OTHER, OWN, nip
from tests.support import auth_headers, publish_event, publish_raw, wait_for


@pytest.fixture
def notification_env(service_env, broker_uri):
    """A vhost of the test's own for ``start_notification``: the module's ``platform`` consumes
    notification's queues on the module's vhost and would take half of the test's events."""
    vhost = f"{VHOST_PREFIX}{os.getpid()}-notification-review-{secrets.token_hex(3)}"
    rabbit.create_vhost(vhost, broker_uri)
    yield {**service_env, "AMQP_URI": rabbit.amqp_uri_for(vhost, broker_uri)}
    rabbit.delete_vhost(vhost, broker_uri)


OPERATOR = auth_headers("operator", agency=OWN)  # DISKOMINFO
OTHER_OPERATOR = auth_headers("operator", agency=OTHER)  # DINKES
CSV = {"Content-Type": "text/csv"}


def _enrol(platform, person_nip: str, agency: str) -> None:
    """An admin enrols the ASN in ``agency``: enrollment's event tells notification where they work."""
    reply = platform.call("enrollment", "POST", f"/programmes/{platform.programme}/enrolments", headers=ADMIN,
                          json={"nip": person_nip, "name": f"Peserta {person_nip[-4:]}", "agency": agency})
    assert reply.status_code == 201, reply.text


def _wait_known(platform, person_nip: str) -> None:
    """Until notification has handled the enrollment event (its messages are in the delivery log)."""
    wait_for(lambda: platform.call("notification", "GET", "/deliveries", headers=ADMIN,
                                   params={"nip": person_nip}).json()["items"],
             timeout=30, message=f"notification to handle the enrolment of {person_nip}")


def _answer(reply, person_nip: str) -> tuple:
    """What a caller learns from a refusal, with the NIP it asked about blanked out."""
    body = reply.json()
    return reply.status_code, body.get("error"), body.get("field"), body.get("message", "").replace(person_nip, "#")


def _claim() -> dict:
    return {"name": "Diambil Alih", "agency": OWN, "email": "penyerang@attacker.example", "channels": ["email"]}


# -- 1. an ASN's agency is never taken from an operator's word --------------------------------------
def test_an_operator_cannot_claim_an_asn_nobody_knows_by_writing_its_recipient_record(platform):
    stranger = nip(501)
    claimed = platform.call("notification", "PUT", f"/recipients/{stranger}", headers=OPERATOR, json=_claim())
    assert claimed.status_code == 403, claimed.text
    assert claimed.json()["field"] == "nip" and OWN in claimed.json()["message"]
    # nothing was bound: no record, and the operator reads no inbox of that ASN
    assert platform.call("notification", "GET", f"/recipients/{stranger}", headers=ADMIN).status_code == 404
    assert platform.call("notification", "GET", f"/inbox/{stranger}", headers=OPERATOR).status_code == 403
    assert platform.call("notification", "GET", "/deliveries", headers=OPERATOR,
                         params={"nip": stranger}).status_code == 403

    # when enrollment places the ASN in DINKES, DINKES's operator may register them, DISKOMINFO's still not
    _enrol(platform, stranger, OTHER)
    _wait_known(platform, stranger)
    own = platform.call("notification", "PUT", f"/recipients/{stranger}", headers=OTHER_OPERATOR,
                        json={"name": "Pegawai Dinkes", "email": "pegawai@bukittinggi.example", "channels": ["email"]})
    assert own.status_code == 201, own.text
    assert own.json()["agency"] == OTHER  # filled in from enrollment, not from the operator's body
    again = platform.call("notification", "PUT", f"/recipients/{stranger}", headers=OPERATOR, json=_claim())
    assert again.status_code == 403
    assert platform.call("notification", "GET", f"/inbox/{stranger}", headers=OPERATOR).status_code == 403
    record = platform.call("notification", "GET", f"/recipients/{stranger}", headers=ADMIN).json()
    assert (record["agency"], record["email"]) == (OTHER, "pegawai@bukittinggi.example")


def test_unknown_and_known_elsewhere_get_the_same_answer(platform):
    """The refusal must not tell an operator whether a NIP exists in another agency."""
    unknown, enrolled_elsewhere = nip(511), nip(512)
    _enrol(platform, enrolled_elsewhere, OTHER)  # known through enrollment only: no recipient record
    _wait_known(platform, enrolled_elsewhere)
    answers = set()
    for person_nip in (unknown, enrolled_elsewhere, platform.other_nip):  # other_nip: a DINKES recipient record
        put = platform.call("notification", "PUT", f"/recipients/{person_nip}", headers=OPERATOR,
                            json=_claim())
        get = platform.call("notification", "GET", f"/recipients/{person_nip}", headers=OPERATOR)
        inbox = platform.call("notification", "GET", f"/inbox/{person_nip}", headers=OPERATOR)
        answers |= {_answer(put, person_nip), _answer(get, person_nip), _answer(inbox, person_nip)}
        assert OTHER not in put.text + get.text + inbox.text
    assert len(answers) == 1, answers
    [(status, error, field, _)] = answers
    assert (status, error, field) == (403, "forbidden", "nip")


def test_an_operator_registers_its_own_enrolled_staff_but_cannot_move_them(platform):
    mine = nip(521)
    _enrol(platform, mine, OWN)
    _wait_known(platform, mine)
    created = platform.call("notification", "PUT", f"/recipients/{mine}", headers=OPERATOR,
                            json={"name": "Pegawai Diskominfo", "email": "pegawai@bukittinggi.example"})
    assert created.status_code == 201 and created.json()["agency"] == OWN
    moved = platform.call("notification", "PUT", f"/recipients/{mine}", headers=OPERATOR,
                          json={"name": "Pegawai Diskominfo", "agency": OTHER, "email": "pegawai@bukittinggi.example"})
    assert moved.status_code == 403 and moved.json()["field"] == "agency"
    # an admin is a trusted source: it may register anyone, anywhere
    assert platform.call("notification", "PUT", f"/recipients/{nip(522)}", headers=ADMIN,
                         json={"name": "Baru", "agency": OTHER, "email": "baru@bukittinggi.example"}).status_code == 201


def test_an_operators_bulk_upload_applies_the_same_rule_row_by_row(platform):
    mine, stranger = nip(531), nip(532)
    _enrol(platform, mine, OWN)
    _wait_known(platform, mine)
    csv = ("nip,name,agency,email\n"
           f"{mine},Pegawai Diskominfo,,mine@bukittinggi.example\n"
           f"{stranger},Orang Asing,{OWN},asing@attacker.example\n"
           f"{platform.other_nip},Diambil,{OWN},diambil@attacker.example\n")
    reply = platform.call("notification", "POST", "/recipients/bulk", headers={**OPERATOR, **CSV}, data=csv.encode())
    assert reply.status_code == 200, reply.text
    rows = {r["nip"]: r for r in reply.json()["rows"]}
    assert rows[mine]["status"] == "created"
    assert rows[stranger]["status"] == rows[platform.other_nip]["status"] == "invalid"
    refusals = {rows[n]["errors"]["nip"][0].replace(n, "#") for n in (stranger, platform.other_nip)}
    assert len(refusals) == 1 and OTHER not in refusals.pop()
    assert platform.call("notification", "GET", f"/recipients/{mine}", headers=ADMIN).json()["agency"] == OWN
    assert platform.call("notification", "GET", f"/recipients/{stranger}", headers=ADMIN).status_code == 404
    other = platform.call("notification", "GET", f"/recipients/{platform.other_nip}", headers=ADMIN).json()
    assert other["agency"] == OTHER and "attacker" not in other["email"]


def test_the_recipients_agency_follows_enrollment(platform):
    """An admin registered the ASN in DISKOMINFO; enrollment then says DINKES: enrollment wins."""
    moving = nip(541)
    assert platform.call("notification", "PUT", f"/recipients/{moving}", headers=ADMIN,
                         json={"name": "Pindah Dinas", "agency": OWN, "email": "pindah@bukittinggi.example"}).ok
    assert platform.call("notification", "GET", f"/inbox/{moving}", headers=OPERATOR).ok
    _enrol(platform, moving, OTHER)
    wait_for(lambda: platform.call("notification", "GET", f"/recipients/{moving}",
                                   headers=ADMIN).json()["agency"] == OTHER,
             timeout=30, message="the recipient to follow enrollment's agency")
    assert platform.call("notification", "GET", f"/inbox/{moving}", headers=OPERATOR).status_code == 403
    assert platform.call("notification", "GET", f"/inbox/{moving}", headers=OTHER_OPERATOR).ok


def test_a_late_older_enrollment_event_does_not_move_the_asn_back(start_notification):
    service = start_notification()
    person = nip(551)
    now = datetime.now(timezone.utc)

    def send(name: str, agency: str, at: datetime) -> None:
        data = copy.deepcopy(registry.latest("enrollment", name).example)
        data["participant"] = {**data["participant"], "nip": person, "agency": agency}
        definition = registry.latest("enrollment", name)
        event = envelope.new_event(definition, person, data, time=at.isoformat().replace("+00:00", "Z"))
        publish_raw(service.settings.amqp_uri, definition.exchange, definition.name, envelope.encode(event))

    send("enrolled", OTHER, now)
    operator_of = {agency: auth_headers("operator", agency=agency) for agency in (OWN, OTHER)}
    wait_for(lambda: service.messages(nip=person, kind="enrolled"), message="the enrolment handled")
    assert service.http("GET", f"/inbox/{person}", headers=operator_of[OTHER]).ok
    send("cancelled", OWN, now - timedelta(days=30))  # older, arriving later
    wait_for(lambda: service.messages(nip=person, kind="cancelled"), message="the late event handled")
    assert service.http("GET", f"/inbox/{person}", headers=operator_of[OTHER]).ok
    assert service.http("GET", f"/inbox/{person}", headers=operator_of[OWN]).status_code == 403


# -- 2. the display name cannot add recipients ------------------------------------------------------
def test_a_quote_in_the_display_name_does_not_add_an_email_recipient(start_notification, smtp):
    service = start_notification(smtp.port)
    person, address = "198503122010011002", "budi@bukittinggikota.go.id"
    reply = service.http("PUT", f"/recipients/{person}", json={
        "name": 'Budi", evil@attacker.example <x', "email": address, "channels": ["email"]})
    assert reply.status_code == 201, reply.text
    data = copy.deepcopy(registry.latest("certification", "revoked").example)  # urgent: no quiet hours
    publish_event(service.settings.amqp_uri, "certification", "revoked", data)

    [received] = wait_for(lambda: smtp.messages(), timeout=30, message="the email")
    assert received["X-RcptTo"] == address  # the SMTP envelope: exactly one recipient
    parsed = message_from_bytes(received.as_bytes(), policy=policy.default)
    [to] = parsed["To"].addresses
    assert to.addr_spec == address and to.display_name == 'Budi", evil@attacker.example <x'
    assert "attacker" not in str(parsed["Cc"] or "") + str(parsed["Bcc"] or "")


# -- 3. Standard Webhooks signatures; no unsigned webhook in production -----------------------------
def _webhook_delivery(start_notification, webhook, **overrides):
    service = start_notification(**overrides)
    reply = service.http("PUT", "/recipients/198503122010011002", json={
        "name": "Rahmat Hidayat", "phone": "081266123456", "channels": ["webhook"]})
    assert reply.status_code == 201, reply.text
    publish_event(service.settings.amqp_uri, "certification", "revoked",
                  copy.deepcopy(registry.latest("certification", "revoked").example))
    return service


def test_the_webhook_is_signed_over_id_timestamp_and_body_and_a_replay_is_detectable(
        start_notification, webhook, monkeypatch):
    _webhook_delivery(start_notification, webhook)
    [request] = wait_for(lambda: webhook.requests, timeout=30, message="the webhook call")
    headers = {k.lower(): v for k, v in request["headers"].items()}
    body, msg_id, timestamp = request["body"], headers["webhook-id"], headers["webhook-timestamp"]

    # the receiver's side, with the standard algorithm written out and with the reference library
    key = base64.b64decode(WEBHOOK_SECRET.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest())
    assert headers["webhook-signature"] == "v1," + expected.decode()
    assert Webhook(WEBHOOK_SECRET).verify(body, request["headers"])["delivery_id"] == msg_id
    assert abs(int(timestamp) - datetime.now(timezone.utc).timestamp()) < 120  # real time, not the test clock

    # the same request replayed later: its signed timestamp is too old, and a new one breaks the signature
    class Later(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(minutes=10)

    monkeypatch.setattr(standard_webhooks, "datetime", Later)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(WEBHOOK_SECRET).verify(body, request["headers"])
    restamped = {**headers, "webhook-timestamp": str(int(timestamp) + 600)}
    with pytest.raises(WebhookVerificationError, match="signature"):
        Webhook(WEBHOOK_SECRET).verify(body, restamped)


def test_production_refuses_to_start_a_webhook_without_a_secret_and_development_warns(monkeypatch, caplog):
    from services.notification.adapters.channels import check_config
    from shared.production import ProductionConfigError

    unsigned = NotificationConfig(webhook_url="https://gateway.example/sms", webhook_secret="")
    monkeypatch.setenv("ASN_ENV", "production")
    with pytest.raises(ProductionConfigError, match="WEBHOOK_SECRET"):
        check_config(unsigned)
    with pytest.raises(ProductionConfigError, match="WEBHOOK_SECRET"):  # enabled as a default channel
        check_config(NotificationConfig(default_channels=("webhook", "inbox")))
    check_config(NotificationConfig(webhook_url="https://gateway.example/sms", webhook_secret=WEBHOOK_SECRET))
    check_config(NotificationConfig())  # no webhook at all: nothing to sign

    monkeypatch.setenv("ASN_ENV", "development")
    with caplog.at_level(logging.WARNING):
        check_config(unsigned)
    assert any("WEBHOOK_SECRET" in r.getMessage() and "unsigned" in r.getMessage() for r in caplog.records)
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):  # a malformed secret: refused everywhere
        check_config(NotificationConfig(webhook_url="https://gateway.example/sms", webhook_secret="rahasia"))


# -- 4. no webhook URL (or its token) in the delivery log or the failed event -----------------------
TOKEN = "tok-RAHASIA-8f3a9c"


def test_a_failing_webhook_leaves_neither_its_url_nor_its_token_in_the_log_or_the_failed_event(
        start_notification, webhook):
    unreachable = f"http://127.0.0.1:{free_port()}/gateway/{TOKEN}?token={TOKEN}"
    service = _webhook_delivery(start_notification, webhook, webhook_url=unreachable, max_attempts=2,
                                backoff_s=(0.1,))
    [failed] = wait_for(lambda: service.emitted("failed"), timeout=30, message="the failed event")
    log = service.http("GET", "/deliveries", params={"channel": "webhook"})
    assert log.status_code == 200 and log.json()["items"], log.text
    published = json.dumps(failed)
    for text in (log.text, published):
        assert TOKEN not in text and "127.0.0.1" not in text and "/gateway" not in text
    [delivery] = log.json()["items"]
    assert delivery["status"] == "failed"
    assert "webhook gateway unreachable: ConnectionError" in delivery["last_error"]  # the class stays
    assert "webhook gateway unreachable: ConnectionError" in failed["data"]["reason"]


def test_a_webhook_refusal_keeps_the_http_status_but_not_the_body_it_echoes():
    from services.notification.adapters.channels import PermanentFailure, WebhookChannel

    class Echo:
        status_code, text = 401, f"invalid token {TOKEN} for https://gateway.example/sms?token={TOKEN}"

    class Session:
        def post(self, url, **kwargs):
            return Echo()

    channel = WebhookChannel(NotificationConfig(webhook_url=f"https://gateway.example/sms?token={TOKEN}",
                                                webhook_secret=WEBHOOK_SECRET), session=Session())
    with pytest.raises(PermanentFailure) as caught:
        channel.send({"_id": "d-1"}, {"_id": "m-1", "kind": "revoked", "subject": "s", "short": "t"}, {},
                     datetime.now(timezone.utc))
    assert "401" in str(caught.value) and TOKEN not in str(caught.value) and "gateway.example" not in str(caught.value)


# -- 5. bounded inputs ----------------------------------------------------------------------------
def test_pages_ids_and_csv_rows_are_bounded(platform):
    me = platform.own_nip
    for path, params in ((f"/inbox/{me}", {"limit": 201}), ("/deliveries", {"limit": 201}),
                         ("/deliveries", {"limit": 10 ** 9}), ("/deliveries", {"event_id": "x" * 1000}),
                         ("/deliveries", {"cursor": "A" * 1000})):
        assert platform.call("notification", "GET", path, headers=ADMIN, params=params).status_code == 422, params
    assert platform.call("notification", "GET", "/deliveries", headers=ADMIN, params={"limit": 200}).ok
    assert platform.call("notification", "POST", "/inbox/not-a-nip/6752c5aa0b1c2d3e4f506099/read",
                         headers=ADMIN).status_code == 422
    rows = "\n".join(f"{nip(600 + i)},Peserta,,p{i}@bukittinggi.example" for i in range(10_001))
    too_many = platform.call("notification", "POST", "/recipients/bulk", headers={**ADMIN, **CSV},
                             data=f"nip,name,agency,email\n{rows}\n".encode())
    assert too_many.status_code == 422 and "10000" in too_many.json()["message"]
    listed = platform.call("notification", "PUT", f"/recipients/{nip(599)}", headers=ADMIN,
                           json={"email": "a@bukittinggi.example", "opt_outs": ["nudge"] * 1000})
    assert listed.status_code == 422
