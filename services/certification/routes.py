"""certification's HTTP route table: the OpenAPI document of every route ``service.py`` serves."""
from __future__ import annotations

from shared.openapi import OpenApi
from services.certification import schemas

openapi = OpenApi("ASN certification service", description=(
    "Certificates for passed completions: numbering, PDF with QR, public verification, "
    "revocation, expiry and Open Badges 3.0 credentials."))
_ID = "{certificate_id}"
# Ids and codes over 64 characters are refused (422) before any lookup.
_IDS = {"certificate_id": {"type": "string", "minLength": 1, "maxLength": 64}}
_CODE = {"code": {"type": "string", "minLength": 1, "maxLength": 64}}
# Any JSON object is a presented credential to check; what is wrong with it is the answer's
# verdict (200), except the sizes the service refuses outright (422).
_PRESENTED = {"type": "object", "description": "a presented OpenBadgeCredential (or any JSON object: the answer "
                                               "says why it does not verify)"}
openapi.route("GET", "/certificates", "Certificates, newest first, by NIP and/or programme",
              query=schemas.ListQuery, response=schemas.CertificatePage, tags=["certificates"])
_NO_CERTIFICATE = {404: "no such certificate", 422: "certificate id over 64 characters"}
openapi.route("GET", f"/certificates/{_ID}", "One certificate", response=schemas.Certificate,
              responses=_NO_CERTIFICATE, path_parameters=_IDS, tags=["certificates"])
openapi.route("GET", f"/certificates/{_ID}/pdf", "The printable certificate (A4 landscape PDF with QR)",
              content_type="application/pdf", responses=_NO_CERTIFICATE, path_parameters=_IDS, tags=["certificates"])
openapi.route("GET", f"/certificates/{_ID}/credential",
              "The certificate as a signed Open Badges 3.0 OpenBadgeCredential (eddsa-jcs-2022)",
              responses=_NO_CERTIFICATE, path_parameters=_IDS, tags=["credentials"])
openapi.route("POST", f"/certificates/{_ID}/revoke", "Revoke a certificate (admin); idempotent",
              body=schemas.RevokeRequest, response=schemas.Certificate,
              responses={404: "no such certificate",
                         422: "invalid fields, or a certificate id over 64 characters"}, path_parameters=_IDS,
              tags=["certificates"])
openapi.route("GET", "/verify/{code}", "Public verification: JSON for Accept: application/json, else HTML",
              response=schemas.Verification, content_type=("application/json", "text/html"),
              responses={404: {"description": "unknown code: the verdict (status unknown) as for a known one",
                               "content": {"application/json": {"schema": schemas.Verification},
                                           "text/html": {"schema": {"type": "string"}}}},
                         422: "code over 64 characters", 429: "too many requests"},
              path_parameters=_CODE, error_content_types=("application/json", "text/html"), tags=["public"])
openapi.route("POST", "/credentials/verify", "Check a presented credential's signature and current status",
              body=_PRESENTED, response=schemas.CredentialCheck,
              responses={400: "not a JSON object", 413: "body over 64 KiB",
                         422: "a proof field or the id over-long, or nested over 32 levels",
                         429: "too many requests"}, tags=["public", "credentials"])
openapi.route("GET", "/status/revocation", "A signed Bitstring Status List of revoked credentials "
              "(131,072 entries each; the list a credential is in is its statusListCredential)",
              query=schemas.StatusListQuery, responses={404: "no such list yet", 429: "too many requests"},
              tags=["public", "credentials"])
openapi.route("POST", "/admin/expiry-scan", "Run the expiry scan now (admin); safe next to the scheduled ones",
              response=schemas.ExpiryScanResult, tags=["admin"])
