"""Helpers shared by the certification integration tests."""
from __future__ import annotations

from deploy.processes import free_port  # noqa: F401 - re-exported for the tests

import copy
from datetime import datetime

from services.certification.dependencies import NUMBERING_LOOP
from shared.background import LeasedLoop
from shared.config import settings_of
from shared.events import registry
from shared.timefmt import utc_now

COMPLETED = registry.latest("enrollment", "completed")
PUBLIC_BASE_URL = "https://sertifikat.bukittinggikota.test"



def completion(enrolment_id: str = "e1", *, nip: str = "198503122010011002", name: str = "Rahmat Hidayat",
               result: str = "passed", completed_at: str = "2026-03-05T09:30:00Z", role: str | None = None,
               participant: dict | None = None, **programme) -> dict:
    """A ``completed`` event's data; ``programme`` fields change the programme, ``participant``
    the holder (e.g. golongan), ``role`` is peserta or narasumber (absent: an older event)."""
    data = copy.deepcopy(COMPLETED.example)
    data["enrolment_id"] = enrolment_id
    data["participant"].update(nip=nip, name=name, **(participant or {}))
    if role is not None:
        data["role"] = role
    data["programme"].update(programme)
    data.update(result=result, passed=result == "passed", completed_at=completed_at,
                jp_earned=data["programme"]["jp"] if result == "passed" else 0)
    return data


class Clock:
    """A replica's clock (``Settings.extra["clock"]``): the system's until ``set``."""

    def __init__(self):
        self.moment: datetime | None = None

    def __call__(self) -> datetime:
        return self.moment or utc_now()

    def set(self, moment: datetime) -> None:
        self.moment = moment


def numbering_of(container) -> LeasedLoop:
    """A replica's numbering loop (its ``job`` counts what it ``issued``, its ``lease`` names its holder)."""
    return container.shared_extensions[(LeasedLoop, NUMBERING_LOOP)]


def set_clock(container, moment: datetime) -> None:
    """What time it is for the replica: its runtime, numbering and expiry scan."""
    settings_of(container).extra["clock"].set(moment)


def issue(settings, db, enrolment_id: str, **kwargs) -> dict:
    """Publish a passed completion and wait for its certificate."""
    from tests.support import publish_event, wait_for

    publish_event(settings.amqp_uri, "enrollment", "completed", completion(enrolment_id, **kwargs))
    return wait_for(lambda: db.certificates.find_one({"enrolment_id": enrolment_id}),
                    message=f"the certificate of {enrolment_id}")
