"""`onshi calibrate`: the fitted model, simulated over the surveyed clinics, gives back the surveys' figures
on the all-clinics base; where it cannot (the 2025 interim's "any trouble"), it says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from onshi.procs import ROOT
from rehearsal.assumptions import ASSUMPTIONS, KINDS, SURVEYS
from rehearsal.calibrate import calibration, fit, full_payment, mismatches, national, simulate_survey


def test_the_survey_kinds_are_restated_on_the_all_clinics_base() -> None:
    survey = SURVEYS["2025"]
    assert survey.kinds["names"] == 0.772 and survey.share_troubled == 0.698
    assert survey.share_all("names") == pytest.approx(0.539, abs=0.001)
    assert survey.share_all("expired") == pytest.approx(0.315, abs=0.001)
    older = SURVEYS["2024"]
    assert older.share_troubled == pytest.approx(0.70, abs=0.002)
    assert older.share_all("expired") == pytest.approx(0.201 * 0.70, abs=0.001)


@pytest.mark.parametrize("survey", ["2024", "2025"])
def test_the_model_reproduces_each_kind_within_3_points_and_any_within_5(survey: str) -> None:
    result = calibration(survey, replicates=60)
    rows = {r["kind"]: r for r in result["rows"]}
    assert set(rows) == {*KINDS, "any"}
    for kind in KINDS:
        assert abs(rows[kind]["model_share_all"] - rows[kind]["survey_share_all"]) <= 0.03, rows[kind]
        assert rows[kind]["model_low"] <= rows[kind]["model_share_all"] <= rows[kind]["model_high"]
    assert abs(rows["any"]["model_share_all"] - SURVEYS[survey].share_troubled) <= 0.05
    assert result["fitted"]["any_fits"] and not mismatches(result)


def test_independent_causes_would_overshoot_any_trouble_and_clinic_differences_bring_it_down() -> None:
    survey = SURVEYS["2025"]
    independent = 1 - np.prod([1 - survey.share_all(k) for k in KINDS])
    assert independent > 0.85  # what a model without differences between clinics would claim
    assert fit("2025").sigma > 0.5
    sims = simulate_survey("2025", replicates=20)
    assert abs(float(sims["any"].mean()) - 0.698) < 0.02


def test_where_the_model_cannot_match_the_report_says_so() -> None:
    # The interim's kinds, read as shares of the 89.1% with trouble, cannot give 89.1% "any trouble":
    # even independent causes give less, and differences between clinics only lower it.
    result = calibration("2025i", replicates=20)
    any_row = next(r for r in result["rows"] if r["kind"] == "any")
    assert not any_row["fits"] and not result["fitted"]["any_fits"]
    problems = mismatches(result)
    assert any("再現できない" in p and "does not reproduce" in p for p in problems)


def test_the_rates_scale_with_the_period_the_survey_asked_about() -> None:
    point = fit("2025")
    checks = point.checks_per_period
    assert point.rate("names", checks * 2) == pytest.approx(point.rate("names") / 2)
    assert ASSUMPTIONS["period_months_2025"].low == 2.5 and ASSUMPTIONS["period_months_2025"].high == 4.0


def test_the_100_percent_payments_give_the_share_of_counters_not_using_the_declaration() -> None:
    pay = full_payment()
    assert 0 < pay.q_cases_low < pay.q_cases_2025 < pay.q_cases_high < 1
    # q × visits needing the 申立書 × clinics gives back the ~3,400 reported cases.
    assert pay.q_cases_2025 * pay.needs_declaration_per_clinic_2025 * 10_519 == pytest.approx(3_400)
    assert 0 < pay.q_clinics_2025i < 1


def test_the_national_month_has_an_interval_for_every_cause_and_holds_overrides_fixed() -> None:
    month = national("2025", draws=500)
    for cause, value in month["by_cause"].items():
        assert 0 < value["low"] < value["mean"] < value["high"], cause
    fixed = national("2025", draws=200, overrides={"F2": 0.001})
    assert fixed["rates"]["F2"]["low"] == fixed["rates"]["F2"]["high"] == pytest.approx(0.001)
    # F2 is card-only: the month's card checks times the fixed rate, the card share its only spread.
    share = ASSUMPTIONS["card_share_national"]
    assert fixed["by_cause"]["F2"]["low"] >= 231.6e6 * share.low * 0.001 * 0.999
    assert fixed["by_cause"]["F2"]["high"] <= 231.6e6 * share.high * 0.001 * 1.001
    # Expected counts: the 2025 survey's ● rate on every card and number check of the month.
    assert 1e5 < month["by_cause"]["F5"]["mean"] < 5e6


def test_the_command_writes_the_table_the_report_and_the_plot(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "onshi",
            "calibrate",
            "--survey",
            "2024",
            "--out",
            str(tmp_path),
            "--replicates",
            "30",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "calibration.json").read_text(encoding="utf-8"))
    assert data["survey"] == "2024"
    for row in data["rows"]:
        assert {
            "kind",
            "survey_share_all",
            "survey_share_troubled",
            "model_share_all",
            "model_low",
            "model_high",
        } <= set(row)
    page = (tmp_path / "calibration.html").read_text(encoding="utf-8")
    assert "全回答施設" in page and "calibration.png" in page and "申立書" in page
    assert (tmp_path / "calibration.png").stat().st_size > 20_000
    assert "✓" in done.stdout
