"""The eligibility rules: what result a registry state, a credential and a day produce.

Pure functions over the plain data of ``server.core.model``. The caller decides what "today"
is (the simulated clock) and which registry facts were visible at that moment (input lag).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime

from onshi.codes import (
    ConsentFlag,
    ProcessingResultCode,
    ProcessingResultStatus,
    QualificationValidity,
    WithheldReason,
)
from server.core.charset import replace_unrepresentable
from server.core.model import (
    CardCheckRequest,
    EligibilityResult,
    LinkedPerson,
    NumberCheckRequest,
    Person,
    Qualification,
    QualificationResult,
    RegistryView,
    RenewalLinkPending,
)
from server.core.policy import DEFAULT_POLICY, Policy


def normalize_insurer_number(number: str) -> str:
    """国保 insurer numbers have 6 digits; messages carry them zero-padded to 8."""
    digits = number.strip()
    return digits.zfill(8) if len(digits) == 6 else digits


def error(code: ProcessingResultCode, **extra: object) -> EligibilityResult:
    return EligibilityResult(
        status=ProcessingResultStatus.ERROR,
        validity=None,
        codes=(code,),
        **extra,  # type: ignore[arg-type]
    )


def present(
    qualification: Qualification, person: Person, policy: Policy, *, limit_consent: bool
) -> QualificationResult:
    def clean(text: str) -> str:
        return replace_unrepresentable(text, policy)

    return QualificationResult(
        qualification=qualification,
        person=person,
        name=clean(person.name),
        name_kana=person.name_kana,
        insured_name=clean(qualification.insured_name),
        name_of_other=clean(person.name_of_other),
        address=clean(person.address),
        limit_consent=ConsentFlag.CONSENTED if limit_consent else ConsentFlag.NOT_CONSENTED,
        limit_visible=limit_consent,
    )


def characters_replaced(results: Sequence[QualificationResult], policy: Policy = DEFAULT_POLICY) -> bool:
    """Whether a name (氏名, 被保険者氏名 or 通称名) shows a ● the registry did not hold (W004)."""

    def replaced(original: str, shown: str) -> bool:
        return shown.count(policy.replacement_char) > original.count(policy.replacement_char)

    return any(
        replaced(r.person.name, r.name)
        or replaced(r.qualification.insured_name, r.insured_name)
        or replaced(r.person.name_of_other, r.name_of_other)
        for r in results
    )


def classify(
    matched: Sequence[Qualification], others: Sequence[Qualification], today: date
) -> tuple[QualificationValidity, tuple[Qualification, ...]]:
    """Validity of the qualifications a credential reached, and which of them to show.

    ``others`` are the person's qualifications the credential did not name (a number check
    names one); a valid one among them makes a lost match "invalid, newer qualification".
    """
    valid = tuple(q for q in matched if q.is_valid_on(today))
    if valid:
        return QualificationValidity.VALID, valid
    lost = sorted((q for q in matched if q.lost_on and q.lost_on <= today), key=lambda q: q.lost_on or today)
    if not lost:
        return QualificationValidity.NO_MATCH, ()
    latest = (lost[-1],)
    if any(q.is_valid_on(today) for q in others):
        return QualificationValidity.INVALID_NEW_QUALIFICATION, latest
    return QualificationValidity.INVALID, latest


def check_card(
    request: CardCheckRequest,
    view: RegistryView | None,
    today: date,
    policy: Policy = DEFAULT_POLICY,
) -> EligibilityResult:
    """A card check at the reader (ReferenceClassification 1).

    ``view`` is the registry as of the moment for the person ``request.link`` points to
    (None when the link reaches nobody).
    """
    cert = request.certificate
    grace_end = policy.grace_ends_on(cert.not_after)
    cert_info = {"certificate_not_after": cert.not_after, "grace_ends_on": grace_end}
    if cert.revoked:
        return error(ProcessingResultCode.CERTIFICATE_REVOKED, **cert_info)
    if today < cert.not_before:
        return error(ProcessingResultCode.CERTIFICATE_NOT_YET_VALID, **cert_info)
    if today > grace_end:
        return error(ProcessingResultCode.CERTIFICATE_EXPIRED, **cert_info)

    in_grace = today > cert.not_after
    certificate_notes: tuple[ProcessingResultCode, ...] = ()
    if in_grace:
        certificate_notes = (ProcessingResultCode.CERTIFICATE_IN_GRACE,)
    elif today >= policy.warning_starts_on(cert.not_after):
        certificate_notes = (ProcessingResultCode.CERTIFICATE_EXPIRING,)

    link = request.link
    # Consent given but nobody's qualification reached: say why nothing is released.
    not_eligible = (WithheldReason.NOT_ELIGIBLE,) if request.consents.given() else ()
    if isinstance(link, RenewalLinkPending):
        return EligibilityResult(
            status=ProcessingResultStatus.NORMAL,
            validity=QualificationValidity.NO_MATCH,
            codes=(ProcessingResultCode.RENEWAL_LINK_PENDING, *certificate_notes),
            withheld=not_eligible,
            consents=request.consents,
            **cert_info,  # type: ignore[arg-type]
        )
    if not isinstance(link, LinkedPerson):
        return error(ProcessingResultCode.NOT_REGISTERED, **cert_info)
    if view is None:
        return EligibilityResult(
            status=ProcessingResultStatus.NORMAL,
            validity=QualificationValidity.NO_MATCH,
            codes=certificate_notes,
            withheld=not_eligible,
            consents=request.consents,
            **cert_info,  # type: ignore[arg-type]
        )

    validity, shown = classify(view.qualifications, (), today)
    consents = request.consents
    results = tuple(present(q, view.person, policy, limit_consent=consents.limit_bracket) for q in shown)

    wanted = consents.given()
    withheld: list[WithheldReason] = []
    notes = list(certificate_notes)
    if validity is not QualificationValidity.VALID:
        if wanted:
            withheld.append(WithheldReason.NOT_ELIGIBLE)
    else:
        if view.no_provide:
            # Shown whether or not consent was given: the flag discloses itself (F4).
            withheld.append(WithheldReason.NO_PROVIDE_FLAG)
            notes.append(ProcessingResultCode.INFORMATION_NOT_PROVIDED)
        if in_grace:
            withheld.append(WithheldReason.CERTIFICATE_IN_GRACE)
        if not wanted:
            withheld.append(WithheldReason.NO_CONSENT)
    if characters_replaced(results, policy):
        notes.append(ProcessingResultCode.NAME_CHARACTERS_REPLACED)

    return EligibilityResult(
        status=ProcessingResultStatus.NORMAL,
        validity=validity,
        codes=tuple(notes),
        results=results,
        person_id=view.person.id,
        medical_info=frozenset() if withheld else wanted,
        withheld=tuple(withheld),
        consents=consents,
        **cert_info,  # type: ignore[arg-type]
    )


def numbers_match(q: Qualification, request: NumberCheckRequest) -> bool:
    # A blank 枝番 (an empty InsuredBranchNumber, older cards have none) is the same as not given.
    branch = (request.branch or "").strip()
    return (
        normalize_insurer_number(q.insurer.number) == normalize_insurer_number(request.insurer_number)
        and q.symbol == request.symbol.strip()
        and q.number == request.number.strip()
        and (not branch or q.branch == branch)
    )


def check_number(
    request: NumberCheckRequest,
    candidates: Sequence[RegistryView],
    today: date,
    policy: Policy = DEFAULT_POLICY,
) -> EligibilityResult:
    """A number check from a 資格確認書, an old card or the お知らせ (ReferenceClassification 2).

    ``candidates`` are the people (as of the moment) holding any qualification under the
    requested insurer; the rule does the matching so that it can be tested on plain data.
    """
    matches = [
        (view, [q for q in view.qualifications if numbers_match(q, request)])
        for view in candidates
        if view.person.birthdate == request.birthdate
    ]
    matches = [(view, qs) for view, qs in matches if qs]
    if not matches:
        return EligibilityResult(
            status=ProcessingResultStatus.NORMAL,
            validity=QualificationValidity.NO_MATCH,
            withheld=(WithheldReason.NUMBER_CHECK,),
        )
    if len({view.person.id for view, _ in matches}) > 1:
        # Several people (e.g. twins without a branch number): show nobody's data.
        return EligibilityResult(
            status=ProcessingResultStatus.NORMAL,
            validity=QualificationValidity.MULTIPLE_MATCHES,
            withheld=(WithheldReason.NUMBER_CHECK,),
        )
    view, matched = matches[0]
    others = [q for q in view.qualifications if q not in matched]
    validity, shown = classify(matched, others, today)
    results = tuple(present(q, view.person, policy, limit_consent=request.limit_consent) for q in shown)
    codes = (ProcessingResultCode.NAME_CHARACTERS_REPLACED,) if characters_replaced(results, policy) else ()
    return EligibilityResult(
        status=ProcessingResultStatus.NORMAL,
        validity=validity,
        codes=codes,
        results=results,
        person_id=view.person.id,
        withheld=(WithheldReason.NUMBER_CHECK,),
    )


def release_refusal(
    kind: str,
    released: Collection[str],
    withheld: Sequence[WithheldReason],
    consented_at: datetime,
    now: datetime,
    *,
    no_provide_now: bool,
    policy: Policy = DEFAULT_POLICY,
) -> tuple[WithheldReason, ...]:
    """Why records of ``kind`` consented at a card check may not be released at ``now`` (empty: they may).

    Decided again at release time, not only at the check: the consent's AvailableTime may have
    passed, and a no-provide flag that became visible since withholds everything.
    """
    if kind not in released:
        return tuple(withheld) or (WithheldReason.NO_CONSENT,)
    if now > policy.consent_available_until(consented_at):
        return (WithheldReason.CONSENT_EXPIRED,)
    if no_provide_now:
        return (WithheldReason.NO_PROVIDE_FLAG,)
    return ()
