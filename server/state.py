"""Shared server state kept in the database (clock, faults, CA), cached briefly per process."""

from __future__ import annotations

import json
import random
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from server.clock import SimulatedClock, aware_jst
from server.storage.database import insert_on_conflict
from server.storage.tables import Setting

CACHE_SECONDS = 0.25
STALE_SECONDS = 1.0
SETTING: Table = Setting.__table__  # type: ignore[attr-defined]


FAULT_KINDS = ("outage", "latency", "error", "timeout", "link_cut")
FAULT_CHANNELS = ("any", "clinic", "reader")  # clinic: number/bulk/medical-info; reader: card checks


@dataclass(frozen=True)
class FaultRule:
    """One scheduled or scoped fault (F13), added beside the global ``outage``/``latency_ms``.

    ``clinic`` limits it to one medical institution (None: every clinic); ``start``/``end`` are ISO
    moments on the *simulated* clock (None: open-ended); ``channel`` picks the link: ``clinic`` is the
    reception PC's traffic (number, bulk, medical info), ``reader`` the card checks the reader sends.
    ``rate`` (0–1) makes ``error``/``timeout`` hit only some requests, decided by ``seed`` and the
    request's sequence number under the rule, so a run repeats exactly.
    """

    id: str
    kind: str
    clinic: str | None = None
    channel: str = "any"
    start: str | None = None
    end: str | None = None
    latency_ms: int = 0
    rate: float = 1.0
    status: int = 503
    hold_ms: int = 10_000
    seed: int = 0
    note: str = ""

    def active_at(self, now: datetime) -> bool:
        if self.start and now < aware_jst(datetime.fromisoformat(self.start)):
            return False
        return not (self.end and now >= aware_jst(datetime.fromisoformat(self.end)))

    def applies(self, now: datetime, clinic: str | None, channel: str) -> bool:
        if self.clinic and self.clinic != clinic:
            return False
        if self.channel != "any" and self.channel != channel:
            return False
        return self.active_at(now)

    def hits(self, sequence: int) -> bool:
        """Whether the ``sequence``-th request under this rule is hit (deterministic for the seed)."""
        if self.rate >= 1:
            return True
        if self.rate <= 0:
            return False
        return random.Random(f"{self.seed}:{self.id}:{sequence}").random() < self.rate


