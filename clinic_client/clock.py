"""The clinic side's one clock: the server's simulated now (``GET /api/v1/health``).

Everything a person or a file on the clinic side sees (the console's pages, the request's
QualificationConfirmationDate, the 申立書's date, `onshi check` output) is dated by the server's
simulated clock, never by this PC's, so a rehearsal on 2026-11-24 09:00 says 2026-11-24 09:00
everywhere. ``/health`` is public and untouched by the check faults (an outage still answers it);
only when the server cannot be reached at all does the clock fall back to the PC's time, and it
says so in the log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta

import httpx

from onshi.timeutil import JST

log = logging.getLogger("onshi.clock")


class ServerClock:
    """``now()`` on the server's simulated clock; one ``/health`` call per ``cache_seconds`` at most.

    Between calls the clock runs on from the last answer (unless the server said it is frozen), so
    a page that asks twice in a second does not ask the server twice.
    """

    def __init__(
        self,
        server_url: str,
        *,
        timeout: float = 2.0,
        cache_seconds: float = 0.5,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = f"{server_url.rstrip('/')}/api/v1/health"
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self.wall = wall
        self._lock = threading.Lock()
        self._last: tuple[float, datetime, bool] | None = None  # (asked at, server now, frozen)
        self.fallback_used = False

    def _ask(self) -> tuple[datetime, bool] | None:
        try:
            answer = httpx.get(self.url, timeout=self.timeout).json()
            return datetime.fromisoformat(str(answer["now"])).astimezone(JST), bool(answer.get("frozen"))
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning("server clock unavailable at %s, using this PC's clock: %s", self.url, exc)
            return None

    def now(self) -> datetime:
        with self._lock:
            last = self._last
            asked = self.wall()
            if last is not None and asked - last[0] < self.cache_seconds:
                at, moment, frozen = last
                return moment if frozen else moment + timedelta(seconds=asked - at)
        answer = self._ask()
        if answer is None:
            self.fallback_used = True
            return datetime.now(JST)
        with self._lock:
            self._last = (asked, answer[0], answer[1])
        return answer[0]

    def today(self) -> date:
        return self.now().date()
