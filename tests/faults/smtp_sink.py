"""A real SMTP server (aiosmtpd) that appends one JSON line per received email to a file.

    python tests/faults/smtp_sink.py <port> <journal.jsonl>

Runs as its own process: the test process is monkey-patched by eventlet (nameko's pytest
plugin), which does not mix with aiosmtpd's asyncio thread. A JSON line per message keeps
counting 1,000 emails cheap and lets the test spot resends by their delivery header.
"""
from __future__ import annotations

import json
import signal
import sys
import threading
from email import message_from_bytes
from email.policy import default

from aiosmtpd.controller import Controller

DELIVERY_HEADER = "X-Bangkom-Delivery"


class Journal:
    def __init__(self, path: str):
        self.file = open(path, "a", encoding="utf-8")
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        email = message_from_bytes(envelope.original_content or envelope.content, policy=default)
        line = json.dumps({"to": list(envelope.rcpt_tos), "delivery": email.get(DELIVERY_HEADER),
                           "message_id": email.get("Message-ID"), "subject": email.get("Subject")},
                          ensure_ascii=False)
        with self.lock:
            self.file.write(line + "\n")
            self.file.flush()
        return "250 Message accepted for delivery"


def main(port: int, path: str) -> None:
    controller = Controller(Journal(path), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
