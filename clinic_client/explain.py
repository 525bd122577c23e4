"""Which catalogue failures (F1–F17) a result points to, so staff get the right next step.

Explanations and responses are the catalogue's own text (``onshi.catalogue``); this module only
decides which entries apply. The order is the order staff should read them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clinic_client.errors import OnshiError, ServerUnavailable
from clinic_client.outcome import CheckOutcome, HowChecked
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


# A phone check that ends in one of these is the phone's OWN certificate or link (F17): the phone holds a
# certificate of its own, so the card may well work. The card's entries (renew at the municipality, …)
# would send the patient the wrong way.
PHONE_CERTIFICATE_CODES = frozenset({
    ProcessingResultCode.CERTIFICATE_IN_GRACE,
    ProcessingResultCode.CERTIFICATE_EXPIRED,
    ProcessingResultCode.CERTIFICATE_REVOKED,
    ProcessingResultCode.NOT_REGISTERED,
    ProcessingResultCode.RENEWAL_LINK_PENDING,
})


@dataclass(frozen=True)
class Explanation:
    failures: tuple[FailureMode, ...]
    declaration: bool  # offer the 被保険者資格申立書 (nothing confirmed for this patient)
    by_phone: bool = False  # the check was made with a smartphone: the phone's next steps apply

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.failures)


def reader_failure(reader_error: Mapping[str, Any]) -> FailureMode:
    """A reader error → the catalogue entry (codes R1xx card, R2xx camera, R3xx PIN, R4xx device,
    R5xx network/central system, R6xx session, R7xx the smartphone on the 汎用カードリーダー; matched by
    code so the console needs no reader code)."""
    code = str(reader_error.get("code", "")).upper()
    if code == "R701":  # this clinic has no 汎用カードリーダー: the phone cannot be read here at all
        return FailureMode.PHONE_WITHOUT_GENERAL_READER
    if code == "R707":  # the phone holds no certificate (not set up, or its set-up undone)
        return FailureMode.PHONE_CERTIFICATE
    if code == "R706":  # the PIN, shared with the card, is locked
        return FailureMode.PIN_LOCKED
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
    how: HowChecked | None = None,
) -> Explanation:
    """The catalogue entries that apply, most urgent first, and whether to offer the 申立書.
    ``how``: how the check was made (the outcome's, else the reader's notice); a phone check's
    certificate and registration errors are the phone's own (F17), not the card's."""
    found: list[FailureMode] = []
    if outcome is not None and outcome.how is not None:
        how = outcome.how.merged(how)
    by_phone = how is not None and how.by_phone

    def add(mode: FailureMode) -> None:
        if mode not in found:
            found.append(mode)

    if error is not None:
        if isinstance(error, ServerUnavailable):
            add(FailureMode.OUTAGE)
            return Explanation(tuple(found), declaration=True, by_phone=by_phone)
        # Rejected request (bad numbers, auth): nothing confirmed; the fix is in the detail.
        return Explanation((), declaration=True, by_phone=by_phone)
    if reader_error is not None:
        mode = reader_failure(reader_error)
        add(mode)
        phone = by_phone or str(reader_error.get("code", "")).upper().startswith("R7")
        return Explanation(tuple(found), declaration=True, by_phone=phone)
    if outcome is None:
        return Explanation((), declaration=True, by_phone=by_phone)

    if wrong_link is not None:
        add(FailureMode.WRONG_LINK)
    for note in outcome.notes:
        known = next((c for c in ProcessingResultCode if c.value == note.code), None)
        if by_phone and known is ProcessingResultCode.CERTIFICATE_EXPIRING:
            continue  # the phone's certificate ends soon: set the phone up again (not the card's renewal)
        if by_phone and known in PHONE_CERTIFICATE_CODES:
            add(FailureMode.PHONE_CERTIFICATE)
        elif known in CODE_FAILURES:
            add(CODE_FAILURES[known])
    validity = outcome.validity
    if outcome.status is ProcessingResultStatus.NORMAL:
        if validity is QualificationValidity.NO_MATCH:
            # A just-renewed card whose link is pending is F12; otherwise the insurer's lag is likeliest.
            if FailureMode.RENEWAL_LINK_MISSING not in found and FailureMode.PHONE_CERTIFICATE not in found:
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
        add(FailureMode.PHONE_CERTIFICATE if by_phone else FailureMode.CERTIFICATE_EXPIRED)
    if copay_differs and outcome.valid:
        add(FailureMode.WRONG_COPAY)
    declaration = not outcome.valid or wrong_link is not None
    return Explanation(tuple(found), declaration=declaration, by_phone=by_phone)
