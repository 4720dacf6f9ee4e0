"""End-to-end fixtures: a real SMTP server (aiosmtpd) and the whole platform started by
deploy.launcher.Stack, the same launcher as `make run`, once per module."""
from __future__ import annotations

import email
import threading
from email import policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from deploy.processes import free_port
from tests.support import wait_for


class SmtpSink:
    """A catch-all SMTP server on a free port; keeps every message it accepts."""

    def __init__(self):
        self.port = free_port()
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 OK"

    def start(self) -> "SmtpSink":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address in str(m["To"])]

    def wait_for(self, address: str, subject_contains: str, timeout: float = 60) -> EmailMessage:
        def arrived():
            return next((m for m in self.to(address) if subject_contains in str(m["Subject"])), None)
        return wait_for(arrived, timeout=timeout, interval=0.2,
                        message=f"an email to {address} about {subject_contains!r} "
                                f"(got {[str(m['Subject']) for m in self.to(address)]})")


def text_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


@pytest.fixture(scope="module")
def smtp():
    sink = SmtpSink().start()
    yield sink
    sink.stop()
