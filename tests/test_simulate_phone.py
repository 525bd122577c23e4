"""`onshi simulate-day` and the smartphone マイナ保険証: the phone shares and the 汎用カードリーダー as stated
assumptions; phone-only patients at a clinic without the reader become F16, the phone's own certificate F17.

No public count of phone checks or of clinics with a 汎用カードリーダー is in our sources (only dates), so
each share is "our assumption", with a range, its base in its label, and what it leans on.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from onshi.catalogue import FIGURES
from onshi.procs import ROOT
from rehearsal.assumptions import ASSUMPTIONS, OURS, STAFF_MINUTES
from rehearsal.calibrate import (
    CAUSES,
    calibration,
    central_assumed,
    central_splits,
    declaration_rates,
    fit,
    national,
)
from rehearsal.simulate import PHONE_SHARES, SimConfig, simulate, write_report

F16, F17 = CAUSES.index("F16"), CAUSES.index("F17")


def phones(**options: object) -> SimConfig:
    """Everyone by card, no other trouble, no outage: only what the phone does."""
    base: dict[str, object] = {"patients": 400, "clinics": 4, "seed": 3, "card_share": 1.0, "rates": {},
                               "outage_day_rate": 0.0}
    return SimConfig(**{**base, **options})  # type: ignore[arg-type]


@pytest.mark.parametrize("key", [*PHONE_SHARES, "rate_F17"])
def test_the_phone_assumptions_are_ours_with_a_range_and_a_base(key: str) -> None:
    item = ASSUMPTIONS[key]
    assert item.ours and item.source == OURS
    assert 0 < item.low < item.value < item.high <= 1
    # The base: what the share is a share OF (or what the rate is per), printed with the label.
    assert item.base_ja and item.base_en
    assert item.label("ja") == f"{item.label_ja}（{item.base_ja}）"
    assert item.label("en") == f"{item.label_en} ({item.base_en})"
    if key in PHONE_SHARES:  # what it leans on: the public dates, and that no count is published
        assert "2025年9月19日" in item.source_text("ja") and "2025年8月29日" in item.source_text("ja")
        assert "no published count" in item.source_text("en") and "our" not in item.source_text("ja")
    assert STAFF_MINUTES["F16"] > 0 and STAFF_MINUTES["F17"] > 0


def test_phone_only_patients_at_clinics_without_the_reader_are_f16() -> None:
    # Everyone brings only the phone; no clinic has a 汎用 reader: every visit is F16.
    day = simulate(phones(phone_share=1.0, phone_only_share=1.0, general_reader_share=0.0,
                          carry_documents=1.0))
    assert day.totals["by_cause"]["F16"] == 400 and day.totals["affected"] == 400
    assert day.totals["would_pay_full"] == 0  # papers or the マイナポータル screen: a number check
    assert day.totals["staff_minutes"] == 400 * STAFF_MINUTES["F16"]
    bare = simulate(phones(phone_share=1.0, phone_only_share=1.0, general_reader_share=0.0,
                           carry_documents=0.0))
    assert bare.totals["would_pay_full"] == 400  # nothing confirms: the 申立書, never 100%
    # With the card on them, they use the card: no trouble at all.
    with_card = simulate(phones(phone_share=1.0, phone_only_share=0.0, general_reader_share=0.0))
    assert with_card.totals["affected"] == 0 and with_card.totals["phone_visits"] == 0
    # Where every clinic has the reader, the phone is read: no F16.
    read = simulate(phones(phone_share=1.0, phone_only_share=1.0, general_reader_share=1.0))
    assert read.totals["by_cause"]["F16"] == 0 and read.totals["phone_visits"] == 400
    assert read.totals["clinics_with_general_reader"] == 4


def test_the_phones_own_certificate_is_f17_and_the_card_settles_it() -> None:
    fails = {"rates": {"F17": 1.0}, "phone_share": 1.0, "general_reader_share": 1.0, "carry_documents": 0.0}
    with_card = simulate(phones(**fails, phone_only_share=0.0))
    assert with_card.totals["by_cause"]["F17"] == 400 and with_card.totals["would_pay_full"] == 0
    only_phone = simulate(phones(**fails, phone_only_share=1.0))
    assert only_phone.totals["would_pay_full"] == 400
    # F17 strikes only phone checks: no phone, no F17 whatever its rate.
    none = simulate(phones(rates={"F17": 1.0}, phone_share=0.0))
    assert none.totals["affected"] == 0


def test_the_phone_draws_do_not_move_the_rest_of_the_day() -> None:
    base = SimConfig.from_survey("2025", patients=3000, clinics=3, seed=9)
    without = simulate(SimConfig.from_survey("2025", patients=3000, clinics=3, seed=9, phone_share=0.0))
    with_phones = simulate(base)
    for column in ("minute", "card"):
        assert (without.visits[column] == with_phones.visits[column]).all()
    others = (with_phones.visits["cause"] != F16) & (with_phones.visits["cause"] != F17)
    assert (without.visits["cause"][others] == with_phones.visits["cause"][others]).all()


def test_a_large_run_meets_the_expected_f16_given_which_clinics_have_the_reader() -> None:
    cfg = phones(patients=200_000, clinics=40, days=2, card_share=0.4, phone_share=0.05,
                 phone_only_share=0.4, general_reader_share=0.3)
    day = simulate(cfg)
    without_reader = ~day.visits["general_reader"].astype(bool)
    p = 0.4 * 0.05 * 0.4
    n = int(without_reader.sum())
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    assert 0 < n < 200_000  # some clinics have the reader, some do not
    assert abs(day.totals["by_cause"]["F16"] - mean) < 5 * sd
    assert not np.any(day.visits["cause"][~without_reader] == F16)


def test_the_national_month_follows_the_phone_shares_and_holds_given_ones() -> None:
    month = FIGURES["monthly_checks"].value
    fixed = national("2025", card_share=0.4, phone={"phone_share": 0.02, "phone_only_share": 0.5,
                                                    "general_reader_share": 0.2}, draws=400)
    f16 = fixed["by_cause"]["F16"]
    assert f16["mean"] == pytest.approx(month * 0.4 * 0.02 * 0.5 * 0.8)
    assert f16["low"] == pytest.approx(f16["high"])  # every share held: no range left
    assert fixed["phone"]["held"] == ["general_reader_share", "phone_only_share", "phone_share"]
    drawn = national("2025", draws=400)
    assert 0 < drawn["by_cause"]["F16"]["low"] < drawn["by_cause"]["F16"]["high"]
    assert 0 < drawn["by_cause"]["F17"]["low"] < drawn["by_cause"]["F17"]["high"]
    with pytest.raises(ValueError, match="phone shares"):
        national("2025", overrides={"F16": 0.1})
    with pytest.raises(ValueError, match="F16"):
        SimConfig(rates={"F16": 0.1})
    with pytest.raises(ValueError, match="phone_share"):
        SimConfig(phone_share=1.5)


def test_the_calibration_still_reproduces_the_surveys_and_leaves_the_phone_out() -> None:
    # The surveys' periods barely include phones at the counter (from 19 Sep 2025): the fit and the
    # 100% payments do not use the phone's causes, and every figure is still within tolerance.
    assert all(row["fits"] for row in calibration("2025", replicates=40)["rows"])
    point = fit("2025")
    assumed = central_assumed()
    assert "F17" in assumed
    without = {k: v for k, v in assumed.items() if k != "F17"}
    args = (point.lambdas, point.checks_per_period, central_splits(), 0.7)
    assert declaration_rates(*args, assumed) == declaration_rates(*args, without)


def test_the_report_and_the_command_show_the_phone(tmp_path: Path) -> None:
    result = simulate(SimConfig.from_survey("2025", patients=2000, clinics=4, seed=2))
    paths = write_report(result, tmp_path / "day")
    report = paths["markdown"].read_text(encoding="utf-8")
    for key in (*PHONE_SHARES, "rate_F17"):
        assert ASSUMPTIONS[key].label_en in report
    assert "F16" in report and "F17" in report and "汎用カードリーダー" in report
    assert "smartphone" in paths["csv"].read_text(encoding="utf-8") or result.totals["phone_visits"] == 0
    done = subprocess.run(
        [sys.executable, "-m", "onshi", "simulate-day", "-n", "3000", "-k", "3", "--seed", "4", "--quiet",
         "--phone-share", "0.2", "--phone-only-share", "1", "--general-reader-share", "0",
         "--out", str(tmp_path / "cli")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "clinics with a 汎用 reader" in done.stdout and "F16" in done.stdout
    f16_line = next(line for line in done.stdout.splitlines() if line.strip().startswith("F16"))
    assert "–" in f16_line  # the national figure as a range
    bad = subprocess.run(
        [sys.executable, "-m", "onshi", "simulate-day", "-n", "10", "--quiet", "--rate", "F16=0.1",
         "--out", str(tmp_path / "bad")],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "phone" in bad.stderr


def test_the_methods_page_states_the_phone_assumptions_as_the_code_has_them() -> None:
    methods = (ROOT / "docs" / "methods.md").read_text(encoding="utf-8")

    def pct(value: float) -> str:
        return f"{value * 100:g}"

    for key in (*PHONE_SHARES, "rate_F17"):
        item = ASSUMPTIONS[key]
        stated = f"{item.base_ja} {pct(item.value)}%（幅 {pct(item.low)}〜{pct(item.high)}%）"
        assert stated in methods, stated
        assert f"{pct(item.value)}% ({pct(item.low)}–{pct(item.high)}%)" in methods  # the English part
