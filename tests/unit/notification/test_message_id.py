"""An email's Message-ID is a function of its delivery: every copy of one delivery (a retry, a
resend after a crash) carries the same id, so receiving mail systems drop the copy; two
deliveries never share one. And the outcome is recorded before anything else happens on the
SMTP connection."""
from __future__ import annotations

import smtplib
from dataclasses import replace
from datetime import datetime, timezone

import pytest
from bson import ObjectId

from services.notification import config
from services.notification.adapters import channels
from services.notification.adapters.channels import PermanentFailure, SmtpChannel, message_id
from services.notification.config import NotificationConfig

NOW = datetime(2026, 3, 5, 3, 0, tzinfo=timezone.utc)
MESSAGE = {"_id": ObjectId(), "kind": "certified", "subject": "Sertifikat Anda terbit", "text": "Isi.\n",
           "html": "<p>Isi.</p>\n", "short": "Isi."}
TO = "rahmat.hidayat@bukittinggikota.go.id"


def build(channel: SmtpChannel, delivery_id, at: datetime = NOW):
    return channel.build({"_id": delivery_id}, MESSAGE, TO, "Rahmat Hidayat", at)


def test_two_renders_of_one_delivery_carry_the_same_message_id_and_two_deliveries_differ():
    channel = SmtpChannel(NotificationConfig())
    first, second = ObjectId(), ObjectId()
    # A resend is built again later, by another replica: same id all the same.
    again = SmtpChannel(NotificationConfig())
    assert build(channel, first)["Message-ID"] == build(again, first, NOW.replace(hour=9))["Message-ID"]
    assert build(channel, first)["Message-ID"] == f"<{first}.bangkom@bukittinggikota.go.id>"
    assert build(channel, first)["Message-ID"] != build(channel, second)["Message-ID"]


def test_the_message_id_domain_is_mail_froms_unless_configured(monkeypatch):
    delivery = ObjectId()
    own = replace(NotificationConfig(), mail_from="BKPSDM <bangkom@bkpsdm.example.go.id>")
    assert build(SmtpChannel(own), delivery)["Message-ID"] == f"<{delivery}.bangkom@bkpsdm.example.go.id>"
    monkeypatch.setenv("NOTIFICATION_MESSAGE_ID_DOMAIN", "Mail.Bukittinggikota.go.id")
    configured = config.from_env()
    assert configured.message_id_domain == "mail.bukittinggikota.go.id"
    assert build(SmtpChannel(configured), delivery)["Message-ID"] == f"<{delivery}.bangkom@mail.bukittinggikota.go.id>"


@pytest.mark.parametrize("value", ["bukan domain", "<x@y>", "localhost", "-a.go.id"])
def test_a_message_id_domain_that_is_not_a_domain_is_refused_naming_the_setting(monkeypatch, value):
    monkeypatch.setenv("NOTIFICATION_MESSAGE_ID_DOMAIN", value)
    with pytest.raises(ValueError, match="MESSAGE_ID_DOMAIN"):
        config.from_env()


def test_the_message_id_is_a_valid_header_value():
    value = message_id(ObjectId("6650f0c2e8d1a2b3c4d5e6f7"), "bukittinggikota.go.id")
    assert value == "<6650f0c2e8d1a2b3c4d5e6f7.bangkom@bukittinggikota.go.id>"
    email = build(SmtpChannel(NotificationConfig()), ObjectId("6650f0c2e8d1a2b3c4d5e6f7"))
    assert email["Message-ID"].defects == ()


class FakeSmtp:
    """smtplib.SMTP's conversation as the channel sees it (an in-process stand-in for the
    server: the unit under test is the order of operations, not SMTP)."""

    def __init__(self, journal: list, quit_fails: bool = False):
        self.journal, self.quit_fails = journal, quit_fails

    def __call__(self, host, port, timeout):
        self.journal.append("connect")
        return self

    def send_message(self, email, to_addrs):
        self.journal.append(("250", email["Message-ID"]))
        return {}

    def quit(self):
        self.journal.append("quit")
        if self.quit_fails:
            raise smtplib.SMTPServerDisconnected("gone")

    def close(self):
        self.journal.append("close")


def test_the_outcome_is_recorded_right_after_the_servers_250_before_the_quit(monkeypatch):
    journal: list = []
    monkeypatch.setattr(channels.smtplib, "SMTP", FakeSmtp(journal))
    channel = SmtpChannel(NotificationConfig())
    delivery = ObjectId()
    result = channel.send({"_id": delivery}, MESSAGE, TO, "Rahmat Hidayat", NOW,
                          accepted=lambda detail: journal.append(("recorded", detail)) or "delivered")
    assert result == "delivered"
    assert journal == ["connect", ("250", f"<{delivery}.bangkom@bukittinggikota.go.id>"),
                       ("recorded", "accepted by the SMTP server"), "quit", "close"]


def test_a_quit_that_fails_after_the_250_does_not_undo_the_delivery(monkeypatch):
    journal: list = []
    monkeypatch.setattr(channels.smtplib, "SMTP", FakeSmtp(journal, quit_fails=True))
    result = SmtpChannel(NotificationConfig()).send({"_id": ObjectId()}, MESSAGE, TO, None, NOW,
                                                    accepted=lambda detail: "delivered")
    assert result == "delivered" and journal[-2:] == ["quit", "close"]


def test_a_refused_message_is_not_recorded_as_accepted(monkeypatch):
    journal: list = []

    class Refusing(FakeSmtp):
        def send_message(self, email, to_addrs):
            raise smtplib.SMTPDataError(554, b"rejected")

    monkeypatch.setattr(channels.smtplib, "SMTP", Refusing(journal))
    with pytest.raises(PermanentFailure, match="SMTP 554 rejected"):
        SmtpChannel(NotificationConfig()).send({"_id": ObjectId()}, MESSAGE, TO, None, NOW,
                                               accepted=lambda detail: journal.append("recorded"))
    assert "recorded" not in journal and journal[-2:] == ["quit", "close"]