@dataclass(frozen=True)
class FaultEffect:
    """What the middleware does to one request."""

    latency_ms: int = 0
    outage: bool = False
    error_status: int | None = None
    timeout_ms: int | None = None
    link_cut: bool = False
    rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class Faults:
    """Central-system faults (F13): an outage answers 503, latency delays every answer; ``rules``
    add error rates, timeouts, cut links, per clinic and scheduled on the simulated clock."""

    outage: bool = False
    latency_ms: int = 0
    rules: tuple[FaultRule, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"outage": self.outage, "latency_ms": self.latency_ms,
                "rules": [asdict(rule) for rule in self.rules]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Faults:
        rules = tuple(FaultRule(**r) for r in data.get("rules") or ())
        return cls(outage=bool(data.get("outage", False)), latency_ms=int(data.get("latency_ms", 0)),
                   rules=rules)

    def active(self, now: datetime) -> list[FaultRule]:
        return [r for r in self.rules if r.active_at(now)]

    def effect(self, now: datetime, clinic: str | None, channel: str,
               sequence: Callable[[FaultRule], int] = lambda rule: 0) -> FaultEffect:
        """The combined effect on one request; ``sequence`` numbers the requests under each rule."""
        latency, outage = self.latency_ms, self.outage
        error: int | None = None
        timeout: int | None = None
        cut = False
        hit: list[str] = []
        for rule in self.rules:
            if not rule.applies(now, clinic, channel):
                continue
            if rule.kind == "latency":
                latency += rule.latency_ms
            elif rule.kind == "outage":
                outage = True
            elif rule.kind == "link_cut":
                cut = True
            elif rule.kind in ("error", "timeout"):
                if not rule.hits(sequence(rule)):
                    continue
                if rule.kind == "error" and error is None:
                    error = rule.status
                elif rule.kind == "timeout" and timeout is None:
                    timeout = rule.hold_ms
            else:
                continue
            hit.append(rule.id)
        return FaultEffect(latency, outage, error, timeout, cut, tuple(hit))


class SharedState:
    """Reads and writes go through one connection of this process's own, under a lock: a request
    that already holds a pooled connection never waits for a second one (with every pool thread doing
    that, the pool ran dry and the process deadlocked under load).

    Once a key has been read, a background thread of this process re-reads every known key every
    0.2 s (one statement), so requests take the values from memory: no request, and so no event
    loop, waits for the database to learn the clock or the faults (on PostgreSQL under load that wait
    was a round trip several times a second, and /health stalled behind it). The values stay at most
    ``CACHE_SECONDS`` old, as before; if the thread stops, reads fall back to reading themselves."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cache: dict[str, tuple[float, Any]] = {}
        # The clock and the faults as objects, made again only when their stored value is a new one
        # (a refresh or a write): every request asks for both.
        self._objects: dict[str, tuple[Any, Any]] = {}
        self._lock = threading.Lock()
        self._connection: Connection | None = None
        self._refresher: threading.Thread | None = None
        self._refreshed_at = 0.0

    def _run(self, work: Callable[[Connection], Any]) -> Any:
        """``work`` in a transaction of the state connection (reconnecting once if it was lost)."""
        with self._lock:
            for attempt in (1, 2):
                if self._connection is None or self._connection.closed:
                    self._connection = self.engine.connect()
                try:
                    with self._connection.begin():
                        return work(self._connection)
                except DBAPIError as exc:
                    if attempt == 2 or not exc.connection_invalidated:
                        raise
                    self._connection.close()
                    self._connection = None
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, key: str) -> Any:
        hit = self._cache.get(key)
        # With the refresher running, a value waits for its next refresh (0.2 s, longer on a busy
        # machine) rather than making this request read it; a stuck refresher is not waited for long.
        if hit and time.monotonic() - hit[0] < (STALE_SECONDS if self._refresher else CACHE_SECONDS):
            return hit[1]
        row = self._run(lambda connection: connection.execute(
            select(SETTING.c.value).where(SETTING.c.key == key)).first())
        value = json.loads(row.value) if row else None
        self._cache[key] = (time.monotonic(), value)
        if self._refresher is None:
            self._refresher = threading.Thread(target=_refresh_loop, args=(weakref.ref(self),),
                                               name="shared-state-refresher", daemon=True)
            self._refresher.start()
        return value

    def _refresh(self) -> None:
        """Re-reads every known key in one statement; the cache is updated under the lock, so a write
        of this process (also under the lock) is never overwritten by an older read."""
        keys = list(self._cache)
        if not keys:
            return

        def work(connection: Connection) -> None:
            rows = connection.execute(select(SETTING.c.key, SETTING.c.value).where(SETTING.c.key.in_(keys)))
            values = {row.key: json.loads(row.value) for row in rows}
            now = time.monotonic()
            for key in keys:
                self._cache[key] = (now, values.get(key))

        self._run(work)

    def _write(self, key: str, value: Any) -> None:
        text = json.dumps(value, ensure_ascii=False)
        # One upsert statement: safe when several server processes write at once.
        statement = insert_on_conflict(self.engine.dialect.name)(Setting).values(key=key, value=text)
        statement = statement.on_conflict_do_update(index_elements=["key"], set_={"value": text})
        self._run(lambda connection: connection.execute(statement))
        self._cache[key] = (time.monotonic(), value)

    def _object(self, key: str, data: Any, make: Callable[[Any], Any]) -> Any:
        known = self._objects.get(key)
        if known is not None and known[0] is data:
            return known[1]
        made = make(data)
        self._objects[key] = (data, made)
        return made

    @property
    def clock(self) -> SimulatedClock:
        data = self._read("clock")
        if not data:
            return SimulatedClock.real_time()
        clock: SimulatedClock = self._object("clock", data, SimulatedClock.from_json)
        return clock

    @clock.setter
    def clock(self, value: SimulatedClock) -> None:
        self._write("clock", value.to_json())

    @property
    def faults(self) -> Faults:
        data = self._read("faults")
        if not data:
            return Faults()
        faults: Faults = self._object("faults", data, Faults.from_json)
        return faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._write("faults", value.to_json())

    def get(self, key: str) -> Any:
        return self._read(key)

    def put(self, key: str, value: Any) -> None:
        self._write(key, value)


REFRESH_SECONDS = 0.2  # < CACHE_SECONDS: a refresh lands before the values it replaces expire


def _refresh_loop(ref: weakref.ref[SharedState]) -> None:
    """The refresher thread: stops when its state is gone or the database fails (reads then refresh
    themselves, as before)."""
    while True:
        time.sleep(REFRESH_SECONDS)
        state = ref()
        if state is None:
            return
        try:
            state._refresh()
        except Exception:  # the database went away: fall back to reading on demand
            state._refresher = None
            return
        del state
