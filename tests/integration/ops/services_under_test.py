"""Small stand-ins for enrollment and certification, built on the shared library exactly
as the real services are, so the operations tests do not depend on business code that is
still changing. Run in-process (container_factory) or as processes:
``python -m services certification --module tests.integration.ops.services_under_test``.
"""
from __future__ import annotations

import copy
import logging

from shared.events import registry
from shared.auth import PUBLIC
from shared.handler import reliable_handler
from shared.http import api, json_body
from shared.openapi import OpenApi
from shared.service_base import ServiceBase
from shared.store import Mongo

log = logging.getLogger("tests.ops")

COMPLETED = registry.latest("enrollment", "completed")
CERTIFIED = registry.latest("certification", "certified")


def completion(enrolment_id: str, name: str = "Rahmat Hidayat", nip: str = "198503122010011002",
               agency: str = "DISKOMINFO") -> dict:
    data = copy.deepcopy(COMPLETED.example)
    data["enrolment_id"] = enrolment_id
    data["participant"].update(name=name, nip=nip, agency=agency)
    return data


class EnrollmentStandIn(ServiceBase):
    name = "enrollment"
    store = Mongo()
    openapi = OpenApi("enrollment (operations test stand-in)")

    # A stand-in: access rules are tested on the real services (tests/security).
    @api("POST", "/completions", auth=PUBLIC)
    def record_completion(self, request):
        body = json_body(request)
        data = completion(body["enrolment_id"], body.get("name", "Rahmat Hidayat"),
                          body.get("nip", "198503122010011002"), body.get("agency", "DISKOMINFO"))

        def record(tx):
            tx.db.enrolments.update_one({"_id": data["enrolment_id"]}, {"$set": {"status": "completed"}},
                                        upsert=True, session=tx.session)
            return tx.emit("completed", data["enrolment_id"], data)

        event = self.store.transaction(record)
        log.info("completion recorded for enrolment %s", data["enrolment_id"])
        return 201, {"event_id": event["id"]}


class CertificationStandIn(ServiceBase):
    name = "certification"
    store = Mongo()
    openapi = OpenApi("certification (operations test stand-in)")

    @reliable_handler("enrollment", "completed")
    def on_completed(self, event):
        participant = event.data["participant"]
        self.store.db.deliveries.insert_one({"event_id": event.id, "enrolment_id": event.data["enrolment_id"]})
        if participant["name"] == "always-fail":
            raise RuntimeError("the certificate template is missing")
        if self.store.db.switches.find_one({"_id": "templates-missing"}):
            raise RuntimeError("the certificate templates are being replaced")

        def issue(tx):
            tx.db.certificates.insert_one({"enrolment_id": event.data["enrolment_id"],
                                           "nip": participant["nip"]}, session=tx.session)
            data = {**copy.deepcopy(CERTIFIED.example), "enrolment_id": event.data["enrolment_id"],
                    "holder": participant, "certificate_id": f"c-{event.data['enrolment_id']}"}
            return tx.emit("certified", data["certificate_id"], data)

        applied, certified = self.store.apply_once(event, issue)
        if applied:
            log.info("certificate %s issued for enrolment %s", certified["subject"], event.data["enrolment_id"])
        else:
            log.info("completion of enrolment %s already handled", event.data["enrolment_id"])
