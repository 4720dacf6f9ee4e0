"""The public event contract as an AsyncAPI 3.0 document, generated from the event registry.

One source: ``shared/events/registry.py`` holds every event type and major version with
its marshmallow schema and example; this module turns them into

- channels: one per exchange ``<service>.events`` and routing key (the short event name),
  with the AMQP 0-9-1 channel binding (topic exchange, durable);
- messages: one per CloudEvents ``type`` (major version in the name); the payload is the
  CloudEvents 1.0 structured envelope whose ``data`` is the marshmallow schema converted to
  JSON Schema by apispec's marshmallow plugin, with the registry's example;
- operations: the producing service ``send``s each channel; a ``receive`` operation shows
  what another system subscribing to it does.

``document_for(service)`` is the document of one service's events (served by that
service); ``document()`` covers all of them and is committed as ``docs/asyncapi.yaml``:

    python -m shared.asyncapi --write docs/asyncapi.yaml     # regenerate
    python -m shared.asyncapi --check docs/asyncapi.yaml     # exit 1 when stale
    python -m shared.asyncapi --service certification --format json
    python -m shared.asyncapi --format html --write build/asyncapi.html   # for subscribers (CI)

The HTML rendering (``to_html``) is one self-contained page for subscribing systems, built
in CI from the same document and never committed.
"""
from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import uuid
from pathlib import Path
from typing import Iterable

import yaml
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from marshmallow import Schema

from shared.broker_security import SUBSCRIBER_PREFIX
from shared.config import SERVICES
from shared.events import registry
from shared.events.envelope import CONTENT_TYPE, SPECVERSION
from shared.events.registry import EventDefinition

ASYNCAPI_VERSION = "3.0.0"
AMQP_BINDING_VERSION = "0.3.0"
# The document's own version; each event type carries its major version in its name.
DOCUMENT_VERSION = "1.0.0"
DOCUMENT_ID = "urn:id:go:bkn:bangkom:events"
REPO_ROOT = Path(__file__).resolve().parent.parent
COMMITTED_PATH = REPO_ROOT / "docs" / "asyncapi.yaml"
SCHEMA_REF_PREFIX = "#/components/schemas/"
GENERATED_HEADER = ("# Generated from shared/events/ by `python -m shared.asyncapi --write docs/asyncapi.yaml`.\n"
                    "# Do not edit by hand: tests/contract fails when this file is stale.\n")
# Fixed envelope values of the examples, so the generated document is reproducible.
EXAMPLE_TIME = "2026-03-05T09:30:00.000Z"
EXAMPLE_CORRELATION_ID = "c0ffee00-2026-4b1d-8a5e-000000000042"
SUBJECT_KEYS = ("enrolment_id", "certificate_id", "delivery_id")

DESCRIPTION = """\
Public events of the ASN competency development platform (BKN and Pemerintah Kota
Bukittinggi), for other government systems.

* **Transport**: RabbitMQ (AMQP 0-9-1). Each producing service publishes to its own durable
  topic exchange `<service>.events`; the routing key is the short event name (`completed`,
  `certified`, ...). Bind your own durable queue to the exchanges and routing keys you need.
* **Envelope**: every message body is a CloudEvents 1.0 structured-mode JSON event
  (`specversion`, `id`, `source`, `type`, `time`, `subject`, `datacontenttype`, `data`;
  optional extension `correlationid`), sent as `application/json`, persistent (delivery mode 2).
* **Versioning**: the major version is part of the CloudEvents `type`
  (`id.go.bkn.bangkom.enrollment.completed.v1`). Within a version only optional fields
  are added, so ignore fields you do not know. A breaking change is a new type (`...v2`)
  published side by side on the same routing key until subscribers have moved.
* **Delivery**: at least once, in no guaranteed order. Use `id` as the idempotency key.

See docs/subscribing.md for credentials, queue set-up, replay of history and an example
consumer."""


# -- data schemas (marshmallow -> JSON Schema) -------------------------------------------

def component_name(schema: type[Schema] | Schema) -> str:
    """A unique, stable component name: shared parts keep their name, others get the service."""
    cls = schema if isinstance(schema, type) else type(schema)
    module = cls.__module__.rsplit(".", 1)[-1]
    if module in SERVICES:
        return f"{module.capitalize()}{cls.__name__}"
    return cls.__name__


