"""Every shipped scenario runs end to end against a real server and reaches its expected outcome."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from onshi.catalogue import FailureMode
from onshi.procs import ROOT
from rehearsal.runner import RunResult, StepResult, Target, run_scenario, scripted_mode_missing
from rehearsal.scenario import (
    READER_FAULTS_OFF,
    READER_SCRIPT_ACTIONS,
    SCENARIO_DIR,
    ScenarioError,
    load_all,
    load_scenario,
    parse_scenario,
)
from tests.conftest import LiveServer

SCENARIOS = load_all()
READER_SCENARIOS = sorted(name for name, s in SCENARIOS.items()
                          if any(step.action == "reader" for step in s.steps))


@pytest.fixture(scope="module")
def server(live_server: LiveServer) -> Iterator[LiveServer]:
    """The runner loads the fixture itself before each run; when this module is done (pytest tears a
    module fixture down before the next module's test), put the server back as the others expect it."""
    yield live_server
    live_server.admin("DELETE", "/faults")
    live_server.reset()


def test_every_catalogue_entry_has_a_scenario_in_both_languages() -> None:
    covered = {s.failure_id for s in SCENARIOS.values()}
    assert covered == {mode.id for mode in FailureMode}
    for scenario in SCENARIOS.values():
        assert scenario.title.ja and scenario.title.en and scenario.brief.ja and scenario.brief.en
        assert scenario.expected, scenario.id
        assert scenario.steps, scenario.id


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_reaches_its_expected_outcome(server: LiveServer, name: str) -> None:
    lines: list[str] = []
    result = run_scenario(SCENARIOS[name], Target(server.url, server.admin_token), reader="off",
                          echo=lines.append)
    assert result.ok, "\n".join(lines) + f"\n{result.error}"
    assert result.steps and all(s.sees.ja and s.sees.en for s in result.steps)
    for step in result.steps:
        if step.side == "reader":
            assert step.data["played"] is False and "reader-side" in step.note.en


def test_the_cli_prints_the_outcome_and_exits_0(server: LiveServer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "onshi", "scenario", "run", "F13", "--server", server.url,
         "--admin-token", server.admin_token, "--reader", "off"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "被保険者資格申立書" in done.stdout and "as expected" in done.stdout
    assert "central_system_unavailable" in done.stdout


def test_a_wrong_expectation_fails_with_exit_1(server: LiveServer, tmp_path: Path) -> None:
    text = (SCENARIO_DIR / "f05-name-characters.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    wrong = text.replace('validity: "1", code: W004', 'validity: "2", code: W004')
    broken.write_text(wrong, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "onshi", "scenario", "run", str(broken), "--server", server.url,
         "--admin-token", server.admin_token, "--reader", "off"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout
    assert "validity: expected '2', got '1'" in done.stdout


def test_the_scenario_list_names_them_all() -> None:
    done = subprocess.run([sys.executable, "-m", "onshi", "scenario", "list", "--lang", "en"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for name in SCENARIOS:
        assert name in done.stdout


@pytest.mark.parametrize("change, message", [
    ({"failure": "F99"}, "unknown failure"),
    ({"expected": {"copay_ratio": 25}}, "copay_ratio"),
    ({"expected": {"shout": True}}, "not a response item"),
    ({"arrive_at": "2026-11-24T09:00:00"}, "give the zone"),
    ({"title": "only one language"}, "both languages"),
    ({"steps": [{"dance": {}}]}, "exactly one of"),
])
def test_invalid_scenarios_are_refused_with_a_reason(change: dict[str, object], message: str) -> None:
    import yaml

    data = yaml.safe_load((SCENARIO_DIR / "f01-input-lag.yaml").read_text(encoding="utf-8"))
    data.update(change)
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data)


# --- reader-side steps played on the reader emulator (`onshi reader … run SCRIPT --json`) -------------


def play(server: LiveServer, name: str, scenario: Any = None) -> tuple[RunResult, str]:
    lines: list[str] = []
    result = run_scenario(scenario or SCENARIOS[name], Target(server.url, server.admin_token),
                          echo=lines.append)
    return result, "\n".join(lines)


def reader_step(result: RunResult) -> StepResult:
    (step,) = [s for s in result.steps if s.side == "reader"]
    return step


def test_the_reader_steps_are_the_reader_emulators_scripts() -> None:
    from cardreader_emulator.reader import Faults
    assert READER_SCENARIOS == ["f06-reader-unplugged", "f07-face-mismatch", "f07-infant-no-photo",
                                "f08-pin-locked", "f16-phone-without-general-reader", "f17-phone-certificate",
                                "f17-phone-link"]
    assert set(READER_FAULTS_OFF) == set(Faults.model_fields)
    assert Faults().model_dump() == READER_FAULTS_OFF
    script_source = (ROOT / "cardreader_emulator" / "script.py").read_text(encoding="utf-8")
    for action in READER_SCRIPT_ACTIONS:
        assert f'action == "{action}"' in script_source, action
    assert scripted_mode_missing() is None  # `onshi reader --server … --cards-dir … run SCRIPT --json`


@pytest.mark.slow
@pytest.mark.parametrize("name", READER_SCENARIOS)
def test_reader_steps_are_played_on_the_emulator(server: LiveServer, name: str) -> None:
    result, printed = play(server, name)
    assert result.ok, printed + f"\n{result.error}"
    step = reader_step(result)
    assert step.data["played"] is True and step.data["lines"], printed
    facts = step.data["facts"]
    assert facts["result_file"] is None or facts["result_file"].startswith("OQSsiquc01res_face_")
    assert all(s.ok for s in result.steps if s.side == "server")  # staff's next move still works


@pytest.mark.slow
def test_f6_the_reader_shows_r401_when_unplugged_during_the_pin(server: LiveServer) -> None:
    result, printed = play(server, "f06-reader-unplugged")
    assert result.ok, printed
    step = reader_step(result)
    facts = step.data["facts"]
    assert step.data["script"][0] == {"fault": {"unplug_at": "pin"}}  # the scenario's reader fault, first
    assert facts["state"] == "error" and facts["error_code"] == "R401" and facts["connected"] is False
    assert facts["codes"] == ["R401"] and facts["reader_check_id"] is None  # nothing reached the server
    assert "[R401] カードリーダーとの接続が切れました" in printed
    assert "[R401] The card reader is disconnected" in printed
    number_check = result.steps[1]
    assert number_check.action == "number_check" and number_check.data["validity"] == "1"


@pytest.mark.slow
def test_f7_the_mask_fails_three_times_then_the_pin_succeeds(server: LiveServer) -> None:
    result, printed = play(server, "f07-face-mismatch")
    assert result.ok, printed
    step = reader_step(result)
    faces = [s for s in step.data["screens"] if s["action"] == "face"]
    assert [s.get("code") for s in faces][-1] == "R202"
    assert "あと2回" in faces[0]["ja"] and "あと1回" in faces[1]["ja"]
    facts = step.data["facts"]
    assert facts["codes"][-1] == "R202" and "R202" in facts["codes"]
    assert facts["state"] == "result" and facts["method"] == "pin" and facts["validity"] == "1"
    assert facts["name"] == "佐藤　花子" and facts["copay"] == 30 and facts["reader_check_id"]
    assert "[R202] 顔認証ができませんでした" in printed and "(by PIN)" in printed


@pytest.mark.slow
def test_f7_an_infants_card_goes_to_a_visual_check(server: LiveServer) -> None:
    result, printed = play(server, "f07-infant-no-photo")
    assert result.ok, printed
    facts = reader_step(result).data["facts"]
    assert facts["codes"] == [] and facts["method"] == "visual"
    assert facts["state"] == "result" and facts["validity"] == "1" and facts["copay"] == 20


@pytest.mark.slow
def test_f8_two_then_one_try_left_then_locked_then_face_and_no_leak_between_runs(server: LiveServer) -> None:
    for _ in range(2):  # a fresh card tray per run: the second run starts with 3 tries again
        result, printed = play(server, "f08-pin-locked")
        assert result.ok, printed
        step = reader_step(result)
        pins = [s for s in step.data["screens"] if s["action"] == "pin"]
        assert [s["code"] for s in pins] == ["pin_wrong", "pin_wrong", "R301"]
        assert "残り2回" in pins[0]["ja"] and "残り1回" in pins[1]["ja"]
        assert "2 tries left" in pins[0]["en"] and "1 tries left" in pins[1]["en"]
        facts = step.data["facts"]
        assert facts["pin_remaining"] == 0 and facts["codes"] == ["pin_wrong", "pin_wrong", "R301"]
        assert facts["state"] == "result" and facts["method"] == "face" and facts["validity"] == "1"
        assert "[R301] 暗証番号がロックされています" in printed and "PIN tries left: 0" in printed


@pytest.mark.slow
def test_a_reader_outcome_other_than_expected_fails(server: LiveServer, tmp_path: Path) -> None:
    data = yaml.safe_load((SCENARIO_DIR / "f08-pin-locked.yaml").read_text(encoding="utf-8"))
    script = data["steps"][0]["reader"]["script"]
    script[script.index({"expect": {"state": "pin", "pin_remaining": 1}})] = {"expect": {"pin_remaining": 2}}
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result, printed = play(server, "", load_scenario(broken))
    assert not result.ok
    step = reader_step(result)
    assert not step.ok and "expected pin_remaining = 2, got 1" in step.checks[0], printed
    # a step-level expectation is compared with what the reader showed
    data = yaml.safe_load((SCENARIO_DIR / "f06-reader-unplugged.yaml").read_text(encoding="utf-8"))
    data["steps"][0]["expect"] = {"code": "R101"}
    result, printed = play(server, "", parse_scenario(data))
    assert not result.ok and "code: expected 'R101' among ['R401']" in reader_step(result).checks, printed


@pytest.mark.slow
def test_the_cli_plays_the_reader_and_exits_0(server: LiveServer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "onshi", "scenario", "run", "F8", "--server", server.url,
         "--admin-token", server.admin_token],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "残り2回" in done.stdout and "残り1回" in done.stdout and "[R301]" in done.stdout
    assert "as expected" in done.stdout and "reader-side step" not in done.stdout


@pytest.mark.parametrize("change, message", [
    ({"faults": [{"reader": {"unplug": True}}]}, "unknown reader faults"),
    ({"steps": [{"reader": {"script": [{"dance": True}]}}]}, "one action per step"),
    ({"steps": [{"reader": {"shows": {"ja": "x", "en": "y"}}}]}, "needs script"),
])
def test_invalid_reader_parts_are_refused(change: dict[str, object], message: str) -> None:
    data = yaml.safe_load((SCENARIO_DIR / "f06-reader-unplugged.yaml").read_text(encoding="utf-8"))
    data.update(change)
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data)


# --- registry events over time: the scenario's own events decide what the counter sees ---------------


def checked_at(scenario: Any, moment: str, steps: list[dict[str, Any]], events: bool = True) -> Any:
    """The same patient and events (or none), arriving at another moment, with other expectations."""
    from datetime import datetime

    from rehearsal.scenario import Step

    return dataclasses.replace(
        scenario, arrive_at=datetime.fromisoformat(moment), events=scenario.events if events else (),
        steps=tuple(Step(next(iter(s)), s[next(iter(s))], s.get("expect", {})) for s in steps))


def test_f1_and_f12_show_their_registry_events_in_the_scenario_itself() -> None:
    f1, f12 = SCENARIOS["f01-input-lag"], SCENARIOS["f12-renewal-link"]
    (job_change,) = f1.events
    assert job_change.event["kind"] == "job_change" and job_change.event["acquisition_lag_days"] == 10
    assert job_change.event["person"] == f1.persona
    (renew,) = f12.events
    assert renew.event["kind"] == "renew" and renew.event["link_lag_days"] == 10
    assert renew.event["card_of"] == f12.persona


@pytest.mark.parametrize("name, before, after", [
    # F1: the new qualification becomes visible on 26 Nov (lost_on 16 Nov + 10 days).
    ("f01-input-lag", "2026-11-25T18:00:00+09:00", "2026-11-26T09:00:00+09:00"),
    # F12: the old→new certificate link arrives on 30 Nov (renewed 20 Nov + 10 days).
    ("f12-renewal-link", "2026-11-29T18:00:00+09:00", "2026-11-30T09:00:00+09:00"),
])
def test_the_same_patient_checked_after_the_lag_is_valid(server: LiveServer, name: str, before: str,
                                                          after: str) -> None:
    scenario = SCENARIOS[name]
    target = Target(server.url, server.admin_token)
    card = {"card_check": {"method": "pin"}}
    at_arrival = scenario.steps[0].expect["validity"]  # "2" (F1) / "4" (F12)
    last_day = run_scenario(checked_at(scenario, before, [{**card, "expect": {"validity": at_arrival}}]),
                            target)
    assert last_day.ok, last_day.steps[0].checks
    later = run_scenario(checked_at(scenario, after, [{**card, "expect": {"validity": "1", "copay": 30}}]),
                         target)
    assert later.ok, later.steps[0].checks
    document = next(s.args["document"] for s in scenario.steps if s.action == "number_check")
    number = run_scenario(checked_at(scenario, after, [{"number_check": {"document": document},
                                                         "expect": {"validity": "1"}}]), target)
    assert number.ok, number.steps[0].checks


@pytest.mark.parametrize("name", ["f01-input-lag", "f12-renewal-link"])
def test_without_its_events_the_patient_is_valid_at_arrival(server: LiveServer, name: str) -> None:
    scenario = SCENARIOS[name]
    plain = checked_at(scenario, scenario.arrive_at.isoformat(),
                       [{"card_check": {"method": "pin"}, "expect": {"validity": "1"}}], events=False)
    result = run_scenario(plain, Target(server.url, server.admin_token))
    assert result.ok, result.steps[0].checks
