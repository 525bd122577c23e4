"""Scenarios: a patient at the counter, what the registry and the system do, and the right response.

A scenario is a YAML file in ``rehearsal/scenarios/``. It is plain data; this module loads and
validates it into the model below (no I/O beyond reading the files). Failure texts (what the
counter sees, the right response, figures) are *not* repeated in scenarios: they come from
``onshi.catalogue`` by the scenario's ``failure`` id.

File layout (see any shipped scenario)::

    id, failure (F1–F17), title {ja, en}, neutral_title {ja, en} (what trainees see),
    persona (fixture persona id), clinic, arrive_at (simulated)
    brief {ja, en}             what the trainee is told
    patient_says {ja, en}      what the patient says at the counter
    documents: [{kind, numbers?, note?}]      what the patient carries
    events: [{at, event}]      registry events (admin API bodies) applied at simulated moments
    faults: [{at?, until?, server: {...}} | {reader: {...}}]   faults and when
    steps: [{card_check|number_check|medical_info|clock|reader: ..., expect: {...}}]
                               a ``reader`` step is ``{script: [...], shows: {ja, en}}``: the script is in
                               the reader emulator's own format (``cardreader_emulator.script``: place,
                               method, face, pin, visual, consent, expect …), played by `onshi reader run`;
                               ``shows`` is what the reader displays, for runs that only describe it
    expected: {ask_documents, accept_document, copay_ratio, use_declaration, ...}   the right response
    why: {item: {ja, en}}      why each expected item is right (feedback)
    debrief {ja, en}           scenario-specific background (the catalogue adds figures)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from onshi.catalogue import Failure, FailureMode

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"


class ScenarioError(ValueError):
    """A scenario file that does not follow the format; the message says where."""


@dataclass(frozen=True)
class Text:
    ja: str
    en: str

    def get(self, lang: str = "ja") -> str:
        return self.ja if lang == "ja" else self.en

    @classmethod
    def parse(cls, data: Any, where: str, required: bool = True) -> Text:
        if data is None and not required:
            return cls("", "")
        if isinstance(data, str):
            raise ScenarioError(f"{where}: give both languages as {{ja: ..., en: ...}}")
        if not isinstance(data, Mapping) or not data.get("ja") or not data.get("en"):
            raise ScenarioError(f"{where}: needs ja and en")
        return cls(str(data["ja"]).strip(), str(data["en"]).strip())


# --- the staff response --------------------------------------------------------------------


@dataclass(frozen=True)
class ResponseItem:
    """One thing the trainee does or decides at the counter."""

    key: str
    label_ja: str
    label_en: str
    choices: tuple[Any, ...] = (True, False)  # booleans unless listed
    default: Any = False
    critical: bool = False  # a wrong answer here harms the patient (100%, privacy)

    @property
    def is_bool(self) -> bool:
        return self.choices == (True, False)

    def label(self, lang: str = "ja") -> str:
        return self.label_ja if lang == "ja" else self.label_en


DOCUMENTS: dict[str, Text] = {
    "card": Text("マイナ保険証（カードでの確認結果）", "the My Number card (the card check result)"),
    "eligibility_notice": Text("資格情報のお知らせ（番号で確認）", "資格情報のお知らせ (number check)"),
    "eligibility_certificate": Text("資格確認書（番号で確認）", "資格確認書 (number check)"),
    "myna_portal": Text("マイナポータルの資格情報画面（スマートフォン、番号で確認）",
                        "the マイナポータル 資格情報画面 on the phone (number check)"),
    "elderly_certificate": Text("高齢受給者証", "elderly recipient certificate (高齢受給者証)"),
    "declaration": Text("被保険者資格申立書", "the 被保険者資格申立書 (patient's declaration)"),
    "none": Text("受け付けない（自費扱い）", "nothing accepted (treated as uninsured)"),
}
METHODS: dict[str, Text] = {
    "none": Text("切り替えない", "no switch"),
    "pin": Text("暗証番号に切り替え", "switch to the PIN"),
    "face": Text("顔認証に切り替え", "switch to face authentication"),
    "visual": Text("目視確認に切り替え", "switch to a visual check by staff"),
    "number_check": Text("番号での確認に切り替え", "switch to a number check"),
}
COPAYS: dict[int, Text] = {
    10: Text("1割", "10%"), 20: Text("2割", "20%"), 30: Text("3割", "30%"),
    100: Text("10割（全額）", "100% (full)"),
}

RESPONSE_ITEMS: dict[str, ResponseItem] = {
    item.key: item
    for item in (
        ResponseItem("ask_documents", "資格確認書・資格情報のお知らせ等の提示を求めた",
                     "asked for the 資格確認書 / 資格情報のお知らせ / other documents"),
        ResponseItem("switch_method", "本人確認・確認方法の切り替え", "switched the method",
                     tuple(METHODS), "none"),
        ResponseItem("accept_document", "資格の確認に使ったもの", "what eligibility was confirmed with",
                     tuple(DOCUMENTS), "none", critical=True),
        ResponseItem("copay_ratio", "窓口で請求した負担割合", "co-pay charged at the counter",
                     tuple(COPAYS), None, critical=True),
        ResponseItem("use_declaration", "被保険者資格申立書を使った", "used the 被保険者資格申立書"),
        ResponseItem("stop_on_stranger", "他人の情報と気づいて中止し、使わなかった",
                     "noticed a stranger's data, stopped and did not use it", critical=True),
        ResponseItem("confirm_name", "氏名を本人に確認した", "confirmed the name with the patient"),
        ResponseItem("report", "保険者等に報告した", "reported it (insurer / help desk)"),
        ResponseItem("ask_reason_for_flag", "情報が提供されない理由を尋ねた",
                     "asked why the information is withheld", critical=True),
        ResponseItem("advise_municipality", "市区町村窓口での手続きを案内した",
                     "told the patient to go to the municipal office"),
        ResponseItem("recheck_later", "後で再確認することにした", "arranged to check again later"),
        ResponseItem("insist_on_registration", "その場での利用登録を強く求めた",
                     "insisted on registering the card on the spot", critical=True),
    )
}


# --- the model -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    kind: str  # my_number_card | eligibility_notice | eligibility_certificate | elderly_certificate | memo
    numbers: Mapping[str, Any] | None = None  # insurer, symbol, number, branch, birthdate
    note: Text = Text("", "")


@dataclass(frozen=True)
class TimedEvent:
    at: datetime | None
    event: Mapping[str, Any]


@dataclass(frozen=True)
class FaultSpec:
    """A server fault (an admin fault rule body) or a reader fault (the emulator's fault names)."""

    side: str  # server | reader
    spec: Mapping[str, Any]
    at: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class Step:
    action: str  # card_check | number_check | medical_info | clock | reader
    args: Any
    expect: Mapping[str, Any] = field(default_factory=dict)
    say: Text = Text("", "")  # what happens at the counter, for the printout


STEP_ACTIONS = ("card_check", "number_check", "medical_info", "clock", "reader")

# The reader emulator's faults (``cardreader_emulator.reader.Faults``) with their "off" values: what a
# scenario's ``faults: [{reader: {...}}]`` may name, and what clearing them posts to the reader.
READER_FAULTS_OFF: dict[str, Any] = {
    "card_unreadable": False, "not_my_number_card": False, "camera_unavailable": False, "slow_read_ms": 0,
    "unplugged": False, "unplug_at": None, "network_down": False,
}
# The actions of the reader emulator's scripted mode (``cardreader_emulator.script``): a scenario's
# ``reader: {script: [...]}`` is a script in that format, handed to `onshi reader run` as it is.
READER_SCRIPT_ACTIONS = ("start", "fault", "place", "method", "face", "pin", "visual", "consent", "expect",
                         "wait", "cancel", "remove", "general_reader", "phone", "confirm_on_phone", "hold")
DOCUMENT_KINDS = ("my_number_card", "eligibility_notice", "eligibility_certificate", "elderly_certificate",
                  "memo")


@dataclass(frozen=True)
class Scenario:
    id: str
    failure_id: str
    title: Text
    persona: str
    clinic: str
    arrive_at: datetime
    brief: Text
    patient_says: Text
    documents: tuple[Document, ...]
    events: tuple[TimedEvent, ...]
    faults: tuple[FaultSpec, ...]
    steps: tuple[Step, ...]
    expected: Mapping[str, Any]
    why: Mapping[str, Text]
    debrief: Text
    path: Path | None = None
    # What a trainee sees before the debrief: the patient and the visit, not the failure (the title
    # names the failure: for the debrief, the trainer and the gallery).
    neutral_title: Text | None = None

    @property
    def trainee_title(self) -> Text:
        return self.neutral_title or self.title

    @property
    def failure(self) -> Failure:
        return FailureMode.by_id(self.failure_id).value

    def document(self, kind: str) -> Document:
        for doc in self.documents:
            if doc.kind == kind:
                return doc
        raise ScenarioError(f"{self.id}: the patient carries no {kind}")

    @property
    def reader_side(self) -> bool:
        return any(s.action == "reader" for s in self.steps) or any(f.side == "reader" for f in self.faults)

    @property
    def reader_faults(self) -> dict[str, Any]:
        """The reader faults in force for this scenario (one mapping, as the reader's fault API takes it)."""
        faults: dict[str, Any] = {}
        for fault in self.faults:
            if fault.side == "reader":
                faults.update(fault.spec)
        return faults


def _moment(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError as exc:
            raise ScenarioError(f"{where}: not an ISO moment: {value!r}") from exc
    if moment.tzinfo is None:
        raise ScenarioError(f"{where}: give the zone, e.g. 2026-11-24T09:00:00+09:00")
    return moment


def _json_safe(value: Any) -> Any:
    """YAML reads 2026-11-16 as a date; the admin API takes ISO text."""
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value.isoformat() if isinstance(value, date | datetime) else value


def _acceptable(item: ResponseItem, value: Any, where: str) -> None:
    values = value if isinstance(value, list) else [value]
    for one in values:
        if one not in item.choices:
            raise ScenarioError(f"{where}: {item.key} = {one!r}; choose from {list(item.choices)}")


def reader_script(args: Any) -> list[dict[str, Any]]:
    """The reader emulator's script of a ``reader`` step (``{script: [...], shows: ...}`` or a list)."""
    steps = args.get("script") if isinstance(args, Mapping) else args
    return [dict(step) for step in steps or []]


def _check_reader_script(args: Any, where: str) -> None:
    if isinstance(args, Mapping) and not isinstance(args.get("script"), list):
        raise ScenarioError(f"{where}: needs script: [...] (the reader emulator's script steps)")
    if not isinstance(args, Mapping | list):
        raise ScenarioError(f"{where}: give {{script: [...], shows: {{ja, en}}}}")
    raw: list[Any] = list(args.get("script") or []) if isinstance(args, Mapping) else list(args)
    for number, step in enumerate(raw, 1):
        if not isinstance(step, Mapping) or len(step) != 1 or next(iter(step)) not in READER_SCRIPT_ACTIONS:
            raise ScenarioError(f"{where}.script[{number}]: one action per step, one of "
                                f"{', '.join(READER_SCRIPT_ACTIONS)}; got {step!r}")
    if isinstance(args, Mapping):
        Text.parse(args.get("shows"), f"{where}.shows", False)


def parse_scenario(data: Any, path: Path | None = None) -> Scenario:
    name = path.name if path else "scenario"
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{name}: a scenario is a mapping")
    for key in ("id", "failure", "title", "persona", "arrive_at", "brief", "steps", "expected"):
        if key not in data:
            raise ScenarioError(f"{name}: missing {key!r}")
    sid = str(data["id"])
    try:
        FailureMode.by_id(str(data["failure"]))
    except KeyError as exc:
        raise ScenarioError(f"{sid}: unknown failure {data['failure']!r} (F1–F17)") from exc

    documents = []
    for i, doc in enumerate(data.get("documents") or []):
        kind = doc.get("kind") if isinstance(doc, Mapping) else None
        if kind not in DOCUMENT_KINDS:
            raise ScenarioError(f"{sid}: documents[{i}].kind {kind!r}; one of {DOCUMENT_KINDS}")
        note = Text.parse(doc.get("note"), f"{sid}: note", False)
        documents.append(Document(kind, doc.get("numbers"), note))

    events = []
    for i, item in enumerate(data.get("events") or []):
        if not isinstance(item, Mapping) or not isinstance(item.get("event"), Mapping):
            raise ScenarioError(f"{sid}: events[{i}] needs an 'event' mapping (an admin event body)")
        at = _moment(item["at"], f"{sid}: events[{i}].at") if item.get("at") else None
        events.append(TimedEvent(at, _json_safe(dict(item["event"]))))

    faults = []
    for i, item in enumerate(data.get("faults") or []):
        sides = [s for s in ("server", "reader") if s in (item or {})]
        if len(sides) != 1:
            raise ScenarioError(f"{sid}: faults[{i}] is either server: {{...}} or reader: {{...}}")
        at = _moment(item["at"], f"{sid}: faults[{i}].at") if item.get("at") else None
        until = _moment(item["until"], f"{sid}: faults[{i}].until") if item.get("until") else None
        faults.append(FaultSpec(sides[0], dict(item[sides[0]]), at, until))
        if sides[0] == "reader":
            unknown = set(item["reader"]) - set(READER_FAULTS_OFF)
            if unknown:
                raise ScenarioError(f"{sid}: faults[{i}].reader: unknown reader faults {sorted(unknown)}; "
                                    f"known: {', '.join(READER_FAULTS_OFF)}")

    steps = []
    for i, item in enumerate(data["steps"]):
        actions = [a for a in STEP_ACTIONS if a in (item or {})]
        if len(actions) != 1:
            raise ScenarioError(f"{sid}: steps[{i}] needs exactly one of {STEP_ACTIONS}")
        if actions[0] == "reader":
            _check_reader_script(item["reader"], f"{sid}: steps[{i}].reader")
        steps.append(Step(actions[0], item[actions[0]], dict(item.get("expect") or {}),
                          Text.parse(item.get("say"), f"{sid}: steps[{i}].say", False)))

    expected = dict(data["expected"])
    for key, value in expected.items():
        if key not in RESPONSE_ITEMS:
            raise ScenarioError(f"{sid}: expected.{key} is not a response item ({', '.join(RESPONSE_ITEMS)})")
        _acceptable(RESPONSE_ITEMS[key], value, f"{sid}: expected")
    why = {k: Text.parse(v, f"{sid}: why.{k}") for k, v in (data.get("why") or {}).items()}
    for key in why:
        if key not in expected:
            raise ScenarioError(f"{sid}: why.{key} explains an item that is not expected")

    scenario = Scenario(
        id=sid,
        failure_id=str(data["failure"]).upper(),
        title=Text.parse(data["title"], f"{sid}: title"),
        persona=str(data["persona"]),
        clinic=str(data.get("clinic", "1312345678")),
        arrive_at=_moment(data["arrive_at"], f"{sid}: arrive_at"),
        brief=Text.parse(data["brief"], f"{sid}: brief"),
        patient_says=Text.parse(data.get("patient_says"), f"{sid}: patient_says", False),
        documents=tuple(documents),
        events=tuple(events),
        faults=tuple(faults),
        steps=tuple(steps),
        expected=expected,
        why=why,
        debrief=Text.parse(data.get("debrief"), f"{sid}: debrief", False),
        path=path,
        neutral_title=(
            Text.parse(data["neutral_title"], f"{sid}: neutral_title") if data.get("neutral_title") else None
        ),
    )
    for step in scenario.steps:
        if step.action == "number_check" and isinstance(step.args, Mapping) and "document" in step.args:
            scenario.document(str(step.args["document"]))
    return scenario


def load_scenario(path: Path) -> Scenario:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path.name}: not valid YAML: {exc}") from exc
    return parse_scenario(data, path)


def load_all(directory: Path = SCENARIO_DIR) -> dict[str, Scenario]:
    """Every scenario by id, in file-name order (f01…f15)."""
    scenarios: dict[str, Scenario] = {}
    for path in sorted(directory.glob("*.yaml")):
        scenario = load_scenario(path)
        if scenario.id in scenarios:
            raise ScenarioError(f"{path.name}: duplicate scenario id {scenario.id!r}")
        scenarios[scenario.id] = scenario
    return scenarios


def find(name: str, directory: Path = SCENARIO_DIR) -> Scenario:
    """A scenario by id, by failure id (the first for F3 …), or by file path."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return load_scenario(path)
    scenarios = load_all(directory)
    if name in scenarios:
        return scenarios[name]
    for scenario in scenarios.values():
        if scenario.failure_id == name.upper():
            return scenario
    raise ScenarioError(f"no scenario {name!r}; `onshi scenario list` shows them")
