"""What the console remembers about the checks it ran and what staff did (in memory: results are
not records).

Only staff-accepted data goes into the patient record (``clinic_client.records``). The action log
(:class:`ConsoleAction`) is what a rehearsal reads back: every staff action with the console's time.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, get_args

from clinic_client.errors import OnshiError
from clinic_client.explain import Explanation, explain
from clinic_client.outcome import CheckOutcome, HowChecked, copay_percent
from clinic_client.records import Confirmed, InsuranceDocument, PatientRecord
from clinic_client.wronglink import WrongLinkFlag, check_identity
from onshi.codes import LimitApplicationCertificateClassificationFlag
from onshi.messages import BulkResultMessage
from onshi.timeutil import JST, parse_timestamp

Decision = Literal["pending", "accepted", "rejected", "auto"]
_sequence = itertools.count(1)

ActionKind = Literal[
    "card_check_started",
    "number_check",
    "result_shown",
    "wrong_link_decision",
    "declaration_printed",
    "copay_charged",
    "medical_info_viewed",
]
# Which paper the numbers of a number check were typed from (the action log's names).
NumberDocument = Literal[
    "eligibility_notice", "eligibility_certificate", "myna_portal", "elderly_certificate", "other"
]
NUMBER_DOCUMENTS: tuple[NumberDocument, ...] = get_args(NumberDocument)
COPAY_PERCENTS = (10, 20, 30, 100)
# The staff's buttons on a possible wrong link -> the action log's words.
DECISION_ACTIONS: dict[str, str] = {"rejected": "discard", "accepted": "accept"}


@dataclass(frozen=True)
class ConsoleAction:
    """One thing staff did at the console, stamped with the console's own clock."""

    at: datetime
    kind: ActionKind
    patient_id: str | None
    check_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "kind": self.kind,
            "patient_id": self.patient_id,
            "check_id": self.check_id,
            "detail": dict(self.detail),
        }


@dataclass
class ConsoleCheck:
    id: str
    patient_id: str | None
    kind: Literal["card", "number"]
    outcome: CheckOutcome | None = None
    error: OnshiError | None = None
    reader_error: dict[str, Any] | None = None
    wrong_link: WrongLinkFlag | None = None
    decision: Decision = "pending"
    document: InsuranceDocument | None = None
    file: str | None = None
    copay_differs: bool = False
    seq: int = field(default_factory=lambda: next(_sequence))
    at: datetime = field(default_factory=lambda: datetime.now(JST))  # the action log's (PC) time
    moment: datetime | None = None  # the server's simulated now when the console made the check
    medical: dict[str, Any] = field(default_factory=dict)  # kind -> data or {"error": ...}
    reader_how: HowChecked | None = None  # what the reader's notice said (medium, platform)

    @property
    def how(self) -> HowChecked | None:
        """How the check was made: the answer's medium and method, with the reader's platform."""
        own = self.outcome.how if self.outcome is not None else None
        return own.merged(self.reader_how) if own is not None else self.reader_how

    @property
    def explanation(self) -> Explanation:
        return explain(
            self.outcome,
            error=self.error,
            wrong_link=self.wrong_link,
            reader_error=self.reader_error,
            copay_differs=self.copay_differs,
            how=self.reader_how,
        )

    @property
    def server_moment(self) -> datetime | None:
        """When the server ran the check, on its (simulated) clock: the answer's ProcessExecutionTime,
        else the server's now when the console made the check (an outage: no answer to date it)."""
        message = self.outcome.message if self.outcome else None
        if message is None:
            return self.moment
        try:
            return parse_timestamp(message.MessageHeader.ProcessExecutionTime)
        except ValueError:
            return self.moment

    def shown_detail(self) -> dict[str, Any]:
        """The ``result_shown`` action's detail: what the page put in front of staff."""
        outcome = self.outcome
        return {
            "validity": outcome.validity.value if outcome and outcome.validity else None,
            "code": outcome.notes[0].code if outcome and outcome.notes else None,
            "reader_error": str(self.reader_error.get("code")) if self.reader_error else None,
        }

    @property
    def held(self) -> bool:
        """Data kept out of the record (and medical info not fetched) until staff decide."""
        return self.wrong_link is not None and self.decision in ("pending", "rejected")

    def confirmed(self) -> Confirmed | None:
        outcome = self.outcome
        if outcome is None or not outcome.valid or outcome.primary is None:
            return None
        r = outcome.primary
        limit = r.LimitApplicationCertificateRelatedInfo
        flag: LimitApplicationCertificateClassificationFlag | None = (
            limit.LimitApplicationCertificateClassificationFlag if limit else None
        )
        return Confirmed(
            check_id=self.id,
            checked_at=(self.server_moment or self.at).isoformat(timespec="seconds"),
            # the record keeps the digits; answers right-align 6-digit 国保 numbers ("  138040")
            insurer_number=r.InsurerNumber.strip() if r.InsurerNumber else None,
            insurer_name=r.InsurerName,
            symbol=r.InsuredCardSymbol,
            number=r.InsuredIdentificationNumber,
            branch=r.InsuredBranchNumber,
            copay_percent=copay_percent(r),
            limit_bracket=flag.value if flag else None,
        )


