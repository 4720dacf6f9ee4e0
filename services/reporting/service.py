"""The reporting service: nameko entrypoints only; they delegate to the domain modules."""
from __future__ import annotations

from shared.openapi import OpenApi
from shared.service_base import ServiceBase
from shared.store import Mongo


class ReportingService(ServiceBase):
    name = "reporting"
    store = Mongo()
    openapi = OpenApi("ASN reporting service")
