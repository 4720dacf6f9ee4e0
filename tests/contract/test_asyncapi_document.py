"""The AsyncAPI 3.0 document: generated from the registry, committed, accepted by the
official parser (@asyncapi/parser run by node), one per service for its own events."""
from __future__ import annotations

import difflib
import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from cloudevents.v1.http import from_json

from shared import asyncapi
from shared.config import SERVICES
from shared.events import envelope, registry

pytestmark = pytest.mark.unit  # no broker or store; runs node

TOOLS = asyncapi.REPO_ROOT / "tools" / "asyncapi"
INSTALL_COMMAND = "npm ci --prefix tools/asyncapi"


def run_official_parser(paths: list[Path]) -> dict[str, dict]:
    """Reports of tools/asyncapi/validate.mjs (the official parser) by file name."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed; the AsyncAPI document is validated with node + @asyncapi/parser")
    if not (TOOLS / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail(f"tools/asyncapi/node_modules is missing; install the official parser with: {INSTALL_COMMAND}")
    done = subprocess.run([node, str(TOOLS / "validate.mjs"), *map(str, paths)], cwd=TOOLS,
                          capture_output=True, text=True, timeout=120)
    try:
        reports = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"the validator did not answer (exit {done.returncode}): {done.stderr[-2000:]}")
    return {Path(r["file"]).name: r for r in reports}


def problems(report: dict) -> list[dict]:
    return [d for d in report["diagnostics"] if d["severity"] in ("error", "warning")]


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict[str, dict]:
    """One node run over the committed document, each service's document and two broken ones."""
    folder = tmp_path_factory.mktemp("asyncapi")
    paths = [asyncapi.COMMITTED_PATH]
    for service in SERVICES:
        path = folder / f"{service}.json"
        path.write_text(json.dumps(asyncapi.document_for(service)))
        paths.append(path)

    wrong_example = asyncapi.document()
    data = wrong_example["components"]["messages"]["enrollment.completed.v1"]["examples"][0]["payload"]["data"]
    data["jp_earned"] = "tiga puluh dua"
    del data["participant"]["nip"]
    (folder / "wrong-example.json").write_text(json.dumps(wrong_example))

    dangling = asyncapi.document()
    del dangling["components"]["schemas"]["EnrollmentCompletedV1"]
    (folder / "dangling-ref.json").write_text(json.dumps(dangling))
    return run_official_parser(paths + [folder / "wrong-example.json", folder / "dangling-ref.json"])


def test_the_committed_document_is_regenerated_whenever_the_event_registry_changes():
    committed = asyncapi.COMMITTED_PATH.read_text(encoding="utf-8")
    generated = asyncapi.to_yaml(asyncapi.document())
    if committed != generated:
        diff = list(difflib.unified_diff(committed.splitlines(), generated.splitlines(),
                                         "docs/asyncapi.yaml", "generated", lineterm="", n=1))
        pytest.fail("docs/asyncapi.yaml is stale: run `python -m shared.asyncapi --write docs/asyncapi.yaml` "
                    "and commit it\n" + "\n".join(diff[:40]), pytrace=False)


def test_the_official_parser_accepts_the_committed_asyncapi_3_document(parsed):
    report = parsed["asyncapi.yaml"]
    assert report["valid"], problems(report)
    assert problems(report) == []
    assert report["asyncapi"] == "3.0.0"
    definitions = registry.all_definitions()
    assert report["messages"] == len(definitions)
    assert report["channels"] == len({(d.service, d.name) for d in definitions})
    assert report["operations"] == 2 * report["channels"]  # a send and a subscriber's receive each


@pytest.mark.parametrize("service", SERVICES)
def test_the_official_parser_accepts_the_document_each_service_serves(parsed, service):
    report = parsed[f"{service}.json"]
    assert report["valid"], problems(report)
    assert problems(report) == []
    assert report["messages"] == len([d for d in registry.all_definitions() if d.service == service])


def test_the_parser_check_rejects_an_example_that_contradicts_its_schema(parsed):
    report = parsed["wrong-example.json"]
    assert not report["valid"]
    messages = " | ".join(d["message"] for d in problems(report))
    assert "payload/data/jp_earned must be integer" in messages
    assert "payload/data/participant must have required property 'nip'" in messages


def test_the_parser_rejects_a_message_whose_data_schema_is_missing(parsed):
    report = parsed["dangling-ref.json"]
    assert not report["valid"]
    assert any("EnrollmentCompletedV1" in d["message"] and d["severity"] == "error"
               for d in report["diagnostics"])


