"""`onshi scenario run NAME`: play a scenario against a real server through its HTTP APIs.

The runner resets the registry to the fixture personas, moves the simulated clock, applies the
scenario's registry events, schedules its faults on the simulated clock (admin fault rules), then
performs the counter's checks with ``clinic_client.client.OnshiClient`` — card checks as a reader
would send them (card signature for the PIN, the reader's attestation for face or visual), number
checks from the documents the patient carries, medical-information requests — and compares each
answer with the scenario's ``expect``. It prints what the counter sees and the right response.

Reader-side steps (a card the chip cannot read, a cable pulled during the PIN, a face that does
not match) happen inside the reader. The runner plays them on the reader emulator's scripted mode::

    python -m onshi reader --server URL --cards-dir TMP/cards --results-dir TMP/results … run SCRIPT --json

The scenario's ``reader: {script: [...]}`` is already in the reader's script format; the runner
puts the scenario's reader faults in front of it (``- fault: {...}``) and prints what the reader
showed (its R… codes, messages, PIN tries left, the result it got from the server). The card tray
is a temporary directory per run, shared by the run's reader steps, so a PIN locked in one run
does not stay locked for the next. With ``reader="off"`` the runner only describes the reader
steps (what the reader would show) and goes on with the server-side part (what staff do next:
switch to the PIN, a visual check, a number check).
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from clinic_client.client import ClientSettings, OnshiClient, card_check_payload
from clinic_client.errors import NotFound, OnshiError
from clinic_client.outcome import CheckOutcome, copay_percent
from clinic_client.testing import ALL_CONSENTS, pin_card_check
from clinic_client.wronglink import Identity, check_identity
from onshi import defaults
from onshi.codes import QualificationValidity
from onshi.procs import ROOT
from rehearsal.scenario import Scenario, Step, Text, reader_script
from server import jlis

NO_CONSENTS = {"medication": False, "clinical": False, "operation": False, "checkup": False,
               "limit_bracket": False, "prescription": "2"}


@dataclass(frozen=True)
class Target:
    """Which server to drive, as whom."""

    url: str = defaults.SERVER_URL
    admin_token: str = defaults.ADMIN_TOKEN
    clinic_token: str | None = None  # default: the fixture clinic's token
    timeout: float = 10.0

    @classmethod
    def from_env(cls) -> Target:
        return cls(os.environ.get(defaults.ENV_SERVER_URL, defaults.SERVER_URL),
                   os.environ.get(defaults.ENV_ADMIN_TOKEN, defaults.ADMIN_TOKEN),
                   os.environ.get(defaults.ENV_CLINIC_TOKEN))


KIND_JA = {"medication": "薬剤情報", "clinical": "診療情報", "operation": "手術情報",
           "checkup": "特定健診情報"}


@dataclass
class StepResult:
    action: str
    side: str  # server | reader
    ok: bool
    sees: Text  # what the counter sees
    checks: list[str] = field(default_factory=list)  # expectation failures
    note: Text = field(default_factory=lambda: Text("", ""))  # e.g. why a reader step was not run
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "side": self.side, "ok": self.ok, "sees_ja": self.sees.ja,
                "sees_en": self.sees.en, "checks": self.checks, "note_ja": self.note.ja,
                "note_en": self.note.en, "data": self.data}


@dataclass
class RunResult:
    scenario: Scenario
    steps: list[StepResult] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(s.ok for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        failure = self.scenario.failure
        return {
            "scenario": self.scenario.id, "failure": self.scenario.failure_id, "ok": self.ok,
            "error": self.error, "steps": [s.to_json() for s in self.steps],
            "right_response_ja": failure.response_ja, "right_response_en": failure.response_en,
        }


# --- reading answers -----------------------------------------------------------------------


def describe_outcome(outcome: CheckOutcome) -> Text:
    """One line of what the reception screen shows for a check."""
    validity = outcome.validity
    ja = [f"資格: {validity.ja}" if validity else f"処理結果: {outcome.status.ja}"]
    en = [f"qualification: {validity.en}" if validity else f"result: {outcome.status.en}"]
    person = outcome.primary
    if person is not None and person.Name:
        ja.append(f"氏名 {person.Name}（{date_words(person.Birthdate, 'ja')}生まれ）")
        en.append(f"name {person.Name} (born {date_words(person.Birthdate, 'en')})")
        percent = copay_percent(person)
        if percent is not None:
            ja.append(f"負担 {percent // 10}割")
            en.append(f"co-pay {percent}%")
    for note in outcome.notes:
        ja.append(f"[{note.code}] {note.ja}")
        en.append(f"[{note.code}] {note.en}")
    for note in outcome.withheld:
        ja.append(f"医療情報なし: {note.ja}")
        en.append(f"no medical info: {note.en}")
    if len(outcome.results) > 1:
        ja.append(f"{len(outcome.results)}件該当")
        en.append(f"{len(outcome.results)} matches")
    return Text(" / ".join(ja), " / ".join(en))


def date_words(text: str | None, lang: str) -> str:
    """A message's YYYYMMDD as people read it: 1962年12月25日 / 1962-12-25 (anything else as is)."""
    t = (text or "").strip()
    if len(t) != 8 or not t.isdigit():
        return t or "—"
    return f"{int(t[:4])}年{int(t[4:6])}月{int(t[6:8])}日" if lang == "ja" else f"{t[:4]}-{t[4:6]}-{t[6:8]}"


