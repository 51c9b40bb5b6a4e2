"""Property-based fuzzing of the API from its own OpenAPI spec (schemathesis, on hypothesis), against the real
server subprocess: no request, valid or not, may cause a server error, hang, or a response that contradicts
the spec; and nothing may be written outside the server's data directory."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
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


NON_FINITE = (float("nan"), float("inf"), float("-inf"))
NUMERIC_FIELDS = ("fps", "smoothing", "expression_scale", "size")


def _fuzz(api_schema, fuzz_server: Server, examples: int) -> dict[str, int]:
    """Every operation `examples` times, a third of the JSON bodies with a NaN or infinity put in a number
    field (hypothesis-jsonschema draws finite numbers only); returns request and status counts."""
    from hypothesis import strategies as st

    counts: dict[str, int] = {"requests": 0, "non_finite": 0, "server_errors": 0}
    for operation in [result.ok() for result in api_schema.get_all_operations()]:
        template = operation.path

        @given(case=operation.as_strategy(), poison=st.sampled_from((None, None, *NON_FINITE)),
               where=st.sampled_from(NUMERIC_FIELDS))
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case, poison, where) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {TOKEN}"}
            if poison is not None and isinstance(case.body, dict):
                target = case.body
                for nested in ("options", "animate", "render"):
                    if isinstance(case.body.get(nested), dict) and where in ("smoothing", "expression_scale", "size"):
                        target = case.body[nested]
                target[where] = poison
                counts["non_finite"] += 1
                counts["requests"] += 1
                # requests refuses to encode NaN: send the text Python's json writes (NaN, Infinity) as-is
                path = getattr(case, "formatted_path", template)  # noqa: B023 - called in this iteration only
                r = httpx.request(case.method, f"{fuzz_server.url}{path}", params=case.query, timeout=30,
                                  content=json.dumps(case.body).encode(), headers={
                                      "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
                if r.status_code >= 500 or "detail" not in r.json():
                    counts["server_errors"] += 1
                    raise AssertionError(f"{case.method} {path} {case.body!r}: {r.status_code} {r.text[:300]}")
                return
            counts["requests"] += 1
            try:
                case.call_and_validate(timeout=30, excluded_checks=[schemathesis.checks.positive_data_acceptance])
            except Exception:
                counts["server_errors"] += 1  # any failed check is counted and re-raised: the test fails
                raise

        check()
    return counts


@pytest.mark.slow
def test_fuzz_five_thousand_requests_without_a_server_error(api_schema, fuzz_server: Server) -> None:
    """The figure in docs/reliability.md: FUZZ_EXAMPLES (default 600) per operation, >= 5,000 requests."""
    import os
    import time

    t0 = time.monotonic()
    counts = _fuzz(api_schema, fuzz_server, int(os.environ.get("FUZZ_EXAMPLES", "600")))
    counts["seconds"] = round(time.monotonic() - t0)
    print(json.dumps({"fuzz": counts}))
    assert counts["requests"] >= 5000 and counts["server_errors"] == 0, counts
    assert counts["non_finite"] > 0


def test_fuzz_smoke_with_non_finite_numbers(api_schema, fuzz_server: Server) -> None:
    counts = _fuzz(api_schema, fuzz_server, 6)
    assert counts["requests"] >= 40 and counts["server_errors"] == 0, counts
