"""Every operation of /openapi.json, fuzzed against a real server, as two roles.

Valid and invalid bodies, path and query values are generated from the published schema
(schemathesis); each case is sent as a manager and as an advisor to a uvicorn server on a free
port backed by a PostgreSQL database of its own, with projections and the analytics loader
running. Every answer must be no 5xx, application/problem+json for every 4xx, and conform to
the documented status codes, content types, headers and schemas. Afterwards every projection
must still reach the head of the log (nothing the API accepted poisons a read model).

SERVICECORE_FUZZ_EXAMPLES sets the examples per operation and generation mode (default 3;
e.g. 50 for a deep run); SERVICECORE_FUZZ_SEED replays a run (CI uses seed 0).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from api.auth import mint_token
from api.main import create_app
from servicecore.container import Container, build
from tests.conftest import JWT_SECRET, settings_for
from tests.databases import scratch_database
from tests.live_server import serving

EXAMPLES = int(os.environ.get("SERVICECORE_FUZZ_EXAMPLES", "3"))
SEED = int(os.environ.get("SERVICECORE_FUZZ_SEED")
           or ("0" if os.environ.get("CI") else str(random.randrange(2**32))))
ROLES = ("manager", "advisor")


@schemathesis.check
def problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every error answer is an RFC 9457 problem whose status is the response's; a page for
    people (the customer's progress page) may answer a browser with a page, where documented."""
    if response.status_code < 400:
        return None
    content_type = response.headers.get("content-type", [""])[0]
    documented = case.operation.definition.raw["responses"].get(str(response.status_code), {})
    if content_type.startswith("text/html") and "text/html" in documented.get("content", {}):
        return True
    assert content_type == "application/problem+json", f"error answered as {content_type!r}"
    body = response.json()
    assert isinstance(body, dict) and body.get("status") == response.status_code, body
    assert body.get("type", "").startswith("https://servicecore.dev/problems/"), body
    return True


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, problem_json]


@pytest.fixture(scope="module")
def fuzz_system(server_url: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[Container]:
    """A database, projections and analytics of its own: fuzzed writes stay here."""
    with scratch_database(server_url, "sc_fuzz") as url:
        system = build(settings_for(url, tmp_path_factory.mktemp("fuzz"),
                                    analytics_publish_seconds=1))
        system.start_projections()
        system.start_analytics()
        try:
            yield system
        finally:
            system.close()


@pytest.fixture(scope="module")
def live_url(fuzz_system: Container) -> Iterator[str]:
    with serving(create_app(fuzz_system.api_context())) as url:
        yield url


def fuzz_operation(operation: Any, base_url: str, tokens: dict[str, str],
                   mode: GenerationMode) -> list[str]:
    """Run `EXAMPLES` generated cases of one operation as every role; the failures found."""
    found: list[str] = []

    @seed(SEED)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        for role in ROLES:
            headers = {"Authorization": f"Bearer {tokens[role]}"}
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except FailureGroup as failures:
                found.append(f"{operation.label} as {role} ({mode.value}):\n{failures}")

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid case generated"
        # nothing about this operation can be made invalid (no parameters, no body)
    return found


def projection_lags(system: Container) -> dict[str, int]:
    with system.pool.connection() as conn:
        head = conn.execute("SELECT coalesce(max(notification_id), 0) FROM servicecore_events"
                            ).fetchone()
        rows = dict(conn.execute("SELECT name, position FROM projection_positions").fetchall())
    assert head is not None
    return {view.name: int(head[0]) - int(rows.get(view.name, 0)) for view in system.views}


def test_every_operation_survives_fuzzing(live_url: str, fuzz_system: Container) -> None:
    tokens = {role: mint_token(JWT_SECRET, f"fuzz-{role}", role, ["*"]) for role in ROLES}
    schema = schemathesis.openapi.from_url(f"{live_url}/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += fuzz_operation(operation, live_url, tokens, mode)
    assert operations > 100  # the whole API was fuzzed, not an empty schema
    assert not failures, (f"{len(failures)} failing cases (seed {SEED}, replay with "
                          f"SERVICECORE_FUZZ_SEED={SEED}):\n\n" + "\n\n".join(failures[:20]))

    # Whatever the fuzzing stored, every projection still reaches the head of the log.
    deadline = time.monotonic() + 60
    while any((lags := projection_lags(fuzz_system)).values()):
        assert time.monotonic() < deadline, f"projections stopped behind the log: {lags}"
        time.sleep(0.2)