def describe_error(error: OnshiError) -> Text:
    return Text(f"エラー（{error.status or '通信'}）{error.title_ja or '照会できませんでした'}",
                f"error [{error.status or '-'} {error.code}] {error.title or error.title_ja}")


def outcome_facts(outcome: CheckOutcome, patient: Identity | None) -> dict[str, Any]:
    person = outcome.primary
    facts: dict[str, Any] = {
        "status": outcome.status.value,
        "validity": outcome.validity.value if outcome.validity else None,
        "codes": [n.code for n in outcome.notes],
        "withheld": [n.code for n in outcome.withheld],
        "medical_info": sorted(k.value for k in outcome.medical_info),
        "matches": len(outcome.results),
        "name": person.Name if person else None,
        "birthdate": person.Birthdate if person else None,
        "copay": copay_percent(person),
        "registered_copay": int(ratio) if (ratio := (person.InsuredPartialContributionRatio or "").strip()
                                           if person else "").isdigit() else None,
        "reason_of_loss": person.ReasonOfLoss.value if person and person.ReasonOfLoss else None,
        "check_id": outcome.check_id,
    }
    facts["name_has_mark"] = bool(person and person.Name and "●" in person.Name)
    facts["stranger"] = bool(person and patient and check_identity(patient, person) is not None)
    return facts


def compare(facts: Mapping[str, Any], expect: Mapping[str, Any]) -> list[str]:
    """Expectation failures: ``code`` means "among the notes", ``withheld`` "among the reasons"."""
    problems = []
    for key, want in expect.items():
        got = facts.get(key if key != "code" else "codes")
        if key in ("code", "withheld"):
            wanted = want if isinstance(want, list) else [want]
            if not all(str(w) in (got or []) for w in wanted):
                problems.append(f"{key}: expected {want!r} among {got!r}")
        elif str(got) != str(want) and got != want:
            problems.append(f"{key}: expected {want!r}, got {got!r}")
    return problems


# --- the reader emulator's scripted mode -------------------------------------------------------

READER_GROUP_OPTIONS = ("--server", "--cards-dir", "--results-dir", "--admin-token", "--clinic-code",
                        "--clinic-token")
READER_TIMEOUT = 300.0  # seconds for one `onshi reader run` (it starts, registers, syncs cards, plays)


