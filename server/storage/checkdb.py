"""The database of the check endpoints' hot path, without blocking the event loop.

The check endpoints are ``async`` and reach the database through :class:`CheckDb`: SQLAlchemy Core
statements (built once in ``server.storage.registry``), each compiled once per dialect into its SQL
text, parameter order and type conversions (:class:`Prepared`), then sent straight through the
driver. SQLAlchemy's per-execution machinery (execution context, parameter construction, result
metadata, pool checkout) cost more than SQLite's own work on a check's statements (profiles:
benchmarks/README.md); the conversions are SQLAlchemy's own, so values read and written are the same.

- **PostgreSQL**: psycopg 3's ``AsyncConnection`` in autocommit, from a small pool per server process
  and event loop (:data:`PG_POOL_SIZE`). A check's reads and writes join those of the other requests
  of the same loop turn in one pipeline (:class:`Batcher`, :mod:`server.storage.pgpipe`): one round
  trip and one transaction for the batch, each statement prepared on the server at its first use,
  and the event loop serves other requests meanwhile.
- **SQLite**: the driver's connection on the event loop. SQLite is a library in the server's own
  process: a statement is CPU work of some microseconds on pages in memory (a 64 MiB page cache),
  like any other Python code of the request, with nothing to wait for but another process's write
  lock (held for the ~0.1 ms of a check's inserts, WAL). A thread hop per request cost more than the
  statements themselves (measured: benchmarks/README.md).

- **Writes** (:meth:`CheckDb.write`) are group-committed (:class:`Batcher`): the requests that
  reach their write in the same turn of the event loop share one transaction, and each is answered
  once it is committed. On PostgreSQL their single-row inserts into one table go as one multi-row
  INSERT (:func:`_coalesced`).

Measured against the alternative, plain ``def`` endpoints in the thread pool: that halved SQLite's
throughput and did not help PostgreSQL (GIL hand-offs between the event loop and 16 busy threads).
"""

from __future__ import annotations

import asyncio
import copy
import sqlite3
import time
import weakref
from collections import namedtuple
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert, ValuesBase
from sqlalchemy.sql.expression import bindparam

from server.storage import pgpipe
from server.storage.database import SQLITE_BUSY_TIMEOUT_MS, normalize_url

# Per server process, fixed: reads and writes go out in batches (a few in flight keep PostgreSQL's
# backends busy). Overflow connections, closed when given back, were opened again at every burst of
# load: a new backend process each time (number checks 948 → 1 888 requests/s without; benchmarks/).
PG_POOL_SIZE = 6

Params = Mapping[str, Any] | None

# Called with every statement the hot path sends (and "COMMIT"): tests count a check's statements.
STATEMENT_HOOKS: list[Callable[[str], None]] = []