def test_each_event_version_is_a_message_on_its_exchange_and_routing_key():
    doc = yaml.safe_load(asyncapi.COMMITTED_PATH.read_text(encoding="utf-8"))
    for d in registry.all_definitions():
        channel = doc["channels"][f"{d.service}.events.{d.name}"]
        assert channel["address"] == d.name
        assert channel["bindings"]["amqp"]["is"] == "routingKey"
        assert channel["bindings"]["amqp"]["exchange"] | {"vhost": None} == {
            "name": f"{d.service}.events", "type": "topic", "durable": True, "autoDelete": False, "vhost": None}
        ref = channel["messages"][f"{d.name}.v{d.version}"]["$ref"]
        message = doc["components"]["messages"][ref.rsplit("/", 1)[1]]
        assert message["payload"]["properties"]["type"]["const"] == d.type
        assert message["payload"]["properties"]["source"]["const"] == f"/asn/{d.service}"
        assert message["contentType"] == "application/json"
        assert message["bindings"]["amqp"]["x-delivery-mode"] == 2
        assert message["examples"][0]["payload"]["data"] == json.loads(json.dumps(d.example))

        send = doc["operations"][asyncapi._camel("send", d.service, d.name)]
        assert send["action"] == "send"
        assert send["channel"]["$ref"] == f"#/channels/{d.service}.events.{d.name}"
        assert send["bindings"]["amqp"]["deliveryMode"] == 2
        receive = doc["operations"][asyncapi._camel("receive", d.service, d.name)]
        assert receive["action"] == "receive"


def test_the_data_schema_in_the_document_is_the_marshmallow_schema_of_the_registry():
    doc = asyncapi.document()
    completed = doc["components"]["schemas"]["EnrollmentCompletedV1"]
    assert completed["properties"]["result"]["enum"] == ["passed", "failed", "no_show"]
    assert set(completed["required"]) >= {"enrolment_id", "programme", "participant", "jp_earned"}
    assert completed["properties"]["participant"] == {"$ref": "#/components/schemas/ParticipantSnapshot"}
    # contact data never reaches a public event
    participant = doc["components"]["schemas"]["ParticipantSnapshot"]["properties"]
    assert not {"email", "phone"} & set(participant)
    # subscribers must accept fields added later in the same version
    assert "additionalProperties" not in completed


def test_every_example_in_the_document_is_a_real_cloudevent_the_platform_and_the_sdk_parse():
    doc = asyncapi.document()
    for key, message in doc["components"]["messages"].items():
        example = message["examples"][0]["payload"]
        parsed = envelope.parse(json.dumps(example).encode(), "application/json")
        assert parsed.type == message["name"]
        sdk = from_json(json.dumps(example))
        assert sdk["id"] == example["id"] and sdk.data == example["data"]


def test_a_service_document_holds_only_that_services_events():
    doc = asyncapi.document_for("certification")
    assert sorted(doc["channels"]) == sorted(f"certification.events.{d.name}" for d in
                                             registry.all_definitions() if d.service == "certification")
    assert all(m["name"].startswith("id.go.bkn.bangkom.certification.")
               for m in doc["components"]["messages"].values())
    assert "ParticipantSnapshot" in doc["components"]["schemas"]  # nested parts come along
    assert "EnrollmentCompletedV1" not in doc["components"]["schemas"]
    assert json.loads(json.dumps(doc)) == doc  # served as /asyncapi.json as it is
    with pytest.raises(ValueError, match="unknown service"):
        asyncapi.document_for("payroll")


def test_a_superseded_version_is_marked_in_its_description():
    completed = registry.get("enrollment", "completed", 1)
    v2 = replace(completed, version=2)
    doc = asyncapi.build([completed, v2], ["enrollment"])
    channel = doc["channels"]["enrollment.events.completed"]
    assert sorted(channel["messages"]) == ["completed.v1", "completed.v2"]  # side by side, same key
    assert "Superseded by v2" in doc["components"]["messages"]["enrollment.completed.v1"]["description"]
    assert "Superseded" not in doc["components"]["messages"]["enrollment.completed.v2"]["description"]


def test_no_private_event_nor_private_exchange_is_in_any_published_document():
    """Contact data (ADR 0080) is for the platform's own consumers: a subscriber reading the
    contract must not even learn of ``enrollment.private``."""
    private = registry.private_definitions()
    assert private, "asn_contact is a private event"
    committed = asyncapi.COMMITTED_PATH.read_text(encoding="utf-8")
    served = [json.dumps(asyncapi.document_for(service)) for service in SERVICES]
    for text in [committed, *served]:
        assert ".private" not in text
        for definition in private:
            assert definition.type not in text and definition.name not in text
    guide = (asyncapi.REPO_ROOT / "docs" / "subscribing.md").read_text(encoding="utf-8")
    assert not [d.type for d in private if d.type in guide or f"`{d.name}`" in guide]
    assert ".private" not in guide
