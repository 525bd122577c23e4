"""The server runs as its own process and answers over HTTP."""

from __future__ import annotations

import httpx

from tests.conftest import LiveServer


def test_health_reports_the_frozen_fixture_clock(live_server: LiveServer) -> None:
    health = httpx.get(f"{live_server.url}/api/v1/health").json()
    assert health["status"] == "ok"
    assert health["frozen"] is True
    assert health["now"].startswith("2026-11-24T09:00:00")


def test_openapi_documents_the_clinic_and_admin_apis(live_server: LiveServer) -> None:
    paths = httpx.get(f"{live_server.url}/openapi.json").json()["paths"]
    for path in ("/api/v1/number-checks", "/api/v1/bulk-checks", "/api/v1/card-checks",
                 "/api/v1/card-checks/challenge", "/api/v1/admin/events", "/api/v1/admin/clock"):
        assert path in paths
