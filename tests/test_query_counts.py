"""How many statements a check costs, per backend: a deterministic count, not a timing.

The app runs in this process (Starlette's TestClient, real HTTP semantics, the real database), so a
SQLAlchemy event hook sees every statement the request's session sends, and the hot path's own hook
(``server.storage.checkdb.STATEMENT_HOOKS``) every statement it sends straight through the driver.
The shared state's reads (clock, faults, cache generation: at most one per key every 0.25 s, on its
own connection) are counted apart.

Budget per check (statements sent to the database, commits included), for a request alone (with
others in flight, the writes share one commit: group commit, ``tests/test_checkdb.py``):
- number check: the registry read (holders, person, qualification versions, no-provide flag in one
  statement) + the access record (+ COMMIT on SQLite; PostgreSQL's hot path is autocommit);
- challenge: none (the nonce is signed, not stored: ``server.core.challenge``) — was the nonce
  insert (+ COMMIT on SQLite);
- card check: the registry read (revocation, registration link, person, versions, flag in one
  statement) + recording the nonce as used and writing the records (SQLite: three inserts and
  COMMIT; PostgreSQL: one statement with data-modifying CTEs) — was 7 (nonce read, card status,
  person view, update, 2 inserts, commit) and on PostgreSQL also BEGIN and the pool's pre-ping.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine

from server.api.app import create_app
from server.fixtures import load_fixture, read_fixture
from server.settings import Settings
from server.storage import checkdb
from server.storage.database import normalize_url
from tests import server_helpers as h
from tests.conftest import ADMIN_TOKEN, BACKENDS, PG_URL, LiveServer

EXPECTED = {
    "sqlite": {"number": 3, "challenge": 0, "card": 5},
    "postgres": {"number": 2, "challenge": 0, "card": 2},
}


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []
        self.state_connections: set[int] = set()  # the shared state's own connection

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if " setting" in statement.lower():
            self.state_connections.add(id(conn))
        else:
            self.statements.append(statement)

    def commit(self, conn: Any) -> None:
        if id(conn) not in self.state_connections:
            self.statements.append("COMMIT")

    def hot_path(self, statement: str) -> None:
        self.statements.append(statement)


@pytest.fixture(scope="module", params=BACKENDS)
def app_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[tuple[LiveServer, StatementCounter]]:
    backend: str = request.param
    schema = None
    if backend == "postgres":
        assert PG_URL
        url, schema = PG_URL, f"onshi_test_qc_{uuid.uuid4().hex[:8]}"
    else:
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('qc')) / 'onshi.db'}"
    app = create_app(Settings(database_url=url, database_schema=schema, admin_token=ADMIN_TOKEN))
    load_fixture(app.state.context.engine, read_fixture("personas"))
    counter = StatementCounter()
    event.listen(Engine, "before_cursor_execute", counter)
    event.listen(Engine, "commit", counter.commit)
    checkdb.STATEMENT_HOOKS.append(counter.hot_path)
    fake_url = f"http://query-counts-{backend}"
    server = LiveServer(url=fake_url, backend=backend, process=None)  # type: ignore[arg-type]
    try:
        with TestClient(app, base_url=f"{fake_url}/api/v1") as client:
            h._CLIENTS[fake_url] = client
            server.personas = {p["id"]: p for p in h.admin(server, "GET", "/personas")}
            yield server, counter
    finally:
        h._CLIENTS.pop(fake_url, None)
        event.remove(Engine, "before_cursor_execute", counter)
        event.remove(Engine, "commit", counter.commit)
        checkdb.STATEMENT_HOOKS.remove(counter.hot_path)
        app.state.context.engine.dispose()
        if schema:
            engine = create_engine(normalize_url(url))
            with engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()


def counted(counter: StatementCounter, work: Any) -> list[str]:
    counter.statements.clear()
    work()
    return list(counter.statements)


def test_a_number_check_is_one_read_and_one_write(app_server: tuple[LiveServer, StatementCounter]) -> None:
    server, counter = app_server
    message = h.number_check_message(server, "healthy-employee")
    h.send_message(server, "/number-checks", message, xml=False)  # warm: per-process caches filled
    responses: list[Any] = []
    sent = counted(counter, lambda: responses.append(
        h.send_message(server, "/number-checks", message, xml=False)))
    assert responses[0].status_code == 200, responses[0].text
    assert len(sent) == EXPECTED[server.backend]["number"], sent
    assert sum(s.lstrip().upper().startswith("SELECT") for s in sent) == 1


def test_a_card_check_is_one_read_then_the_nonce_and_the_records(
        app_server: tuple[LiveServer, StatementCounter]) -> None:
    server, counter = app_server
    warm = h.card_check(server, "healthy-employee")  # warm: reader, CA, insurers
    assert warm.status_code == 200, warm.text
    reader = h.reader_for(server)
    card = h.card_of(server, "healthy-employee")
    nonces: list[str] = []
    challenge = counted(counter, lambda: nonces.append(h.challenge(server, reader)))
    assert len(challenge) == EXPECTED[server.backend]["challenge"], challenge
    body = h.submission(card, reader, nonces[0])
    responses: list[Any] = []
    sent = counted(counter, lambda: responses.append(h.submit(server, body)))
    assert responses[0].status_code == 200, responses[0].text
    assert len(sent) == EXPECTED[server.backend]["card"], sent
    assert sum(s.lstrip().upper().startswith("SELECT") for s in sent) == 1
