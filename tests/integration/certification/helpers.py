"""Helpers shared by the certification integration tests."""
from __future__ import annotations

from deploy.processes import free_port  # noqa: F401 - re-exported for the tests

import copy
from datetime import datetime

from services.certification.runtime import CertificationRuntime
from shared.events import registry

COMPLETED = registry.latest("enrollment", "completed")
PUBLIC_BASE_URL = "https://sertifikat.bukittinggikota.test"



def completion(enrolment_id: str = "e1", *, nip: str = "198503122010011002", name: str = "Rahmat Hidayat",
               result: str = "passed", completed_at: str = "2026-03-05T09:30:00Z", **programme) -> dict:
    data = copy.deepcopy(COMPLETED.example)
    data["enrolment_id"] = enrolment_id
    data["participant"].update(nip=nip, name=name)
    data["programme"].update(programme)
    data.update(result=result, passed=result == "passed", completed_at=completed_at,
                jp_earned=data["programme"]["jp"] if result == "passed" else 0)
    return data


def runtime_of(container):
    return next(d for d in container.dependencies if isinstance(d, CertificationRuntime)).runtime


def set_clock(container, moment: datetime) -> None:
    runtime_of(container).clock = lambda: moment


def issue(settings, db, enrolment_id: str, **kwargs) -> dict:
    """Publish a passed completion and wait for its certificate."""
    from tests.support import publish_event, wait_for

    publish_event(settings.amqp_uri, "enrollment", "completed", completion(enrolment_id, **kwargs))
    return wait_for(lambda: db.certificates.find_one({"enrolment_id": enrolment_id}),
                    message=f"the certificate of {enrolment_id}")
