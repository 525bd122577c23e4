"""Scoring is right for correct and wrong responses, and the debrief carries the published figures."""

from __future__ import annotations

import pytest

from onshi.catalogue import FIGURES
from rehearsal.scenario import RESPONSE_ITEMS, load_all
from rehearsal.scoring import model_response, normalise, score

SCENARIOS = load_all()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_model_response_scores_full_marks(name: str) -> None:
    scenario = SCENARIOS[name]
    result = score(scenario, model_response(scenario))
    assert result.passed and result.points == result.total == len(scenario.expected)
    assert all(i.feedback.ja.startswith("正解") and i.feedback.en.startswith("Right") for i in result.items)
    assert result.debrief.response.ja == scenario.failure.response_ja
    assert result.debrief.cost.ja and result.debrief.cost.en


def test_charging_100_percent_in_an_outage_is_a_critical_error() -> None:
    scenario = SCENARIOS["f13-outage"]
    wrong = {**model_response(scenario), "copay_ratio": 100, "use_declaration": False,
             "accept_document": "none"}
    result = score(scenario, wrong)
    assert not result.passed
    assert {i.key for i in result.critical_errors} == {"copay_ratio", "accept_document"}
    copay = next(i for i in result.items if i.key == "copay_ratio")
    assert "10割" in copay.feedback.ja and "100%" in copay.feedback.en and "【重大】" in copay.feedback.ja
    assert result.points == 1 and result.total == 4  # recheck_later still right
    assert result.summary("ja").startswith("要復習") and result.summary("en").startswith("needs review")


def test_using_a_strangers_data_fails_even_with_everything_else_right() -> None:
    scenario = SCENARIOS["f02-wrong-link"]
    result = score(scenario, {**model_response(scenario), "stop_on_stranger": False})
    assert result.points == result.total - 1 and result.ratio == 0.75
    assert not result.passed and [i.key for i in result.critical_errors] == ["stop_on_stranger"]


def test_minor_slips_cost_points_but_are_not_critical() -> None:
    scenario = SCENARIOS["f03-certificate-expired"]  # 4 items; forgetting to advise renewal is not critical
    result = score(scenario, {**model_response(scenario), "advise_municipality": False})
    assert result.points == 3 and result.ratio == 0.75 and not result.passed  # below the 0.8 pass mark
    scenario = SCENARIOS["f01-input-lag"]
    result = score(scenario, {**model_response(scenario), "ask_documents": False})
    assert result.points == 3 and not result.critical_errors


def test_any_of_the_acceptable_methods_is_right() -> None:
    scenario = SCENARIOS["f08-pin-locked"]
    for method in ("face", "visual"):
        assert score(scenario, {**model_response(scenario), "switch_method": method}).passed
    assert not score(scenario, {**model_response(scenario), "switch_method": "pin"}).items[0].correct


def test_asking_about_the_no_provide_flag_is_critical() -> None:
    scenario = SCENARIOS["f04-no-provide"]
    result = score(scenario, {**model_response(scenario), "ask_reason_for_flag": "true"})
    assert [i.key for i in result.critical_errors] == ["ask_reason_for_flag"]


def test_form_values_are_normalised_and_missing_ones_are_wrong() -> None:
    assert normalise(RESPONSE_ITEMS["copay_ratio"], "30") == 30
    assert normalise(RESPONSE_ITEMS["use_declaration"], "on") is True
    assert normalise(RESPONSE_ITEMS["use_declaration"], None) is False
    result = score(SCENARIOS["f01-input-lag"], {})
    assert result.points == 0 and not result.passed
    copay = next(i for i in result.items if i.key == "copay_ratio")
    assert "未記録" in copay.feedback.ja and "not recorded" in copay.feedback.en


def test_the_debrief_cites_the_survey_figures_with_sources() -> None:
    result = score(SCENARIOS["f03-certificate-grace"], {})
    keys = {f.key for f in result.debrief.figures}
    assert {"survey_2025_expired", "survey_2024_expired"} <= keys
    assert FIGURES["survey_2025_expired"].value == 0.452
    assert any("全国保険医団体連合会" in s for s in result.debrief.sources)
    data = result.to_json()
    assert data["debrief"]["figures"][0]["source"]
