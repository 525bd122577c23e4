"""No input makes the server fail: schemathesis over every operation of /openapi.json, 0 server errors.

Runs against a real `onshi serve` process (tests.conftest.live_server): the document it serves, the
requests over HTTP. Each operation gets the document's own examples first, then ``MAX_EXAMPLES``
generated cases (bounded: about a minute and a half on two cores). Requests carry valid credentials
(admin or clinic by path) so the cases reach the handlers; the auth layer has its own tests. An
operation that changes the faults or the clock is followed by putting the faults away: an injected
outage answers 503 on purpose, and that is not what this test looks for.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig

from onshi.procs import ROOT
from tests.conftest import LiveServer

MAX_EXAMPLES = 8
FIGURES: dict[str, Any] = {"cases": 0, "server_errors": [], "operations": {}, "started": None}


def served_document() -> dict[str, Any]:
    """The document `onshi serve` serves, made by the same code in this process (the cases are
    parametrized at collection, before any server runs; a test checks the two are the same)."""
    from server.api.app import create_app
    from server.storage.database import make_engine

    return create_app(engine=make_engine("sqlite://")).openapi()


# A fixture load replaces the whole registry (seconds: a key pair per card): few cases of its own,
# without schemathesis's coverage phase (dozens of boundary bodies, most of them a full load).
FIXTURE_LOAD = "/api/v1/admin/fixtures/load"
FIXTURE_LOAD_EXAMPLES = 3
CONFIG = SchemathesisConfig.from_dict(
    {"operations": [{"include-path": FIXTURE_LOAD, "phases": {"coverage": {"enabled": False}}}]})
DOCUMENT = served_document()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


def test_the_fuzzed_document_is_the_one_served(live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.url}/openapi.json", timeout=30).json() == DOCUMENT


@pytest.fixture(scope="module", autouse=True)
def figures(live_server: LiveServer) -> Iterator[dict[str, Any]]:
    FIGURES.update(cases=0, server_errors=[], operations={}, started=time.monotonic())  # per backend
    yield FIGURES
    elapsed = time.monotonic() - FIGURES["started"]
    lines = [f"schemathesis: {len(FIGURES['operations'])} operations, {FIGURES['cases']} cases, "
             f"{len(FIGURES['server_errors'])} server errors, {elapsed:.0f} s ({live_server.backend})"]
    lines += [f"  {label}: {count} cases, {spent:.1f} s"
              for label, (count, spent) in sorted(FIGURES["operations"].items(), key=lambda i: -i[1][1])]
    print("\n" + "\n".join(lines))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    report = ROOT / "var" / "test-logs" / f"fuzz-{live_server.backend}-{worker}.txt"  # figures for a person
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    live_server.reset()  # the registry, clock and faults as the other tests expect them


def credentials(server: LiveServer, path: str) -> dict[str, str]:
    return server.admin_headers if path.startswith("/api/v1/admin") else server.clinic_headers


def put_away_faults(server: LiveServer) -> None:
    response = httpx.delete(f"{server.url}/api/v1/admin/faults", headers=server.admin_headers, timeout=30)
    response.raise_for_status()


def run_case(case: Any, server: LiveServer) -> None:
    valid = credentials(server, case.path)
    given = {k: v for k, v in (case.headers or {}).items() if k.lower() not in {n.lower() for n in valid}}
    case.headers = {**given, **valid}
    label = case.operation.label
    FIGURES["cases"] += 1
    started = time.monotonic()
    try:
        response = case.call(base_url=server.url, timeout=60)
    finally:
        count, spent = FIGURES["operations"].get(label, (0, 0.0))
        FIGURES["operations"][label] = (count + 1, spent + time.monotonic() - started)
    if case.path.startswith("/api/v1/admin/faults") and response.status_code < 400:
        put_away_faults(server)
    if response.status_code >= 500:
        FIGURES["server_errors"].append((case.method, case.path, response.status_code))
    assert response.status_code < 500, (
        f"{case.method} {case.path} answered {response.status_code}: {response.text[:500]}\n"
        f"reproduce: {case.as_curl_command()}")


BOUNDED = {"deadline": None, "derandomize": True, "database": None,
           "phases": [Phase.explicit, Phase.generate], "suppress_health_check": list(HealthCheck)}


@schema.exclude(path=FIXTURE_LOAD).parametrize()
@settings(max_examples=MAX_EXAMPLES, **BOUNDED)
def test_no_input_makes_the_server_fail(case: Any, live_server: LiveServer) -> None:
    run_case(case, live_server)


@schema.include(path=FIXTURE_LOAD).parametrize()
@settings(max_examples=FIXTURE_LOAD_EXAMPLES, **BOUNDED)
def test_no_fixture_body_makes_the_server_fail(case: Any, live_server: LiveServer) -> None:
    run_case(case, live_server)