def _tidy(node):
    """Adjust apispec's output to the public contract.

    ``additionalProperties: false`` mirrors the producer's strict check, but consumers
    must accept fields added later within a version, so the contract leaves objects open.
    apispec names the URL format ``url``; JSON Schema's is ``uri``.
    """
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "additionalProperties" and value is False:
                continue
            if key == "format" and value == "url":
                value = "uri"
            out[key] = _tidy(value)
        return out
    if isinstance(node, list):
        return [_tidy(v) for v in node]
    return node


def data_schemas(definitions: Iterable[EventDefinition]) -> dict[str, dict]:
    """JSON Schemas (components) of the ``data`` of ``definitions`` and all they nest."""
    spec = APISpec("events", DOCUMENT_VERSION, "3.1.0",
                   plugins=[MarshmallowPlugin(schema_name_resolver=component_name)])
    registered: set[str] = set()
    for definition in definitions:
        name = component_name(definition.schema)
        if name in registered or name in spec.components.schemas:
            continue  # one schema class serving several types (programme_published/updated)
        spec.components.schema(name, schema=definition.schema)
        registered.add(name)
    schemas = spec.to_dict().get("components", {}).get("schemas", {})
    return {name: _tidy(schemas[name]) for name in sorted(schemas)}


def inline_refs(schema: dict, components: dict[str, dict]) -> dict:
    """``schema`` with every ``#/components/schemas/X`` reference replaced by X itself."""
    def walk(node, seen: tuple[str, ...]):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(SCHEMA_REF_PREFIX):
                name = ref[len(SCHEMA_REF_PREFIX):]
                if name in seen:
                    raise ValueError(f"recursive event schema {name} cannot be inlined")
                return walk(components[name], seen + (name,))
            return {k: walk(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, seen) for v in node]
        return node
    return walk(copy.deepcopy(schema), ())


def json_schema_of(schema: type[Schema]) -> dict:
    """The self-contained JSON Schema (nested schemas inlined) of a marshmallow schema."""
    spec = APISpec("events", DOCUMENT_VERSION, "3.1.0",
                   plugins=[MarshmallowPlugin(schema_name_resolver=component_name)])
    name = component_name(schema)
    spec.components.schema(name, schema=schema)
    components = {k: _tidy(v) for k, v in spec.to_dict()["components"]["schemas"].items()}
    return inline_refs(components[name], components)


def data_json_schema(definition: EventDefinition) -> dict:
    """The self-contained JSON Schema of ``definition``'s ``data`` (used by the snapshots)."""
    return json_schema_of(definition.schema)


# -- envelope and examples -----------------------------------------------------------------

def envelope_schema(definition: EventDefinition) -> dict:
    """The CloudEvents structured envelope of one event type, ``data`` by reference."""
    return {
        "type": "object",
        "required": ["specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"],
        "properties": {
            "specversion": {"type": "string", "const": SPECVERSION, "description": "CloudEvents version."},
            "id": {"type": "string", "minLength": 1,
                   "description": "Unique per event; the same on a redelivery or replay. Use it to drop duplicates."},
            "source": {"type": "string", "const": definition.source, "description": "The producing service."},
            "type": {"type": "string", "const": definition.type,
                     "description": "Reverse-DNS event type; the major version is its last part."},
            "time": {"type": "string", "format": "date-time",
                     "description": "When it happened, UTC (RFC 3339)."},
            "subject": {"type": "string", "minLength": 1,
                        "description": "The id of the aggregate the event is about."},
            "datacontenttype": {"type": "string", "const": CONTENT_TYPE},
            "correlationid": {"type": "string",
                              "description": "Extension: the request that caused the event, for tracing."},
            "data": {"$ref": SCHEMA_REF_PREFIX + component_name(definition.schema)},
        },
    }


def example_subject(data: dict) -> str:
    for key in SUBJECT_KEYS:
        if data.get(key):
            return str(data[key])
    if isinstance(data.get("participant"), dict):
        return str(data["participant"]["nip"])
    if isinstance(data.get("programme"), dict):
        return str(data["programme"]["code"])
    return "example"


def example_envelope(definition: EventDefinition) -> dict:
    """The registry's example of ``data`` in a complete envelope, as it travels."""
    return {
        "specversion": SPECVERSION,
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, definition.type)),
        "source": definition.source,
        "type": definition.type,
        "time": EXAMPLE_TIME,
        "subject": example_subject(definition.example),
        "datacontenttype": CONTENT_TYPE,
        "correlationid": EXAMPLE_CORRELATION_ID,
        "data": copy.deepcopy(definition.example),
    }


