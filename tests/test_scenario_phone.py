"""F16 and F17 (smartphone マイナ保険証) run end to end from `onshi scenario run`: the reader steps are
played on the real reader emulator (`onshi reader run`) against a real server, then the counter's
next move (a number check, the card) works."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from onshi.procs import ROOT
from tests.conftest import LiveServer
from tests.test_rehearsal_scenarios import play, reader_step


@pytest.fixture(scope="module")
def server(live_server: LiveServer) -> Iterator[LiveServer]:
    yield live_server
    live_server.admin("DELETE", "/faults")
    live_server.reset()


def test_f16_the_reader_says_there_is_no_general_reader_and_the_number_check_works(
    server: LiveServer,
) -> None:
    result, printed = play(server, "f16-phone-without-general-reader")
    assert result.ok, printed + f"\n{result.error}"
    facts = reader_step(result).data["facts"]
    assert (facts["state"], facts["error_code"], facts["medium"]) == ("error", "R701", "smartphone")
    assert facts["reader_check_id"] is None and facts["result_file"] is None  # nothing reached the server
    assert "[R701] この医療機関では、スマートフォンのマイナ保険証はご利用いただけません" in printed
    number_check = result.steps[1]
    assert number_check.data["validity"] == "1" and number_check.data["copay"] == 30


def test_f17_an_expired_phone_certificate_fails_while_the_renewed_card_works(server: LiveServer) -> None:
    result, printed = play(server, "f17-phone-certificate")
    assert result.ok, printed + f"\n{result.error}"
    facts = reader_step(result).data["facts"]
    assert (facts["medium"], facts["platform"], facts["method"]) == ("smartphone", "android", "pin")
    assert facts["status"] == "2" and facts["result_code"] == "E001" and facts["reader_check_id"]
    assert facts["result_file"].startswith("OQSsiquc01res_face_")
    assert "スマートフォン・Android・暗証番号" in printed
    card_check = result.steps[1]
    assert card_check.action == "card_check" and card_check.data["validity"] == "1"


def test_f17_a_phone_link_not_yet_visible_reads_on_the_second_hold_and_fails_at_the_center(
    server: LiveServer,
) -> None:
    result, printed = play(server, "f17-phone-link")
    assert result.ok, printed + f"\n{result.error}"
    step = reader_step(result)
    holds = [s for s in step.data["screens"] if s["action"] == "hold"]
    assert holds[0]["code"] == "R702" and "アンテナ" in holds[0]["ja"]
    facts = step.data["facts"]
    assert facts["platform"] == "iphone" and facts["method"] == "biometric" and facts["result_code"] == "E003"
    assert "スマートフォン・iPhone・生体認証" in printed
    assert result.steps[1].data["validity"] == "1"


def test_onshi_scenario_run_f16_plays_the_reader_and_exits_0(server: LiveServer) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "onshi", "scenario", "run", "F16", "--server", server.url,
         "--admin-token", server.admin_token],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[R701]" in done.stdout and "as expected" in done.stdout
    assert "reader-side step" not in done.stdout


def test_a_phone_scenario_with_the_wrong_outcome_fails(server: LiveServer) -> None:
    """The runner really compares: the F17 phone would pass if its certificate were fine (it is not)."""
    from rehearsal.scenario import SCENARIO_DIR, load_scenario

    scenario = load_scenario(SCENARIO_DIR / "f17-phone-certificate.yaml")
    step = scenario.steps[0]
    wrong = type(step)(step.action, step.args, {"state": "result", "status": "1"}, step.say)
    broken = type(scenario)(**{**scenario.__dict__, "steps": (wrong, *scenario.steps[1:])})
    result, printed = play(server, "", broken)
    assert not result.ok and "status: expected '1', got '2'" in reader_step(result).checks, printed
