"""Policy knobs of the eligibility rules, with the values in force today as defaults."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's last day (Jan 31 + 1 → Feb 28)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def end_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


@dataclass(frozen=True)
class Policy:
    # Health ministry rule: warn from 3 months before the certificate's expiry.
    certificate_warning_months: int = 3
    # After expiry, eligibility still works for 3 months counted from the end of the expiry month.
    certificate_grace_months: int = 3
    # Characters the central system can hold; others become ● (F5). Strict JIS X 0208:
    # cp932 would accept 髙 and 﨑, which the real system turns into ●.
    name_codec: str = "shift_jis"
    replacement_char: str = "●"
    # Consented medical information stays viewable this long (AvailableTime; project assumption).
    consent_available_hours: int = 24

    def consent_available_until(self, consented_at: datetime) -> datetime:
        return consented_at + timedelta(hours=self.consent_available_hours)

    def warning_starts_on(self, not_after: date) -> date:
        return add_months(not_after, -self.certificate_warning_months)

    def grace_ends_on(self, not_after: date) -> date:
        """Expiry 2025-11-10 → usable through 2026-02-28."""
        return end_of_month(add_months(not_after.replace(day=1), self.certificate_grace_months))


DEFAULT_POLICY = Policy()
