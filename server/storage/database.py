"""Engine creation: SQLite by default, PostgreSQL when the URL says so."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, create_engine

from server.storage import tables  # noqa: F401  (registers the tables)


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def make_engine(url: str, *, schema: str | None = None) -> Engine:
    """``schema`` (PostgreSQL only) isolates one server's tables, e.g. per test worker."""
    url = normalize_url(url)
    connect_args: dict[str, Any] = {}
    if url.startswith("sqlite"):
        connect_args["check_same_thread"] = False
        connect_args["timeout"] = 30
        engine = create_engine(url, connect_args=connect_args)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache: large registries stay in memory
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()

        return engine
    if schema:
        connect_args["options"] = f"-csearch_path={schema}"
    engine = create_engine(url, connect_args=connect_args, pool_size=10, max_overflow=20, pool_pre_ping=True)
    if schema:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    return engine


def create_tables(engine: Engine) -> None:
    SQLModel.metadata.create_all(engine)


def drop_tables(engine: Engine) -> None:
    SQLModel.metadata.drop_all(engine)
