"""Shared fixtures: real server processes over real HTTP, on SQLite and (when given) PostgreSQL.

Set ONSHI_TEST_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1:5432/test) to run every
server test on PostgreSQL as well; CI does.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from onshi.procs import ROOT, free_port, start_onshi, stop, wait_http

ADMIN_TOKEN = "test-admin-token"
CLINIC_CODE = "1312345678"
CLINIC_TOKEN = "demo-clinic-token"
PG_URL = os.environ.get("ONSHI_TEST_DATABASE_URL")
BACKENDS = ["sqlite", *(["postgres"] if PG_URL else [])]


@dataclass
class LiveServer:
    """A real `onshi serve` process with the fixture personas loaded."""

    url: str
    backend: str
    process: subprocess.Popen[bytes]
    admin_token: str = ADMIN_TOKEN
    clinic_code: str = CLINIC_CODE
    clinic_token: str = CLINIC_TOKEN
    personas: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    @property
    def clinic_headers(self) -> dict[str, str]:
        return {
            "X-Medical-Institution-Code": self.clinic_code,
            "Authorization": f"Bearer {self.clinic_token}",
        }

    def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method, f"{self.url}/api/v1/admin{path}", headers=self.admin_headers, timeout=60, **kwargs
        )
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        """Reloads the fixture personas (clock frozen at the fixture moment) and clears every fault."""
        self.admin("POST", "/fixtures/load", json={"name": "personas"})
        self.admin("DELETE", "/faults")
        self.personas = {p["id"]: p for p in self.admin("GET", "/personas")}


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session", params=BACKENDS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    backend: str = request.param
    tmp = tmp_path_factory.mktemp(f"server-{backend}")
    env = {"ONSHI_ADMIN_TOKEN": ADMIN_TOKEN}
    if backend == "postgres":
        assert PG_URL
        env["ONSHI_DATABASE_URL"] = PG_URL
        # Unique per run: two test runs on one PostgreSQL must not share (and wipe) a schema.
        schema = f"onshi_test_{_worker()}_{uuid.uuid4().hex[:8]}"
        env["ONSHI_DATABASE_SCHEMA"] = schema
    else:
        env["ONSHI_DATABASE_URL"] = f"sqlite:///{tmp / 'onshi.db'}"
    port = free_port()
    log = ROOT / "var" / "test-logs" / f"server-{backend}-{_worker()}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    process = start_onshi(["serve", "--port", str(port)], env=env, log=log)
    server = LiveServer(url=f"http://127.0.0.1:{port}", backend=backend, process=process)
    try:
        wait_http(f"{server.url}/api/v1/health", process=process)
        server.reset()
        yield server
    finally:
        stop(process)
        if backend == "postgres":
            _drop_schema(env["ONSHI_DATABASE_SCHEMA"])


def _drop_schema(schema: str) -> None:
    from sqlalchemy import create_engine, text

    from server.storage.database import normalize_url

    assert PG_URL
    engine = create_engine(normalize_url(PG_URL))
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def fresh_server(live_server: LiveServer) -> Iterator[LiveServer]:
    """The live server reset to the fixture personas, for a test that changes registry state."""
    live_server.reset()
    yield live_server
    live_server.reset()


@pytest.fixture(scope="module")
def identity(live_server: LiveServer) -> Any:
    """A card reader registered with the live server's clinic (a ``ReaderIdentity``), once per module."""
    from cardreader_emulator.central import Admin

    admin = Admin(live_server.url, live_server.admin_token)
    try:
        return admin.register_reader(live_server.clinic_code)
    finally:
        admin.close()


def pytest_report_header() -> list[str]:
    return [f"onshi-sim server backends: {', '.join(BACKENDS)}", f"root: {Path(ROOT)}"]