class Rows:
    """A statement's answer: its rows (named tuples: ``row.column``) and the rows it changed."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount

    def all(self) -> list[Any]:
        return self.rows

    def first(self) -> Any | None:
        return self.rows[0] if self.rows else None

    def one(self) -> Any:
        if len(self.rows) != 1:
            raise LookupError(f"expected one row, got {len(self.rows)}")
        return self.rows[0]


@dataclass(frozen=True)
class Prepared:
    """A Core statement compiled once for a dialect: what SQLAlchemy works out at every execution."""

    sql: str
    encoded: bytes  # sql, as sent
    names: tuple[str, ...]  # the parameters, in the order of their placeholders
    fixed: dict[str, Any]  # values the statement itself binds (``.values(used=True)``)
    binds: dict[str, Callable[[Any], Any]]  # conversions of parameters (e.g. datetimes to UTC)
    row: Any  # named tuple of the result's columns (None: no result rows)
    results: tuple[Callable[[Any], Any] | None, ...] | None  # conversions of result columns

    @classmethod
    def compile(cls, statement: Executable, dialect: Dialect, keys: Sequence[str] | None) -> Prepared:
        clause = cast(ClauseElement, statement)
        compiled = cast(SQLCompiler, clause.compile(dialect=dialect,
                                                    column_keys=list(keys) if keys is not None else None))
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "escaped_bind_names", None):
            raise ValueError("hot-path statements take every value as a plain bound parameter")
        if not compiled.positional:  # (SQLite's qmark; on PostgreSQL, numbered())
            raise ValueError(f"{dialect.paramstyle}: the hot path compiles with positional placeholders")
        fixed = {name: bind.effective_value for bind, name in compiled.bind_names.items()
                 if not bind.required}
        names = tuple(compiled.positiontup or ())
        columns = compiled._result_columns or []  # (keyname, name, objects, type) per column
        row = namedtuple("Row", [c[0] for c in columns]) if columns else None  # type: ignore[misc]
        processors = tuple(c[3]._cached_result_processor(dialect, None) for c in columns)
        binds: dict[str, Callable[[Any], Any]] = {}
        for name, convert in compiled._bind_processors.items():
            if not callable(convert):  # a tuple type's per-element conversions: not on the hot path
                raise ValueError(f"parameter {name}: tuple parameters are not supported here")
            binds[name] = convert
        return cls(sql=compiled.string, encoded=compiled.string.encode(), names=names, fixed=fixed,
                   binds=binds, row=row,
                   results=processors if any(processors) else None)

    def parameters(self, params: Params) -> tuple[Any, ...]:
        values = {**self.fixed, **params} if params else dict(self.fixed)
        for name, convert in self.binds.items():
            if name in values:
                values[name] = convert(values[name])
        return tuple(values[name] for name in self.names)

    def rows(self, fetched: list[Any]) -> list[Any]:
        make = self.row._make
        if self.results is None:
            return [make(r) for r in fetched]
        processors = self.results
        return [make([p(v) if p is not None else v for p, v in zip(processors, r, strict=True)])
                for r in fetched]


_PREPARED: dict[tuple[int, str, str, tuple[str, ...] | None], tuple[Executable, Prepared]] = {}


def prepared(statement: Executable, dialect: Dialect, params: Params) -> Prepared:
    """The statement's :class:`Prepared` for this dialect (an INSERT's for these columns)."""
    keys = tuple(params) if params and isinstance(statement, ValuesBase) else None
    key = (id(statement), dialect.name, dialect.paramstyle, keys)
    found = _PREPARED.get(key)
    if found is None or found[0] is not statement:
        found = _PREPARED[key] = (statement, Prepared.compile(statement, dialect, keys))
    return found[1]


def _announce(sql: str) -> None:
    for hook in STATEMENT_HOOKS:
        hook(sql)


@dataclass(frozen=True)
class Statement:
    """A statement and its parameters, as a request hands it to a :class:`Batcher`. ``required`` (a
    write): the request's later writes are skipped unless this one changed a row (using a nonce up:
    the records only if the nonce was usable)."""

    statement: Executable
    params: Params = None
    required: bool = False


class CheckDb(Protocol):
    dialect: str

    async def execute(self, statement: Executable, params: Params = None) -> Rows: ...

    async def commit(self) -> None: ...

    async def read(self, statement: Executable, params: Params = None) -> Rows:
        """A read that needs no earlier statement of the request: on PostgreSQL sent in one round trip
        with the reads and writes of other requests of this process (:class:`Batcher`); on SQLite
        ``execute``."""
        ...

    async def write(self, *writes: Statement) -> list[Rows]:
        """``writes`` in order, committed together with the writes other requests of this process
        made meanwhile (:class:`Batcher`); back once committed. Their rows, one per write run
        (fewer if a required one changed nothing)."""
        ...


Unit = tuple[tuple[Statement, ...], "asyncio.Future[list[Rows]]"]


class Batcher:
    """The statements of the requests that reach this point in the same turn of the event loop,
    sent to the database together by ``flush``, each request resuming with its own rows.

    - **Writes: group commit.** One transaction for the batch, each request answered only once it
      is committed (as durable as one commit per request). A commit costs SQLite a WAL append and
      PostgreSQL a WAL flush the backend waits for; under load a batch shares one among several checks.
    - **PostgreSQL: reads and writes together.** One pipeline, i.e. one round trip and one
      transaction for the batch's statements, reads and writes alike: the socket writes and wake-ups
      of a round trip cost more than PostgreSQL's work on a check's statement.

    A batch that fails runs again one request at a time (writes: after the rollback), so the
    failure is the failing request's alone."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 flush: Callable[[list[Unit]], Any], max_in_flight: int = 1) -> None:
        self.loop = loop
        self.flush = flush  # runs a batch (a coroutine function on PostgreSQL) and settles its futures
        self.max_in_flight = max_in_flight
        self.pending: list[Unit] = []
        self.in_flight = 0
        self.scheduled = False
        self.batches = self.units = 0  # how many batches, of how many requests (benchmarks)
        self.running: set[asyncio.Task[None]] = set()  # (the loop keeps only weak references)

    async def submit(self, statements: tuple[Statement, ...]) -> list[Rows]:
        future: asyncio.Future[list[Rows]] = self.loop.create_future()
        self.pending.append((statements, future))
        self._schedule()
        return await future

    def _schedule(self) -> None:
        if not self.scheduled and self.pending and self.in_flight < self.max_in_flight:
            self.scheduled = True
            self.loop.call_soon(self._start)  # after the requests already running this turn

    def _start(self) -> None:
        self.scheduled = False
        batch, self.pending = self.pending, []
        if not batch:
            return
        self.batches += 1
        self.units += len(batch)
        self.in_flight += 1
        outcome = self.flush(batch)
        if asyncio.iscoroutine(outcome):
            task = self.loop.create_task(self._finish(outcome))
            self.running.add(task)
            task.add_done_callback(self.running.discard)
        else:
            self._done()

    async def _finish(self, running: Any) -> None:
        try:
            await running
        finally:
            self._done()

    def _done(self) -> None:
        self.in_flight -= 1
        self._schedule()


