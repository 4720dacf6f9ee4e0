"""The push channels: email over SMTP and a signed webhook (SMS / WhatsApp gateways).

A channel sends one rendered message to one address and raises ``TransientFailure``
(retry later: server down, 4xx SMTP reply, 5xx or timeout from the webhook) or
``PermanentFailure`` (retrying cannot help: address refused, 4xx from the webhook).
The inbox needs no channel: a message shows there once its inbox delivery is recorded.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import socket
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from datetime import datetime

import requests

from services.notification.config import NotificationConfig

SIGNATURE_HEADER = "X-Bangkom-Signature"
DELIVERY_HEADER = "X-Bangkom-Delivery"  # stable per delivery: a receiver can drop a resend


class TransientFailure(Exception):
    """Worth retrying later."""


class PermanentFailure(Exception):
    """Retrying cannot help."""


def sign(secret: str, body: bytes) -> str:
    """The signature header value: ``sha256=<hex HMAC-SHA256 of the raw body>``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does: recompute over the raw body and compare in constant time."""
    return bool(header) and hmac.compare_digest(sign(secret, body), header)


class SmtpChannel:
    def __init__(self, config: NotificationConfig):
        self.config = config

    def build(self, delivery: dict, message: dict, to: str, to_name: str | None, now: datetime) -> EmailMessage:
        email = EmailMessage()
        email["Subject"] = message["subject"]
        email["From"] = self.config.mail_from
        email["To"] = f'"{to_name}" <{to}>' if to_name else to
        email["Date"] = format_datetime(now)
        # Derived from the delivery, so a resend after a crash carries the same id.
        email["Message-ID"] = make_msgid(idstring=str(delivery["_id"]), domain="bangkom.notification")
        email[DELIVERY_HEADER] = str(delivery["_id"])
        email.set_content(message["text"], charset="utf-8")
        email.add_alternative(message["html"], subtype="html", charset="utf-8")
        return email

    def send(self, delivery: dict, message: dict, to: str, to_name: str | None, now: datetime) -> str:
        email = self.build(delivery, message, to, to_name, now)
        c = self.config
        try:
            cls = smtplib.SMTP_SSL if c.smtp_ssl else smtplib.SMTP
            with cls(c.smtp_host, c.smtp_port, timeout=c.smtp_timeout_s) as smtp:
                if c.smtp_starttls and not c.smtp_ssl:
                    smtp.starttls()
                if c.smtp_user:
                    smtp.login(c.smtp_user, c.smtp_password or "")
                refused = smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise _by_code(code, f"SMTP {code} recipient refused: {_text(reply)}") from None
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except (smtplib.SMTPException, OSError, socket.timeout) as exc:
            raise TransientFailure(f"SMTP server {c.smtp_host}:{c.smtp_port} unavailable: {exc}") from None
        if refused:
            code, reply = next(iter(refused.values()))
            raise _by_code(code, f"SMTP {code} recipient refused: {_text(reply)}")
        return f"accepted by {c.smtp_host}:{c.smtp_port}"


class WebhookChannel:
    def __init__(self, config: NotificationConfig, session: requests.Session | None = None):
        self.config = config
        self.session = session or requests.Session()

    def body(self, delivery: dict, message: dict, to: dict, now: datetime) -> bytes:
        payload = {
            "delivery_id": str(delivery["_id"]), "message_id": str(message["_id"]), "kind": message["kind"],
            "nip": message.get("nip"), "agency": message.get("agency"), "to": to,
            "subject": message["subject"], "text": message["short"],
            "sent_at": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def send(self, delivery: dict, message: dict, to: dict, now: datetime) -> str:
        url = self.config.webhook_url
        if not url:
            raise PermanentFailure("no webhook URL is configured (NOTIFICATION_WEBHOOK_URL)")
        body = self.body(delivery, message, to, now)
        headers = {"Content-Type": "application/json; charset=utf-8", DELIVERY_HEADER: str(delivery["_id"])}
        if self.config.webhook_secret:
            headers[SIGNATURE_HEADER] = sign(self.config.webhook_secret, body)
        try:
            response = self.session.post(url, data=body, headers=headers, timeout=self.config.webhook_timeout_s)
        except requests.RequestException as exc:
            raise TransientFailure(f"webhook unreachable: {type(exc).__name__}: {exc}") from None
        status = response.status_code
        if 200 <= status < 300:
            return f"webhook answered {status}"
        detail = f"webhook answered {status}: {response.text[:200]}"
        # Too many requests and request timeout are the receiver's temporary state.
        if status >= 500 or status in (408, 425, 429):
            raise TransientFailure(detail)
        raise PermanentFailure(detail)


def _by_code(code: int, detail: str) -> Exception:
    return TransientFailure(detail) if 400 <= code < 500 else PermanentFailure(detail)


def _text(reply) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
