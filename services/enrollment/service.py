"""The enrollment service: nameko entrypoints only; they delegate to the domain modules."""
from __future__ import annotations

from shared.openapi import OpenApi
from shared.service_base import ServiceBase
from shared.store import Mongo


class EnrollmentService(ServiceBase):
    name = "enrollment"
    store = Mongo()
    openapi = OpenApi("ASN enrollment service")