def _settle(batch: list[Unit], results: list[list[Rows]]) -> None:
    for (_, future), rows in zip(batch, results, strict=True):
        if not future.done():  # (a request cancelled meanwhile: its writes are kept all the same)
            future.set_result(rows)


def _fail(unit: Unit, exc: BaseException) -> None:
    if not unit[1].done():
        unit[1].set_exception(exc)


class SyncDb:
    """SQLite: the driver's connection (one of this process's, :func:`_sqlite_connection`), taken at the
    first statement and given back at the commit. Nothing between them awaits, so a server process
    holds one at a time."""

    dialect = "sqlite"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection: Any | None = None

    async def execute(self, statement: Executable, params: Params = None) -> Rows:
        if self.connection is None:
            self.connection = _take_sqlite(self.engine)
        return _sqlite_statement(self.connection, self.engine.dialect, Statement(statement, params))

    async def commit(self) -> None:
        if self.connection is not None:
            if STATEMENT_HOOKS:
                _announce("COMMIT")
            self.connection.commit()
            self.close()

    async def read(self, statement: Executable, params: Params = None) -> Rows:
        return await self.execute(statement, params)

    async def write(self, *writes: Statement) -> list[Rows]:
        if self.connection is not None and self.connection.in_transaction:
            raise RuntimeError("commit the request's own writes before a group-committed write")
        self.close()  # the batch takes a connection of its own
        return await _sqlite_group(self.engine).submit(writes)

    def close(self) -> None:
        """Gives the connection back (rolling back what was not committed)."""
        if self.connection is not None:
            SyncDb.give_back(self.engine, self.connection)
            self.connection = None

    @staticmethod
    def give_back(engine: Engine, connection: Any) -> None:
        if connection.in_transaction:
            connection.rollback()
        idle = _SQLITE_IDLE.get(engine)
        if idle is not None:  # (None: the engine was disposed meanwhile, the connection closed)
            idle.append(connection)


# Weakly keyed: an engine nobody uses any more (a test's) takes its connections with it.
_SQLITE_IDLE: weakref.WeakKeyDictionary[Engine, list[Any]] = weakref.WeakKeyDictionary()


