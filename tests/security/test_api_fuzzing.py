"""Each service's OpenAPI document tells the truth: schemathesis with every check (the CLI's
``--checks all``), its examples, coverage and fuzzing phases, an admin token and a bounded
number of generated requests per operation, against the four services on the real broker and
store. No input, however malformed, makes a service answer 5xx; every answer's status, content
type, headers and body are ones the document lists; a request valid by the document is
accepted and one it forbids is refused.

Two rules of the services no document can state are taught to schemathesis here rather than
hidden: a NIP's digits carry dates and a gender digit (``format: nip``; generated NIPs are real
ones, and a 422 naming only the NIP's date or digit part is not a contract failure), and a page
cursor is opaque (only one the service returned is valid).
"""
from __future__ import annotations

import pytest
import schemathesis
import schemathesis.specs.openapi.checks  # noqa: F401 - registers the OpenAPI checks by name
from hypothesis import strategies as st
from schemathesis.checks import CHECKS
from schemathesis.engine import events, from_schema

from tests.integration.enrollment.factories import nip as valid_nip
from tests.security.conftest import ADMIN

EXAMPLES = 25  # generated requests per operation and phase (the bound)
SERVICES = ["enrollment", "certification", "notification", "reporting"]

# The NIPs the fuzzing phase sends where the document says ``format: nip``: structurally valid
# ones (shared.nip checks the birth date, appointment month and gender digit).
schemathesis.openapi.format("nip", st.builds(valid_nip, st.integers(0, 999 * 10_000 - 1), st.sampled_from([1, 2])))

# One check switched off for one operation, each for a deliberate behaviour of the service:
OPERATIONS = [
    # POST /recipients/bulk shares its URL with /recipients/{nip} (nip="bulk"): werkzeug's Allow
    # lists the methods of both, and a PUT there is PUT /recipients/{nip}, answered 400 (the CSV
    # is not JSON) or 422 (not a NIP) rather than 405. The routes are documented as they are.
    {"include-path": "/recipients/bulk", "include-method": "POST",
     "checks": {"unsupported_method": {"enabled": False}, "allow_header_conformance": {"enabled": False}}},
    # The roster import's query parameters depend on each other: kode_opd only with mode=penuh,
    # and then required (domain.roster_import). OpenAPI 3.0 cannot state a dependency between
    # query parameters, so a generated kode_opd without mode=penuh is refused though each value
    # is valid. The other checks, negative_data_rejection among them, still run.
    {"include-path": "/roster/import", "include-method": "POST",
     "checks": {"positive_data_acceptance": {"enabled": False}}},
]


def _blamed(response) -> tuple[set[str], dict] | None:
    """The fields a 422 names, with its body; None when the body is not the Error shape."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if body.get("error") == "validation_failed" and isinstance(body.get("errors"), dict):
        return set(body["errors"]), body
    return ({body["field"]} if body.get("field") else set()), body


def keep_failure(ctx, failure, case, response) -> bool:
    """Drop only "valid request refused" (ST202) whose 422 blames a rule no document can state:
    an opaque cursor, or a NIP's dates or digits (the pattern, format and length are stated)."""
    if failure.code != "ST202" or response.status_code != 422:
        return True
    blamed = _blamed(response)
    if blamed is None:
        return True
    fields, body = blamed
    if fields == {"cursor"}:
        return False
    return not (fields == {"nip"} and body.get("part") not in (None, "format", "length"))


def contract_failures(url: str) -> tuple[list[str], set[str]]:
    """Every failure of every check over every operation of the document at ``url``, as text,
    and the operations that were called at least once."""
    config = schemathesis.Config.from_dict({
        "headers": ADMIN,
        "seed": 22,
        "request-timeout": 30,
        # no state carried over from earlier runs (nor a .schemathesis/ folder left in the work tree)
        "cache": {"enabled": False},
        "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
        # every registered check, as ``--checks all`` enables them
        "checks": {name: {"enabled": True} for name in CHECKS.get_all_names()},
        "phases": {"examples": {"enabled": True}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   # the documents declare no links; the stateful phase would have nothing to chain
                   "stateful": {"enabled": False}},
        "operations": OPERATIONS,
    })
    schema = schemathesis.openapi.from_url(url + "/openapi.json", config=config)
    schema.hook("filter_failure")(keep_failure)
    failures: list[str] = []
    called: set[str] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            if event.recorder.interactions:
                called.add(event.recorder.label)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        failures.append(f"{event.recorder.label} [{event.phase}] {failure.code} {check.name}: "
                                        f"{failure.message[:400]}\n{check.failure_info.code_sample[:600]}")
        elif isinstance(event, events.NonFatalError):
            failures.append(f"{event.label}: error {event.value!r}"[:1000])
        elif isinstance(event, events.FatalError):
            failures.append(f"fatal: {event.exception!r}"[:1000])
    return failures, called


@pytest.mark.parametrize("service", SERVICES)
def test_every_check_passes_against_the_services_own_document(platform, service):
    failures, called = contract_failures(platform.urls[service])
    assert failures == [], f"{len(failures)} contract failures:\n\n" + "\n\n".join(failures)
    documented = {f"{method.upper()} {path}" for path, methods in
                  platform.call(service, "GET", "/openapi.json").json()["paths"].items() for method in methods}
    # schemathesis leaves out the operation that served the document it loaded (the GET it made
    # to load it is the call); every other documented operation must have been called.
    assert documented - called == {"GET /openapi.json"}, "operations never called (a pass would prove nothing)"
