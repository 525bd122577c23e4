"""Every shipped scenario runs end to end against a real server and reaches its expected outcome."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from onshi.catalogue import FailureMode
from onshi.procs import ROOT
from rehearsal.runner import Target, run_scenario
from rehearsal.scenario import SCENARIO_DIR, ScenarioError, load_all, parse_scenario
from tests.conftest import LiveServer

SCENARIOS = load_all()


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