HEADERS_SCHEMA = {
    "type": "object",
    "description": "AMQP application headers set by the publisher (copies of envelope attributes).",
    "properties": {
        "ce_id": {"type": "string", "description": "Same as the envelope's `id`."},
        "ce_type": {"type": "string", "description": "Same as the envelope's `type`."},
        "correlation_id": {"type": "string", "description": "Same as `correlationid`, empty when none."},
    },
}


# -- the document -------------------------------------------------------------------------

def channel_id(definition: EventDefinition) -> str:
    return f"{definition.exchange}.{definition.name}"


def message_id(definition: EventDefinition) -> str:
    return f"{definition.service}.{definition.name}.v{definition.version}"


def _camel(*parts: str) -> str:
    words = [w for p in parts for w in p.replace(".", "_").split("_") if w]
    return words[0] + "".join(w.capitalize() for w in words[1:])


def _message(definition: EventDefinition, newest: int) -> dict:
    description = definition.description
    if definition.version < newest:
        description += (f"\n\nSuperseded by v{newest}; still published side by side until "
                        "subscribers have moved.")
    example = example_envelope(definition)
    return {
        "name": definition.type,
        "title": f"{definition.service} {definition.name} v{definition.version}",
        "summary": definition.description.split("\n")[0],
        "description": description,
        "contentType": CONTENT_TYPE,
        "tags": [{"name": definition.service}],
        "headers": HEADERS_SCHEMA,
        "correlationId": {"description": "The request that caused the event.",
                          "location": "$message.header#/correlation_id"},
        "payload": envelope_schema(definition),
        "bindings": {"amqp": {
            "contentEncoding": "utf-8",
            "messageType": definition.type,
            # AMQP properties of every message (the binding has no field of its own for them).
            "x-content-type": CONTENT_TYPE,
            "x-delivery-mode": 2,
            "bindingVersion": AMQP_BINDING_VERSION,
        }},
        "examples": [{
            "name": f"{definition.name}-v{definition.version}",
            "summary": f"A {definition.name} v{definition.version} event as it travels",
            "headers": {"ce_id": example["id"], "ce_type": definition.type,
                        "correlation_id": EXAMPLE_CORRELATION_ID},
            "payload": example,
        }],
    }


def build(definitions: list[EventDefinition], services: Iterable[str]) -> dict:
    """An AsyncAPI 3.0 document of ``definitions``, published by ``services``."""
    services = [s for s in SERVICES if s in set(services)]
    everything = services == list(SERVICES)
    newest: dict[tuple[str, str], int] = {}
    for d in definitions:
        newest[(d.service, d.name)] = max(newest.get((d.service, d.name), 0), d.version)

    channels: dict[str, dict] = {}
    operations: dict[str, dict] = {}
    messages: dict[str, dict] = {}
    for d in definitions:
        cid = channel_id(d)
        channel = channels.setdefault(cid, {
            "address": d.name,
            "title": f"{d.exchange} / {d.name}",
            "description": (f"Routing key `{d.name}` on the topic exchange `{d.exchange}`, "
                            f"published by the {d.service} service. All major versions of the "
                            "event share it; tell them apart by the CloudEvents `type`."),
            "messages": {},
            "bindings": {"amqp": {
                "is": "routingKey",
                "exchange": {"name": d.exchange, "type": "topic", "durable": True,
                             "autoDelete": False, "vhost": "/"},
                "bindingVersion": AMQP_BINDING_VERSION,
            }},
        })
        key = f"{d.name}.v{d.version}"
        channel["messages"][key] = {"$ref": f"#/components/messages/{message_id(d)}"}
        messages[message_id(d)] = _message(d, newest[(d.service, d.name)])

    for cid, channel in channels.items():
        refs = [{"$ref": f"#/channels/{cid}/messages/{key}"} for key in channel["messages"]]
        exchange = channel["bindings"]["amqp"]["exchange"]["name"]
        service = exchange.split(".")[0]
        name = channel["address"]
        operations[_camel("send", service, name)] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{cid}"},
            "title": f"{service} publishes {name}",
            "summary": (f"The {service} service publishes `{name}` through its transactional outbox, "
                        "with publisher confirms, after the change it reports has committed."),
            "tags": [{"name": service}],
            "messages": refs,
            "bindings": {"amqp": {"deliveryMode": 2, "mandatory": True,
                                  "bindingVersion": AMQP_BINDING_VERSION}},
        }
        operations[_camel("receive", service, name)] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{cid}"},
            "title": f"A subscriber receives {service} {name}",
            "summary": (f"Example for other systems: bind your own durable queue to `{exchange}` with "
                        f"routing key `{name}`, acknowledge after processing, drop duplicates by `id`."),
            "tags": [{"name": "subscriber"}],
            "messages": refs,
            "bindings": {"amqp": {"ack": True, "bindingVersion": AMQP_BINDING_VERSION}},
        }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": DOCUMENT_ID if everything else f"{DOCUMENT_ID}:{'+'.join(services)}",
        "info": {
            "title": ("ASN Bangkom platform events" if everything
                      else f"ASN Bangkom {', '.join(services)} events"),
            "version": DOCUMENT_VERSION,
            "description": DESCRIPTION,
            "contact": {"name": "BKPSDM Kota Bukittinggi, platform team"},
            "tags": [{"name": s, "description": f"Events published by the {s} service "
                                                f"(exchange `{s}.events`)."} for s in services]
                    + [{"name": "subscriber", "description": "What a subscribing system does."}],
        },
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:5672",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "The local stack started by the project's launcher (guest/guest).",
                "security": [{"$ref": "#/components/securitySchemes/brokerUser"}],
            },
            "platform": {
                "host": "{host}:{port}",
                "protocol": "amqps",
                "protocolVersion": "0.9.1",
                "description": "The platform's broker; host, vhost and credentials come with your "
                               "subscriber account (see docs/subscribing.md).",
                "variables": {
                    "host": {"description": "Broker host name given with your credentials."},
                    "port": {"default": "5671", "description": "AMQP over TLS."},
                },
                "security": [{"$ref": "#/components/securitySchemes/brokerUser"}],
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": data_schemas(definitions),
            "messages": messages,
            "securitySchemes": {
                "brokerUser": {"type": "userPassword",
                               "description": "A RabbitMQ user per subscribing system."},
            },
        },
    }


