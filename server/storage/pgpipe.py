"""A batch of statements sent to PostgreSQL in one write and answered in one read.

libpq's pipeline mode, driven directly through psycopg's libpq wrapper (``psycopg.pq``) and its
adaptation (``psycopg.adapt.Transformer``). psycopg's own pipeline (``connection.pipeline()``)
polls and flushes the socket at every ``execute``: on the hot path's batches of a few statements
that was a fifth of a server process's CPU (profile: benchmarks/README.md). Here the batch's
messages are queued in libpq's buffer, flushed once, and the answers read as they arrive.

Values are dumped and loaded by the connection's psycopg adapters, as its cursors would; each
statement is prepared once per connection and parameter types (``prepare_threshold=0``). The
statements run in one transaction, committed by the Sync that ends the batch (the protocol's rule
for statements between two Syncs outside BEGIN … COMMIT): after a failed one the rest are not run,
and nothing of the batch is kept.
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors, pq
from psycopg.adapt import PyFormat, Transformer

Answer = tuple[list[tuple[Any, ...]], int]  # rows (as tuples), row count
Outcome = Answer | Exception

_PIPELINE_SYNC = pq.ExecStatus.PIPELINE_SYNC
_FAILED = (pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.PIPELINE_ABORTED)

# Per connection: (SQL, parameter types) -> the name it was prepared under.
Names = dict[tuple[bytes, tuple[int, ...]], bytes]
_PREPARED: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], Names] = weakref.WeakKeyDictionary()
_NAMES = itertools.count()


async def run(connection: psycopg.AsyncConnection[Any], items: Sequence[tuple[bytes, Sequence[Any]]]
              ) -> list[Outcome]:
    """``items`` (SQL with ``$n`` placeholders, parameters) in one transaction: per item its rows and
    row count, or its error (:class:`psycopg.errors.PipelineAborted` for those after a failed one).
    Interrupted (cancelled, connection lost), the connection is closed: it is mid-pipeline."""
    try:
        return await _run(connection, items)
    except BaseException:
        await connection.close()
        raise


async def _run(connection: psycopg.AsyncConnection[Any], items: Sequence[tuple[bytes, Sequence[Any]]]
               ) -> list[Outcome]:
    pg = connection.pgconn
    names = _PREPARED.setdefault(connection, {})
    adapt = Transformer(connection)
    expected: list[tuple[bytes, tuple[int, ...]] | None] = []  # per result: a prepare's key, or None
    pg.enter_pipeline_mode()  # (left on failure: run() closes the connection)
    for sql, params in items:
        values = adapt.dump_sequence(params, [PyFormat.AUTO] * len(params))
        key = (sql, tuple(adapt.types or ()))
        name = names.get(key)
        if name is None:
            name = names[key] = f"_onshi_{next(_NAMES)}".encode()
            pg.send_prepare(name, sql, param_types=adapt.types)
            expected.append(key)
        pg.send_query_prepared(name, values, param_formats=adapt.formats, result_format=pq.Format.BINARY)
        expected.append(None)
    pg.pipeline_sync()
    while pg.flush():
        await _ready(connection, write=True)
    received = await _results(connection)
    pg.exit_pipeline_mode()
    encoding = connection.info.encoding
    outcomes: list[Outcome] = []
    unprepared: Exception | None = None  # a failed prepare's error: its statement's outcome
    for prepare, results in zip(expected, received, strict=True):
        result = results[-1]
        if prepare is not None:
            if result.status in _FAILED:
                names.pop(prepare, None)  # prepared again next time
                if result.status == pq.ExecStatus.FATAL_ERROR:
                    unprepared = errors.error_from_result(result, encoding=encoding)
        elif unprepared is not None:
            outcomes.append(unprepared)
            unprepared = None
        elif result.status == pq.ExecStatus.FATAL_ERROR:
            outcomes.append(errors.error_from_result(result, encoding=encoding))
        elif result.status == pq.ExecStatus.PIPELINE_ABORTED:
            outcomes.append(errors.PipelineAborted("not run: an earlier statement of the batch failed"))
        else:
            adapt.set_pgresult(result)
            rows = adapt.load_rows(0, result.ntuples, tuple) if result.ntuples else []
            outcomes.append((rows, result.command_tuples if result.command_tuples is not None else -1))
    return outcomes


async def _results(connection: psycopg.AsyncConnection[Any]) -> list[list[pq.abc.PGresult]]:
    """Every statement's results (libpq ends each with None) up to the batch's Sync."""
    pg = connection.pgconn
    received: list[list[pq.abc.PGresult]] = []
    pending: list[pq.abc.PGresult] = []
    while True:
        pg.consume_input()
        while not pg.is_busy():
            result = pg.get_result()
            if result is None:
                if not pending:
                    break
                received.append(pending)
                pending = []
            elif result.status == _PIPELINE_SYNC:
                return received
            else:
                pending.append(result)
        await _ready(connection)


async def _ready(connection: psycopg.AsyncConnection[Any], *, write: bool = False) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    fd = connection.pgconn.socket

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    if write:
        loop.add_writer(fd, wake)
    else:
        loop.add_reader(fd, wake)
    try:
        await ready
    finally:
        if write:
            loop.remove_writer(fd)
        else:
            loop.remove_reader(fd)
