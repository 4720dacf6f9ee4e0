"""Property-based requests from each service's own OpenAPI document (schemathesis, bounded):
no input, however malformed, makes a service answer 5xx, and answers match the document."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import response_schema_conformance
from schemathesis.checks import not_a_server_error

from tests.security.conftest import ADMIN

EXAMPLES = 4  # per operation; ~60 operations over four services stay within a minute
CHECKS = [not_a_server_error, response_schema_conformance]


def _schema(platform, service):
    return schemathesis.openapi.from_url(platform.urls[service] + "/openapi.json")


def _fuzz(platform, service: str) -> list[str]:
    """Run every operation of ``service`` with generated requests; the failures, as text."""
    failures = []
    for result in _schema(platform, service).get_all_operations():
        operation = result.ok()

        @_settings
        @given(case=operation.as_strategy())
        def run(case):
            case.call_and_validate(headers=ADMIN, checks=CHECKS, timeout=30)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, report all
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    return failures


_settings = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                     derandomize=True, database=None, phases=[Phase.explicit, Phase.generate])


@pytest.mark.parametrize("service", ["enrollment", "certification", "notification", "reporting"])
def test_no_generated_request_gets_a_5xx_and_every_answer_matches_the_document(platform, service):
    failures = _fuzz(platform, service)
    assert failures == [], "\n\n".join(failures)