def document(services: Iterable[str] | None = None) -> dict:
    """The AsyncAPI document of the events of ``services`` (default: all of them)."""
    wanted = tuple(services) if services is not None else SERVICES
    unknown = [s for s in wanted if s not in SERVICES]
    if unknown:
        raise ValueError(f"unknown service(s) {', '.join(unknown)}; expected some of {', '.join(SERVICES)}")
    definitions = [d for d in registry.all_definitions() if d.service in wanted]
    return build(definitions, wanted)


def document_for(service: str) -> dict:
    """The AsyncAPI document of the events ``service`` publishes (served as /asyncapi.json)."""
    return document([service])


class _Dumper(yaml.SafeDumper):
    """Readable YAML: no anchors/aliases, multi-line text as literal blocks."""

    def ignore_aliases(self, data) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(doc: dict) -> str:
    return GENERATED_HEADER + yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


# -- the HTML rendering for subscribers ---------------------------------------------------
# One self-contained page (inline CSS, no script, no external resource) rendered from the
# same document, so that a system integrator can read the contract in a browser or on a
# phone without AsyncAPI tooling. CI generates it as an artefact; it is never committed.

HTML_TEMPLATE = "asyncapi.html"
_HTML_ENV = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                        autoescape=select_autoescape(("html",)), undefined=StrictUndefined,
                        trim_blocks=True, lstrip_blocks=True)
_CODE = re.compile(r"`([^`\n]+)`")
_STRONG = re.compile(r"\*\*([^*\n]+)\*\*")
_BULLET = re.compile(r"^[*-] ")


def inline_markup(text: str) -> Markup:
    """The document's descriptions use Markdown's `code` and **strong** only: escape the text
    first, then turn those two into tags, so nothing else in it can become markup."""
    html = str(escape(text))
    html = _CODE.sub(r"<code>\1</code>", html)
    return Markup(_STRONG.sub(r"<strong>\1</strong>", html))


def block_markup(text: str) -> Markup:
    """Paragraphs (blank-line separated) and ``*``/``-`` bullet lists, inline markup within."""
    parts: list[str] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if lines and _BULLET.match(lines[0]):
            items: list[str] = []
            for line in lines:
                if _BULLET.match(line):
                    items.append(line[2:].strip())
                else:  # a bullet's continuation line
                    items[-1] += " " + line.strip()
            parts.append("<ul>" + "".join(f"<li>{inline_markup(i)}</li>" for i in items) + "</ul>")
        else:
            parts.append(f"<p>{inline_markup(' '.join(line.strip() for line in lines))}</p>")
    return Markup("\n".join(parts))


