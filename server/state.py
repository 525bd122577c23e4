"""Shared server state kept in the database (clock, faults, CA), cached briefly per process."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from server.clock import SimulatedClock
from server.storage.tables import Setting

CACHE_SECONDS = 0.25


@dataclass(frozen=True)
class Faults:
    """Central-system faults (F13): an outage answers 503, latency delays every answer."""

    outage: bool = False
    latency_ms: int = 0


class SharedState:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cache: dict[str, tuple[float, Any]] = {}

    def _read(self, key: str) -> Any:
        hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        with Session(self.engine) as session:
            row = session.get(Setting, key)
            value = json.loads(row.value) if row else None
        self._cache[key] = (time.monotonic(), value)
        return value

    def _write(self, key: str, value: Any) -> None:
        with Session(self.engine) as session:
            row = session.get(Setting, key)
            text = json.dumps(value, ensure_ascii=False)
            if row:
                row.value = text
            else:
                session.add(Setting(key=key, value=text))
            session.commit()
        self._cache[key] = (time.monotonic(), value)

    @property
    def clock(self) -> SimulatedClock:
        data = self._read("clock")
        return SimulatedClock.from_json(data) if data else SimulatedClock.real_time()

    @clock.setter
    def clock(self, value: SimulatedClock) -> None:
        self._write("clock", value.to_json())

    @property
    def faults(self) -> Faults:
        data = self._read("faults")
        return Faults(**data) if data else Faults()

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._write("faults", asdict(value))

    def get(self, key: str) -> Any:
        return self._read(key)

    def put(self, key: str, value: Any) -> None:
        self._write(key, value)
