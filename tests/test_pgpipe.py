"""The hot path's PostgreSQL pipeline (server.storage.pgpipe): a batch of statements in one round trip
and one transaction gives the values psycopg's own cursor gives, keeps nothing of a batch with a
failed statement, and never leaves a connection mid-pipeline for the next request."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import psycopg
import pytest

from server.clock import JST
from server.storage import checkdb, pgpipe
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(PG_URL is None, reason="needs ONSHI_TEST_DATABASE_URL")

T = TypeVar("T")
MOMENT = datetime(2026, 12, 3, 9, 30, 15, 123456, tzinfo=JST)


def on_connection(work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    async def scenario() -> T:
        assert PG_URL
        async with await psycopg.AsyncConnection.connect(PG_URL, autocommit=True) as connection:
            return await work(connection)

    return asyncio.run(asyncio.wait_for(scenario(), 20))


def test_values_come_back_as_psycopgs_cursor_gives_them() -> None:
    params = (7, "カード", MOMENT, True, None, 2**40, "")

    async def work(connection: psycopg.AsyncConnection[Any]) -> tuple[Any, Any]:
        (outcome,) = await pgpipe.run(connection, [(
            b"SELECT $1::integer, $2::varchar, $3::timestamptz, $4::boolean, $5::text, $6::bigint, $7::text",
            params)])
        cursor = await connection.execute(
            "SELECT %s::integer, %s::varchar, %s::timestamptz, %s::boolean, %s::text, %s::bigint, %s::text",
            params)
        return outcome, await cursor.fetchall()

    outcome, theirs = on_connection(work)
    assert not isinstance(outcome, Exception), outcome
    rows, count = outcome
    assert rows == theirs
    assert count == 1
    assert rows[0][2] == MOMENT


def test_a_batch_with_a_failed_statement_keeps_nothing_and_runs_nothing_after_it() -> None:
    table = f"pgpipe_{uuid.uuid4().hex[:8]}"

    async def work(connection: psycopg.AsyncConnection[Any]) -> tuple[list[pgpipe.Outcome], int]:
        await connection.execute(f"CREATE TABLE {table} (id integer PRIMARY KEY)")
        try:
            await connection.execute(f"INSERT INTO {table} VALUES (1)")
            insert = f"INSERT INTO {table} VALUES ($1)".encode()
            outcomes = await pgpipe.run(connection, [
                (insert, (2,)), (insert, (1,)), (f"SELECT count(*) FROM {table}".encode(), ())])
            cursor = await connection.execute(f"SELECT count(*) FROM {table}")
            (kept,) = await cursor.fetchone() or (0,)
            return outcomes, kept
        finally:
            await connection.execute(f"DROP TABLE {table}")

    outcomes, kept = on_connection(work)
    assert outcomes[0] == ([], 1)
    assert isinstance(outcomes[1], psycopg.errors.UniqueViolation)
    assert isinstance(outcomes[2], psycopg.errors.PipelineAborted)
    assert kept == 1  # row 2 went with the failed batch


def test_a_statement_that_failed_to_prepare_says_why_again_the_next_time() -> None:
    async def work(connection: psycopg.AsyncConnection[Any]) -> list[pgpipe.Outcome]:
        broken = (b"SELECT $1::integer FROM no_such_table", (1,))
        first = await pgpipe.run(connection, [broken])
        return first + await pgpipe.run(connection, [broken])

    outcomes = on_connection(work)
    assert all(isinstance(o, psycopg.errors.UndefinedTable) for o in outcomes), outcomes


def test_a_batch_cancelled_while_it_runs_leaves_no_connection_mid_pipeline() -> None:
    async def scenario() -> tuple[bool, Any]:
        assert PG_URL
        pool = checkdb.pg_pool(PG_URL, None)
        connection = await pool.take()
        running = asyncio.ensure_future(pgpipe.run(connection, [(b"SELECT pg_sleep(5)", ())]))
        await asyncio.sleep(0.2)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        closed = connection.closed
        await pool.give_back(connection)
        following = await pool.take()
        answer = await pgpipe.run(following, [(b"SELECT $1::integer + 1", (41,))])
        await pool.give_back(following)
        for idle, _ in pool.idle:
            await idle.close()
        return closed, answer

    closed, answer = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert closed
    assert answer == [([(42,)], 1)]


def test_later_statements_see_earlier_ones_of_the_same_batch() -> None:
    """One transaction, in order: a request's read after another's write in the same batch sees it."""
    async def work(connection: psycopg.AsyncConnection[Any]) -> list[pgpipe.Outcome]:
        await connection.execute("CREATE TEMPORARY TABLE seen (at timestamptz)")
        return await pgpipe.run(connection, [
            (b"INSERT INTO seen VALUES ($1)", (MOMENT,)),
            (b"SELECT at + $1::interval FROM seen", (timedelta(seconds=1),))])

    outcomes = on_connection(work)
    assert outcomes[1] == ([(MOMENT + timedelta(seconds=1),)], 1)