def assess(check: ConsoleCheck, patient: PatientRecord | None) -> ConsoleCheck:
    """Compares the returned person with the clinic's record: the wrong-link flag and co-pay hint."""
    outcome = check.outcome
    if patient is not None and outcome is not None and outcome.primary is not None:
        check.wrong_link = check_identity(patient.identity, outcome.primary)
        returned = copay_percent(outcome.primary)
        check.copay_differs = (
            patient.copay_percent is not None and returned is not None and returned != patient.copay_percent
        )
    check.decision = "pending" if check.wrong_link else "auto"
    return check


@dataclass
class CardWait:
    """A card check the console started and waits for (docs/rehearsal.md, 「確認が消えない」).

    Times are this PC's monotonic seconds: a wait is bounded in real time whatever the simulated
    clock does (it may be frozen for a rehearsal). ``progress_at`` moves whenever the reader shows
    the check moving on, so a patient who takes their time at the consent screens is not cut off;
    ``blocked`` is set while the reader refused the start (the last patient's card still on it).
    """

    patient_id: str
    after_seq: int
    started_at: float
    progress_at: float
    reader_step: int | None = None  # the reader's step when the check started (its later states are ours)
    blocked: bool = False
    last_seen: tuple[str, int] | None = None  # (reader state, step) at the last poll
    unreachable_since: float | None = None
    ended_since: float | None = None  # when the reader first showed our check ended (result/error)


@dataclass
class BulkRun:
    """One bulk check in its two steps: the receipt (reception number), then the results when ready."""

    id: str
    at: datetime
    patients: list[PatientRecord]
    message: BulkResultMessage | None = None  # the results, once ready
    error: OnshiError | None = None
    reception_number: str | None = None
    received_at: str | None = None  # ReceptionDateTime, YYYYMMDDHHmmss
    waiting: BulkResultMessage | None = None  # the last answer without results (not ready, unknown, expired)


