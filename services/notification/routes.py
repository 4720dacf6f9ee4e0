"""notification's HTTP route table: the OpenAPI document of every route (``service.py``
serves them)."""
from __future__ import annotations

from services.notification.schemas import (AgencyContactSchema, AgencyContactView, BulkResult, DeliveriesPage,
                                            DeliveriesQuery, InboxPage, InboxQuery, ReadResult, RecipientSchema,
                                            RecipientView)
from shared.openapi import OpenApi

openapi = OpenApi("ASN notification service", description=(
    "Recipients and their preferences, the in-app inbox and the delivery log. Messages are caused by "
    "public events (enrollment, certification, reporting) and sent by email, webhook and inbox."))
_NIP = {404: "not found", 422: "invalid NIP or fields"}
_NOT_STAFF = {403: "an operator: the NIP is not known (from enrollment or an admin) as staff of its agency; "
                   "the same answer whether the NIP is unknown or another agency's"}
openapi.route("PUT", "/recipients/{nip}", "Register or replace an ASN's contact data and preferences "
              "(an operator: its own staff only; the agency comes from enrollment or an admin)",
              body=RecipientSchema, response=RecipientView, responses={**_NIP, **_NOT_STAFF}, tags=["recipients"])
openapi.route("GET", "/recipients/{nip}", "An ASN's contact data and preferences", response=RecipientView,
              responses=_NIP, tags=["recipients"])
openapi.route("POST", "/recipients/bulk", "Register recipients from a CSV (per-row results; idempotent; "
              "an operator's rows follow the rule of PUT /recipients/{nip}; at most 10,000 rows)",
              response=BulkResult, body_content_type="text/csv",
              responses={422: "no nip column, unreadable CSV or over 10,000 rows"},
              tags=["recipients"])
openapi.route("PUT", "/agencies/{code}/contact", "Set the operator contact of an agency (OPD)",
              body=AgencyContactSchema, response=AgencyContactView, responses={404: "unknown OPD code"},
              tags=["recipients"])
openapi.route("GET", "/agencies/{code}/contact", "The operator contact of an agency (OPD)",
              response=AgencyContactView, responses={404: "no contact"}, tags=["recipients"])
openapi.route("GET", "/inbox/{nip}", "An ASN's inbox, newest first", query=InboxQuery, response=InboxPage,
              responses=_NIP, tags=["inbox"])
openapi.route("POST", "/inbox/{nip}/{message_id}/read", "Mark an inbox message read (idempotent)",
              response=ReadResult, responses=_NIP, tags=["inbox"])
openapi.route("GET", "/deliveries", "The delivery log by NIP and/or source event, newest first",
              query=DeliveriesQuery, response=DeliveriesPage, responses={422: "invalid filter"},
              tags=["deliveries"])