def _take_sqlite(engine: Engine) -> Any:
    """An idle driver connection of this engine, or a new one from the engine's pool (so with its
    pragmas), kept out of the pool for the hot path from then on (closed when the engine is disposed)."""
    idle = _SQLITE_IDLE.get(engine)
    if idle:
        return idle.pop()
    if engine not in _SQLITE_IDLE:
        _SQLITE_IDLE[engine] = []
        event.listen(engine, "engine_disposed", _forget_sqlite)
    proxied = engine.raw_connection()
    connection = proxied.driver_connection
    _HELD.setdefault(engine, []).append(proxied)
    return connection


_HELD: weakref.WeakKeyDictionary[Engine, list[Any]] = weakref.WeakKeyDictionary()
_SQLITE_GROUPS: weakref.WeakKeyDictionary[Engine, Batcher] = weakref.WeakKeyDictionary()


def _sqlite_group(engine: Engine) -> Batcher:
    loop = asyncio.get_running_loop()
    group = _SQLITE_GROUPS.get(engine)
    if group is None or group.loop is not loop:
        group = _SQLITE_GROUPS[engine] = Batcher(loop, lambda batch: _flush_sqlite(engine, batch))
    return group


def _sqlite_statement(connection: Any, dialect: Dialect, statement: Statement) -> Rows:
    plan = prepared(statement.statement, dialect, statement.params)
    if STATEMENT_HOOKS:
        _announce(plan.sql)
    cursor = connection.execute(plan.sql, plan.parameters(statement.params))
    return Rows(plan.rows(cursor.fetchall()) if plan.row is not None else [], cursor.rowcount)


def _run_sqlite(connection: Any, dialect: Dialect, writes: tuple[Statement, ...]) -> list[Rows]:
    """A request's writes, in order, in the batch's transaction."""
    out = []
    for write in writes:
        out.append(rows := _sqlite_statement(connection, dialect, write))
        if write.required and rows.rowcount != 1:
            break
    return out


SQLITE_LOCK_RETRY_SECONDS = 0.0005


def _begin_immediate(connection: Any) -> bool:
    """The database's write lock now, or False at once if another server process holds it.

    SQLite's own busy handler would wait inside the call, sleeping 1, 2, 5 … 100 ms at a time with the
    whole event loop stopped, while the other process holds the lock for a fraction of a millisecond;
    :func:`_flush_sqlite` waits in the event loop instead (and more writes join the batch meanwhile)."""
    connection.execute("PRAGMA busy_timeout=0")
    try:
        connection.execute("BEGIN IMMEDIATE")
        return True
    except sqlite3.OperationalError as exc:
        if connection.in_transaction or "locked" not in str(exc):
            raise
        return False
    finally:
        connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


async def _flush_sqlite(engine: Engine, batch: list[Unit]) -> None:
    """The batch in one transaction on the event loop (SQLite is CPU work here, see the module's
    docstring) once the write lock is free; on failure each request's writes alone."""
    connection = _take_sqlite(engine)
    try:
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        try:
            while not _begin_immediate(connection):
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError("database is locked")
                await asyncio.sleep(SQLITE_LOCK_RETRY_SECONDS)
        except Exception as exc:
            for unit in batch:
                _fail(unit, exc)
            return
        try:
            results = [_run_sqlite(connection, engine.dialect, writes) for writes, _ in batch]
            if STATEMENT_HOOKS:
                _announce("COMMIT")
            connection.commit()
        except Exception as exc:
            connection.rollback()
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            for unit in batch:
                try:
                    rows = _run_sqlite(connection, engine.dialect, unit[0])
                    connection.commit()
                except Exception as alone:
                    connection.rollback()
                    _fail(unit, alone)
                else:
                    _settle([unit], [rows])
            return
    finally:
        SyncDb.give_back(engine, connection)  # (rolled back if need be)
    _settle(batch, results)


def _forget_sqlite(engine: Engine) -> None:
    _SQLITE_IDLE.pop(engine, None)
    for proxied in _HELD.pop(engine, []):
        proxied.invalidate()  # closes the driver connection


