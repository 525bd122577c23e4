"""The check endpoints' database access (server.storage.checkdb): statements compiled once and sent
straight through the driver read and write exactly what SQLAlchemy would, and PostgreSQL's small pool
replaces connections that died or were left mid-statement."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from server.clock import JST
from server.storage import checkdb, pgpipe, registry, tables
from server.storage.database import create_tables, make_engine
from tests.conftest import BACKENDS, PG_URL, _drop_schema

MOMENT = datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=JST)


@dataclass(frozen=True)
class Database:
    engine: Engine
    url: str
    schema: str | None


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "postgres":
        assert PG_URL
        schema = f"onshi_test_cdb_{uuid.uuid4().hex[:8]}"
        made = Database(make_engine(PG_URL, schema=schema), PG_URL, schema)
    else:
        url = f"sqlite:///{tmp_path / 'onshi.db'}"
        made = Database(make_engine(url), url, None)
    create_tables(made.engine)
    try:
        yield made
    finally:
        made.engine.dispose()
        if made.schema:
            _drop_schema(made.schema)


INSERT_NONCE = insert(registry.NONCE)  # a row of any table will do for the hot path's own tests
# A nonce's row by its value (the hot path itself never reads nonces: it records them when used).
NONCE_BY_VALUE = select(registry.NONCE.c.clinic_code, registry.NONCE.c.reader_id, registry.NONCE.c.expires_at,
                        registry.NONCE.c.used).where(registry.NONCE.c.value == bindparam("value"))


def spent(value: str) -> dict[str, object]:
    """The parameters of ``registry.spend_nonce_statement``."""
    return {"nonce": value, "clinic": "1312345678", "reader": "reader-1",
            "expires_at": MOMENT + timedelta(seconds=60)}


def nonce_row(value: str) -> dict[str, object]:
    return {"value": value, "clinic_code": "1312345678", "reader_id": "reader-1",
            "expires_at": MOMENT + timedelta(seconds=60), "used": False}


async def in_check_db(database: Database, work: Callable[[checkdb.CheckDb], Awaitable[object]]) -> object:
    async with checkdb.check_db(database.engine, database.url, database.schema) as db:
        result = await work(db)
        await db.commit()
        return result


def test_a_row_written_on_the_hot_path_reads_back_as_sqlalchemy_reads_it(database: Database) -> None:
    async def work(db: checkdb.CheckDb) -> object:
        await db.execute(INSERT_NONCE, nonce_row("n-1"))
        return None

    asyncio.run(in_check_db(database, work))

    async def read(db: checkdb.CheckDb) -> object:
        return (await db.execute(NONCE_BY_VALUE, {"value": "n-1"})).one()

    ours = asyncio.run(in_check_db(database, read))
    with database.engine.connect() as connection:
        theirs = connection.execute(NONCE_BY_VALUE, {"value": "n-1"}).one()
    assert tuple(ours) == tuple(theirs)  # type: ignore[arg-type]
    assert ours.expires_at == MOMENT + timedelta(seconds=60)  # type: ignore[attr-defined]
    assert ours.expires_at.tzinfo is not None  # type: ignore[attr-defined]
    assert ours.used is False  # type: ignore[attr-defined]


def test_a_nonce_is_used_up_once(database: Database) -> None:
    async def work(db: checkdb.CheckDb) -> object:
        first = await db.write(registry.spend_nonce_statement(db, spent("n-2")))
        again = await db.write(registry.spend_nonce_statement(db, spent("n-2")))
        other = await db.write(registry.spend_nonce_statement(db, spent("n-3")))
        return [r.rowcount for r in (*first, *again, *other)]

    assert asyncio.run(in_check_db(database, work)) == [1, 0, 1]
    with database.engine.connect() as connection:
        row = connection.execute(NONCE_BY_VALUE, {"value": "n-2"}).one()
    assert (row.reader_id, row.expires_at, row.used) == ("reader-1", MOMENT + timedelta(seconds=60), True)


def test_nothing_is_kept_of_a_check_that_failed_before_its_commit(database: Database) -> None:
    if database.schema is not None:
        pytest.skip("PostgreSQL's hot path is autocommit: each statement stands alone")

    async def work(db: checkdb.CheckDb) -> object:
        await db.execute(INSERT_NONCE, nonce_row("n-4"))
        raise RuntimeError("the check failed")

    with pytest.raises(RuntimeError):
        asyncio.run(in_check_db(database, work))
    with database.engine.connect() as connection:
        found = connection.execute(select(registry.NONCE).where(registry.NONCE.c.value == "n-4")).first()
    assert found is None


postgres_only = pytest.mark.skipif(PG_URL is None, reason="needs ONSHI_TEST_DATABASE_URL")


@postgres_only
def test_a_pooled_connection_whose_server_died_is_replaced_before_use(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert PG_URL
    monkeypatch.setattr(checkdb, "IDLE_PING_SECONDS", 0.0)  # every idle connection is pinged

    async def scenario() -> tuple[int, int, int]:
        pool = checkdb.pg_pool(PG_URL, None)
        first = await pool.take()
        dead = first.info.backend_pid
        await pool.give_back(first)
        async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (dead,))
        await asyncio.sleep(0.2)
        second = await pool.take()
        alive = second.info.backend_pid
        answer = await (await second.execute("SELECT 1")).fetchone()
        await pool.give_back(second)
        await second.close()
        return dead, alive, answer[0] if answer else 0

    dead, alive, answer = asyncio.run(scenario())
    assert alive != dead
    assert answer == 1


@postgres_only
def test_a_connection_left_in_the_middle_of_a_statement_is_never_handed_out_unusable() -> None:
    """A request cancelled while its statement runs: the next request still gets a working connection."""
    assert PG_URL

    async def scenario() -> int:
        pool = checkdb.pg_pool(PG_URL, None)
        connection = await pool.take()
        statement = asyncio.ensure_future(connection.execute("SELECT pg_sleep(5)"))
        await asyncio.sleep(0.2)
        statement.cancel()
        with pytest.raises((asyncio.CancelledError, psycopg.Error)):
            await statement
        await pool.give_back(connection)
        following = await pool.take()
        answer = await (await following.execute("SELECT 1")).fetchone()
        await pool.give_back(following)
        for idle, _ in pool.idle:
            await idle.close()
        return answer[0] if answer else 0

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == 1


def test_checkdb_moment_is_stored_in_utc() -> None:
    """SQLAlchemy's own conversion (sqlmodel's UTCDateTime) is the one applied on the hot path."""
    plan = checkdb.prepared(INSERT_NONCE, make_engine("sqlite://").dialect, nonce_row("x"))
    values = plan.parameters(nonce_row("x"))
    stored = dict(zip(plan.names, values, strict=True))["expires_at"]
    assert stored == (MOMENT + timedelta(seconds=60)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def access_row(n: int) -> dict[str, object]:
    return {"at": MOMENT, "clinic_code": "1312345678", "person_id": f"p-{n}", "action": "number_check",
            "basis": "number", "outcome": "validity:1"}


def gathered(database: Database, writes: list[tuple[checkdb.Statement, ...]]
             ) -> tuple[list[object], list[str]]:
    """The writes of concurrent requests (one check_db each, started in the same turn of the event loop):
    what each got back (rows or the exception), and the statements sent."""
    sent: list[str] = []

    async def one(writes: tuple[checkdb.Statement, ...]) -> object:
        async with checkdb.check_db(database.engine, database.url, database.schema) as db:
            return await db.write(*writes)

    async def scenario() -> list[object]:
        return await asyncio.gather(*(one(w) for w in writes), return_exceptions=True)

    checkdb.STATEMENT_HOOKS.append(sent.append)
    try:
        return asyncio.run(scenario()), sent
    finally:
        checkdb.STATEMENT_HOOKS.remove(sent.append)


def stored_nonces(database: Database) -> set[str]:
    with database.engine.connect() as connection:
        return set(connection.execute(select(registry.NONCE.c.value)).scalars())


def test_writes_of_requests_meeting_in_one_loop_turn_share_one_commit(database: Database) -> None:
    results, sent = gathered(database, [(checkdb.Statement(INSERT_NONCE, nonce_row(f"g-{i}")),)
                                        for i in range(5)])
    assert all(isinstance(r, list) and len(r) == 1 and r[0].rowcount == 1 for r in results), results
    inserts = [s for s in sent if s.lstrip().upper().startswith("INSERT")]
    if database.schema is None:  # SQLite: each request's insert in the shared transaction
        assert len(inserts) == 5, sent
    else:  # PostgreSQL: the five rows as one multi-row INSERT
        assert len(inserts) == 1 and inserts[0].count("), (") == 4, sent
    assert sent.count("COMMIT") == 1, sent
    assert stored_nonces(database) == {f"g-{i}" for i in range(5)}


def test_a_failing_write_fails_only_its_own_request(database: Database) -> None:
    gathered(database, [(checkdb.Statement(INSERT_NONCE, nonce_row("taken")),)])
    results, _ = gathered(database, [
        (checkdb.Statement(INSERT_NONCE, nonce_row("ok-1")),),
        (checkdb.Statement(INSERT_NONCE, nonce_row("taken")),),  # the primary key again
        (checkdb.Statement(INSERT_NONCE, nonce_row("ok-2")),),
    ])
    assert isinstance(results[1], Exception), results
    assert "unique" in str(results[1]).lower() or "duplicate" in str(results[1]).lower()
    assert isinstance(results[0], list) and isinstance(results[2], list), results
    assert stored_nonces(database) == {"taken", "ok-1", "ok-2"}


def test_writes_after_a_required_write_that_changed_nothing_are_skipped(database: Database) -> None:
    gathered(database, [(checkdb.Statement(INSERT_NONCE, nonce_row("spent")),)])
    spend = registry.SPEND_NONCE[database.engine.dialect.name]
    results, _ = gathered(database, [
        (checkdb.Statement(spend, spent("spent"), required=True),  # used already: no row changes
         checkdb.Statement(registry.INSERT_ACCESS, access_row(1))),
        (checkdb.Statement(registry.INSERT_ACCESS, access_row(2)),),
    ])
    assert [len(r) for r in results] == [1, 1]  # type: ignore[arg-type]
    assert results[0][0].rowcount == 0  # type: ignore[index]
    with database.engine.connect() as connection:
        people = set(connection.execute(select(registry.ACCESS.c.person_id)).scalars())
    assert people == {"p-2"}


def sqlite_only(database: Database) -> None:
    if database.schema is not None:
        pytest.skip("SQLite's write lock")


@contextmanager
def another_process_holding_the_write_lock(database: Database) -> Iterator[sqlite3.Connection]:
    """A connection of its own holding SQLite's write lock: another server process, as SQLite sees it
    (committing releases the lock; any thread may commit)."""
    sqlite_only(database)
    other = sqlite3.connect(database.url.removeprefix("sqlite:///"), isolation_level=None,
                            check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield other
    finally:
        other.close()


def test_a_write_waits_for_another_processs_write_lock_without_stopping_the_event_loop(
        database: Database) -> None:
    async def scenario(other: sqlite3.Connection) -> tuple[int, float]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.001)

        async def write() -> None:
            async with checkdb.check_db(database.engine, database.url, None) as db:
                await db.write(checkdb.Statement(INSERT_NONCE, nonce_row("after-the-lock")))
            done.set()

        started = time.monotonic()
        writing = asyncio.gather(ticker(), write())
        await asyncio.sleep(0.1)
        assert not done.is_set()  # still waiting for the lock
        other.commit()
        await writing
        return ticks, time.monotonic() - started

    with another_process_holding_the_write_lock(database) as other:
        ticks, took = asyncio.run(scenario(other))
    assert ticks >= 30, ticks  # the loop went on serving while the write waited
    assert took < 5
    assert "after-the-lock" in stored_nonces(database)


def test_after_a_group_commit_a_requests_own_write_still_waits_out_another_processs_short_lock(
        database: Database) -> None:
    """The group commit's connections never wait inside SQLite (busy timeout 0); the others must."""
    sqlite_only(database)

    async def scenario() -> None:
        async with checkdb.check_db(database.engine, database.url, None) as db:
            await db.write(checkdb.Statement(INSERT_NONCE, nonce_row("group-committed")))
        with another_process_holding_the_write_lock(database) as other:
            threading.Timer(0.2, other.commit).start()
            async with checkdb.check_db(database.engine, database.url, None) as db:
                await db.execute(INSERT_NONCE, nonce_row("own-write"))
                await db.commit()

    asyncio.run(scenario())
    assert {"group-committed", "own-write"} <= stored_nonces(database)


