"""Schema-driven fuzzing of a running service from its own OpenAPI document (schemathesis):
every answer must be a non-5xx that the document declares, in the declared shape. The suite
(`tests/test_fuzz.py`) and `benchmarks/fuzz.py` both run `fuzz`."""

from __future__ import annotations

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks

from harness.stacks import RunningService

CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance, checks.response_schema_conformance]


def fuzz(service: RunningService, skipped: set[str], cases: int) -> dict[str, int]:
    """Cases sent per operation label; raises on the first answer that fails a check."""
    schema = schemathesis.openapi.from_url(f"{service.base_url}/openapi.json")
    sent: dict[str, int] = {}
    session = requests.Session()
    session.headers.update(service.headers)
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in skipped:
            continue
        sent[operation.label] = 0
        cases_of(operation, service.base_url, session, cases, sent)()
    return sent


def cases_of(operation: schemathesis.APIOperation, base_url: str, session: requests.Session, cases: int, sent: dict[str, int]):
    @given(case=operation.as_strategy())
    @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url, session=session, timeout=120)
        sent[operation.label] += 1
        case.validate_response(response, checks=CHECKS)

    return run