class AsyncDb:
    """PostgreSQL: an autocommit async connection; every statement stands alone (and is atomic). Taken
    from the pool at the first statement, given back before a group-committed write and at the end.
    Statements go through :mod:`server.storage.pgpipe` (``dialect``: the engine's, compiling to
    libpq's ``$n`` placeholders)."""

    dialect = "postgresql"

    def __init__(self, pool: PgPool, sa_dialect: Dialect) -> None:
        self.pool = pool
        self.sa_dialect = sa_dialect
        self.connection: psycopg.AsyncConnection[Any] | None = None

    async def execute(self, statement: Executable, params: Params = None) -> Rows:
        if self.connection is None:
            self.connection = await self.pool.take()
        ((rows,),) = await _pipelined(self.connection, self.sa_dialect, [(Statement(statement, params),)])
        return rows

    async def release(self) -> None:
        if self.connection is not None:
            connection, self.connection = self.connection, None
            await self.pool.give_back(connection)

    async def commit(self) -> None:
        """Nothing to do: autocommit."""

    async def read(self, statement: Executable, params: Params = None) -> Rows:
        (rows,) = await self._batched((Statement(statement, params),))
        return rows

    async def write(self, *writes: Statement) -> list[Rows]:
        return await self._batched(writes)

    async def _batched(self, statements: tuple[Statement, ...]) -> list[Rows]:
        await self.release()  # a request waiting for its batch holds no connection the batch needs
        pool, dialect = self.pool, self.sa_dialect
        if pool.batches is None:
            pool.batches = Batcher(pool.loop, lambda batch: _run_pg(pool, dialect, batch),
                                   max_in_flight=PG_BATCHES_IN_FLIGHT)
        return await pool.batches.submit(statements)


# Batches in flight at once per server process: while one waits for its answer, the next gathers.
PG_BATCHES_IN_FLIGHT = 4

_NUMBERED: dict[int, tuple[Dialect, Dialect]] = {}


def numbered(dialect: Dialect) -> Dialect:
    """The engine's PostgreSQL dialect, compiling placeholders as libpq's own ``$1, $2 …``."""
    found = _NUMBERED.get(id(dialect))
    if found is None or found[0] is not dialect:
        copied = copy.copy(dialect)
        copied.paramstyle, copied.positional = "numeric_dollar", True
        found = _NUMBERED[id(dialect)] = (dialect, copied)
    return found[1]


async def _pipelined(connection: psycopg.AsyncConnection[Any], dialect: Dialect,
                     sends: list[tuple[Statement, ...]]) -> list[list[Rows]]:
    """``sends`` (each a request's statements) in one round trip and one transaction; their rows, per
    send. Raises the first failure (then nothing of them is kept)."""
    plans = [[(prepared(s.statement, dialect, s.params), s.params) for s in send] for send in sends]
    items = [(plan.encoded, plan.parameters(params)) for send in plans for plan, params in send]
    if STATEMENT_HOOKS:
        for send in plans:
            for plan, _ in send:
                _announce(plan.sql)
    outcomes = iter(await pgpipe.run(connection, items))
    out: list[list[Rows]] = []
    for send in plans:
        rows = []
        for plan, _ in send:
            outcome = next(outcomes)
            if isinstance(outcome, Exception):
                raise outcome
            fetched, count = outcome
            rows.append(Rows(plan.rows(fetched) if plan.row is not None else [], count))
        out.append(rows)
    return out


async def _in_order(connection: psycopg.AsyncConnection[Any], dialect: Dialect,
                    statements: tuple[Statement, ...]) -> list[Rows]:
    """A request with a required write: its statements one round trip each, in a transaction, up to a
    required one that changed no row."""
    await pgpipe.run(connection, [(b"BEGIN", ())])
    try:
        out = []
        for statement in statements:
            ((rows,),) = await _pipelined(connection, dialect, [(statement,)])
            out.append(rows)
            if statement.required and rows.rowcount != 1:
                break
    except Exception:
        if not connection.closed:
            await pgpipe.run(connection, [(b"ROLLBACK", ())])
        raise
    if STATEMENT_HOOKS:
        _announce("COMMIT")
    await pgpipe.run(connection, [(b"COMMIT", ())])
    return out


