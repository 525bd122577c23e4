"""The simulated clock: frozen at a moment, or running from an anchor.

Pure value type; ``server.state`` persists it so every server process shares one clock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from onshi.timeutil import JST


def aware_jst(moment: datetime) -> datetime:
    """A moment in JST; a naive one is taken to be JST wall time already."""
    return moment.replace(tzinfo=JST) if moment.tzinfo is None else moment.astimezone(JST)


# "Always known": registry facts loaded as history rather than as events.
EPOCH = datetime(2000, 1, 1, tzinfo=JST)


@dataclass(frozen=True)
class SimulatedClock:
    anchor: datetime  # simulated time at ``anchor_real``
    anchor_real: float  # wall-clock seconds (time.time) when the anchor was set
    frozen: bool = False

    @classmethod
    def real_time(cls) -> SimulatedClock:
        now = time.time()
        return cls(anchor=datetime.fromtimestamp(now, JST), anchor_real=now)

    def now(self, real: float | None = None) -> datetime:
        if self.frozen:
            return self.anchor
        elapsed = (time.time() if real is None else real) - self.anchor_real
        return self.anchor + timedelta(seconds=elapsed)

    def set(self, moment: datetime, *, frozen: bool | None = None) -> SimulatedClock:
        return SimulatedClock(
            anchor=aware_jst(moment),
            anchor_real=time.time(),
            frozen=self.frozen if frozen is None else frozen,
        )

    def advance(self, seconds: float) -> SimulatedClock:
        return self.set(self.now() + timedelta(seconds=seconds))

    def freeze(self, frozen: bool) -> SimulatedClock:
        return replace(self.set(self.now()), frozen=frozen)

    def to_json(self) -> dict[str, Any]:
        return {"anchor": self.anchor.isoformat(), "anchor_real": self.anchor_real, "frozen": self.frozen}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SimulatedClock:
        return cls(
            anchor=aware_jst(datetime.fromisoformat(data["anchor"])),
            anchor_real=float(data["anchor_real"]),
            frozen=bool(data["frozen"]),
        )
