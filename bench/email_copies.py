"""Counting the emails an SMTP server received, honestly: the one place the scale proof
(bench/scale_proof.py) and the fault suite (tests/faults/harness.py) count copies.

Exactly-once SMTP cannot be had. A replica that dies between the SMTP server's 250 and the
delivery's record sends that delivery again after its claim expires, and every copy of one
delivery carries the same ``Message-ID`` (``<delivery id>.bangkom@<domain>``): the receiving
mail system drops it (docs/reliability.md, *The email guarantee*). So two figures:

- **same-Message-ID copies**: emails beyond the first with a Message-ID already received for
  the same thing. Allowed, and shown, because a process death makes them;
- **distinct duplicates**: a second email for what should be one email (the same recipient and
  kind) with *another* Message-ID. Mail systems deliver both: a person reads it twice. Must be 0.

An email without a Message-ID cannot be recognised by anyone: each one counts as distinct.
Standard library only, so the benchmarks and the tests import it alike.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Hashable, Iterable


@dataclass(frozen=True)
class EmailCopies:
    received: int  # emails the SMTP server accepted
    expected_once: int  # things that should each be one email (recipient and kind) that got any
    distinct_emails: int  # (thing, Message-ID) pairs: what people see once mail systems drop copies
    same_message_id_copies: int  # received - distinct_emails: resends carrying an id already seen
    distinct_duplicates: int  # per thing, Message-IDs beyond the first: read twice
    with_distinct_duplicates: int  # things that got more than one Message-ID

    @property
    def ok(self) -> bool:
        """No person reads an email twice (same-Message-ID copies are allowed)."""
        return self.distinct_duplicates == 0

    def as_dict(self) -> dict:
        return {**asdict(self), "ok": self.ok}


def _message_ids(emails: Iterable[tuple[Hashable, str | None]]) -> tuple[int, dict[Hashable, set]]:
    """(emails received, the Message-IDs each thing got)."""
    ids: dict[Hashable, set] = defaultdict(set)
    received = 0
    for key, message_id in emails:
        received += 1
        # Without an id nobody can drop it: a fresh object never equals another copy's.
        ids[key].add((message_id or "").strip() or object())
    return received, ids


def count_copies(emails: Iterable[tuple[Hashable, str | None]]) -> EmailCopies:
    """``emails``: (what the email is, its Message-ID) per email received, where *what it is*
    names one expected email (e.g. ``(recipient, kind)``, or the NIP when one email per person
    is expected)."""
    received, ids = _message_ids(emails)
    distinct = sum(len(v) for v in ids.values())
    return EmailCopies(
        received=received, expected_once=len(ids), distinct_emails=distinct,
        same_message_id_copies=received - distinct,
        distinct_duplicates=sum(len(v) - 1 for v in ids.values()),
        with_distinct_duplicates=sum(1 for v in ids.values() if len(v) > 1))


def distinct_per_key(emails: Iterable[tuple[Hashable, str | None]]) -> dict[Hashable, int]:
    """How many distinct emails (Message-IDs) each thing got: 1 is right, more is a distinct duplicate."""
    return {k: len(v) for k, v in _message_ids(emails)[1].items()}
