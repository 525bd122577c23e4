"""Scoring a trainee's recorded response against a scenario's expected one, and the debrief.

Pure: a :class:`Scenario` and a response mapping in, a :class:`Score` out. Every expected item is
worth one point; a wrong answer on a *critical* item (charging 100%, using a stranger's data,
asking why information is withheld, pressing a patient to register, accepting nothing) fails the
scenario whatever the total. The debrief is built from ``onshi.catalogue`` (what the counter
sees, the right response, the published figures and what it costs the patient) and the
scenario's own background text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from onshi.catalogue import FIGURES, Figure
from rehearsal.scenario import COPAYS, DOCUMENTS, METHODS, RESPONSE_ITEMS, ResponseItem, Scenario, Text

PASS_MARK = 0.8

# Which published figures each failure's debrief cites (keys of onshi.catalogue.FIGURES).
DEBRIEF_FIGURES: dict[str, tuple[str, ...]] = {
    "F1": ("survey_2025_invalid", "survey_2024_invalid", "full_payment_cases"),
    "F2": ("wrong_links_2023", "consent_medication"),
    "F3": ("survey_2025_expired", "survey_2024_expired", "certificates_due_fy2025",
           "certificates_due_fy2026"),
    "F4": ("consent_medication", "consent_checkup"),
    "F5": ("survey_2025_names", "survey_2024_names"),
    "F6": ("survey_2025_reader", "survey_2024_reader"),
    "F7": ("survey_2025_reader",),
    "F8": ("survey_2025_reader",),
    "F9": ("registrations_cancelled", "card_share_2025_11"),
    "F10": ("survey_2025_invalid",),
    "F11": ("survey_2025_invalid",),
    "F12": ("certificates_due_fy2025", "certificates_due_fy2026", "survey_2025_invalid"),
    "F13": ("full_payment_cases", "monthly_checks"),
    "F14": ("survey_2025_invalid",),
    "F15": ("survey_2025_share_troubled",),
}

CRITICAL_HARM: dict[str, Text] = {
    "copay_ratio": Text("患者に誤った金額（10割など）を請求することになります。",
                        "The patient is charged the wrong amount (e.g. 100%)."),
    "stop_on_stranger": Text("他人の医療情報を使い、他人の情報が目の前の患者の記録に入ります。",
                             "A stranger's medical data is used and enters this patient's record."),
    "ask_reason_for_flag": Text(
        "提供不可フラグの理由を尋ねることは、DV被害などを明かすよう迫ることになります。",
        "Asking about the flag presses the patient to disclose e.g. domestic violence."),
    "insist_on_registration": Text(
        "登録は本人の選択です。窓口で迫ることは同意の強要です。",
        "Registration is the patient's choice; pressing at the counter forces consent."),
    "accept_document": Text("資格の確認ができないまま、または誤った根拠で受け付けることになります。",
                            "Eligibility is left unconfirmed or confirmed on the wrong basis."),
}


def value_label(item: ResponseItem, value: Any, lang: str = "ja") -> str:
    """A recorded or expected value, as people read it."""
    if isinstance(value, list):
        sep = "、" if lang == "ja" else " or "
        return sep.join(value_label(item, v, lang) for v in value)
    if value is None:
        return "（未記録）" if lang == "ja" else "(not recorded)"
    tables: dict[str, Mapping[Any, Text]] = {"accept_document": DOCUMENTS, "switch_method": METHODS,
                                             "copay_ratio": COPAYS}
    table = tables.get(item.key)
    if table is not None and value in table:
        return table[value].get(lang)
    if isinstance(value, bool):
        return ("はい" if value else "いいえ") if lang == "ja" else ("yes" if value else "no")
    return str(value)


def normalise(item: ResponseItem, value: Any) -> Any:
    """Form values ("true", "30", "") into the item's type; unknown values stay as given."""
    if value is None or value == "":
        return item.default
    if item.is_bool:
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on", "はい")
        return bool(value)
    if item.key == "copay_ratio":
        try:
            return int(str(value).replace("%", "").strip())
        except ValueError:
            return value
    return value


@dataclass(frozen=True)
class ItemResult:
    key: str
    label: Text
    expected: Any
    given: Any
    correct: bool
    critical: bool
    feedback: Text
    observed: bool = False  # taken from the console's action log, not self-reported

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "label_ja": self.label.ja, "label_en": self.label.en,
                "expected": self.expected, "given": self.given, "correct": self.correct,
                "critical": self.critical, "feedback_ja": self.feedback.ja, "feedback_en": self.feedback.en,
                "observed": self.observed}


