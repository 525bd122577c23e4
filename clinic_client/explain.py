"""Which catalogue failures (F1–F15) a result points to, so staff get the right next step.

Explanations and responses are the catalogue's own text (``onshi.catalogue``); this module only
decides which entries apply. The order is the order staff should read them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clinic_client.errors import OnshiError, ServerUnavailable
from clinic_client.outcome import CheckOutcome
from clinic_client.wronglink import WrongLinkFlag
from onshi.catalogue import FailureMode
from onshi.codes import (
    ProcessingResultCode,
    ProcessingResultStatus,
    QualificationValidity,
    WithheldReason,
)

CODE_FAILURES: dict[ProcessingResultCode, FailureMode] = {
    ProcessingResultCode.CERTIFICATE_EXPIRING: FailureMode.CERTIFICATE_EXPIRED,
    ProcessingResultCode.CERTIFICATE_IN_GRACE: FailureMode.CERTIFICATE_EXPIRED,
    ProcessingResultCode.CERTIFICATE_EXPIRED: FailureMode.CERTIFICATE_EXPIRED,
    ProcessingResultCode.CERTIFICATE_REVOKED: FailureMode.CERTIFICATE_REVOKED,
    ProcessingResultCode.NOT_REGISTERED: FailureMode.NOT_REGISTERED,
    ProcessingResultCode.CERTIFICATE_NOT_TRUSTED: FailureMode.READER_ERROR,
    ProcessingResultCode.CERTIFICATE_NOT_YET_VALID: FailureMode.READER_ERROR,
    ProcessingResultCode.INFORMATION_NOT_PROVIDED: FailureMode.NO_PROVIDE_FLAG,
    ProcessingResultCode.NAME_CHARACTERS_REPLACED: FailureMode.NAME_CHARACTERS,
    ProcessingResultCode.RENEWAL_LINK_PENDING: FailureMode.RENEWAL_LINK_MISSING,
}


@dataclass(frozen=True)
class Explanation:
    failures: tuple[FailureMode, ...]
    declaration: bool  # offer the 被保険者資格申立書 (nothing confirmed for this patient)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.failures)


def reader_failure(reader_error: Mapping[str, Any]) -> FailureMode:
    """A reader error → the catalogue entry (codes R1xx card, R2xx camera, R3xx PIN, R4xx device,
    R5xx network/central system, R6xx session; matched by prefix so the console needs no reader code)."""
    code = str(reader_error.get("code", "")).upper()
    if code == "R202" or "FACE" in code:
        return FailureMode.FACE_MISMATCH
    if code == "R301" or ("PIN" in code and "LOCK" in code):
        return FailureMode.PIN_LOCKED
    if code.startswith("R5"):
        return FailureMode.OUTAGE
    return FailureMode.READER_ERROR


def explain(
    outcome: CheckOutcome | None,
    *,
    error: OnshiError | None = None,
    wrong_link: WrongLinkFlag | None = None,
    reader_error: Mapping[str, Any] | None = None,
    copay_differs: bool = False,
) -> Explanation:
    """The catalogue entries that apply, most urgent first, and whether to offer the 申立書."""
    found: list[FailureMode] = []

    def add(mode: FailureMode) -> None:
        if mode not in found:
            found.append(mode)

    if error is not None:
        if isinstance(error, ServerUnavailable):
            add(FailureMode.OUTAGE)
            return Explanation(tuple(found), declaration=True)
        # Rejected request (bad numbers, auth): nothing confirmed; the fix is in the detail.
        return Explanation((), declaration=True)
    if reader_error is not None:
        mode = reader_failure(reader_error)
        add(mode)
        return Explanation(tuple(found), declaration=True)
    if outcome is None:
        return Explanation((), declaration=True)

    if wrong_link is not None:
        add(FailureMode.WRONG_LINK)
    for note in outcome.notes:
        known = next((c for c in ProcessingResultCode if c.value == note.code), None)
        if known in CODE_FAILURES:
            add(CODE_FAILURES[known])
    validity = outcome.validity
    if outcome.status is ProcessingResultStatus.NORMAL:
        if validity is QualificationValidity.NO_MATCH:
            # A just-renewed card whose link is pending is F12; otherwise the insurer's lag is likeliest.
            if FailureMode.RENEWAL_LINK_MISSING not in found:
                add(FailureMode.INPUT_LAG)
        elif validity is QualificationValidity.INVALID:
            add(FailureMode.QUALIFICATION_LOST)
            add(FailureMode.INPUT_LAG)  # left one insurer, the new one not registered yet
        elif validity is QualificationValidity.INVALID_NEW_QUALIFICATION:
            add(FailureMode.QUALIFICATION_LOST)
        elif validity is QualificationValidity.MULTIPLE_MATCHES:
            add(FailureMode.MULTIPLE_MATCHES)
    if outcome.is_withheld_by(WithheldReason.NO_PROVIDE_FLAG):
        add(FailureMode.NO_PROVIDE_FLAG)
    if outcome.is_withheld_by(WithheldReason.CERTIFICATE_IN_GRACE):
        add(FailureMode.CERTIFICATE_EXPIRED)
    if copay_differs and outcome.valid:
        add(FailureMode.WRONG_COPAY)
    declaration = not outcome.valid or wrong_link is not None
    return Explanation(tuple(found), declaration=declaration)
