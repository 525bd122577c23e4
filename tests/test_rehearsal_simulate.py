"""The day-at-the-clinic simulation: deterministic for a seed, totals equal an independent count."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from onshi.catalogue import FIGURES
from onshi.procs import ROOT
from rehearsal.assumptions import ASSUMPTIONS
from rehearsal.calibrate import fit, sig3
from rehearsal.simulate import (
    ALWAYS_DECLARATION,
    CAUSES,
    NEEDS_DOCUMENTS,
    STAFF_MINUTES,
    SimConfig,
    simulate,
    write_report,
)


def config(**options: object) -> SimConfig:
    return SimConfig.from_survey("2025", **{"patients": 5000, "clinics": 5, "days": 2, "seed": 7, **options})


def test_the_same_seed_gives_the_same_day_and_another_seed_another() -> None:
    a, b = simulate(config()), simulate(config())
    assert a.totals == b.totals
    assert all((a.visits[k] == b.visits[k]).all() for k in a.visits)
    c = simulate(config(seed=8))
    assert c.totals != a.totals


def test_clinics_are_independent_of_how_many_are_simulated_before_them() -> None:
    # Each clinic draws from its own stream: clinic 0 of a 2-clinic run equals clinic 0 of a 5-clinic run
    # when it gets the same number of patients.
    small = simulate(config(patients=2 * 2 * 100, clinics=2, days=2))
    large = simulate(config(patients=5 * 2 * 100, clinics=5, days=2))
    first = small.visits["clinic"] == 0
    assert (small.visits["cause"][first] == large.visits["cause"][large.visits["clinic"] == 0]).all()


def test_totals_equal_an_independent_count_of_the_written_visits(tmp_path: Path) -> None:
    result = simulate(config())
    paths = write_report(result, tmp_path)
    rows = list(csv.DictReader(paths["csv"].open(encoding="utf-8")))
    assert len(rows) == 5000
    causes = Counter(r["cause"] for r in rows if r["cause"])
    minutes = sum(float(r["staff_minutes"]) for r in rows)
    full = sum(r["declaration"] == "True" for r in rows)
    totals = result.totals
    assert totals["affected"] == sum(causes.values())
    assert totals["by_cause"] == {c: causes.get(c, 0) for c in CAUSES}
    assert math.isclose(totals["staff_minutes"], minutes)
    assert totals["would_pay_full"] == full
    # Every row follows the stated rules: minutes by cause, the 申立書 where nothing else confirms.
    for r in rows:
        cause = r["cause"]
        assert float(r["staff_minutes"]) == (STAFF_MINUTES[cause] if cause else 0)
        if cause in ALWAYS_DECLARATION:
            assert r["declaration"] == "True"
        elif cause not in NEEDS_DOCUMENTS:
            assert r["declaration"] == "False"
    national = totals["national"]
    assert national["monthly_checks"] == FIGURES["monthly_checks"].value
    saved = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert saved["totals"]["affected"] == totals["affected"]
    assert set(saved["totals"]["national"]["by_cause"]["F3"]) == {"mean", "low", "high"}
    assert saved["assumptions"]["period_months_2025"]["source"]  # every assumption with its source
    plots = ("affected_by_cause", "staff_minutes_by_cause", "would_pay_full_by_cause", "national_by_cause")
    for name in plots:
        assert paths[name].stat().st_size > 10_000  # a real PNG plot
    report = paths["markdown"].read_text(encoding="utf-8")
    assert "申立書" in report
    # Every assumption once, with its range and source; the national figures as ranges, never a bare point.
    for item in ASSUMPTIONS.values():
        assert item.label_en in report
    assert "本プロジェクトの仮定 / our assumption" in report and "95%" in report
    f3 = totals["national"]["by_cause"]["F3"]
    assert f"{sig3(f3['mean'])} ({sig3(f3['low'])}–{sig3(f3['high'])})" in report


def test_estimates_are_shown_to_three_significant_figures() -> None:
    assert sig3(1_958_582) == "1,960,000" and sig3(8_234.4) == "8,230" and sig3(622.2) == "622"
    assert sig3(0) == "0"


def test_closed_form_cases() -> None:
    # Everyone by card (nobody with a phone), every card check hits F5 (● in the name), no outage: all
    # affected, 2 min each.
    everyone = SimConfig(patients=300, clinics=3, seed=1, card_share=1.0, rates={"F5": 1.0},
                         outage_day_rate=0, phone_share=0.0)
    totals = simulate(everyone).totals
    assert totals["affected"] == 300 and totals["by_cause"]["F5"] == 300
    assert totals["staff_minutes"] == 300 * STAFF_MINUTES["F5"] and totals["would_pay_full"] == 0
    # Every clinic-day down for the whole day: every patient needs the 申立書.
    down = SimConfig(patients=200, clinics=2, days=2, seed=1, rates={}, outage_day_rate=1.0,
                     outage_minutes=8 * 60)
    totals = simulate(down).totals
    assert totals["by_cause"]["F13"] == 200 and totals["would_pay_full"] == 200
    # F1 by number check (nobody uses the card) still needs the 申立書: the number check fails too.
    lag = SimConfig(patients=100, seed=2, card_share=0.0, rates={"F1": 1.0}, outage_day_rate=0)
    assert simulate(lag).totals["would_pay_full"] == 100
    # Documents settle F12: with everyone carrying them, nobody needs the 申立書.
    renewal = SimConfig(patients=100, seed=2, card_share=1.0, rates={"F12": 1.0}, outage_day_rate=0,
                        carry_documents=1.0)
    assert simulate(renewal).totals["would_pay_full"] == 0


def test_a_large_run_agrees_with_the_expected_rates() -> None:
    cfg = config(patients=200_000, clinics=20, days=5, outage_day_rate=0.0, phone_share=0.0)
    totals = simulate(cfg).totals
    card_rate = sum(cfg.rates.get(c, 0) for c in cfg.causes_for("card"))
    number_rate = sum(cfg.rates.get(c, 0) for c in cfg.causes_for("number"))
    p = cfg.card_share * card_rate + (1 - cfg.card_share) * number_rate
    mean, sd = 200_000 * p, math.sqrt(200_000 * p * (1 - p))
    assert abs(totals["affected"] - mean) < 5 * sd


def test_rates_come_from_the_survey_fit_on_the_all_clinics_base() -> None:
    cfg = SimConfig.from_survey("2025")
    point = fit("2025")
    assert math.isclose(cfg.rates["F5"], point.rate("names"))
    assert math.isclose(cfg.rates["F3"], point.rate("expired"))
    # The invalid answers split between F1, F10 and F12 by the stated shares.
    invalid = cfg.rates["F1"] + cfg.rates["F10"] + cfg.rates["F12"]
    assert math.isclose(invalid, point.rate("invalid"))
    assert math.isclose(cfg.rates["F1"] / invalid, ASSUMPTIONS["split_invalid_F1"].value)
    # The old derivation (0.772 of ALL clinics over 20 days) gave ● about twice this rate.
    naive = 1 - (1 - 0.772) ** (1 / (40 * 20 * 0.39))
    assert cfg.rates["F5"] < 0.7 * naive
    older = SimConfig.from_survey("2024")
    assert older.rates["F3"] < cfg.rates["F3"]  # expired certificates doubled
    assert SimConfig.from_survey(overrides={"F13": 0.5, "F2": 0.001}).outage_day_rate == 0.5
    with pytest.raises(ValueError):
        SimConfig(rates={"F99": 0.1})
    with pytest.raises(ValueError):
        SimConfig.from_survey(overrides={"F99": 0.1})


def test_the_national_month_comes_from_the_rates_not_the_sample() -> None:
    # 1,000 patients meet only a handful of troubles, but every cause with a nonzero rate has a
    # nonzero national range, and the range does not depend on the sample.
    small = simulate(SimConfig.from_survey("2025", patients=1000, seed=1)).totals
    other = simulate(SimConfig.from_survey("2025", patients=1000, seed=2)).totals
    assert small["by_cause"] != other["by_cause"] or small["affected"] != other["affected"]
    assert small["national"] == other["national"]
    for cause in CAUSES:
        value = small["national"]["by_cause"][cause]
        assert 0 < value["low"] < value["mean"] < value["high"], cause
    # F1 is no longer 231,600 from a single event: an interval around the rate's expectation.
    assert small["national"]["by_cause"]["F1"]["high"] < 1e6


def test_the_command_writes_a_report(tmp_path: Path) -> None:
    out = tmp_path / "day"
    done = subprocess.run(
        [sys.executable, "-m", "onshi", "simulate-day", "--patients", "3000", "--clinics", "3", "--seed", "5",
         "--rate", "F13=0.5", "--out", str(out), "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "would pay 100%" in done.stdout
    assert "F3" in done.stdout and "nationwide" in done.stdout
    again = subprocess.run(
        [sys.executable, "-m", "onshi", "simulate-day", "--patients", "3000", "--clinics", "3", "--seed", "5",
         "--rate", "F13=0.5", "--out", str(tmp_path / "again"), "--quiet"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines()[0] == again.stdout.splitlines()[0]
    assert (out / "visits.csv").read_bytes() == (tmp_path / "again" / "visits.csv").read_bytes()
    assert (out / "report.html").exists() and (out / "affected_by_cause.png").exists()


def test_progress_advances_once_per_clinic_day_and_does_not_change_the_day() -> None:
    steps: list[int] = []
    one_clinic = config(patients=600, clinics=1, days=6)
    with_progress = simulate(one_clinic, on_day=lambda: steps.append(1))
    assert len(steps) == 6  # one clinic over six days still moves the bar
    assert with_progress.totals == simulate(one_clinic).totals


def _simulate_day(tmp_path: Path, stderr: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onshi", "simulate-day", "--patients", "500", "--clinics", "1", "--days", "4",
         "--out", str(tmp_path / "day")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True, timeout=120)


def test_the_command_with_its_progress_bar_succeeds(tmp_path: Path) -> None:
    done = _simulate_day(tmp_path, subprocess.PIPE)  # stderr not a terminal: click prints only the label
    assert done.returncode == 0, done.stderr
    assert "would pay 100%" in done.stdout and "simulating clinic-days" not in done.stdout
    assert "simulating clinic-days" in done.stderr


def test_on_a_terminal_the_bar_counts_clinic_days_on_stderr(tmp_path: Path) -> None:
    import os
    import pty

    leader, follower = pty.openpty()
    try:
        done = _simulate_day(tmp_path, follower)
        os.close(follower)
        follower = -1
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO once the terminal's writer side is gone
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    assert done.returncode == 0
    text = seen.decode("utf-8", "replace")
    assert "0/4" in text and "4/4" in text  # drawn as it goes, ending at every clinic-day done


def test_plots_draw_japanese_with_the_bundled_font_and_count_in_whole_patients(tmp_path: Path) -> None:
    import warnings

    from matplotlib import font_manager

    from rehearsal.plots import count_bars, count_figure, font_name

    assert font_name() == "IPAexGothic"
    assert font_manager.findfont(font_manager.FontProperties(family="IPAexGothic")).endswith("ipaexg.ttf")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        count_bars([0, 0, 1], ["F1 入力のタイムラグ", "F3 期限切れ", "F13 障害"],
                   "申立書がなければ10割負担 / would pay 100% without the 申立書", "患者数 / patients",
                   tmp_path / "p.png", "#d35400")
    assert not [w for w in caught if "missing from font" in str(w.message)]  # no boxes for 申立書
    fig = count_figure([0, 0, 1], ["a", "b", "c"], "t", "x", "#000")
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert ticks and len(ticks) == len(set(ticks))  # never "0 0 0 1 1 1"
    assert all(t.replace(",", "").isdigit() for t in ticks)
