"""notification's HTTP route table: the OpenAPI document of every route (``service.py``
serves them)."""
from __future__ import annotations

from services.notification.schemas import (AgencyContactSchema, AgencyContactView, BulkResult, DeliveriesPage,
                                            DeliveriesQuery, InboxPage, InboxQuery, ReadResult, RecipientSchema,
                                            RecipientView)
from services.notification.adapters.recipients_csv import CSV_COLUMNS, MAX_ROWS
from shared.openapi import OpenApi

openapi = OpenApi("ASN notification service", description=(
    "Recipients and their preferences, the in-app inbox and the delivery log. Messages are caused by "
    "public events (enrollment, certification, reporting) and sent by email, webhook and inbox."))
_NIP = {404: "not found", 422: "invalid NIP or fields"}
# A message's id is the store's: 24 hexadecimal digits (another is refused with 422).
_MESSAGE = {"message_id": {"type": "string", "pattern": "^[0-9a-fA-F]{24}$"}}
# The upload is CSV text (UTF-8, ',' or ';', BOM allowed) whose header names the columns, nip first.
_COLUMNS = "|".join(c for c in CSV_COLUMNS if c != "nip")
_RECIPIENTS_CSV = {"type": "string", "pattern": rf"^\ufeff?nip([,;]({_COLUMNS}))*\r?\n",
                   "description": f"CSV with a header row, nip first; columns: {', '.join(CSV_COLUMNS)} "
                                  f"(channels and opt_outs split on | ; , or spaces); at most {MAX_ROWS:,} rows"}
_NOT_STAFF = {403: "an operator: the NIP is not known (from enrollment or an admin) as staff of its agency; "
                   "the same answer whether the NIP is unknown or another agency's"}
# A channel chosen needs its contact: email an address, webhook (SMS/WhatsApp) a phone or
# whatsapp number (ContactFields.channels_have_contact), stated so that a client knows.
_CHANNELS_HAVE_CONTACT = {"allOf": [
    {"anyOf": [{"properties": {"channels": {"items": {"not": {"enum": ["email"]}}}}},
               {"required": ["email"], "properties": {"email": {"type": "string", "minLength": 1}}}]},
    {"anyOf": [{"properties": {"channels": {"items": {"not": {"enum": ["webhook"]}}}}},
               {"required": ["phone"], "properties": {"phone": {"type": "string", "minLength": 1}}},
               {"required": ["whatsapp"], "properties": {"whatsapp": {"type": "string", "minLength": 1}}}]}],
    "description": "email among channels needs an email address; webhook a phone or whatsapp number"}
openapi.route("PUT", "/recipients/{nip}", "Register or replace an ASN's contact data and preferences "
              "(an operator: its own staff only; the agency comes from enrollment or an admin)",
              body={"allOf": [RecipientSchema, _CHANNELS_HAVE_CONTACT]}, response=RecipientView,
              responses={201: "registered anew", **_NIP, **_NOT_STAFF}, tags=["recipients"])
openapi.route("GET", "/recipients/{nip}", "An ASN's contact data and preferences", response=RecipientView,
              responses=_NIP, tags=["recipients"])
openapi.route("POST", "/recipients/bulk", "Register recipients from a CSV (per-row results; idempotent; "
              "an operator's rows follow the rule of PUT /recipients/{nip}; at most 10,000 rows)",
              response=BulkResult, body=_RECIPIENTS_CSV, body_content_type="text/csv",
              responses={422: "no nip column, unreadable CSV or over 10,000 rows"},
              tags=["recipients"])
openapi.route("PUT", "/agencies/{code}/contact", "Set the operator contact of an agency (OPD)",
              body={"allOf": [AgencyContactSchema, _CHANNELS_HAVE_CONTACT]}, response=AgencyContactView,
              responses={404: "unknown OPD code"},
              tags=["recipients"])
openapi.route("GET", "/agencies/{code}/contact", "The operator contact of an agency (OPD)",
              response=AgencyContactView, responses={404: "no contact"}, tags=["recipients"])
openapi.route("GET", "/inbox/{nip}", "An ASN's inbox, newest first", query=InboxQuery, response=InboxPage,
              responses=_NIP, tags=["inbox"])
openapi.route("POST", "/inbox/{nip}/{message_id}/read", "Mark an inbox message read (idempotent)",
              response=ReadResult, responses=_NIP, path_parameters=_MESSAGE, tags=["inbox"])
openapi.route("GET", "/deliveries", "The delivery log by NIP and/or source event, newest first",
              query=DeliveriesQuery, response=DeliveriesPage, responses={422: "invalid filter"},
              tags=["deliveries"])
