"""Japan time and the real messages' date formats."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")


def ymd(day: date | None) -> str | None:
    """2025-11-10 -> "20251110" (None stays None)."""
    if not day:
        return None
    if day.year >= 1000:  # an answer has a handful of dates: formatted without strftime
        return f"{day.year}{day.month:02d}{day.day:02d}"
    return day.strftime("%Y%m%d")


def timestamp(moment: datetime) -> str:
    """A moment as YYYYMMDDHHmmss in JST."""
    local = moment.astimezone(JST)
    if local.year >= 1000:  # every answer carries a few: formatted without strftime
        return (f"{local.year}{local.month:02d}{local.day:02d}"
                f"{local.hour:02d}{local.minute:02d}{local.second:02d}")
    return local.strftime("%Y%m%d%H%M%S")


def parse_timestamp(text: str) -> datetime:
    """YYYYMMDDHHmmss (JST, as the messages carry it) -> an aware moment; ``ValueError`` if it is none."""
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=JST)


def parse_ymd(text: str) -> date:
    return datetime.strptime(text, "%Y%m%d").date()


def today_jst(moment: datetime) -> date:
    return moment.astimezone(JST).date()