_HTML_ENV.filters["md"] = inline_markup
_HTML_ENV.filters["md_block"] = block_markup


def _resolve(doc: dict, node: dict) -> dict:
    """``node`` itself, or what its local ``$ref`` (a JSON pointer into ``doc``) points at."""
    ref = node.get("$ref") if isinstance(node, dict) else None
    if not isinstance(ref, str):
        return node
    if not ref.startswith("#/"):
        raise ValueError(f"only local references can be rendered, not {ref}")
    target = doc
    for part in ref[2:].split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target


def _json(value: object) -> str:
    """A value as a subscriber writes it in a comparison: strings bare (the type column says
    they are strings), anything else as JSON (``null``, ``true``, ``5``)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _shape(schema: dict) -> tuple[dict, bool]:
    """The schema without its ``null`` alternative, and whether ``null`` is allowed."""
    alternatives = schema.get("anyOf")
    if isinstance(alternatives, list):
        rest = [a for a in alternatives if a != {"type": "null"}]
        if len(rest) == 1:
            merged = {k: v for k, v in schema.items() if k != "anyOf"} | rest[0]
            return merged, len(rest) < len(alternatives)
    kinds = schema.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        kinds = [k for k in kinds if k != "null"]
        return schema | {"type": kinds[0] if len(kinds) == 1 else kinds}, True
    return schema, False


def _type_label(schema: dict) -> str:
    kind = schema.get("type")
    if kind is None:
        kind = "object" if "properties" in schema else "any"
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        items, nullable = _shape(schema.get("items") or {})
        label = f"array of {_type_label(items)}"
        return label + (" or null" if nullable else "")
    if schema.get("format"):
        kind += f" ({schema['format']})"
    return kind


def _constraints(schema: dict, nullable: bool) -> list[str]:
    """Constraints of one field, in words with `code` (rendered by inline_markup)."""
    out: list[str] = []
    if "const" in schema:
        out.append(f"always `{_json(schema['const'])}`")
    if "enum" in schema:
        out.append("one of " + ", ".join(f"`{_json(v)}`" for v in schema["enum"] if v is not None))
    if "pattern" in schema:
        out.append(f"matches `{schema['pattern']}`")
    low, high = schema.get("minLength"), schema.get("maxLength")
    if low is not None or high is not None:
        out.append("length " + (f"{low}–{high}" if low is not None and high is not None
                                else f"≥ {low}" if low is not None else f"≤ {high}"))
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if key in schema:
            out.append(f"{sign} {_json(schema[key])}")
    for key, words in (("minItems", "at least {} item(s)"), ("maxItems", "at most {} item(s)")):
        if key in schema:
            out.append(words.format(schema[key]))
    if schema.get("uniqueItems"):
        out.append("no duplicates")
    if schema.get("type") == "array":
        items, _ = _shape(schema.get("items") or {})
        if "enum" in items:
            out.append("each one of " + ", ".join(f"`{_json(v)}`" for v in items["enum"] if v is not None))
        if "pattern" in items:
            out.append(f"each matches `{items['pattern']}`")
    if nullable:
        out.append("may be `null`")
    if "default" in schema:
        out.append(f"default `{_json(schema['default'])}`")
    return out


def field_rows(doc: dict, schema: dict, prefix: str = "") -> list[dict]:
    """The fields of an object schema of ``doc`` as table rows, nested objects flattened into
    dotted names (``participant.nip``) and objects in arrays as ``name[].field``."""
    schema = inline_refs(_resolve(doc, schema), doc["components"]["schemas"])
    return _rows(schema, prefix)


def _rows(schema: dict, prefix: str) -> list[dict]:
    required = set(schema.get("required", []))
    rows: list[dict] = []
    for name, raw in schema.get("properties", {}).items():
        field, nullable = _shape(raw)
        path = prefix + name
        rows.append({"name": path, "type": _type_label(field), "required": name in required,
                     "constraints": _constraints(field, nullable),
                     "description": field.get("description", "")})
        if "properties" in field:
            rows += _rows(field, path + ".")
        elif field.get("type") == "array":
            items, _ = _shape(field.get("items") or {})
            if "properties" in items:
                rows += _rows(items, path + "[].")
    return rows


def html_context(doc: dict) -> dict:
    """What the HTML template shows, taken from the AsyncAPI document ``doc`` alone."""
    exchanges: dict[str, list[dict]] = {}
    for cid, channel in doc["channels"].items():
        binding = channel["bindings"]["amqp"]["exchange"]
        receive = next((op for op in doc["operations"].values()
                        if op["action"] == "receive" and op["channel"]["$ref"] == f"#/channels/{cid}"), None)
        messages = []
        for ref in channel["messages"].values():
            message = _resolve(doc, ref)
            payload = _resolve(doc, message["payload"])
            example = message["examples"][0]
            messages.append({
                "type": message["name"],
                "anchor": "msg-" + message["name"],
                "title": message["title"],
                "description": message["description"],
                "fields": (rows := field_rows(doc, payload["properties"]["data"])),
                # an empty column only narrows the table on a phone
                "described": any(row["description"] for row in rows),
                "example": json.dumps(example["payload"], indent=2, ensure_ascii=False),
                "headers": example.get("headers", {}),
            })
        exchanges.setdefault(binding["name"], []).append({
            "id": cid, "anchor": "ch-" + cid, "routing_key": channel["address"],
            "exchange": binding, "description": channel["description"],
            "receive": receive["summary"] if receive else "", "messages": messages,
        })

    first = _resolve(doc, next(iter(doc["components"]["messages"].values())))
    payload = _resolve(doc, first["payload"])
    envelope = [{"name": name, "type": _type_label(prop) if "$ref" not in prop else "object (the event's data)",
                 "required": name in payload.get("required", []),
                 # the per-type values (type, source) are shown with each event
                 "constraints": [] if name in ("type", "source") else _constraints(prop, False),
                 "description": prop.get("description", "")}
                for name, prop in payload["properties"].items()]
    headers = [{"name": name, "description": prop.get("description", "")}
               for name, prop in first.get("headers", {}).get("properties", {}).items()]

    servers = []
    # the TLS server subscribers use first, the local development broker after it
    for name, server in sorted(doc["servers"].items(), key=lambda item: item[1]["protocol"] != "amqps"):
        schemes = [_resolve(doc, s) for s in server.get("security", [])]
        servers.append({"name": name, "url": f"{server['protocol']}://{server['host']}",
                        "protocol": f"{server['protocol']} (AMQP {server['protocolVersion']})",
                        "description": server.get("description", ""),
                        "variables": server.get("variables", {}), "security": schemes})
    sample = next(iter(exchanges.values()))[0]
    return {"info": doc["info"], "asyncapi": doc["asyncapi"], "doc_id": doc["id"],
            "servers": servers, "exchanges": exchanges, "envelope": envelope, "headers": headers,
            "account": f"{SUBSCRIBER_PREFIX}<system>", "queue_prefix": "ext.<system>.",
            "sample": sample, "message_count": len(doc["components"]["messages"])}


def to_html(doc: dict) -> str:
    """The AsyncAPI document as one self-contained HTML page for subscribers."""
    return _HTML_ENV.get_template(HTML_TEMPLATE).render(**html_context(doc))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate the AsyncAPI 3.0 document of the public events.")
    parser.add_argument("--service", action="append", choices=SERVICES,
                        help="only this service's events (repeatable); default all")
    parser.add_argument("--format", choices=("yaml", "json", "html"), default="yaml",
                        help="html: one self-contained page for subscribers")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--write", metavar="PATH", help="write the document to PATH")
    target.add_argument("--check", metavar="PATH", help="exit 1 when PATH differs from the generated document")
    args = parser.parse_args(argv)

    doc = document(args.service)
    if args.format == "html":
        text = to_html(doc)
    elif args.format == "yaml":
        text = to_yaml(doc)
    else:
        text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    if args.check:
        current = Path(args.check).read_text(encoding="utf-8") if Path(args.check).exists() else ""
        if current != text:
            fmt = "" if args.format == "yaml" else f"--format {args.format} "
            print(f"{args.check} is stale; run: python -m shared.asyncapi {fmt}--write {args.check}", file=sys.stderr)
            return 1
        return 0
    if args.write:
        # build/ (where CI keeps the HTML) does not exist in a fresh checkout
        Path(args.write).parent.mkdir(parents=True, exist_ok=True)
        Path(args.write).write_text(text, encoding="utf-8")
        print(f"wrote {args.write}: {len(doc['channels'])} channels, "
              f"{len(doc['components']['messages'])} messages")
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