def scripted_mode_missing() -> str | None:
    """Why `onshi reader [--server URL --cards-dir DIR …] run SCRIPT --json` cannot be used; None if it can.

    The reader takes the server, the card tray and the credentials as options of the ``reader``
    group (``onshi reader --server URL run SCRIPT``), not of ``run``.
    """
    try:
        module = importlib.import_module("cardreader_emulator.cli")
    except ImportError as exc:
        return f"the reader emulator is not installed ({exc})"
    group = getattr(module, "reader", None)
    run = getattr(group, "commands", {}).get("run") if group is not None else None
    if group is None or run is None:
        return "the reader emulator has no scripted mode (`onshi reader run`)"
    group_options = {opt for param in group.params for opt in getattr(param, "opts", [])}
    run_options = {opt for param in run.params for opt in getattr(param, "opts", [])}
    missing = [opt for opt in READER_GROUP_OPTIONS if opt not in group_options]
    missing += [] if "--json" in run_options else ["run --json"]
    return f"`onshi reader` lacks {', '.join(missing)}" if missing else None


@dataclass(frozen=True)
class ReaderSetup:
    """One run's reader: which server and clinic it talks to, and its own card tray and result folder."""

    server: str
    admin_token: str
    clinic_code: str
    clinic_token: str
    state_dir: Path  # cards/, results/ and the reader's registration (beside cards/)

    def command(self, script: Path) -> list[str]:
        return [sys.executable, "-m", "onshi", "reader", "--server", self.server,
                "--admin-token", self.admin_token, "--clinic-code", self.clinic_code,
                "--clinic-token", self.clinic_token, "--cards-dir", str(self.state_dir / "cards"),
                "--results-dir", str(self.state_dir / "results"), "run", str(script), "--json"]


METHOD_LABELS = {"pin": Text("暗証番号", "PIN"), "face": Text("顔認証", "face"),
                 "visual": Text("目視確認", "visual check"), "biometric": Text("生体認証", "biometrics")}
PLATFORM_LABELS = {"android": "Android", "iphone": "iPhone"}


def _shown_text(code: str, text: str) -> str:
    """A reader message as the screen shows it: the reader's own error codes in brackets."""
    return f"[{code}] {text}" if re.fullmatch(r"R\d{3}", code) else text


def _argument(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}" if value else ""
    return "" if value is True else str(value)


