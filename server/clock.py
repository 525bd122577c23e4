"""The simulated clock: frozen at a moment, or running from an anchor.

Pure value type; ``server.state`` persists it so every server process shares one clock.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator

from onshi.timeutil import JST


def aware_jst(moment: datetime) -> datetime:
    """A moment in JST; a naive one is taken to be JST wall time already."""
    return moment.replace(tzinfo=JST) if moment.tzinfo is None else moment.astimezone(JST)


# "Always known": registry facts loaded as history rather than as events.
EPOCH = datetime(2000, 1, 1, tzinfo=JST)

# The moments the simulated clock can show: every part of the system can represent them (message
# dates YYYYMMDD, certificates and CRLs signed "now", card expiry ten birthdays ahead, registry
# facts visible from EPOCH). Before EPOCH nothing is registered yet; after LAST the ten-year card
# and certificate dates would leave what the messages and the CA can carry.
FIRST = EPOCH
LAST = datetime(2099, 12, 31, 23, 59, 59, tzinfo=JST)
FIRST_DAY, LAST_DAY = FIRST.date(), LAST.date()
RANGE_TEXT = "2000-01-01T00:00:00+09:00 … 2099-12-31T23:59:59+09:00"
MAX_ADVANCE_SECONDS = (LAST - FIRST).total_seconds()


class ClockRangeError(ValueError):
    """A moment the simulated clock cannot show; the message says the supported range (ja / en)."""


def out_of_range(what: str) -> ClockRangeError:
    return ClockRangeError(f"{what}: 模擬時刻は {RANGE_TEXT} の範囲で指定してください"
                           f" / {what}: the simulated clock supports {RANGE_TEXT} only")


def supported(moment: datetime) -> datetime:
    """``moment`` in JST if the simulated clock can show it; else ``ClockRangeError``."""
    try:
        local = aware_jst(moment)
    except (OverflowError, ValueError) as exc:  # astimezone past year 1 or 9999
        raise out_of_range(moment.isoformat()) from exc
    if not FIRST <= local <= LAST:
        raise out_of_range(local.isoformat())
    return local


def supported_day(day: date) -> date:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ClockRangeError(f"{day.isoformat()}: 日付は {FIRST_DAY} 〜 {LAST_DAY} の範囲で指定してください"
                              f" / {day.isoformat()}: dates from {FIRST_DAY} to {LAST_DAY} only")
    return day


# For API models: a moment (or day) in the supported range, refused with a clear 400 otherwise.
SimulatedMoment = Annotated[datetime, AfterValidator(supported)]
SimulatedDay = Annotated[date, AfterValidator(supported_day)]


def clamp(moment: datetime) -> datetime:
    return min(max(moment, FIRST), LAST)


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
        """The simulated moment; a running clock stops at ``LAST`` (it never leaves the range)."""
        if self.frozen:
            return clamp(self.anchor)
        elapsed = (time.time() if real is None else real) - self.anchor_real
        if not math.isfinite(elapsed) or abs(elapsed) > MAX_ADVANCE_SECONDS:
            return LAST if elapsed > 0 else FIRST
        return clamp(self.anchor + timedelta(seconds=elapsed))

    def set(self, moment: datetime, *, frozen: bool | None = None) -> SimulatedClock:
        """Jumps to ``moment``; ``ClockRangeError`` outside the supported range."""
        return SimulatedClock(
            anchor=supported(moment),
            anchor_real=time.time(),
            frozen=self.frozen if frozen is None else frozen,
        )

    def advance(self, seconds: float) -> SimulatedClock:
        """Moves by ``seconds`` (negative: back); ``ClockRangeError`` if that leaves the range."""
        if not math.isfinite(seconds) or abs(seconds) > MAX_ADVANCE_SECONDS:
            raise out_of_range(f"advance_seconds={seconds}")
        return self.set(self.now() + timedelta(seconds=seconds))

    def freeze(self, frozen: bool) -> SimulatedClock:
        return replace(self.set(self.now()), frozen=frozen)

    def to_json(self) -> dict[str, Any]:
        return {"anchor": self.anchor.isoformat(), "anchor_real": self.anchor_real, "frozen": self.frozen}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SimulatedClock:
        # clamp: a clock stored by an older version outside the range still reads
        return cls(
            anchor=clamp(aware_jst(datetime.fromisoformat(data["anchor"]))),
            anchor_real=float(data["anchor_real"]),
            frozen=bool(data["frozen"]),
        )
