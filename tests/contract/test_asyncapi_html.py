"""The HTML rendering of the AsyncAPI document for subscribers: written by the command CI
runs, one self-contained well-formed page naming every public event, its exchange, routing
key, CloudEvents type and every field of its payload, and nothing private."""
from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from marshmallow import Schema, fields

from shared import asyncapi
from shared.events import registry

pytestmark = pytest.mark.unit  # no broker or store

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
URL_ATTRIBUTES = {"href", "src", "srcset", "action", "formaction", "poster", "data", "background", "cite"}


class Page(HTMLParser):
    """A strict reading of a page: tag balance problems, every element's attributes, and per
    element with an ``id`` its text and the cells of its table rows."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.doctype = ""
        self.tags: list[tuple[str, dict]] = []
        self.ids: list[str] = []
        self.text: dict[str, list[str]] = {}
        self.rows: dict[str, list[list[str]]] = {}
        self.style = ""
        self._stack: list[tuple[str, str | None]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self.feed(text)
        self.close()
        if self._stack:
            self.problems.append(f"never closed: {[tag for tag, _ in self._stack]}")

    def _open_ids(self) -> list[str]:
        return [element_id for _, element_id in self._stack if element_id]

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.tags.append((tag, attributes))
        element_id = attributes.get("id")
        if element_id:
            self.ids.append(element_id)
            self.text[element_id] = []
            self.rows[element_id] = []
        if tag in VOID:
            return
        self._stack.append((tag, element_id))
        if tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID:
            self.handle_starttag(tag, attrs)
        else:  # HTML ignores the slash: <div/> opens a div that is never closed
            self.problems.append(f"<{tag}/> is not a void element")

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            self.problems.append(f"end tag of the void element {tag}")
            return
        if not self._stack or self._stack[-1][0] != tag:
            self.problems.append(f"</{tag}> closes {self._stack[-1][0] if self._stack else 'nothing'}")
            return
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            for element_id in self._open_ids():
                self.rows[element_id].append(self._row)
            self._row = None
        self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._stack and self._stack[-1][0] == "style":
            self.style += data
        for element_id in self._open_ids():
            self.text[element_id].append(data)
        if self._cell is not None:
            self._cell.append(data)

    def text_of(self, element_id: str) -> str:
        assert element_id in self.text, f"the page has no element #{element_id}"
        return " ".join("".join(self.text[element_id]).split())

    def table_of(self, element_id: str) -> dict[str, list[str]]:
        """Rows under ``element_id`` by their first cell (the field's name)."""
        return {row[0]: row for row in self.rows[element_id] if row and row[0] not in ("field", "attribute")}


def payload_fields(schema: Schema | type[Schema], prefix: str = "") -> dict[str, bool]:
    """Every field of a marshmallow schema, nested ones dotted, with whether it is required:
    read from the registry's schemas, not from the document the page is made of."""
    instance = schema() if isinstance(schema, type) else schema
    out: dict[str, bool] = {}
    for name, field in instance.fields.items():
        path = prefix + (field.data_key or name)
        out[path] = field.required
        if isinstance(field, fields.Nested):
            out |= payload_fields(field.schema, path + ".")
        elif isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
            out |= payload_fields(field.inner.schema, path + "[].")
    return out


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """The page as CI makes it: the command, into a build folder that does not exist yet."""
    target = tmp_path_factory.mktemp("ci") / "build" / "asyncapi.html"
    done = subprocess.run([sys.executable, "-m", "shared.asyncapi", "--format", "html", "--write", str(target)],
                          cwd=asyncapi.REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"wrote {target}" in done.stdout
    return target


@pytest.fixture(scope="module")
def page(written) -> Page:
    return Page(written.read_text(encoding="utf-8"))


def test_the_command_writes_the_rendering_of_the_current_document(written):
    text = written.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert text == asyncapi.to_html(asyncapi.document())


def test_the_page_is_well_formed_html_with_unique_anchors_that_all_resolve(page):
    assert page.problems == []
    assert page.doctype.lower() == "doctype html"
    assert [tag for tag, _ in page.tags].count("html") == 1
    assert [tag for tag, _ in page.tags].count("body") == 1
    assert len(page.ids) == len(set(page.ids)), sorted({i for i in page.ids if page.ids.count(i) > 1})
    links = [attrs["href"] for tag, attrs in page.tags if tag == "a"]
    assert links and all(link.startswith("#") for link in links)
    assert sorted({link[1:] for link in links} - set(page.ids)) == []


def test_the_page_is_self_contained_without_any_external_resource(page):
    assert not {tag for tag, _ in page.tags} & {"script", "link", "img", "iframe", "object", "embed", "base", "form"}
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert name not in URL_ATTRIBUTES or (value or "").startswith("#"), (tag, name, value)
            assert not name.startswith("on"), (tag, name)  # no inline script either
    assert page.style, "the CSS is inline"
    assert "url(" not in page.style and "@import" not in page.style
    viewport = [attrs for tag, attrs in page.tags if tag == "meta" and attrs.get("name") == "viewport"]
    assert viewport and "width=device-width" in viewport[0]["content"]  # readable on a phone


def test_every_public_event_is_shown_on_its_exchange_and_routing_key_with_its_type(page):
    definitions = registry.all_definitions()
    assert definitions
    for d in definitions:
        channel = page.text_of(f"ch-{d.exchange}.{d.name}")
        assert f"{d.exchange} / {d.name}" in channel
        assert f'channel.queue_bind(queue, "{d.exchange}", routing_key="{d.name}")' in channel
        event = page.text_of(f"msg-{d.type}")
        assert event in channel and channel in page.text_of(f"ex-{d.exchange}")
        assert d.type in event
        assert d.description.split("`")[0].strip() in event
        assert f'"type": "{d.type}"' in event  # the example as it travels
    listed = {(row[0], row[1], row[2]) for row in page.rows["event-index"] if row[0] != "exchange"}
    assert listed == {(d.exchange, d.name, d.type) for d in definitions}


def test_every_field_of_each_payload_is_a_row_with_its_requiredness(page):
    for d in registry.all_definitions():
        expected = payload_fields(d.schema)
        table = page.table_of(f"msg-{d.type}")
        assert sorted(table) == sorted(expected), d.type
        for name, required in expected.items():
            assert table[name][2] == ("yes" if required else "no"), (d.type, name)


def test_a_field_row_shows_its_type_and_constraints(page):
    completed = page.table_of(f"msg-{registry.get('enrollment', 'completed', 1).type}")
    assert completed["result"][1] == "string"
    assert completed["result"][3] == "one of passed, failed, no_show"
    assert completed["participant.nip"][3] == r"matches ^\d{18}$"
    assert completed["jp_earned"][1:4] == ["integer", "yes", "≥ 0"]
    assert completed["completed_at"][1] == "string (date-time)"
    assert completed["score"][3] == "may be null; default null"
    assert completed["programme.organisers"][1] == "array of string"


def test_the_page_tells_how_to_connect_over_tls_with_an_account_per_system_and_bind_a_queue(page):
    platform = page.text_of("server-platform")
    assert "amqps://{host}:{port}" in platform and "5671" in platform
    servers = page.text_of("servers")
    assert "port 5671" in servers and "its own broker account ext-<system>" in servers
    assert page.ids.index("server-platform") < page.ids.index("server-local")  # the subscribers' first
    binding = page.text_of("binding")
    assert "queue_declare(queue, durable=True)" in binding
    assert ".replay" in binding and "routing_key=queue" in binding
    envelope = page.table_of("envelope")
    assert {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"} <= set(envelope)


def test_no_private_event_nor_private_exchange_is_on_the_page(written):
    private = registry.private_definitions()
    assert private, "asn_contact is a private event"
    text = written.read_text(encoding="utf-8")
    assert ".private" not in text
    for definition in private:
        assert definition.type not in text and definition.name not in text


def test_text_from_the_event_definitions_cannot_become_markup():
    completed = registry.get("enrollment", "completed", 1)
    hostile = replace(completed, description='<script src="https://evil.example/x.js"></script> `jp_earned` **now**')
    page = Page(asyncapi.to_html(asyncapi.build([hostile], ["enrollment"])))
    assert page.problems == []
    assert "script" not in {tag for tag, _ in page.tags}
    assert '<script src="https://evil.example/x.js"></script>' in page.text_of(f"msg-{completed.type}")
    assert ("code", {}) in page.tags and ("strong", {}) in page.tags  # the two marks the descriptions use


def test_a_new_major_version_is_shown_beside_the_old_one_on_the_same_routing_key():
    completed = registry.get("enrollment", "completed", 1)
    v2 = replace(completed, version=2)
    page = Page(asyncapi.to_html(asyncapi.build([completed, v2], ["enrollment"])))
    assert "Superseded by v2" in page.text_of(f"msg-{completed.type}")
    assert "Superseded" not in page.text_of(f"msg-{v2.type}")
    channel = page.text_of("ch-enrollment.events.completed")
    assert page.text_of(f"msg-{completed.type}") in channel and page.text_of(f"msg-{v2.type}") in channel
    assert page.ids.index(f"msg-{completed.type}") < page.ids.index(f"msg-{v2.type}")
