"""Property-based fuzzing of the API from its own OpenAPI spec (schemathesis, on hypothesis), against the real
server subprocess: no request, valid or not, may cause a server error, hang, or a response that contradicts
the spec; and nothing may be written outside the server's data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_service_harness import Server, files_under

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis not installed (dev extra)")
from hypothesis import HealthCheck, given, settings  # noqa: E402 - only once schemathesis (and hypothesis) exist

TOKEN = "fuzzing-token-0123456789abcdef"


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("fuzz")
    with Server(root / "data", "--max-upload-mb", "1", token=TOKEN) as srv:
        yield srv
    outside = [p for p in files_under(root) if not p.is_relative_to(root / "data") and p.suffix != ".log"]
    assert outside == [], f"files written outside the data directory: {outside}"


@pytest.fixture(scope="module")
def api_schema(fuzz_server: Server):
    schema = schemathesis.openapi.from_url(f"{fuzz_server.url}/api/v1/openapi.json",
                                           headers={"Authorization": f"Bearer {TOKEN}"})
    return schema


def test_api_conforms_to_its_spec(api_schema, fuzz_server: Server) -> None:
    # Driven with hypothesis directly: schemathesis' own pytest plugin does not support pytest 9 yet.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN}"}
            # Schema-valid is not meaningful: random ids are unknown (404/422) and random bytes are no media (415),
            # so only the acceptance of "valid" data is left out; every other check runs.
            case.call_and_validate(timeout=30, excluded_checks=[schemathesis.checks.positive_data_acceptance])

        check()
    assert not any(Path(fuzz_server.data_dir, "uploads", ".partial").iterdir())
