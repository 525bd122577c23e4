"""Scripted mode for integration tests: `onshi reader run SCRIPT` (the format: ``SCRIPT_FORMAT``,
shown by `onshi reader run --help` and in docs/integration.md)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cardreader_emulator import faces
from cardreader_emulator.machine import InvalidAction
from cardreader_emulator.reader import Reader

SCRIPT_FORMAT = """\
A script is YAML or JSON: a list of steps (or {"steps": [...]}), each step one action:

  - start: P-0001                     # the console's patient reference (optional)
  - fault: {camera_unavailable: true} # reader faults: card_unreadable, not_my_number_card,
                                      #   camera_unavailable, slow_read_ms, unplugged,
                                      #   unplug_at (a state, e.g. sending), network_down
  - place: healthy-employee           # put this card (a persona id, see `onshi card list`)
  - method: face                      # face | pin | visual
  - face: holder                      # who the camera sees: holder (the card's holder),
                                      #   a shipped face (astronaut, hopper, woman-a … woman-g,
                                      #   man-a, man-b, man-c) or an image file, with an optional
                                      #   :variation (dim, dark, blur, heavy_blur, noise, rotate,
                                      #   tilted, mask, glasses, sunglasses, empty);
                                      #   two people: holder+man-a
  - pin: "1234"                       # also the Android phone's PIN (the card's, typed on the reader)
  - visual: true                      # staff confirm the person by sight
  - general_reader: false             # the clinic has no 汎用カードリーダー (smartphones: R701)
  - phone: healthy-employee.iphone    # the patient picks スマートフォン with this phone
                                      #   (<person>.<android|iphone>, see `onshi card list`)
  - confirm_on_phone: ok              # iPhone: Face ID / Touch ID on the phone: ok | fail
  - hold: ok                          # the phone on the 汎用 reader: ok | not_read (antenna
                                      #   position) | moved_early | timeout (never read in time)
  - consent: {medical: true, operation: false, checkup: true, limit: true,
              prescription: electronic}   # answers not given are "no" (and paper)
  - expect: {state: result, validity: "1"}  # any field of the reader state or the result
                                      #   summary; also error_code, notice_code
  - wait: 1.5                         # seconds (timeouts run in real time here)
  - cancel: true
  - remove: true                      # take the card off

face, pin and visual choose their method when the reader is still asking for one. On the phone
path the order is: phone → pin (Android) or confirm_on_phone (iPhone) → hold → consent. The run
prints each step and the result; the reader writes its result file as in normal use. A step
that is not possible at that moment, or an expect that does not hold, stops the run (exit 1).
"""

ACTIONS = ("start", "fault", "place", "method", "face", "pin", "visual", "consent", "expect", "wait",
           "cancel", "remove", "general_reader", "phone", "confirm_on_phone", "hold")
HOLD_ARGS = ("ok", "not_read", "moved_early", "timeout")


class ScriptError(Exception):
    """A step could not be carried out or an expectation failed."""


@dataclass
class ScriptReport:
    steps: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    result_file: str | None = None
    summary: dict[str, Any] | None = None
    answer: dict[str, Any] | None = None


def load_script(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    return parse_steps(data)


def parse_steps(data: Any) -> list[dict[str, Any]]:
    steps = data.get("steps") if isinstance(data, dict) else data
    if not isinstance(steps, list):
        raise ScriptError("a script is a list of steps (or a mapping with 'steps')")
    for number, step in enumerate(steps, 1):
        if not isinstance(step, dict) or len(step) != 1:
            raise ScriptError(f"step {number}: one action per step, e.g. '- place: healthy-employee'")
        ((action, arg),) = step.items()
        if action not in ACTIONS:
            raise ScriptError(f"step {number}: unknown action {action!r}; actions: {', '.join(ACTIONS)}")
        if action == "hold" and str(arg) not in HOLD_ARGS:
            raise ScriptError(f"step {number} (hold): {arg!r}; one of {', '.join(HOLD_ARGS)}")
        if action == "confirm_on_phone" and _ok_or_fail(arg) is None:
            raise ScriptError(f"step {number} (confirm_on_phone): {arg!r}; ok or fail")
        if action == "general_reader" and not isinstance(arg, bool):
            raise ScriptError(f"step {number} (general_reader): true or false, got {arg!r}")
        if action == "face":
            try:
                faces.check_spec(str(arg), extra_names=("holder",))
            except KeyError as exc:
                raise ScriptError(f"step {number} (face): {exc.args[0]}") from None
    return steps


def _ok_or_fail(arg: Any) -> bool | None:
    """``confirm_on_phone``'s argument: ok/true → True, fail/false → False, anything else None."""
    if isinstance(arg, bool):
        return arg
    return {"ok": True, "fail": False}.get(str(arg).strip().lower())


