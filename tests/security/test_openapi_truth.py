"""What a client generator reads in each service's OpenAPI document (as GET /openapi.json
serves it) is what the service does: every error answer has the shared Error body, the
validated routes list 422, and the patterns the document gives agree with the checks the
services run. The running services are held to their documents by test_api_fuzzing.py."""
from __future__ import annotations

import re

import pytest

from services.certification.service import CertificationService
from services.enrollment.domain import text_problem
from services.enrollment.schemas import SafeText
from services.enrollment.service import EnrollmentService
from services.notification.domain import normalise_phone
from services.notification.schemas import Phone
from services.notification.service import NotificationService
from services.reporting.service import ReportingService
from shared import nip as nip_rules
from shared.errors import Invalid
from shared.openapi import NIP_PARAMETER
from tests.integration.enrollment.factories import nip as valid_nip

SERVICES = {"enrollment": EnrollmentService, "certification": CertificationService,
            "notification": NotificationService, "reporting": ReportingService}
ERROR = {"$ref": "#/components/schemas/Error"}


def document(service: str) -> dict:
    cls = SERVICES[service]
    return cls.openapi_document(object.__new__(cls))  # the very document GET /openapi.json serves


def operations(service: str):
    for path, methods in document(service)["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


@pytest.mark.parametrize("service", SERVICES)
def test_every_error_answer_has_the_shared_error_body(service):
    error = document(service)["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "message"} and {"field", "errors"} <= set(error["properties"])
    wrong = [f"{label} {code}" for label, operation in operations(service)
             for code, answer in operation["responses"].items()
             if code.startswith("4") and answer.get("content", {}).get("application/json", {}).get("schema") != ERROR
             and not (service == "certification" and label == "GET /verify/{code}" and code == "404")]
    assert wrong == []


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_lists_the_4xx_it_can_answer(service):
    missing = []
    for label, operation in operations(service):
        answers = operation["responses"]
        reads_query = any(p["in"] == "query" for p in operation.get("parameters", []))
        body = operation.get("requestBody", {}).get("content", {})
        if (reads_query or body) and "422" not in answers:
            missing.append(f"{label} 422")
        if "application/json" in body and not {"400", "413"} <= set(answers):
            missing.append(f"{label} 400/413")
        if operation.get("security") and not {"401", "403"} <= set(answers):
            missing.append(f"{label} 401/403")
        if operation.get("security") == [] and "Retry-After" not in answers.get("429", {}).get("headers", {}):
            missing.append(f"{label} 429 with Retry-After (public routes are rate limited)")
    assert missing == []


def test_the_constraints_the_services_enforce_are_in_their_documents():
    enrollment, reporting = document("enrollment"), document("reporting")
    year = next(p for p in reporting["paths"]["/compliance"]["get"]["parameters"] if p["name"] == "year")
    assert (year["schema"]["type"], year["schema"]["minimum"], year["schema"]["maximum"]) == ("integer", 2000, 2100)
    limit = next(p for p in enrollment["paths"]["/programmes"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["minimum"] == 1 and limit["schema"]["maximum"] >= 1
    patch = enrollment["paths"]["/programmes/{code}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert patch["minProperties"] == 1, "PATCH refuses an empty object"
    ledger = reporting["paths"]["/ledger/{nip}"]["get"]["parameters"]
    assert next(p for p in ledger if p["name"] == "nip")["schema"]["pattern"] == NIP_PARAMETER["pattern"]
    created = enrollment["components"]["schemas"]["ProgrammeCreate"]["properties"]
    assert created["duration_days"]["exclusiveMinimum"] is True, "0 days is refused"
    assert "enum" in created["kind"] and "pattern" in created["title"]


def test_uploads_and_their_answers_declare_their_content_types():
    enrollment, certification = document("enrollment"), document("certification")
    roster = enrollment["paths"]["/roster/import"]["post"]
    upload = roster["requestBody"]["content"]["text/csv"]["schema"]
    assert upload["type"] == "string" and re.match(upload["pattern"], "nip,nama,kode_opd\n1,2,3\n")
    assert re.match(upload["pattern"], '{"nip": "1"}') is None, "a JSON object is not a roster file"
    assert set(roster["responses"]["200"]["content"]) == {"application/x-ndjson", "text/csv"}
    verify = certification["paths"]["/verify/{code}"]["get"]["responses"]
    assert {"application/json", "text/html"} <= set(verify["200"]["content"]) <= set(verify["404"]["content"])
    bulk = document("notification")["paths"]["/recipients/bulk"]["post"]["requestBody"]["content"]["text/csv"]
    assert re.match(bulk["schema"]["pattern"], "nip;name;email\r\n")
    assert re.match(bulk["schema"]["pattern"], "nip;warna\n") is None, "an unknown column is refused"


TEXTS = ["Pelatihan Dasar", "  Rapat koordinasi", "", "=SUM(A1)", " +62 8123", "-x", "@me", "\tTab", "a\x07b",
         "ok\u0085", "\u00a0=1", "Kepemimpinan \u2013 Tingkat II", "\u3000@x", "100%", "e-learning"]
NAMES = ["Siti Aminah", "Dr. Siti Aminah, S.Kom., M.T.", "Nur'aini", "Siti Nur-Halimah", "1Budi", "=x", "Budi!",
         " Rina ", "Ahmad\u2019s", "Ωmega", "_x"]


@pytest.mark.parametrize("person_name,samples", [(False, TEXTS), (True, NAMES)])
def test_the_free_text_pattern_accepts_exactly_what_the_service_accepts(person_name, samples):
    pattern = re.compile(SafeText(person_name=person_name).openapi_properties["pattern"])
    disagree = [s for s in samples if (pattern.match(s) is not None) != (text_problem(s, None, person_name) is None)]
    assert disagree == []


def test_the_phone_and_nip_patterns_accept_only_what_the_service_accepts():
    phone = re.compile(Phone.PATTERN)
    for number in ["+6281234567890", "081234567890", "+62812345", "0812", "+6581234567", "+62 812", "62812345678"]:
        try:
            normalise_phone(number)
            accepted = True
        except ValueError:
            accepted = False
        assert not phone.match(number) or accepted, f"{number}: the document allows what the service refuses"
    assert phone.match("+6281234567890") and phone.match("081234567890")
    nip = re.compile(NIP_PARAMETER["pattern"])
    for value in [valid_nip(7), valid_nip(1234, 2)]:
        assert nip.match(value) and nip_rules.validate(value, "auto")
    for value in ["19700101199501100", "1970010119950110011", "19700101199501100x"]:
        assert nip.match(value) is None
        with pytest.raises(Invalid):
            nip_rules.validate(value, "auto")
