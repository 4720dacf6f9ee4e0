"""The CloudEvents envelope and the event registry, without I/O."""
from __future__ import annotations

import copy
import json

import pytest

from shared.events import envelope, registry
from shared.events.envelope import MalformedEvent

COMPLETED = registry.latest("enrollment", "completed")


def encoded(**changes) -> bytes:
    event = envelope.new_event(COMPLETED, "e1", copy.deepcopy(COMPLETED.example), correlation_id="corr-1")
    event.update(changes)
    return json.dumps(event).encode()


def test_every_event_type_is_reverse_dns_with_its_major_version():
    for definition in registry.all_definitions():
        assert definition.type == f"id.go.bkn.bangkom.{definition.service}.{definition.name}.v{definition.version}"
        assert definition.exchange == f"{definition.service}.events"


def test_a_new_event_carries_every_required_cloudevents_attribute():
    event = json.loads(encoded())
    assert event["specversion"] == "1.0"
    assert event["source"] == "/asn/enrollment"
    assert event["subject"] == "e1"
    assert event["time"].endswith("Z")
    assert event["datacontenttype"] == "application/json"
    assert event["correlationid"] == "corr-1"


def test_data_failing_its_schema_is_refused_before_it_is_stored():
    data = copy.deepcopy(COMPLETED.example)
    data["result"] = "lulus"
    with pytest.raises(ValueError, match="result"):
        envelope.new_event(COMPLETED, "e1", data)


def test_a_producer_typo_in_a_field_name_is_refused():
    data = copy.deepcopy(COMPLETED.example)
    data["jp_earnd"] = 4
    with pytest.raises(ValueError, match="jp_earnd"):
        envelope.new_event(COMPLETED, "e1", data)


def test_a_consumer_tolerates_a_field_added_later_in_the_same_version():
    event = json.loads(encoded())
    event["data"]["room"] = "Aula"
    assert envelope.parse(json.dumps(event).encode()).data["room"] == "Aula"


@pytest.mark.parametrize("body, content_type, reason", [
    (b"\x00\xffgarbage", "application/json", "not valid JSON"),
    (b"[1, 2]", "application/json", "not a JSON object"),
    (encoded(), "application/octet-stream", "wrong content type"),
    (encoded(type="id.go.bkn.bangkom.enrollment.completed.v9"), "application/json", "unknown event type"),
    (encoded(specversion="0.3"), "application/json", "unsupported specversion"),
    (b"{" + b" " * (300 * 1024) + b"}", "application/json", "exceeds"),
])
def test_unprocessable_messages_are_refused_with_the_reason(body, content_type, reason):
    with pytest.raises(MalformedEvent, match=reason):
        envelope.parse(body, content_type)


def test_a_missing_attribute_is_named():
    event = json.loads(encoded())
    del event["subject"], event["time"]
    with pytest.raises(MalformedEvent, match="time, subject"):
        envelope.parse(json.dumps(event).encode())


def test_public_events_carry_no_contact_data():
    for definition in registry.all_definitions():
        text = json.dumps(definition.example).lower()
        schema_fields = json.dumps(sorted(_field_names(definition.schema()))).lower()
        for word in ("email", "phone", "whatsapp", "telepon", "address", "alamat"):
            assert word not in schema_fields, f"{definition.type} has a contact field"
        assert "@" not in text, f"{definition.type}'s example carries an e-mail address"


def _field_names(schema) -> set[str]:
    names = set()
    for name, field in schema.fields.items():
        names.add(name)
        nested = getattr(field, "schema", None) or getattr(getattr(field, "inner", None), "schema", None)
        if nested is not None:
            names |= _field_names(nested)
    return names


def test_a_private_event_goes_to_its_producers_private_exchange_and_is_found_but_never_listed_as_public():
    contact = registry.latest("enrollment", "asn_contact")
    assert contact.private and contact.exchange == "enrollment.private"
    link = registry.latest("enrollment", "approval_link")  # the approver's signed link (issue 20)
    assert [d.type for d in registry.private_definitions()] == sorted([contact.type, link.type])
    assert link.type not in {d.type for d in registry.all_definitions()}
    assert contact.type not in {d.type for d in registry.all_definitions()}
    assert registry.by_type(contact.type) is contact  # a consumer parses it like any event
    assert all(d.exchange.endswith(".private") for d in registry.private_definitions())


def test_a_private_event_round_trips_through_the_envelope_with_its_contact_data():
    contact = registry.latest("enrollment", "asn_contact")
    event = envelope.new_event(contact, contact.example["nip"], copy.deepcopy(contact.example))
    parsed = envelope.parse(envelope.encode(event))
    assert (parsed.service, parsed.name) == ("enrollment", "asn_contact")
    assert parsed.data["email"] == contact.example["email"] and parsed.data["phone"] == contact.example["phone"]
    with pytest.raises(ValueError, match="phone"):
        envelope.new_event(contact, "x", {**contact.example, "phone": 6281266001122})