class ConsoleState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.checks: dict[str, ConsoleCheck] = {}
        self.bulk_runs: dict[str, BulkRun] = {}
        self._actions: list[ConsoleAction] = []
        self.waits: dict[str, CardWait] = {}

    # --- the action log ---------------------------------------------------------------------

    def record(
        self,
        kind: ActionKind,
        patient_id: str | None,
        check_id: str | None = None,
        detail: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> ConsoleAction:
        action = ConsoleAction(at or datetime.now(JST), kind, patient_id, check_id, dict(detail or {}))
        with self._lock:
            self._actions.append(action)
        return action

    def record_once(
        self, kind: ActionKind, patient_id: str | None, check_id: str | None, detail: Mapping[str, Any]
    ) -> ConsoleAction | None:
        """Records unless the same action on the same patient and check is logged (a page reloaded)."""
        with self._lock:
            key = (kind, patient_id, check_id, dict(detail))
            if any((a.kind, a.patient_id, a.check_id, a.detail) == key for a in self._actions):
                return None
        return self.record(kind, patient_id, check_id, detail)

    def actions(self, since: datetime | None = None) -> list[ConsoleAction]:
        """Oldest first; ``since`` keeps the actions at or after that moment."""
        with self._lock:
            return [a for a in self._actions if since is None or a.at >= since]

    def clear_actions(self) -> None:
        with self._lock:
            self._actions.clear()

    def charged(self, patient_id: str, check_id: str | None) -> int | None:
        """The co-pay staff last said they would charge for this patient (and check, if given)."""
        found = [
            a
            for a in self.actions()
            if a.kind == "copay_charged" and a.patient_id == patient_id and a.check_id == check_id
        ]
        return int(found[-1].detail["percent"]) if found else None

    def add(self, check: ConsoleCheck) -> ConsoleCheck:
        with self._lock:
            if check.id in self.checks:  # the same server check delivered twice: keep one
                check.id = f"{check.id}-{check.seq}"
            self.checks[check.id] = check
            if check.patient_id and check.kind == "card":
                self.waits.pop(check.patient_id, None)  # the wait is over
        return check

    # --- card checks being waited for --------------------------------------------------------

    def start_wait(self, wait: CardWait) -> CardWait:
        with self._lock:
            self.waits[wait.patient_id] = wait
        return wait

    def wait_of(self, patient_id: str) -> CardWait | None:
        with self._lock:
            return self.waits.get(patient_id)

    def end_wait(self, patient_id: str) -> None:
        with self._lock:
            self.waits.pop(patient_id, None)

    def sole_wait(self) -> CardWait | None:
        """The one card check being waited for, if exactly one is (a result that names no patient)."""
        with self._lock:
            waits = list(self.waits.values())
        return waits[0] if len(waits) == 1 else None

    def get(self, check_id: str) -> ConsoleCheck | None:
        return self.checks.get(check_id)

    def latest(self, patient_id: str, after_seq: int = 0) -> ConsoleCheck | None:
        found = [c for c in self.checks.values() if c.patient_id == patient_id and c.seq > after_seq]
        return max(found, key=lambda c: c.seq) if found else None

    def current_seq(self) -> int:
        with self._lock:
            return max((c.seq for c in self.checks.values()), default=0)

    def add_bulk(self, run: BulkRun) -> BulkRun:
        self.bulk_runs[run.id] = run
        return run


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def normal_copay_estimate(birthdate: date, today: date) -> tuple[int, str, str]:
    """The usual co-pay by age, for the 申立書 route (the insurer settles the exact ratio later).

    未就学 2割 (until the March after the 6th birthday); 70–74 2割 (3割 with working-level income);
    75+ 後期高齢 1割 (2 or 3割 by income); otherwise 3割.
    """
    age = today.year - birthdate.year - ((today.month, today.day) < (birthdate.month, birthdate.day))
    sixth = (
        birthdate.replace(year=birthdate.year + 6)
        if not (birthdate.month == 2 and birthdate.day == 29)
        else (date(birthdate.year + 6, 3, 1))
    )
    school_start = date(
        sixth.year if sixth.month < 4 or (sixth.month == 4 and sixth.day == 1) else sixth.year + 1, 4, 1
    )
    if today < school_start:
        return 20, "2割（未就学）", "20% (preschool)"
    if age >= 75:
        return 10, "1割（後期高齢者。所得により2割・3割）", "10% (75+, 20% or 30% by income)"
    if age >= 70:
        return 20, "2割（70〜74歳。現役並み所得は3割）", "20% (age 70–74; 30% with working-level income)"
    return 30, "3割", "30%"
