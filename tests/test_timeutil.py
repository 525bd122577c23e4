"""Dates and moments as the messages carry them: YYYYMMDD and YYYYMMDDHHmmss in JST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from onshi.timeutil import JST, timestamp, ymd


def test_a_date_is_eight_digits() -> None:
    assert ymd(date(2026, 4, 1)) == "20260401"
    assert ymd(date(1925, 12, 31)) == "19251231"
    assert ymd(None) is None


def test_a_moment_is_written_in_japan_time() -> None:
    assert timestamp(datetime(2026, 3, 31, 15, 0, 5, tzinfo=UTC)) == "20260401000005"
    assert timestamp(datetime(2026, 1, 2, 3, 4, 5, 999_999, tzinfo=JST)) == "20260102030405"
    assert timestamp(datetime(2026, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=-5)))) == "20260101140000"


def test_the_fast_formatting_writes_what_strftime_writes_even_for_odd_years() -> None:
    for day in (date(1000, 1, 1), date(9999, 12, 31), date(999, 7, 4), date(1, 1, 1)):
        assert ymd(day) == day.strftime("%Y%m%d")
    moment = datetime(999, 7, 4, 12, 0, tzinfo=JST)
    assert timestamp(moment) == moment.strftime("%Y%m%d%H%M%S")