def _consents(reader: Reader, answers: dict[str, Any]) -> dict[str, Any]:
    snap = reader.snapshot()
    while snap["state"] == "consent":
        step = snap["consent_step"]
        if step == "prescription":
            snap = reader.answer_consent(str(answers.get("prescription", "paper")))
        else:
            snap = reader.answer_consent(bool(answers.get(step, False)))
    return snap


def _expect(snap: dict[str, Any], expected: dict[str, Any]) -> None:
    flat = dict(snap)
    flat.update({k: v for k, v in (snap.get("summary") or {}).items() if k not in flat})
    if snap.get("error"):
        flat["error_code"] = snap["error"]["code"]
    if snap.get("notice"):
        flat["notice_code"] = snap["notice"]["code"]
    for key, want in expected.items():
        got = flat.get(key)
        if isinstance(want, list):
            ok = got == want or (isinstance(got, list) and sorted(map(str, got)) == sorted(map(str, want)))
        else:
            ok = str(got) == str(want)
        if not ok:
            raise ScriptError(f"expected {key} = {want!r}, got {got!r}")


def run_steps(
    reader: Reader, steps: list[dict[str, Any]], echo: Callable[[str], None] = lambda line: None
) -> ScriptReport:
    report = ScriptReport()
    for number, step in enumerate(steps, 1):
        ((action, arg),) = step.items()
        try:
            snap = _run_step(reader, action, arg)
        except InvalidAction as exc:
            raise ScriptError(f"step {number} ({action}): not possible now — {exc}") from exc
        except (KeyError, ValueError) as exc:
            raise ScriptError(f"step {number} ({action}): {exc}") from exc
        line = f"{number:>2}. {action}: {arg!r} → {snap['state']}"
        if snap.get("notice"):
            line += f"  [{snap['notice']['code']}] {snap['notice']['ja']}"
        if snap.get("error"):
            line += f"  [{snap['error']['code']}] {snap['error']['ja']}"
        if snap.get("last_face") and action == "face":
            face = snap["last_face"]
            line += f"  (face: {face['reason']}, distance {face['distance']})"
        echo(line)
        report.steps.append(
            {
                "action": action,
                "arg": arg,
                "state": snap["state"],
                "notice": snap.get("notice"),
                "error": snap.get("error"),
            }
        )
    report.final = reader.snapshot()
    report.answer = reader.last_answer
    report.summary = reader.last_summary
    report.result_file = str(reader.last_file) if reader.last_file else None
    return report


def _run_step(reader: Reader, action: str, arg: Any) -> dict[str, Any]:
    if action == "start":
        return reader.start_check(str(arg))
    if action == "fault":
        reader.set_faults(**dict(arg))
        return reader.snapshot()
    if action == "place":
        return reader.place_card(str(arg))
    if action == "method":
        return reader.choose(str(arg))
    if action == "face":
        if reader.snapshot()["state"] == "method":
            reader.choose("face")
        return reader.present_face(reader.capture(str(arg)))
    if action == "general_reader":
        return reader.set_general_reader(bool(arg))
    if action == "phone":
        return reader.choose_phone(str(arg))
    if action == "confirm_on_phone":
        return reader.confirm_on_phone(bool(_ok_or_fail(arg)))
    if action == "hold":
        return reader.hold_phone(str(arg))
    if action == "pin":
        if reader.snapshot()["state"] == "method":
            reader.choose("pin")
        return reader.enter_pin(str(arg))
    if action == "visual":
        if reader.snapshot()["state"] == "method":
            reader.choose("visual")
        return reader.confirm_visual()
    if action == "consent":
        return _consents(reader, dict(arg or {}))
    if action == "expect":
        snap = reader.snapshot()
        _expect(snap, dict(arg))
        return snap
    if action == "wait":
        deadline = time.monotonic() + float(arg)
        while time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
            reader.tick()
        return reader.snapshot()
    if action == "cancel":
        return reader.cancel()
    if action == "remove":
        return reader.remove_card()
    raise ScriptError(f"unknown action {action!r}")
