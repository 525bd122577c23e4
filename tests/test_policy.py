"""Specification of the policy knobs: certificate warning window, grace period, the ● character set.

Plain dates and strings only; the rules that use these are specified in test_rules.py.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.core.charset import replace_unrepresentable
from server.core.policy import DEFAULT_POLICY, Policy, add_months, end_of_month

DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


# --- grace period: 3 months counted from the last day of the expiry month -------------------------


def test_grace_example_from_the_health_ministry_rule() -> None:
    assert DEFAULT_POLICY.grace_ends_on(date(2025, 11, 10)) == date(2026, 2, 28)


@pytest.mark.parametrize(
    ("not_after", "grace_end"),
    [
        (date(2025, 11, 1), date(2026, 2, 28)),  # first of the month: same month end as the 10th
        (date(2025, 11, 30), date(2026, 2, 28)),  # last of the month
        (date(2026, 1, 31), date(2026, 4, 30)),  # Jan 31: April has 30 days
        (date(2026, 2, 28), date(2026, 5, 31)),
        (date(2028, 2, 29), date(2028, 5, 31)),  # leap day
        (date(2027, 11, 30), date(2028, 2, 29)),  # grace ends on a leap day
        (date(2026, 12, 5), date(2027, 3, 31)),  # December: crosses the year
        (date(2026, 10, 15), date(2027, 1, 31)),  # October: lands in January of next year
    ],
)
def test_grace_ends_on_the_last_day_of_the_third_month_after_the_expiry_month(
    not_after: date, grace_end: date
) -> None:
    assert DEFAULT_POLICY.grace_ends_on(not_after) == grace_end


def test_a_six_month_grace_policy_moves_the_grace_end() -> None:
    assert Policy(certificate_grace_months=6).grace_ends_on(date(2025, 11, 10)) == date(2026, 5, 31)


def test_a_zero_month_grace_policy_ends_grace_with_the_expiry_month() -> None:
    assert Policy(certificate_grace_months=0).grace_ends_on(date(2025, 11, 10)) == date(2025, 11, 30)


@given(DAYS)
def test_grace_always_ends_on_a_month_end_three_months_after_the_expiry_month(not_after: date) -> None:
    end = DEFAULT_POLICY.grace_ends_on(not_after)
    assert end == end_of_month(end)
    assert (end.year * 12 + end.month) - (not_after.year * 12 + not_after.month) == 3
    assert end > not_after


# --- warning window: from exactly 3 months before not_after ---------------------------------------


@pytest.mark.parametrize(
    ("not_after", "warning_start"),
    [
        (date(2026, 11, 10), date(2026, 8, 10)),
        (date(2027, 2, 15), date(2026, 11, 15)),  # crosses the year backwards
        (date(2026, 5, 31), date(2026, 2, 28)),  # no Feb 31: clamped to the month's last day
        (date(2028, 5, 31), date(2028, 2, 29)),  # leap year
        (date(2026, 3, 1), date(2025, 12, 1)),
    ],
)
def test_warning_starts_three_months_before_not_after(not_after: date, warning_start: date) -> None:
    assert DEFAULT_POLICY.warning_starts_on(not_after) == warning_start


def test_a_one_month_warning_policy_shortens_the_window() -> None:
    assert Policy(certificate_warning_months=1).warning_starts_on(date(2026, 11, 10)) == date(2026, 10, 10)


@given(DAYS)
def test_warning_window_always_starts_before_not_after_and_at_most_92_days_before(not_after: date) -> None:
    start = DEFAULT_POLICY.warning_starts_on(not_after)
    assert timedelta(days=89) <= not_after - start <= timedelta(days=92)


# --- calendar helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 12, 31), 2, date(2027, 2, 28)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 1, 15), -1, date(2025, 12, 15)),
        (date(2026, 1, 15), -13, date(2024, 12, 15)),
        (date(2026, 1, 15), 0, date(2026, 1, 15)),
    ],
)
def test_add_months_keeps_the_day_or_clamps_it_to_the_month_end(
    day: date, months: int, expected: date
) -> None:
    assert add_months(day, months) == expected


@given(DAYS, st.integers(min_value=-36, max_value=36))
def test_add_months_moves_exactly_that_many_calendar_months(day: date, months: int) -> None:
    moved = add_months(day, months)
    assert (moved.year * 12 + moved.month) - (day.year * 12 + day.month) == months
    assert moved.day == day.day or moved == end_of_month(moved)


# --- ● character set (F5) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("髙橋一郎", "●橋一郎"),  # U+9AD9 はしごだか
        ("山﨑花子", "山●花子"),  # U+FA11 たつさき (compatibility ideograph)
        ("𠮷田太郎", "●田太郎"),  # U+20BB7 つちよし (outside the BMP)
        ("髙﨑𠮷", "●●●"),
    ],
)
def test_characters_outside_jis_x_0208_become_black_circles(text: str, shown: str) -> None:
    assert replace_unrepresentable(text, DEFAULT_POLICY) == shown


@pytest.mark.parametrize(
    "text",
    [
        "高橋一郎",
        "山崎花子",
        "吉田太郎",
        "渡邊 斉藤",
        "やまだ たろう",
        "ヤマダ タロウ",
        "ﾔﾏﾀﾞ ﾀﾛｳ",
        "ABC 123",
        "ー・〜",
    ],
)
def test_ordinary_kanji_kana_and_ascii_are_untouched(text: str) -> None:
    assert replace_unrepresentable(text, DEFAULT_POLICY) == text


@pytest.mark.parametrize(
    ("typed", "held"),
    [
        ("１－２－３", "１−２−３"),  # FULLWIDTH HYPHEN-MINUS (Windows IME) is JIS X 0208 1-29, the minus sign
        ("～", "〜"),  # FULLWIDTH TILDE is the wave dash of JIS X 0208
        ("∥", "‖"),
        ("￠￡￢", "¢£¬"),
    ],
)
def test_windows_variants_of_jis_x_0208_characters_are_held_not_turned_into_black_circles(
    typed: str, held: str
) -> None:
    assert replace_unrepresentable(typed, DEFAULT_POLICY) == held


def test_the_replacement_character_is_a_policy_knob() -> None:
    assert replace_unrepresentable("髙橋", Policy(replacement_char="〓")) == "〓橋"


def test_a_wider_character_set_keeps_the_characters() -> None:
    assert replace_unrepresentable("髙﨑𠮷", Policy(name_codec="utf-8")) == "髙﨑𠮷"
