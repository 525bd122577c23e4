"""What the trainee did at the reception console, from its action log, as response items.

Pure: the console's actions (``GET {console}/api/console/actions?since=…``, oldest first) in, the
response items they show out. Only what the log can show is derived; asking for documents,
confirming the name, reporting, asking why information is withheld, or a method change at the
reader leave no trace at the console, so those stay on the form (self-reported).

* ``accept_document`` — the last basis staff confirmed eligibility on: a valid result (validity 1)
  of a card check (``card``) or of a number check (its ``document``), or a printed 被保険者資格申立書
  (``declaration``). A result staff discarded as a wrong link is no basis.
* ``copay_ratio`` — the last ``copay_charged`` percent.
* ``use_declaration`` — a ``declaration_printed`` (no print in a log with actions: ``False``).
* ``stop_on_stranger`` — the ``wrong_link_decision``: ``discard`` → ``True``, ``accept`` → ``False``.
* ``switch_method`` — ``number_check`` when a number check follows a card check that did not give a
  valid result (or was discarded).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rehearsal.scenario import DOCUMENTS

# Items the console's log can show; every other response item is self-reported.
OBSERVABLE = ("accept_document", "copay_ratio", "use_declaration", "stop_on_stranger", "switch_method")


@dataclass(frozen=True)
class Observation:
    response: dict[str, Any] = field(default_factory=dict)  # item → value, only the observed items
    evidence: dict[str, str] = field(default_factory=dict)  # item → the action it came from (at, kind)
    actions: int = 0  # how many of the patient's actions were read

    @property
    def observed(self) -> frozenset[str]:
        return frozenset(self.response)


def observe(actions: Iterable[Mapping[str, Any]], patient_id: str | None = None) -> Observation:
    """The response items the console's actions show (only ``patient_id``'s actions when given)."""
    mine = [a for a in actions if patient_id is None or a.get("patient_id") == patient_id]
    response: dict[str, Any] = {}
    evidence: dict[str, str] = {}
    source: dict[str, str] = {}  # check id → "card" or the number check's document
    valid: dict[str, str] = {}  # check id → when its valid result was shown
    card_failed = False

    def note(key: str, value: Any, action: Mapping[str, Any]) -> None:
        response[key] = value
        evidence[key] = f"{action.get('at')} {action.get('kind')}"

    for action in mine:
        kind, detail = action.get("kind"), dict(action.get("detail") or {})
        check = str(action.get("check_id") or "")
        if kind == "number_check":
            source[check] = str(detail.get("document") or "other")
            if card_failed:
                note("switch_method", "number_check", action)
        elif kind == "result_shown":
            by = source.setdefault(check, "card")
            if detail.get("validity") == "1":
                valid[check] = str(action.get("at"))
                if by in DOCUMENTS:  # a number check from "other" papers names no document we score
                    note("accept_document", by, action)
            elif by == "card":
                card_failed = True
        elif kind == "wrong_link_decision":
            discard = detail.get("decision") == "discard"
            note("stop_on_stranger", discard, action)
            if discard:
                if source.get(check) == "card":
                    card_failed = True
                if check in valid and response.get("accept_document") == source.get(check):
                    del response["accept_document"], evidence["accept_document"]
        elif kind == "declaration_printed":
            note("accept_document", "declaration", action)
            note("use_declaration", True, action)
        elif kind == "copay_charged" and detail.get("percent") is not None:
            note("copay_ratio", int(detail["percent"]), action)
    if mine and "use_declaration" not in response:
        response["use_declaration"] = False
        evidence["use_declaration"] = "no declaration_printed"
    return Observation(response, evidence, len(mine))


def merge(observation: Observation, reported: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    """The response to score: observed items from the console, the rest as the trainee reported them."""
    merged = {k: v for k, v in reported.items() if k not in observation.response}
    merged.update(observation.response)
    return merged, observation.observed