def _coalesced(units: list[Unit]) -> tuple[list[tuple[Statement, ...]], list[int | None]]:
    """What to send for ``units``: the requests' statements, except that the single-row inserts of the
    same table and columns (the access records of number checks, the nonces of challenges) go as one
    multi-row INSERT: one statement for PostgreSQL to run instead of one each. Per unit, the index
    of its answer among the sends (None: one row inserted by a multi-row INSERT)."""
    groups: dict[tuple[int, tuple[str, ...]], list[int]] = {}
    for i, (statements, _) in enumerate(units):
        if len(statements) == 1 and (row := _single_row_insert(statements[0])) is not None:
            groups.setdefault(row, []).append(i)
    merged = {i for members in groups.values() if len(members) > 1 for i in members}
    sends: list[tuple[Statement, ...]] = []
    answers: list[int | None] = []
    for i, (statements, _) in enumerate(units):
        answers.append(None if i in merged else len(sends))
        if i not in merged:
            sends.append(statements)
    for members in groups.values():
        for start in range(0, len(members), MAX_ROWS_PER_INSERT) if len(members) > 1 else ():
            rows = [units[i][0][0] for i in members[start:start + MAX_ROWS_PER_INSERT]]
            sends.append((_multi_row_insert(rows),))
    return sends, answers


# A multi-row INSERT is prepared once per row count (on every connection): a few sizes, not hundreds.
MAX_ROWS_PER_INSERT = 16


def _single_row_insert(statement: Statement) -> tuple[int, tuple[str, ...]] | None:
    """(statement, columns) of a plain one-row INSERT of bound values (no RETURNING), else None."""
    if (isinstance(statement.statement, Insert) and not statement.required and statement.params
            and not statement.statement._returning and statement.statement._values is None):
        return id(statement.statement), tuple(statement.params)
    return None


_MULTI_ROW: dict[tuple[int, tuple[str, ...], int], tuple[Insert, Insert]] = {}


def _multi_row_insert(rows: list[Statement]) -> Statement:
    """One INSERT of the rows of single-row inserts of one statement and the same columns."""
    single = cast(Insert, rows[0].statement)
    columns = tuple(rows[0].params or {})
    key = (id(single), columns, len(rows))
    found = _MULTI_ROW.get(key)
    if found is None or found[0] is not single:
        table = single.table
        multi = single.values([{c: bindparam(f"{c}__{n}", type_=table.c[c].type) for c in columns}
                               for n in range(len(rows))])
        found = _MULTI_ROW[key] = (single, multi)
    params = {f"{c}__{n}": v for n, row in enumerate(rows) for c, v in (row.params or {}).items()}
    return Statement(found[1], params)


async def _run_pg(pool: PgPool, dialect: Dialect, batch: list[Unit]) -> None:
    """A batch on one connection: one pipeline (:mod:`server.storage.pgpipe`), i.e. one round trip and
    one transaction, so one WAL flush for its writes. A request with a required write goes on its own
    (:func:`_in_order`). A batch that fails runs again one request at a time."""
    try:
        connection = await pool.take()
    except Exception as exc:
        for unit in batch:
            _fail(unit, exc)
        return
    try:
        together = [unit for unit in batch if not _in_order_only(unit)]
        if together:
            try:
                _settle(together, await _together(connection, dialect, together))
            except Exception as exc:
                if len(together) == 1:
                    _fail(together[0], exc)
                else:
                    for unit in together:  # one at a time: the failure is the failing request's
                        await _alone(connection, dialect, unit)
        for unit in batch:
            if _in_order_only(unit):
                await _alone(connection, dialect, unit)
    finally:
        await pool.give_back(connection)


def _in_order_only(unit: Unit) -> bool:
    return any(s.required for s in unit[0])


async def _together(connection: psycopg.AsyncConnection[Any], dialect: Dialect, units: list[Unit]
                    ) -> list[list[Rows]]:
    sends, answers = _coalesced(units)
    received = await _pipelined(connection, dialect, sends)
    if STATEMENT_HOOKS and (len(units) > 1 or len(units[0][0]) > 1):
        _announce("COMMIT")  # (the Sync ending the pipeline; a request's one statement: autocommit)
    return [received[i] if i is not None else [Rows([], 1)] for i in answers]


