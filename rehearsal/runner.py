"""`onshi scenario run NAME`: play a scenario against a real server through its HTTP APIs.

The runner resets the registry to the fixture personas, moves the simulated clock, applies the
scenario's registry events, schedules its faults on the simulated clock (admin fault rules), then
performs the counter's checks with ``clinic_client.client.OnshiClient`` — card checks as a reader
would send them (card signature for the PIN, the reader's attestation for face or visual), number
checks from the documents the patient carries, medical-information requests — and compares each
answer with the scenario's ``expect``. It prints what the counter sees and the right response.

Reader-side steps (a card the chip cannot read, a cable pulled during the PIN, a face that does
not match) happen inside the reader. When the reader emulator's scripted mode (`onshi reader run
SCRIPT`) is installed and takes a server to talk to, the runner hands those steps to it;
otherwise it reports them as reader-side, says what the reader would show, and goes on with the
server-side part (what staff do next: switch to the PIN, a visual check, a number check).
"""

from __future__ import annotations

import base64
import importlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from clinic_client.client import ClientSettings, OnshiClient, card_check_payload
from clinic_client.errors import NotFound, OnshiError
from clinic_client.outcome import CheckOutcome, copay_percent
from clinic_client.wronglink import Identity, check_identity
from onshi.procs import ROOT
from rehearsal.scenario import Scenario, Step, Text
from server.jlis import attestation_payload, certificate_to_der, load_certificate, sign_attestation

ALL_CONSENTS = {"medication": True, "clinical": True, "operation": True, "checkup": True,
                "limit_bracket": True, "prescription": "1"}
NO_CONSENTS = {"medication": False, "clinical": False, "operation": False, "checkup": False,
               "limit_bracket": False, "prescription": "2"}


@dataclass(frozen=True)
class Target:
    """Which server to drive, as whom."""

    url: str = "http://127.0.0.1:8000"
    admin_token: str = "dev-admin-token"
    clinic_token: str | None = None  # default: the fixture clinic's token
    timeout: float = 10.0

    @classmethod
    def from_env(cls) -> Target:
        return cls(os.environ.get("ONSHI_SERVER_URL", "http://127.0.0.1:8000"),
                   os.environ.get("ONSHI_ADMIN_TOKEN", "dev-admin-token"),
                   os.environ.get("ONSHI_CLINIC_TOKEN"))


KIND_JA = {"medication": "薬剤情報", "clinical": "診療情報", "operation": "手術情報",
           "checkup": "特定健診情報"}
FIXTURE_CLINIC_TOKENS = {"1312345678": "demo-clinic-token", "1342000017": "demo-pharmacy-token"}


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
        ja.append(f"氏名 {person.Name}（{person.Birthdate}）")
        en.append(f"name {person.Name} ({person.Birthdate})")
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


