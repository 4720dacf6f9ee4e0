"""The push channels: email over SMTP and a signed webhook (SMS / WhatsApp gateways).

A channel sends one rendered message to one address and raises ``TransientFailure``
(retry later: server down, 4xx SMTP reply, 5xx or timeout from the webhook) or
``PermanentFailure`` (retrying cannot help: address refused, 4xx from the webhook).
The inbox needs no channel: a message shows there once its inbox delivery is recorded.

Failure texts end up in the delivery history (``GET /deliveries``) and in the public
``notification.failed`` event, so they name a channel by a non-secret name and keep the
error class and the status only: never the webhook URL (its query string may hold a token),
nor a response body (the delivery use case also applies ``domain.redact`` on top).

An email's ``Message-ID`` is made from the delivery id (``<delivery id>.bangkom@<domain>``): every
copy of one delivery, a retry or a resend after a crash, carries the same id, and receiving
mail systems drop a copy they already have. ``accepted`` (see ``SmtpChannel.send``) records the
outcome right after the server's 250, before the SMTP QUIT: the only window in which a process
death causes a copy is that record itself (docs/reliability.md, *The email guarantee*).

Webhooks follow the Standard Webhooks convention (https://www.standardwebhooks.com/):
``webhook-id`` (the delivery id: stable across retries, so a receiver drops a resend),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` = ``v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">`` with the secret ``whsec_<base64>``. Signing the id and the time
with the body lets a receiver refuse a replayed request (old timestamp, or an id already seen).
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
import smtplib
import socket
import time
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Callable, TypeVar

import requests
from standardwebhooks.webhooks import Webhook

from services.notification.config import NotificationConfig
from shared import production
from shared.timefmt import iso

log = logging.getLogger(__name__)
T = TypeVar("T")

DELIVERY_HEADER = "X-Bangkom-Delivery"  # stable per delivery: a receiver can drop a resend
ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER = "webhook-id", "webhook-timestamp", "webhook-signature"
SECRET_PREFIX = "whsec_"
MIN_SECRET_BYTES = 24  # the Standard Webhooks recommendation: 24 to 64 random bytes
WEBHOOK_NAME = "webhook gateway"  # how failure texts name the webhook channel: never by its URL


class TransientFailure(Exception):
    """Worth retrying later."""


class PermanentFailure(Exception):
    """Retrying cannot help."""


# -- webhook signatures -------------------------------------------------------------------
def secret_key(secret: str) -> bytes:
    """The key of a ``whsec_<base64>`` secret; ValueError naming WEBHOOK_SECRET otherwise."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"WEBHOOK_SECRET must be {SECRET_PREFIX}<base64> (Standard Webhooks); "
                         "make one with: python -m services.notification.adapters.channels")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"WEBHOOK_SECRET: the part after {SECRET_PREFIX} is not valid base64") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"WEBHOOK_SECRET: the key must be at least {MIN_SECRET_BYTES} random bytes")
    return key


def new_secret() -> str:
    """A fresh webhook secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one request."""
    signed_at = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return {ID_HEADER: msg_id, TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: Webhook(secret_key(secret)).sign(msg_id, signed_at, body)}


def verify(secret: str, body: bytes, headers: dict) -> dict:
    """What a receiver does (with this or any Standard Webhooks library): check the signature
    over id, timestamp and raw body, and that the timestamp is within 5 minutes of now.
    Returns the parsed body; raises ``standardwebhooks.webhooks.WebhookVerificationError``."""
    return Webhook(secret_key(secret)).verify(body, headers)


def check_config(config: NotificationConfig) -> None:
    """At start-up: a malformed WEBHOOK_SECRET is refused everywhere (it would sign with a key
    no receiver can reproduce); an enabled webhook without a secret is refused in production
    (ASN_ENV=production) and only warned about in development, where it sends unsigned."""
    if config.webhook_secret:
        secret_key(config.webhook_secret)
        return
    if not (config.webhook_url or "webhook" in config.default_channels):
        return
    production.require(False, "WEBHOOK_SECRET", "the webhook channel is enabled (WEBHOOK_URL) but its requests "
                       "would be unsigned: set WEBHOOK_SECRET=whsec_<base64>, made with "
                       "`python -m services.notification.adapters.channels`", service="notification")
    log.warning("WEBHOOK_SECRET is not set: webhook requests go out unsigned; a receiver cannot tell them from "
                "forged ones (development only: ASN_ENV=production refuses to start like this)")