async def _alone(connection: psycopg.AsyncConnection[Any], dialect: Dialect, unit: Unit) -> None:
    try:
        if _in_order_only(unit):
            rows = await _in_order(connection, dialect, unit[0])
        else:
            (rows,) = await _together(connection, dialect, [unit])
    except Exception as exc:
        _fail(unit, exc)
    else:
        _settle([unit], [rows])


IDLE_PING_SECONDS = 10.0


class PgPool:
    """A few autocommit connections for one database, schema and event loop.

    ``pool_pre_ping`` would cost a round trip at every checkout, i.e. per check: as much as one of the
    check's own statements. A connection is pinged only after ``IDLE_PING_SECONDS`` unused; a dead one
    (PostgreSQL restarted) is replaced before the request uses it; a broken one is not given back."""

    def __init__(self, conninfo: str, loop: asyncio.AbstractEventLoop) -> None:
        self.conninfo = conninfo
        self.loop = loop
        self.idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []
        self.size = 0
        self.waiters: list[asyncio.Future[None]] = []
        self.batches: Batcher | None = None  # the hot path's reads and writes

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)

    async def take(self) -> psycopg.AsyncConnection[Any]:
        while True:
            while self.idle:
                connection, since = self.idle.pop()
                if time.monotonic() - since < IDLE_PING_SECONDS:
                    return connection
                try:
                    await connection.execute("SELECT 1")
                    return connection
                except psycopg.Error:
                    self.size -= 1
                    await connection.close()
            if self.size < PG_POOL_SIZE:
                self.size += 1
                try:
                    return await self._connect()
                except BaseException:
                    self.size -= 1
                    raise
            waiter = self.loop.create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self.waiters:
                    self.waiters.remove(waiter)

    async def give_back(self, connection: psycopg.AsyncConnection[Any]) -> None:
        if connection.closed or connection.broken:
            self.size -= 1
        elif connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            self.size -= 1  # a statement cut short (the request was cancelled): not reused
            await connection.close()
        else:
            self.idle.append((connection, time.monotonic()))
        while self.waiters:
            waiter = self.waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                break


# Every hot-path statement is a lookup by an indexed key. A statement's plan is made once per
# connection and kept (prepared, generic): made while a table was nearly empty (a fresh server's
# nonces), it scanned the whole table at every check ever after — at 15 000 nonces, 7 500 rows read
# per card check and the database's CPU per request tripled within one 8 s run (benchmarks/README.md).
PG_SESSION_OPTIONS = "-cenable_seqscan=off"

_POOLS: dict[tuple[str, str | None], PgPool] = {}


def pg_pool(url: str, schema: str | None) -> PgPool:
    """This process's pool for ``url`` (bound to the running event loop)."""
    loop = asyncio.get_running_loop()
    pool = _POOLS.get((url, schema))
    if pool is None or pool.loop is not loop:
        libpq_url = make_url(normalize_url(url)).set(drivername="postgresql")
        options = PG_SESSION_OPTIONS + (f" -csearch_path={schema}" if schema else "")
        conninfo = make_conninfo(libpq_url.render_as_string(hide_password=False), options=options)
        pool = _POOLS[(url, schema)] = PgPool(conninfo, loop)
    return pool


def open_check_db(engine: Engine, url: str, schema: str | None) -> SyncDb | AsyncDb:
    """The request's :class:`CheckDb`: SQLite's connection, or an async one on PostgreSQL; give it back
    with :func:`close_check_db`."""
    if engine.dialect.name != "postgresql":
        return SyncDb(engine)
    return AsyncDb(pg_pool(url, schema), numbered(engine.dialect))


async def close_check_db(db: CheckDb) -> None:
    """Gives the request's connection back (what it did not commit is rolled back)."""
    if isinstance(db, SyncDb):
        db.close()
    elif isinstance(db, AsyncDb):
        await db.release()


@asynccontextmanager
async def check_db(engine: Engine, url: str, schema: str | None) -> AsyncIterator[CheckDb]:
    """:func:`open_check_db` … :func:`close_check_db`."""
    db = open_check_db(engine, url, schema)
    try:
        yield db
    finally:
        await close_check_db(db)
