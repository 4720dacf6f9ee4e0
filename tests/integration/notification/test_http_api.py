"""The HTTP surface: recipients one by one and by CSV, agency contacts, errors, OpenAPI."""
from __future__ import annotations

import pytest

import copy

from shared.events import registry
from tests.support import publish_event, wait_for


NIP = "198503122010011002"
NIP_SITI = "199001012015032001"


@pytest.fixture
def service(start_notification):
    return start_notification()


def test_put_recipient_creates_then_replaces_and_a_repeat_changes_nothing(service):
    body = {"name": "Rahmat Hidayat", "agency": "diskominfo", "email": "rahmat@bukittinggikota.go.id",
            "phone": "0812 6612 3456", "channels": ["email", "webhook", "email"], "opt_outs": ["nudge"]}
    created = service.http("PUT", f"/recipients/{NIP}", json=body)
    assert created.status_code == 201
    record = created.json()
    assert record["phone"] == "+6281266123456" and record["agency"] == "DISKOMINFO"
    assert record["channels"] == ["email", "webhook"] and record["id_kind"] == "nip"

    again = service.http("PUT", f"/recipients/{NIP}", json=body)
    assert again.status_code == 200 and again.json()["updated_at"] == record["updated_at"]
    changed = service.http("PUT", f"/recipients/{NIP}", json={**body, "opt_outs": []})
    assert changed.status_code == 200 and changed.json()["opt_outs"] == []
    assert service.http("GET", f"/recipients/{NIP}").json()["opt_outs"] == []


@pytest.mark.parametrize("nip, body, field, reason", [
    ("19850312201001100", {"email": "a@b.go.id"}, "nip", "must have 18 digits"),
    ("198513122010011002", {"email": "a@b.go.id"}, "nip", "is not a real date"),
    (NIP, {"email": "bukan-email"}, "email", "Not a valid email address."),
    (NIP, {"phone": "+1 415 555 0100"}, "phone", "Indonesian"),
    (NIP, {"channels": ["webhook"]}, "channels", "no phone or whatsapp number"),
    (NIP, {"opt_outs": ["escalation"]}, "opt_outs", "Must be one of"),
])
def test_invalid_recipient_input_is_refused_with_the_field_and_the_reason(service, nip, body, field, reason):
    reply = service.http("PUT", f"/recipients/{nip}", json=body)
    assert reply.status_code == 422
    error = reply.json()
    text = error.get("message", "") if error.get("field") == field else str(error.get("errors", {}).get(field))
    assert reason in text, error


