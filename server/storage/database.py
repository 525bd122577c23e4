"""Engine creation: SQLite by default, PostgreSQL when the URL says so."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel, create_engine

from server.storage import tables

# How long a SQLite write waits for another process's write lock before it fails.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs and use the psycopg 3 driver for them."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


# The database holds the mock CA's private key and every card's private key: owner-only.
PRIVATE = 0o600


def insert_on_conflict(dialect: str) -> Any:
    """The dialect's INSERT construct, the one that takes ON CONFLICT (PostgreSQL's or SQLite's)."""
    return postgresql_insert if dialect == "postgresql" else sqlite_insert


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None: in memory)."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file::memory:"):
        return None
    return Path(database)


def keep_private(path: Path) -> None:
    """Creates ``path`` (and its WAL/shared-memory companions, if present) owner-only (0600);
    an existing file left readable by an older version is closed down too."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE))
    for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if each.exists() and each.stat().st_mode & 0o777 != PRIVATE:
            os.chmod(each, PRIVATE)


def make_engine(url: str, *, schema: str | None = None) -> Engine:
    """``schema`` (PostgreSQL only) isolates one server's tables, e.g. per test worker.
    A SQLite file is created owner-only (0600): it holds private keys."""
    url = normalize_url(url)
    connect_args: dict[str, Any] = {}
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path is not None:
            keep_private(path)
        connect_args["check_same_thread"] = False
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_MS / 1000
        engine = create_engine(url, connect_args=connect_args)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache: large registries stay in memory
            cursor.execute("PRAGMA temp_store=MEMORY")
            # Checkpoint the WAL every ~40 MiB instead of every ~4 MiB: a check's commit rewrites the same
            # few tail pages, copied to the database (and synced) once per checkpoint, so fewer
            # checkpoints are less work: a commit went from ~44 to ~29 µs (benchmarks/README.md).
            # After a checkpoint the WAL file is cut back to at most 64 MiB.
            cursor.execute("PRAGMA wal_autocheckpoint=10000")
            cursor.execute("PRAGMA journal_size_limit=67108864")
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
    migrate_pins(engine)
    migrate_moment_indexes(engine)


def migrate_moment_indexes(engine: Engine) -> None:
    """A database made before the (key, moment) indexes of the no-provide flag and the registration
    link: it gets them (the old indexes on the key alone are left, harmless)."""
    for table in (tables.NoProvideFlag.__table__, tables.SerialLink.__table__):  # type: ignore[attr-defined]
        for index in table.indexes:
            index.create(engine, checkfirst=True)


def migrate_pins(engine: Engine) -> None:
    """A database made before PINs were hashed has ``card.pin`` in clear: hash each into
    ``card.pin_hash`` and drop the clear column."""
    columns = {column["name"] for column in inspect(engine).get_columns("card")}
    if "pin" not in columns:
        return
    from onshi.pins import pin_record

    with engine.begin() as conn:
        if "pin_hash" not in columns:
            conn.execute(text("ALTER TABLE card ADD COLUMN pin_hash VARCHAR"))
        rows = conn.execute(text("SELECT person_id, pin FROM card WHERE pin IS NOT NULL")).all()
        records: dict[str, str] = {}
        for person_id, pin in rows:
            if pin not in records:  # legacy PINs are the public demo ones: one hash per distinct PIN
                records[pin] = json.dumps(pin_record(pin))
            conn.execute(text("UPDATE card SET pin_hash = :h WHERE person_id = :p"),
                         {"h": records[pin], "p": person_id})
        conn.execute(text("ALTER TABLE card DROP COLUMN pin"))
    if engine.dialect.name == "sqlite":  # no copy of the clear PINs left in free pages
        with engine.connect() as conn:
            conn.execute(text("VACUUM"))
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))


def drop_tables(engine: Engine) -> None:
    SQLModel.metadata.drop_all(engine)