def describe_error(error: OnshiError) -> Text:
    return Text(f"エラー [{error.status or '-'} {error.code}] {error.title_ja or error.title}",
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


# --- the reader emulator's scripted mode, when present -------------------------------------


def reader_script_command() -> list[str] | None:
    """`onshi reader run` if the emulator provides it with a way to name the server; else None."""
    try:
        module = importlib.import_module("cardreader_emulator.cli")
    except ImportError:
        return None
    group = getattr(module, "reader", None)
    run = getattr(group, "commands", {}).get("run") if group is not None else None
    if run is None:
        return None
    options = {opt for param in run.params for opt in getattr(param, "opts", [])}
    if "--server" not in options:
        return None
    return [sys.executable, "-m", "onshi", "reader", "run"]


# --- the runner ----------------------------------------------------------------------------


class ScenarioRunner:
    def __init__(self, target: Target, *, reader: str = "auto",
                 echo: Callable[[str], None] = lambda line: None) -> None:
        self.target = target
        self.reader_mode = reader  # auto | off
        self.echo = echo

    def _client(self, scenario: Scenario) -> OnshiClient:
        token = self.target.clinic_token or FIXTURE_CLINIC_TOKENS.get(scenario.clinic, "")
        day = scenario.arrive_at.date()
        settings = ClientSettings(self.target.url, clinic_code=scenario.clinic, clinic_token=token,
                                  admin_token=self.target.admin_token, timeout=self.target.timeout,
                                  retries=0, today=lambda: day)
        return OnshiClient(settings)

    def run(self, scenario: Scenario) -> RunResult:
        result = RunResult(scenario)
        with self._client(scenario) as client:
            try:
                self._prepare(client, scenario)
                patient = self._patient(client, scenario)
                reader = client.register_reader(scenario.clinic)
                for step in scenario.steps:
                    outcome = self._step(client, scenario, step, patient, reader, result)
                    result.steps.append(outcome)
                    self._echo_step(outcome)
            except OnshiError as exc:
                result.error = f"setup failed: {exc.describe('en')}"
            finally:
                try:
                    client.run(client.api.admin("DELETE", "faults"))
                except OnshiError as exc:
                    result.error = result.error or f"could not clear the faults: {exc}"
        return result

    def prepare(self, scenario: Scenario) -> None:
        """Sets the server up for the scenario (registry, clock, events, faults) for a trainee to play."""
        with self._client(scenario) as client:
            self._prepare(client, scenario)

    # setup

    def _prepare(self, client: OnshiClient, scenario: Scenario) -> None:
        client.load_fixtures("personas")
        client.run(client.api.admin("DELETE", "faults"))
        for timed in scenario.events:
            if timed.at is not None:
                client.set_clock(set_to=timed.at, frozen=True)
            client.run(client.api.admin("POST", "events", dict(timed.event)))
        for fault in scenario.faults:
            if fault.side != "server":
                continue
            body: dict[str, Any] = {**fault.spec, "note": f"scenario {scenario.id}"}
            if fault.at is not None:
                body["start"] = fault.at.isoformat()
            if fault.until is not None:
                body["end"] = fault.until.isoformat()
            client.run(client.api.admin("POST", "faults/rules", body))
        client.set_clock(set_to=scenario.arrive_at, frozen=True)

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
              reader: Mapping[str, Any], result: RunResult) -> StepResult:
        if step.action == "clock":
            return self._clock(client, scenario, step)
        if step.action == "reader":
            return self._reader(scenario, step, reader)
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
        card = client.card(str(args.get("card_of", scenario.persona)))
        challenge = client.challenge(reader["reader_id"])
        nonce = base64.urlsafe_b64decode(challenge.nonce + "=" * (-len(challenge.nonce) % 4))
        signature = attestation = None
        if method == "pin":
            key = serialization.load_pem_private_key(card["private_key_pem"].encode(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            signature = base64.b64encode(key.sign(nonce, padding.PKCS1v15(), hashes.SHA256())).decode()
        else:
            device = serialization.load_pem_private_key(reader["device_key_pem"].encode(), password=None)
            der = certificate_to_der(load_certificate(card["certificate_pem"]))
            payload = attestation_payload(nonce, der, method, reader["reader_id"])
            attestation = base64.b64encode(sign_attestation(device, payload)).decode()  # type: ignore[arg-type]
        body = card_check_payload(reader_id=reader["reader_id"], nonce=challenge.nonce,
                                  certificate_pem=card["certificate_pem"], method=method,
                                  card_signature=signature, reader_attestation=attestation,
                                  consents=consents)
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

    def _reader(self, scenario: Scenario, step: Step, reader: Mapping[str, Any]) -> StepResult:
        script = list(step.args.get("script") or []) if isinstance(step.args, Mapping) else list(step.args)
        shows = Text.parse(step.args.get("shows"), f"{scenario.id}: reader.shows", False) \
            if isinstance(step.args, Mapping) else Text("", "")
        faults = [dict(f.spec) for f in scenario.faults if f.side == "reader"]
        command = reader_script_command() if self.reader_mode == "auto" else None
        if command is None:
            why = Text(
                "読み取り機側の手順（カード読取り機エミュレーターのスクリプト実行が使えないため、"
                f"サーバーは動かしていません）。読み取り機の表示: {shows.ja}",
                "reader-side step (the reader emulator's scripted mode is not available, so it was not "
                f"played). The reader shows: {shows.en}",
            )
            return StepResult("reader", "reader", True, shows, [], why,
                              {"played": False, "script": script, "faults": faults})
        steps = [{"fault": f} for f in faults] + script
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, encoding="utf-8") as handle:
            yaml.safe_dump({"steps": steps}, handle, allow_unicode=True)
        try:
            done = subprocess.run([*command, handle.name, "--server", self.target.url], cwd=ROOT,
                                  capture_output=True, text=True, timeout=120,
                                  env={**os.environ, "ONSHI_ADMIN_TOKEN": self.target.admin_token})
        finally:
            Path(handle.name).unlink(missing_ok=True)
        ok = done.returncode == 0
        problems = [] if ok else [done.stderr[-500:] or done.stdout[-500:]]
        return StepResult("reader", "reader", ok, shows, problems,
                          step.say, {"played": True, "output": done.stdout[-2000:]})

    def _echo_step(self, step: StepResult) -> None:
        mark = ("◇" if not step.data.get("played", True) else "✔") if step.ok else "✘"
        self.echo(f"  {mark} {step.action:<13} {step.sees.ja}")
        self.echo(f"    {'':<13} {step.sees.en}")
        if step.note.ja and step.side == "reader":
            self.echo(f"    {'':<13} ({step.note.en})")
        for problem in step.checks:
            self.echo(f"    {'':<13} ✘ {problem}")


def run_scenario(scenario: Scenario, target: Target | None = None, *, reader: str = "auto",
                 echo: Callable[[str], None] = lambda line: None) -> RunResult:
    return ScenarioRunner(target or Target.from_env(), reader=reader, echo=echo).run(scenario)
