"""What the console remembers about the checks it ran (in memory: results are not records).

Only staff-accepted data goes into the patient record (``clinic_client.records``).
"""

from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from clinic_client.errors import OnshiError
from clinic_client.explain import Explanation, explain
from clinic_client.outcome import CheckOutcome, copay_percent
from clinic_client.records import Confirmed, InsuranceDocument, PatientRecord
from clinic_client.wronglink import WrongLinkFlag, check_identity
from onshi.codes import LimitApplicationCertificateClassificationFlag
from onshi.messages import BulkResultMessage
from onshi.timeutil import JST

Decision = Literal["pending", "accepted", "rejected", "auto"]
_sequence = itertools.count(1)


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
    at: datetime = field(default_factory=lambda: datetime.now(JST))
    medical: dict[str, Any] = field(default_factory=dict)  # kind -> data or {"error": ...}

    @property
    def explanation(self) -> Explanation:
        return explain(
            self.outcome,
            error=self.error,
            wrong_link=self.wrong_link,
            reader_error=self.reader_error,
            copay_differs=self.copay_differs,
        )

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
            checked_at=self.at.isoformat(timespec="seconds"),
            insurer_number=r.InsurerNumber,
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
class BulkRun:
    id: str
    at: datetime
    patients: list[PatientRecord]
    message: BulkResultMessage | None = None
    error: OnshiError | None = None


class ConsoleState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.checks: dict[str, ConsoleCheck] = {}
        self.bulk_runs: dict[str, BulkRun] = {}

    def add(self, check: ConsoleCheck) -> ConsoleCheck:
        with self._lock:
            if check.id in self.checks:  # the same server check delivered twice: keep one
                check.id = f"{check.id}-{check.seq}"
            self.checks[check.id] = check
        return check

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