# -- email --------------------------------------------------------------------------------
MESSAGE_ID_TAG = "bangkom"  # keeps our ids apart from other systems' ids under the same domain


def message_id_domain(config: NotificationConfig) -> str:
    """The right-hand side of a Message-ID: NOTIFICATION_MESSAGE_ID_DOMAIN, else MAIL_FROM's domain."""
    if config.message_id_domain:
        return config.message_id_domain
    _, address = parseaddr(config.mail_from)
    return address.rpartition("@")[2].lower() or "localhost"


def message_id(delivery_id, domain: str) -> str:
    """``<6650f0c2e8d1a2b3c4d5e6f7.bangkom@bukittinggikota.go.id>``: a function of the delivery
    alone (no time, no random part), so every copy of one delivery carries the same id."""
    return f"<{delivery_id}.{MESSAGE_ID_TAG}@{domain}>"


def _sent(detail: str) -> str:
    return detail


class SmtpChannel:
    def __init__(self, config: NotificationConfig):
        self.config = config
        self.domain = message_id_domain(config)

    def build(self, delivery: dict, message: dict, to: str, to_name: str | None, now: datetime) -> EmailMessage:
        """The email; ValueError when an address or a header cannot be encoded."""
        email = EmailMessage()
        email["Subject"] = message["subject"]
        email["From"] = self.config.mail_from
        # An Address object quotes the display name itself: a name written by hand between
        # quotes let `Budi", evil@attacker.example <x` add recipients. Whitespace (a line
        # break from a CSV cell) is folded to spaces; a header may not contain line breaks.
        email["To"] = Address(display_name=" ".join((to_name or "").split()), addr_spec=to)
        email["Date"] = format_datetime(now)
        # Derived from the delivery alone, so a retry or a resend after a crash carries the same id.
        email["Message-ID"] = message_id(delivery["_id"], self.domain)
        email[DELIVERY_HEADER] = str(delivery["_id"])
        email.set_content(message["text"], charset="utf-8")
        email.add_alternative(message["html"], subtype="html", charset="utf-8")
        return email

    def send(self, delivery: dict, message: dict, to: str, to_name: str | None, now: datetime,
             accepted: Callable[[str], T] = _sent) -> T:
        """Send the email; ``accepted`` is called with the server's answer as soon as the server
        has taken the message (its 250 to DATA) and its result returned. Nothing else touches
        the network in between: the QUIT comes after it and its failure changes nothing (the
        message is already accepted). Raises TransientFailure / PermanentFailure otherwise."""
        try:
            email = self.build(delivery, message, to, to_name, now)
        except ValueError as exc:  # retrying cannot help; the class says what, not the address
            raise PermanentFailure(f"email cannot be built: {type(exc).__name__}") from None
        smtp = self._transfer(email)
        try:
            return accepted("accepted by the SMTP server")
        finally:
            _quit(smtp)

    def _transfer(self, email: EmailMessage) -> smtplib.SMTP:
        """Connect and hand the email over; returns the open connection once the server accepted it."""
        c = self.config
        smtp = None
        try:
            cls = smtplib.SMTP_SSL if c.smtp_ssl else smtplib.SMTP
            smtp = cls(c.smtp_host, c.smtp_port, timeout=c.smtp_timeout_s)
            if c.smtp_starttls and not c.smtp_ssl:
                smtp.starttls()
            if c.smtp_user:
                smtp.login(c.smtp_user, c.smtp_password or "")
            # The envelope names the one address explicitly, whatever the headers say.
            refused = smtp.send_message(email, to_addrs=[email["To"].addresses[0].addr_spec])
        except smtplib.SMTPRecipientsRefused as exc:
            _quit(smtp)
            code, reply = next(iter(exc.recipients.values()))
            raise _by_code(code, f"SMTP {code} recipient refused: {_text(reply)}") from None
        except smtplib.SMTPResponseException as exc:
            _quit(smtp)
            raise _by_code(exc.smtp_code, f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            _quit(smtp)
            raise TransientFailure(f"SMTP server unavailable: {type(exc).__name__}") from None
        except BaseException:
            _quit(smtp)
            raise
        if refused:  # one recipient: smtplib raises when it is refused; kept for safety
            _quit(smtp)
            code, reply = next(iter(refused.values()))
            raise _by_code(code, f"SMTP {code} recipient refused: {_text(reply)}")
        return smtp


def _quit(smtp: smtplib.SMTP | None) -> None:
    """End an SMTP session politely, ignoring a server that has gone away (what it accepted stays
    accepted: RFC 5321 4.1.1.10)."""
    if smtp is None:
        return
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()


# -- webhook ------------------------------------------------------------------------------
class WebhookChannel:
    def __init__(self, config: NotificationConfig, session: requests.Session | None = None):
        self.config = config
        self.session = session or requests.Session()

    def body(self, delivery: dict, message: dict, to: dict, now: datetime) -> bytes:
        payload = {
            "delivery_id": str(delivery["_id"]), "message_id": str(message["_id"]), "kind": message["kind"],
            "nip": message.get("nip"), "agency": message.get("agency"), "to": to,
            "subject": message["subject"], "text": message["short"],
            "sent_at": iso(now),
        }
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def headers(self, delivery: dict, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=utf-8", DELIVERY_HEADER: str(delivery["_id"])}
        if self.config.webhook_secret:  # unsigned only in development (check_config warns)
            # Real time, not the service's clock: the receiver compares it with its own clock.
            headers.update(signature_headers(self.config.webhook_secret, str(delivery["_id"]), int(time.time()),
                                             body))
        return headers

    def send(self, delivery: dict, message: dict, to: dict, now: datetime,
             accepted: Callable[[str], T] = _sent) -> T:
        """POST the message; ``accepted`` is called with the answer when the receiver took it (2xx)."""
        url = self.config.webhook_url
        if not url:
            raise PermanentFailure(f"{WEBHOOK_NAME} is not configured (NOTIFICATION_WEBHOOK_URL)")
        body = self.body(delivery, message, to, now)
        try:
            response = self.session.post(url, data=body, headers=self.headers(delivery, body),
                                         timeout=self.config.webhook_timeout_s)
        except requests.RequestException as exc:
            # The exception's text holds the URL (and any token in its query string): the class only.
            raise TransientFailure(f"{WEBHOOK_NAME} unreachable: {type(exc).__name__}") from None
        status = response.status_code
        if 200 <= status < 300:
            return accepted(f"{WEBHOOK_NAME} answered {status}")
        # Not the response body: the receiver may echo the request (URL, token) in it.
        detail = f"{WEBHOOK_NAME} answered HTTP {status}"
        # Too many requests and request timeout are the receiver's temporary state.
        if status >= 500 or status in (408, 425, 429):
            raise TransientFailure(detail)
        raise PermanentFailure(detail)


class Channels:
    """The push channels a delivery goes out on (the inbox needs none)."""

    def __init__(self, config: NotificationConfig):
        self.smtp = SmtpChannel(config)
        self.webhook = WebhookChannel(config)

    def send(self, delivery: dict, message: dict, address: str, contact: dict, now: datetime,
             accepted: Callable[[str], T] = _sent) -> T:
        """Send on the delivery's channel and call ``accepted`` with what the receiver said the
        moment it took the message (record the outcome there: nothing else happens in between);
        returns its result, or raises TransientFailure / PermanentFailure."""
        if delivery["channel"] == "email":
            return self.smtp.send(delivery, message, address, contact.get("name"), now, accepted)
        to = {"phone": contact.get("phone"), "whatsapp": contact.get("whatsapp"), "name": contact.get("name")}
        return self.webhook.send(delivery, message, to, now, accepted)


def _by_code(code: int, detail: str) -> Exception:
    return TransientFailure(detail) if 400 <= code < 500 else PermanentFailure(detail)


def _text(reply) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


if __name__ == "__main__":  # python -m services.notification.adapters.channels: a new WEBHOOK_SECRET
    print(new_secret())