def test_reads_of_requests_meeting_in_one_loop_turn_each_get_their_own_rows(database: Database) -> None:
    gathered(database, [(checkdb.Statement(INSERT_NONCE, nonce_row(f"r-{i}")),) for i in range(5)])

    async def one(i: int) -> object:
        async with checkdb.check_db(database.engine, database.url, database.schema) as db:
            return (await db.read(NONCE_BY_VALUE, {"value": f"r-{i}"})).one()

    async def scenario() -> tuple[list[object], tuple[int, int] | None]:
        results = await asyncio.gather(*(one(i) for i in range(5)), one(99), return_exceptions=True)
        if database.schema is None:
            return results, None
        reads = checkdb.pg_pool(database.url, database.schema).batches
        assert reads is not None
        return results, (reads.batches, reads.units)

    results, batching = asyncio.run(scenario())
    assert [r.reader_id for r in results[:5]] == ["reader-1"] * 5  # type: ignore[attr-defined]
    assert isinstance(results[5], LookupError)  # no such nonce: its own request's error only
    if batching is not None:  # PostgreSQL: the six reads went out together, as one pipeline
        assert batching == (1, 6)


def test_a_lookup_planned_while_its_table_was_empty_still_uses_the_index(database: Database) -> None:
    """A hot-path statement's plan is made once per connection and kept. Made when a fresh server's
    nonce table was empty, a plain session's plan is a sequential scan, read again at every check as
    the table grows; the hot path's sessions plan the index lookup."""
    if database.schema is None:
        pytest.skip("PostgreSQL's plan cache")
    params = {"value": "n"}
    plan = checkdb.prepared(NONCE_BY_VALUE, checkdb.numbered(database.engine.dialect), params)

    async def generic_plan(connection: psycopg.AsyncConnection[Any]) -> str:
        await pgpipe.run(connection, [(b"ANALYZE nonce", ()),
                                      (b"SET plan_cache_mode = force_generic_plan", ())])
        (outcome,) = await pgpipe.run(connection, [(b"EXPLAIN " + plan.encoded, plan.parameters(params))])
        assert not isinstance(outcome, Exception), outcome
        return "\n".join(row[0] for row in outcome[0])

    async def scenario() -> tuple[str, str]:
        pool = checkdb.pg_pool(database.url, database.schema)
        hot = await pool.take()
        try:
            ours = await generic_plan(hot)
        finally:
            await hot.close()
            await pool.give_back(hot)
        async with await psycopg.AsyncConnection.connect(
                database.url, autocommit=True, options=f"-csearch_path={database.schema}") as plain:
            return ours, await generic_plan(plain)

    ours, plain = asyncio.run(scenario())
    assert "Seq Scan on nonce" in plain, plain  # the trap
    assert "Index Scan using nonce_pkey" in ours and "Seq Scan" not in ours, ours