@dataclass(frozen=True)
class Debrief:
    failure_id: str
    name: Text
    clinic_sees: Text
    reality: Text
    response: Text
    cost: Text
    background: Text
    figures: tuple[Figure, ...]
    sources: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "failure": self.failure_id, "name": vars(self.name), "clinic_sees": vars(self.clinic_sees),
            "reality": vars(self.reality), "response": vars(self.response), "cost": vars(self.cost),
            "background": vars(self.background),
            "figures": [{"key": f.key, "value": f.value, "ja": f.label_ja, "en": f.label_en,
                         "source": f.source} for f in self.figures],
            "sources": list(self.sources),
        }


@dataclass(frozen=True)
class Score:
    scenario_id: str
    items: tuple[ItemResult, ...]
    debrief: Debrief
    response: Mapping[str, Any] = field(default_factory=dict)

    @property
    def points(self) -> int:
        return sum(1 for i in self.items if i.correct)

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def ratio(self) -> float:
        return self.points / self.total if self.total else 1.0

    @property
    def critical_errors(self) -> tuple[ItemResult, ...]:
        return tuple(i for i in self.items if i.critical and not i.correct)

    @property
    def passed(self) -> bool:
        return not self.critical_errors and self.ratio >= PASS_MARK

    def summary(self, lang: str = "ja") -> str:
        if lang == "ja":
            verdict = "合格" if self.passed else "要復習"
            return f"{verdict}：{self.points}/{self.total}（重大な誤り {len(self.critical_errors)}件）"
        verdict = "passed" if self.passed else "needs review"
        return f"{verdict}: {self.points}/{self.total} ({len(self.critical_errors)} critical)"

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario_id, "points": self.points, "total": self.total,
                "ratio": round(self.ratio, 3), "passed": self.passed,
                "critical_errors": [i.key for i in self.critical_errors],
                "summary_ja": self.summary("ja"), "summary_en": self.summary("en"),
                "items": [i.to_json() for i in self.items], "debrief": self.debrief.to_json(),
                "response": dict(self.response)}


def debrief(scenario: Scenario) -> Debrief:
    failure = scenario.failure
    keys = DEBRIEF_FIGURES.get(scenario.failure_id, ())
    return Debrief(
        failure_id=scenario.failure_id,
        name=Text(failure.name_ja, failure.name_en),
        clinic_sees=Text(failure.clinic_sees_ja, failure.clinic_sees_en),
        reality=Text(failure.reality_ja, failure.reality_en),
        response=Text(failure.response_ja, failure.response_en),
        cost=Text(failure.cost_ja, failure.cost_en),
        background=scenario.debrief,
        figures=tuple(FIGURES[k] for k in keys if k in FIGURES),
        sources=tuple(dict.fromkeys([*failure.sources, *(FIGURES[k].source for k in keys if k in FIGURES)])),
    )


def _feedback(scenario: Scenario, item: ResponseItem, expected: Any, given: Any, correct: bool) -> Text:
    why = scenario.why.get(item.key)
    if correct:
        ja = f"正解：{value_label(item, given, 'ja')}。"
        en = f"Right: {value_label(item, given, 'en')}."
    else:
        ja = f"期待：{value_label(item, expected, 'ja')}／記録：{value_label(item, given, 'ja')}。"
        en = f"Expected: {value_label(item, expected, 'en')} / recorded: {value_label(item, given, 'en')}."
        if item.critical and item.key in CRITICAL_HARM:
            ja += "【重大】" + CRITICAL_HARM[item.key].ja
            en += " [critical] " + CRITICAL_HARM[item.key].en
    if why is not None:
        ja += " " + why.ja
        en += " " + why.en
    return Text(ja, en)


def score(scenario: Scenario, response: Mapping[str, Any], observed: frozenset[str] = frozenset()) -> Score:
    """Compares each expected item with the recorded one; an expected list means any of them.
    ``observed`` names the items that came from the console's action log (the rest were reported)."""
    results = []
    recorded: dict[str, Any] = {}
    for key, expected in scenario.expected.items():
        item = RESPONSE_ITEMS[key]
        given = normalise(item, response.get(key))
        recorded[key] = given
        acceptable = expected if isinstance(expected, list) else [expected]
        correct = given in acceptable
        results.append(ItemResult(key, Text(item.label_ja, item.label_en), expected, given, correct,
                                  item.critical, _feedback(scenario, item, expected, given, correct),
                                  key in observed))
    return Score(scenario.id, tuple(results), debrief(scenario), recorded)


def model_response(scenario: Scenario) -> dict[str, Any]:
    """The right response (the first acceptable value of each item), e.g. to show after scoring."""
    return {k: (v[0] if isinstance(v, list) else v) for k, v in scenario.expected.items()}
