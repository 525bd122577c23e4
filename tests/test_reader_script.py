"""`onshi reader run SCRIPT`: the format is in `--help` (and docs/integration.md), and a wrong face
name or action is refused before anything runs, naming the valid ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cardreader_emulator import faces
from cardreader_emulator.script import ACTIONS, SCRIPT_FORMAT, ScriptError, parse_steps
from onshi.procs import ROOT


def onshi(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "onshi", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_help_shows_the_script_format() -> None:
    out = onshi("reader", "run", "--help")
    assert out.returncode == 0, out.stderr
    for action in ACTIONS:
        assert f"- {action}:" in out.stdout, action
    assert "holder" in out.stdout and "man-a" in out.stdout and "sunglasses" in out.stdout


def test_the_documented_format_is_the_one_in_the_help() -> None:
    doc = (ROOT / "docs" / "integration.md").read_text(encoding="utf-8")
    assert SCRIPT_FORMAT.strip() in doc


def test_an_unknown_face_name_fails_listing_the_valid_names(tmp_path: Path) -> None:
    script = tmp_path / "check.yaml"
    script.write_text("- place: healthy-employee\n- face: healthy-employee\n", encoding="utf-8")
    out = onshi("reader", "--server", "http://127.0.0.1:9", "run", str(script))  # fails before any request
    assert out.returncode == 1
    assert "step 2 (face)" in out.stderr and "'healthy-employee'" in out.stderr
    for name in ("holder", *faces.PORTRAITS):
        assert name in out.stderr


@pytest.mark.parametrize(
    ("steps", "words"),
    [
        ([{"smile": True}], "unknown action 'smile'"),
        ([{"face": "man-a:frown"}], "unknown face variation 'frown'"),
        ([{"face": "holder+nobody"}], "unknown face 'nobody'"),
    ],
)
def test_wrong_steps_are_refused_with_the_reason(steps: list[dict[str, object]], words: str) -> None:
    with pytest.raises(ScriptError) as refused:
        parse_steps(steps)
    assert words in str(refused.value)


def test_good_face_specs_pass() -> None:
    assert parse_steps([{"face": "holder:mask"}, {"face": "man-a"}, {"face": "astronaut+man-a:dim"}])