def test_a_number_checks_read_brings_only_the_holders_born_on_the_day_asked(database: Database) -> None:
    """Family members under one number who cannot match (another birth date) are not read at all;
    twins, born the same day, both are (the core then answers 5 複数該当)."""
    from server.fixtures import load_fixture, read_fixture

    load_fixture(database.engine, read_fixture("personas"))
    with Session(database.engine) as session:
        known = registry.insurers(session)

    def names(number: str, born: date) -> list[str]:
        async def work(db: checkdb.CheckDb) -> object:
            return await registry.number_candidates(db, "06139012", number, born, MOMENT, known)

        hot = cast(list[Any], asyncio.run(in_check_db(database, work)))
        with Session(database.engine) as session:
            plain = registry.candidates_for_numbers(session, "06139012", number, born, MOMENT, known)
        assert plain == hot
        return sorted(view.person.name for view in hot)

    assert names("1024", date(1985, 5, 12)) == ["佐藤 花子"]  # not her son under the same number
    assert names("1024", date(2012, 8, 20)) == ["佐藤 健太"]
    assert names("0123", date(2015, 6, 6)) == ["阿部 湊", "阿部 蓮"]
    assert names("1024", date(1990, 1, 1)) == []


@pytest.mark.parametrize("statement", ["card read", "number read"])
def test_a_checks_read_sorts_nothing_on_sqlite(database: Database, statement: str) -> None:
    """Every "newest row visible at the moment" of a check's read walks an index backwards; a
    temporary B-tree (a sort per check) is what the (key, moment) indexes are there to spare."""
    if database.schema is not None:
        pytest.skip("SQLite's plan")
    chosen = {"card read": (registry.CARD_READ_STATEMENT, {"serial": "1", "moment": MOMENT}),
              "number read": (registry.CANDIDATES_STATEMENT,
                              {"insurer_number": "06139012", "number": "1024", "birthdate": date(1985, 5, 12),
                               "moment": MOMENT})}
    query, params = chosen[statement]
    plan = checkdb.prepared(query, database.engine.dialect, params)
    with sqlite3.connect(database.url.removeprefix("sqlite:///")) as connection:
        rows = connection.execute("EXPLAIN QUERY PLAN " + plan.sql, plan.parameters(params))
        steps = [row[3] for row in rows]
    scans = [step for step in steps if step.startswith("SCAN ") and "CONSTANT ROW" not in step
             and "card_status" not in step]  # (the one-row status subquery's own)
    assert not scans and not [step for step in steps if "TEMP B-TREE" in step], steps


@pytest.mark.parametrize(("table", "index"), [("noprovideflag", tables.NO_PROVIDE_INDEX),
                                              ("seriallink", tables.SERIAL_LINK_INDEX)])
def test_a_database_made_before_a_moment_index_gets_it(database: Database, table: str, index: str) -> None:
    from sqlalchemy import inspect, text

    with database.engine.begin() as connection:
        connection.execute(text(f"DROP INDEX {index}"))
    assert index not in {i["name"] for i in inspect(database.engine).get_indexes(table)}
    create_tables(database.engine)
    create_tables(database.engine)  # (and again: nothing to do)
    assert index in {i["name"] for i in inspect(database.engine).get_indexes(table)}