def reader_report(report: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """What the reader showed, step by step, and the facts a scenario's ``expect`` is compared with.

    ``report`` is the JSON printed by `onshi reader run --json`: ``final`` (the reader's last screen),
    ``steps`` (each step's state and the notice or error it showed), ``answer``, ``result_file``.
    """
    screens: list[dict[str, Any]] = []
    codes: list[str] = []
    for record in report.get("steps") or []:
        if record.get("action") in ("expect", "fault"):
            continue
        shown = record.get("error") or record.get("notice")
        screen = {"action": record.get("action"), "arg": record.get("arg"), "state": record.get("state")}
        if shown:
            screen.update(code=shown.get("code"), ja=shown.get("ja"), en=shown.get("en"))
            codes.append(str(shown.get("code")))
        screens.append(screen)
    final = dict(report.get("final") or {})
    error = final.get("error") or {}
    notice = final.get("notice") or {}
    for shown in (error, notice):
        if shown.get("code") and (not codes or codes[-1] != shown["code"]):
            codes.append(str(shown["code"]))
    summary = final.get("summary") or {}
    copay = str(summary.get("copay") or "").strip()
    facts: dict[str, Any] = {
        "state": final.get("state"),
        "error_code": error.get("code"),
        "notice_code": notice.get("code"),
        "codes": codes,
        "pin_remaining": final.get("pin_remaining"),
        "face_attempts_left": final.get("face_attempts_left"),
        "methods": final.get("methods"),
        "method": final.get("method"),
        "connected": final.get("connected"),
        "medium": final.get("medium"),
        "platform": final.get("platform"),
        # the central system's own code in the answer the reader got (E001 …)
        "result_code": summary.get("processing_result_code") or summary.get("error_code"),
        "validity": summary.get("validity"),
        "status": summary.get("processing_result_status"),
        "name": summary.get("name"),
        "copay": int(copay) if copay.isdigit() else None,
        "reader_check_id": summary.get("check_id"),
        "result_file": Path(str(report["result_file"])).name if report.get("result_file") else None,
    }
    return screens, facts


def describe_reader(screens: list[dict[str, Any]], facts: Mapping[str, Any]) -> tuple[list[Text], Text]:
    """The reader's screens as lines (one per step that showed a message) and one summary line."""
    lines: list[Text] = []
    for screen in screens:
        if not screen.get("code"):
            continue
        step = f"{screen['action']} {_argument(screen['arg'])}".strip()
        lines.append(Text(f"{step} → {_shown_text(str(screen['code']), str(screen['ja']))}",
                          f"{step} → {_shown_text(str(screen['code']), str(screen['en']))}"))
    if facts.get("state") == "result":
        validity = next((v for v in QualificationValidity if v.value == facts.get("validity")), None)
        ja = f"読み取り機の結果: 資格 {validity.ja if validity else facts.get('validity') or '-'}"
        en = f"the reader's result: qualification {validity.en if validity else facts.get('validity') or '-'}"
        if facts.get("status") == "2":  # the central system could not confirm: its code, not a validity
            code = facts.get("result_code") or "-"
            ja, en = f"読み取り機の結果: 確認できず（{code}）", f"the reader's result: not confirmed ({code})"
        method = METHOD_LABELS.get(str(facts.get("method")))
        by_phone = facts.get("medium") == "smartphone"
        phone = PLATFORM_LABELS.get(str(facts.get("platform"))) if by_phone else None
        if method and phone:
            ja += f"（スマートフォン・{phone}・{method.ja}）"
            en += f" (by smartphone, {phone}, {method.en})"
        elif method:
            ja += f"（{method.ja}）"
            en += f" (by {method.en})"
        if facts.get("name"):
            ja += f" / 氏名 {facts['name']}"
            en += f" / name {facts['name']}"
        if facts.get("copay") is not None:
            ja += f" / 負担 {facts['copay'] // 10}割"
            en += f" / co-pay {facts['copay']}%"
        if facts.get("result_file"):
            ja += f" / 結果ファイル {facts['result_file']}"
            en += f" / result file {facts['result_file']}"
        lines.append(Text(ja, en))
    elif not lines:
        state = facts.get("state")
        lines.append(Text(f"読み取り機の画面: {state}", f"the reader's screen: {state}"))
    if facts.get("pin_remaining") is not None and any(s.get("action") == "pin" and s.get("code")
                                                       for s in screens):
        left = facts["pin_remaining"]
        lines.append(Text(f"暗証番号の残り回数: {left}", f"PIN tries left: {left}"))
    return lines, Text(" / ".join(t.ja for t in lines), " / ".join(t.en for t in lines))


# --- the runner ----------------------------------------------------------------------------


class ScenarioRunner:
    def __init__(self, target: Target, *, reader: str = "auto",
                 echo: Callable[[str], None] = lambda line: None) -> None:
        self.target = target
        self.reader_mode = reader  # auto | off
        self.echo = echo

    def _clinic_token(self, scenario: Scenario) -> str:
        return self.target.clinic_token or defaults.FIXTURE_CLINIC_TOKENS.get(scenario.clinic, "")

    def _client(self, scenario: Scenario) -> OnshiClient:
        token = self._clinic_token(scenario)
        day = scenario.arrive_at.date()
        settings = ClientSettings(self.target.url, clinic_code=scenario.clinic, clinic_token=token,
                                  admin_token=self.target.admin_token, timeout=self.target.timeout,
                                  retries=0, today=lambda: day)
        return OnshiClient(settings)

    def run(self, scenario: Scenario) -> RunResult:
        """Plays the scenario. The registry is reloaded (fixture personas, then the scenario's events);
        faults someone else set stay, and only the fault rules this run added are removed after it."""
        result = RunResult(scenario)
        added: list[str] = []
        with self._client(scenario) as client, tempfile.TemporaryDirectory(prefix="onshi-reader-") as tray:
            try:
                added = self._prepare(client, scenario)
                patient = self._patient(client, scenario)
                reader = client.register_reader(scenario.clinic)
                setup = ReaderSetup(self.target.url, self.target.admin_token, scenario.clinic,
                                    self._clinic_token(scenario), Path(tray))
                for step in scenario.steps:
                    outcome = self._step(client, scenario, step, patient, reader, setup, result)
                    result.steps.append(outcome)
                    self._echo_step(outcome)
            except OnshiError as exc:
                result.error = f"setup failed: {exc.describe('en')}"
            finally:
                problem = remove_rules(client, added)
                result.error = result.error or problem
        return result

    def prepare(self, scenario: Scenario) -> list[str]:
        """Sets the server up for the scenario (registry, clock, events, faults) for a trainee to play;
        answers the ids of the fault rules it added (for :func:`remove_rules` when the trainee is done)."""
        with self._client(scenario) as client:
            return self._prepare(client, scenario)

    def remove_rules(self, scenario: Scenario, rule_ids: list[str]) -> str | None:
        with self._client(scenario) as client:
            return remove_rules(client, rule_ids)

    # setup

    def _prepare(self, client: OnshiClient, scenario: Scenario) -> list[str]:
        client.load_fixtures("personas")  # the registry only: faults in force stay
        for timed in scenario.events:
            if timed.at is not None:
                client.set_clock(set_to=timed.at, frozen=True)
            fields = dict(timed.event)
            client.event(str(fields.pop("kind")), **fields)
        added = []
        for fault in scenario.faults:
            if fault.side != "server":
                continue
            body: dict[str, Any] = {**fault.spec, "note": f"scenario {scenario.id}"}
            if fault.at is not None:
                body["start"] = fault.at.isoformat()
            if fault.until is not None:
                body["end"] = fault.until.isoformat()
            added.append(client.add_fault_rule(body)["rule"]["id"])
        client.set_clock(set_to=scenario.arrive_at, frozen=True)
        return added

    def _patient(self, client: OnshiClient, scenario: Scenario) -> Identity | None:
        """Who is really at the counter (the persona's own identity, from their card's face data)."""
        if not any(p["id"] == scenario.persona for p in client.personas()):
            raise OnshiError(f"persona {scenario.persona} is not in the fixture set", code="persona_unknown")
        try:
            person = client.card(scenario.persona).get("person") or {}
        except NotFound:
            return None
        return Identity(str(person["name"]), date.fromisoformat(str(person["birthdate"])),
                        str(person.get("name_kana", "")))

    # steps

    def _step(self, client: OnshiClient, scenario: Scenario, step: Step, patient: Identity | None,
              reader: Mapping[str, Any], setup: ReaderSetup, result: RunResult) -> StepResult:
        if step.action == "clock":
            return self._clock(client, scenario, step)
        if step.action == "reader":
            return self._reader(scenario, step, setup)
        try:
            if step.action == "card_check":
                outcome = self._card_check(client, scenario, step, reader)
            elif step.action == "number_check":
                outcome = self._number_check(client, scenario, step)
            else:
                return self._medical_info(client, step, result)
        except OnshiError as exc:
            facts = {"error": exc.code, "http_status": exc.status}
            problems = compare(facts, step.expect) if step.expect else [f"unexpected error {exc.code}"]
            return StepResult(step.action, "server", not problems, describe_error(exc), problems, step.say,
                              facts)
        facts = outcome_facts(outcome, patient)
        problems = compare(facts, step.expect)
        return StepResult(step.action, "server", not problems, describe_outcome(outcome), problems, step.say,
                          facts)

    def _clock(self, client: OnshiClient, scenario: Scenario, step: Step) -> StepResult:
        args = dict(step.args or {})
        if "set" in args:
            view = client.set_clock(set_to=str(args["set"]), frozen=True)
        else:
            view = client.set_clock(advance_seconds=float(args.get("advance_minutes", 0)) * 60)
        return StepResult("clock", "server", True, Text(f"時刻 {view['now']}", f"time {view['now']}"),
                          note=step.say, data={"now": view["now"]})

    def _card_check(self, client: OnshiClient, scenario: Scenario, step: Step,
                    reader: Mapping[str, Any]) -> CheckOutcome:
        args = dict(step.args or {})
        method = str(args.get("method", "pin"))
        consents = ALL_CONSENTS if args.get("consents", "all") == "all" else NO_CONSENTS
        card_of = str(args.get("card_of", scenario.persona))
        if method == "pin":
            return pin_card_check(client, card_of, reader["reader_id"], consents)[1]
        # face or visual: the reader vouches for the holder with its device key
        card = client.card(card_of)
        challenge = client.challenge(reader["reader_id"])
        der = jlis.present_certificate(card["certificate_pem"]).der
        signed = jlis.attest(reader["device_key_pem"], jlis.nonce_bytes(challenge.nonce), der, method,
                             reader["reader_id"])
        attestation = base64.b64encode(signed).decode()
        body = card_check_payload(reader_id=reader["reader_id"], nonce=challenge.nonce,
                                  certificate_pem=card["certificate_pem"], method=method,
                                  reader_attestation=attestation, consents=consents)
        return client.card_check(body)

    def _number_check(self, client: OnshiClient, scenario: Scenario, step: Step) -> CheckOutcome:
        args = dict(step.args or {})
        numbers = dict(scenario.document(str(args["document"])).numbers or {}) if "document" in args else {}
        numbers.update(args.get("numbers") or {})
        if "branch" in args:
            numbers["branch"] = args["branch"]
        birthdate = str(numbers["birthdate"]).replace("-", "")
        return client.number_check(str(numbers["insurer"]), str(numbers["number"]), birthdate,
                                   symbol=numbers.get("symbol"), branch=numbers.get("branch"))

    def _medical_info(self, client: OnshiClient, step: Step, result: RunResult) -> StepResult:
        kind = str((step.args or {}).get("kind", "medication"))
        check_ids = [s.data["check_id"] for s in result.steps if s.data.get("check_id")]
        check_id = check_ids[-1] if check_ids else None
        if not check_id:
            return StepResult("medical_info", "server", False,
                              Text("カード確認がありません", "no card check"),
                              ["no card check before medical_info"], step.say)
        try:
            records = client.medical_info(check_id, kind)
        except OnshiError as exc:
            facts = {"released": False, "reason": exc.code or str(exc.problem.get("code", ""))}
            return StepResult("medical_info", "server", not compare(facts, step.expect),
                              Text(f"{KIND_JA.get(kind, kind)}: 提供されない（{exc.title_ja or exc.detail}）",
                                   f"{kind}: not provided ({exc.title or exc.detail})"),
                              compare(facts, step.expect), step.say, {**facts, "detail": exc.detail})
        items = records.get("records", records) if isinstance(records, dict) else records
        count = len(items) if isinstance(items, list) else 0
        facts = {"released": True, "count": count}
        drugs = [str(r.get("drug") or r.get("diagnosis") or "") for r in items if isinstance(r, dict)] \
            if isinstance(items, list) else []
        return StepResult("medical_info", "server", not compare(facts, step.expect),
                          Text(f"{KIND_JA.get(kind, kind)}: {count}件表示 {'、'.join(d for d in drugs if d)}",
                               f"{kind}: {count} records shown {', '.join(d for d in drugs if d)}"),
                          compare(facts, step.expect), step.say, facts)

    def _reader(self, scenario: Scenario, step: Step, setup: ReaderSetup) -> StepResult:
        script = reader_script(step.args)
        shows = Text.parse(step.args.get("shows"), f"{scenario.id}: reader.shows", False) \
            if isinstance(step.args, Mapping) else Text("", "")
        faults = scenario.reader_faults
        if self.reader_mode == "off":
            why = Text(
                "読み取り機側の手順（--reader off のため、カードリーダーエミュレーターでは"
                "実行していません）。"
                f"読み取り機の表示: {shows.ja}",
                "reader-side step (not played on the reader emulator: --reader off). "
                f"The reader shows: {shows.en}",
            )
            return StepResult("reader", "reader", True, shows, [], why,
                              {"played": False, "script": script, "faults": faults})
        missing = scripted_mode_missing()
        if missing is not None:
            why = Text(f"読み取り機の手順を実行できません: {missing}（説明だけなら --reader off）",
                       f"cannot play the reader step: {missing} (use --reader off to only describe it)")
            return StepResult("reader", "reader", False, shows, [why.en], why,
                              {"played": False, "script": script, "faults": faults})
        steps = ([{"fault": faults}] if faults else []) + script
        data: dict[str, Any] = {"played": True, "script": steps, "faults": faults}
        script_path = setup.state_dir / f"step-{len(list(setup.state_dir.glob('step-*.yaml'))) + 1}.yaml"
        script_path.write_text(yaml.safe_dump({"steps": steps}, allow_unicode=True, sort_keys=False),
                               encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("ONSHI_CONSOLE_URL", "ONSHI_SERVER_URL")}
        try:
            done = subprocess.run(setup.command(script_path), cwd=ROOT, capture_output=True, text=True,
                                  timeout=READER_TIMEOUT, env=env, check=False)
        except subprocess.TimeoutExpired:
            problem = f"the reader emulator did not finish within {READER_TIMEOUT:.0f} s"
            return StepResult("reader", "reader", False, Text("読み取り機が応答しません", problem), [problem],
                              step.say, data)
        report: dict[str, Any] = {}
        if done.returncode == 0:
            try:
                report = dict(json.loads(done.stdout))
            except ValueError:
                report = {}
        if not report:
            # the script stopped (an expectation not met, an action not possible) or the reader could
            # not start; its own words say which
            said = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}")[-800:]
            data["reader_output"] = said
            return StepResult("reader", "reader", False,
                              Text(f"読み取り機の手順が期待どおりに進みません: {said}",
                                   f"the reader did not go as the scenario expects: {said}"),
                              [f"reader: {said}"], step.say, data)
        screens, facts = reader_report(report)
        lines, sees = describe_reader(screens, facts)
        problems = compare(facts, step.expect)
        data.update(facts=facts, screens=screens, lines=[{"ja": t.ja, "en": t.en} for t in lines])
        return StepResult("reader", "reader", not problems, sees, problems, step.say, data)

    def _echo_step(self, step: StepResult) -> None:
        mark = ("◇" if not step.data.get("played", True) else "✔") if step.ok else "✘"
        lines = step.data.get("lines")
        if lines:  # a reader step that was played: one line per screen the reader showed
            self.echo(f"  {mark} {step.action:<13} {lines[0]['ja']}")
            for line in lines[1:]:
                self.echo(f"    {'':<13} {line['ja']}")
            for line in lines:
                self.echo(f"    {'':<13} {line['en']}")
            for problem in step.checks:
                self.echo(f"    {'':<13} ✘ {problem}")
            return
        self.echo(f"  {mark} {step.action:<13} {step.sees.ja}")
        self.echo(f"    {'':<13} {step.sees.en}")
        if step.note.ja and step.side == "reader":
            self.echo(f"    {'':<13} ({step.note.en})")
        for problem in step.checks:
            self.echo(f"    {'':<13} ✘ {problem}")


def remove_rules(client: OnshiClient, rule_ids: list[str]) -> str | None:
    """Removes these fault rules (one already gone is fine); answers what went wrong, if anything."""
    for rule_id in rule_ids:
        try:
            client.remove_fault_rule(rule_id)
        except NotFound:
            continue
        except OnshiError as exc:
            return f"could not remove the scenario's fault rule {rule_id}: {exc.describe('en')}"
    return None


def run_scenario(scenario: Scenario, target: Target | None = None, *, reader: str = "auto",
                 echo: Callable[[str], None] = lambda line: None) -> RunResult:
    return ScenarioRunner(target or Target.from_env(), reader=reader, echo=echo).run(scenario)
