"""ServiceClient.gather: a page's independent service calls made side by side, answered in the
order given, each carrying the page's correlation id, and failing as the calls made one after
the other would (the first failing call's error)."""
from __future__ import annotations

import time

import eventlet
import pytest

from services.portal.adapters.clients import ServiceClient, ServiceError
from services.portal.domain import Identity
from shared import auth
from shared import logging as ctxlog
from shared.http import CORRELATION_HEADER
from tests.support import TEST_AUTH_SECRET

ASN_PERSON = Identity(role="asn", subject="test", name="Rahmat", nip="199001012015031001")


class FakeResponse:
    def __init__(self, status: int, body: dict):
        self.status_code, self._body, self.reason, self.content = status, body, "x", b"{}"

    def json(self):
        return self._body


@pytest.fixture
def client():
    c = ServiceClient({"enrollment": "http://enrollment", "reporting": "http://reporting"},
                      auth.load_config(environ={"AUTH_SECRET": TEST_AUTH_SECRET}))
    c.seen = []

    def request(method, url, params=None, json=None, headers=None, timeout=None):
        c.seen.append((url, headers.get(CORRELATION_HEADER)))
        eventlet.sleep(0.2)  # a service taking its time (a green sleep: the others go on meanwhile)
        if url.endswith("/refuse"):
            return FakeResponse(403, {"error": "forbidden", "message": "tidak boleh"})
        if url.endswith("/down"):
            return FakeResponse(503, {"error": "unavailable", "message": "down"})
        return FakeResponse(200, {"url": url})

    c.http.request = request
    yield c
    ctxlog.clear_context()


def test_the_calls_go_side_by_side_and_answer_in_the_order_given(client):
    started = time.monotonic()
    answers = client.gather([lambda p=p: client.get("enrollment", f"/{p}", ASN_PERSON) for p in "abcde"])
    assert [a["url"] for a in answers] == [f"http://enrollment/{p}" for p in "abcde"]
    assert time.monotonic() - started < 0.6  # five calls of 0.2 s each, not one after the other (1 s)


def test_each_call_carries_the_pages_correlation_id_and_the_page_keeps_it(client):
    ctxlog.set_context(correlation_id="corr-123")
    client.gather([lambda: client.get("enrollment", "/a", ASN_PERSON),
                   lambda: client.get("reporting", "/b", ASN_PERSON)])
    assert sorted(client.seen) == [("http://enrollment/a", "corr-123"), ("http://reporting/b", "corr-123")]
    assert ctxlog.current("correlation_id") == "corr-123"


def test_the_first_failing_call_in_the_order_given_is_raised_after_all_have_finished(client):
    with pytest.raises(ServiceError) as raised:
        client.gather([lambda: client.get("enrollment", "/a", ASN_PERSON),
                       lambda: client.get("enrollment", "/refuse", ASN_PERSON),
                       lambda: client.get("reporting", "/down", ASN_PERSON)])
    assert (raised.value.service, raised.value.status, raised.value.code) == ("enrollment", 403, "forbidden")
    assert len(client.seen) == 3  # none left running behind the page


def test_a_single_call_or_none_needs_no_green_thread(client):
    assert client.gather([]) == []
    assert client.gather([lambda: 7]) == [7]


def test_the_services_are_called_without_proxy_settings_from_the_environment(client):
    assert client.http.trust_env is False
