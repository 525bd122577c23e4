"""The database of the check endpoints' hot path, without blocking the event loop.

The check endpoints are ``async`` and reach the database through :class:`CheckDb`, two ways:

- **PostgreSQL**: an ``AsyncConnection`` of SQLAlchemy's async engine over psycopg 3's async driver,
  in autocommit: each step of a check is one statement, one awaited round trip, and the event loop
  serves other requests meanwhile. Per server process a small pool (:data:`PG_POOL_SIZE`).
- **SQLite**: a pooled ``Connection`` on the event loop. SQLite is a library in the server's own
  process: a statement is CPU work of some microseconds on pages in memory (a 64 MiB page cache),
  like any other Python code of the request, with nothing to wait for but another process's write
  lock (held for the ~0.1 ms of a check's inserts, WAL). A thread hop per request cost more than the
  statements themselves (measured: benchmarks/README.md).

Measured against the alternative, plain ``def`` endpoints in the thread pool: that halved SQLite's
throughput and did not help PostgreSQL (GIL hand-offs between the event loop and 16 busy threads).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql import Executable

from server.storage.database import normalize_url

# Per server process: with 2 processes on 2 cores, 8 statements in flight per process keep
# PostgreSQL's backends busy; more only queue inside PostgreSQL (and count against max_connections).
PG_POOL_SIZE = 8
PG_MAX_OVERFLOW = 4


Params = Mapping[str, Any] | list[dict[str, Any]] | None


class CheckDb(Protocol):
    dialect: str

    async def execute(self, statement: Executable, params: Params = None) -> CursorResult[Any]: ...

    async def commit(self) -> None: ...


class SyncDb:
    """SQLite: a pooled connection (no ORM session), taken at the first statement and given back at
    the commit. Nothing between them awaits, so a server process holds at most one at a time."""

    dialect = "sqlite"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection: Connection | None = None

    async def execute(self, statement: Executable, params: Params = None) -> CursorResult[Any]:
        if self.connection is None:
            self.connection = self.engine.connect()
        return self.connection.execute(statement, params)

    async def commit(self) -> None:
        if self.connection is not None:
            self.connection.commit()
            self.close()

    def close(self) -> None:
        """Gives the connection back (rolling back what was not committed)."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class AsyncDb:
    """PostgreSQL: an autocommit async connection; every statement stands alone (and is atomic)."""

    dialect = "postgresql"

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    async def execute(self, statement: Executable, params: Params = None) -> CursorResult[Any]:
        return await self.connection.execute(statement, params)

    async def commit(self) -> None:
        """Nothing to do: autocommit."""


_ENGINES: dict[tuple[str, str | None, int], AsyncEngine] = {}


def async_engine(url: str, schema: str | None) -> AsyncEngine:
    """This process's async engine for ``url`` (bound to the running event loop)."""
    key = (url, schema, id(asyncio.get_running_loop()))
    engine = _ENGINES.get(key)
    if engine is None:
        connect_args: dict[str, Any] = {}
        if schema:
            connect_args["options"] = f"-csearch_path={schema}"
        engine = _ENGINES[key] = create_async_engine(
            normalize_url(url), connect_args=connect_args, isolation_level="AUTOCOMMIT",
            pool_size=PG_POOL_SIZE, max_overflow=PG_MAX_OVERFLOW)
        _ping_when_idle(engine)
    return engine


IDLE_PING_SECONDS = 10.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """``pool_pre_ping`` costs a round trip at every checkout, i.e. per check: as much as one of the
    check's own statements. A connection is pinged only after ``IDLE_PING_SECONDS`` unused; a dead one
    (PostgreSQL restarted) is replaced before the request uses it. Under load, connections are reused
    within milliseconds and never pinged."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except Exception as exc:  # the pool discards this connection and checks out another
            raise DisconnectionError(f"pooled connection was dead: {exc}") from exc


@asynccontextmanager
async def check_db(engine: Engine, url: str, schema: str | None) -> AsyncIterator[CheckDb]:
    """The request's :class:`CheckDb`: a pooled connection on SQLite, an async one on PostgreSQL."""
    if engine.dialect.name != "postgresql":
        db = SyncDb(engine)
        try:
            yield db
        finally:
            db.close()
        return
    async with async_engine(url, schema).connect() as connection:
        yield AsyncDb(connection)