def test_a_malformed_json_body_is_a_400(service):
    reply = service.http("PUT", f"/recipients/{NIP}", data=b"{nip:", headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and reply.json()["error"] == "bad_request"


def test_bulk_csv_reports_each_row_and_a_second_upload_changes_nothing(service):
    csv = (
        "nip;name;agency;email;phone;channels;opt_outs\n"
        f"{NIP};Rahmat Hidayat;DISKOMINFO;rahmat@bukittinggikota.go.id;081266123456;email|webhook;nudge\n"
        f"{NIP_SITI};Siti Aminah;BKPSDM;siti@bukittinggikota.go.id;;email;\n"
        "198503122010011;Salah Ketik;;x@y.go.id;;;\n"
        f"{NIP};Rahmat Lagi;;r2@bukittinggikota.go.id;;;\n"
    ).encode()
    first = service.http("POST", "/recipients/bulk", data=csv, headers={"Content-Type": "text/csv"})
    assert first.status_code == 200, first.text
    result = first.json()
    assert (result["total"], result["created"], result["invalid"]) == (4, 2, 2)
    rows = {r["row"]: r for r in result["rows"]}
    assert rows[2]["status"] == "created" and rows[3]["status"] == "created"
    assert rows[4]["status"] == "invalid" and "18 digits" in rows[4]["errors"]["nip"][0]
    assert rows[5]["status"] == "invalid" and "first on line 2" in rows[5]["errors"]["nip"][0]
    assert service.http("GET", f"/recipients/{NIP}").json()["opt_outs"] == ["nudge"]

    second = service.http("POST", "/recipients/bulk", data=csv, headers={"Content-Type": "text/csv"}).json()
    assert (second["created"], second["updated"], second["unchanged"], second["invalid"]) == (0, 0, 2, 2)


def test_a_csv_without_a_nip_column_is_refused_as_a_whole(service):
    reply = service.http("POST", "/recipients/bulk", data=b"name,email\nA,a@b.go.id\n")
    assert reply.status_code == 422 and reply.json()["field"] == "header"


def test_an_agency_contact_is_set_for_a_known_opd_only(service):
    ok = service.http("PUT", "/agencies/BKPSDM/contact", json={"name": "Operator BKPSDM", "phone": "0752-21234"})
    assert ok.status_code == 201 and ok.json()["channels"] == ["webhook"]
    assert service.http("GET", "/agencies/bkpsdm/contact").json()["phone"] == "+6275221234"
    unknown = service.http("PUT", "/agencies/DINAS-ANTAH/contact", json={"name": "X", "email": "x@y.go.id"})
    assert unknown.status_code == 404 and unknown.json()["field"] == "code"
    unreachable = service.http("PUT", "/agencies/BKPSDM/contact", json={"name": "X"})
    assert unreachable.status_code == 422 and "email" in unreachable.json()["errors"]


def test_inbox_of_an_invalid_nip_or_unknown_message_is_an_error_not_an_empty_answer(service):
    assert service.http("GET", "/inbox/123").status_code == 422
    empty = service.http("GET", f"/inbox/{NIP}").json()
    assert empty == {"nip": NIP, "unread": 0, "items": [], "next_cursor": None}
    assert service.http("POST", f"/inbox/{NIP}/6752c5aa0b1c2d3e4f506099/read").status_code == 404
    assert service.http("POST", f"/inbox/{NIP}/not-an-id/read").status_code == 422
    assert service.http("GET", "/deliveries?cursor=%%%").status_code == 422


def _completed(enrolment_id: str) -> dict:
    data = copy.deepcopy(registry.latest("enrollment", "completed").example)
    data["enrolment_id"] = enrolment_id
    data["participant"] = {**data["participant"], "nip": NIP_SITI}
    return data


def test_the_inbox_and_the_delivery_log_page_by_cursor_and_still_take_page_and_per_page(service):
    for enrolment_id in ("e-1", "e-2"):  # no contact data: email undeliverable, inbox delivered
        publish_event(service.settings.amqp_uri, "enrollment", "completed", _completed(enrolment_id))
    wait_for(lambda: len(service.deliveries(nip=NIP_SITI, status={"$ne": "pending"})) == 4,
             message="two events' deliveries recorded")

    log = service.http("GET", "/deliveries", params={"nip": NIP_SITI}).json()
    assert len(log["items"]) == 4 and log["next_cursor"] is None
    first = service.http("GET", "/deliveries", params={"nip": NIP_SITI, "limit": 3}).json()
    rest = service.http("GET", "/deliveries", params={"nip": NIP_SITI, "limit": 3,
                                                      "cursor": first["next_cursor"]}).json()
    assert [d["id"] for d in first["items"] + rest["items"]] == [d["id"] for d in log["items"]]
    assert rest["next_cursor"] is None
    legacy = service.http("GET", "/deliveries", params={"nip": NIP_SITI, "per_page": 3, "page": 2}).json()
    assert [d["id"] for d in legacy["items"]] == [d["id"] for d in rest["items"]]

    inbox = service.http("GET", f"/inbox/{NIP_SITI}", params={"limit": 1}).json()
    assert inbox["unread"] == 2 and len(inbox["items"]) == 1 and inbox["next_cursor"]
    older = service.http("GET", f"/inbox/{NIP_SITI}", params={"limit": 1, "cursor": inbox["next_cursor"]}).json()
    assert older["next_cursor"] is None
    both = service.http("GET", f"/inbox/{NIP_SITI}").json()["items"]
    assert [m["id"] for m in inbox["items"] + older["items"]] == [m["id"] for m in both]
    assert both[0]["received_at"] >= both[1]["received_at"]  # newest first
    assert service.http("GET", f"/inbox/{NIP_SITI}", params={"per_page": 1, "page": 2}).json()["items"] == older["items"]
    assert service.http("GET", f"/inbox/{NIP_SITI}", params={"cursor": "bm90LWEtY3Vyc29y"}).status_code == 422


def test_the_delivery_log_takes_a_nip_in_its_printed_form(service):
    reply = service.http("GET", "/deliveries", params={"nip": "19900101 201503 2 001"})
    assert reply.status_code == 200 and reply.json() == {"items": [], "next_cursor": None}
    assert service.http("GET", "/deliveries", params={"nip": "1990"}).status_code == 422


def test_openapi_documents_every_route(service):
    paths = service.http("GET", "/openapi.json").json()["paths"]
    for path, method in [("/recipients/{nip}", "put"), ("/recipients/bulk", "post"), ("/inbox/{nip}", "get"),
                         ("/inbox/{nip}/{message_id}/read", "post"), ("/deliveries", "get"),
                         ("/agencies/{code}/contact", "put")]:
        assert method in paths[path], path
    # readiness probes the broker and store live; on a loaded machine give it a bounded wait
    wait_for(lambda: service.http("GET", "/health/ready").status_code == 200, timeout=30, message="ready")
