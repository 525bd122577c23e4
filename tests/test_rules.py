"""Specification of the eligibility rules (server.core.rules), on plain data only.

Each test is one rule: a registry state, a credential and a day go in, an EligibilityResult comes out.
Certificate and grace-period dates are in the first part, then registration links, qualification
dates, number checks, the no-provide flag, consent and ● replacement.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onshi.codes import (
    ConsentFlag,
    InsuredCardClassification,
    InsurerKind,
    LimitApplicationCertificateClassification,
    LimitApplicationCertificateClassificationFlag,
    MedicalInfoKind,
    PersonalFamilyClassification,
    ProcessingResultCode,
    ProcessingResultStatus,
    QualificationValidity,
    ReasonOfLoss,
    Sex,
    WithheldReason,
)
from onshi.timeutil import JST
from server.core.model import (
    CardCheckRequest,
    CertificateStatus,
    Consents,
    EligibilityResult,
    Insurer,
    LimitCertificate,
    LinkedPerson,
    NeverRegistered,
    NumberCheckRequest,
    Person,
    Qualification,
    RegistrationCancelled,
    RegistryView,
    RenewalLinkPending,
    SerialLink,
)
from server.core.policy import DEFAULT_POLICY, Policy, add_months
from server.core.rules import check_card, check_number, release_refusal

# --- builders ----------------------------------------------------------------------------------------

TODAY = date(2026, 11, 23)
DAY = timedelta(days=1)

KENPO = Insurer("06139999", "サンプル健康保険組合", InsurerKind.EMPLOYEE)
KYOKAI = Insurer("01130012", "全国健康保険協会 東京支部", InsurerKind.EMPLOYEE)
KOKUHO = Insurer("00131016", "千代田区", InsurerKind.NATIONAL)  # 6-digit 131016, zero-padded

NO_CONSENT = Consents()
ALL_CONSENTS = Consents(medication=True, clinical=True, operation=True, checkup=True, limit_bracket=True)
ALL_KINDS = frozenset(MedicalInfoKind)

W001 = ProcessingResultCode.CERTIFICATE_EXPIRING
W002 = ProcessingResultCode.CERTIFICATE_IN_GRACE
W003 = ProcessingResultCode.INFORMATION_NOT_PROVIDED
W004 = ProcessingResultCode.NAME_CHARACTERS_REPLACED
W005 = ProcessingResultCode.RENEWAL_LINK_PENDING


def person(id: str = "P1", name: str = "山田太郎", birthdate: date = date(1980, 4, 1), **kw: Any) -> Person:
    kw.setdefault("name_kana", "ﾔﾏﾀﾞ ﾀﾛｳ")
    kw.setdefault("sex", Sex.MALE)
    return Person(id=id, name=name, birthdate=birthdate, **kw)


def qualification(
    person_id: str = "P1",
    *,
    insurer: Insurer = KENPO,
    symbol: str = "1234",
    number: str = "5678",
    branch: str = "00",
    acquired_on: date = date(2020, 4, 1),
    lost_on: date | None = None,
    **kw: Any,
) -> Qualification:
    kw.setdefault("id", f"Q-{person_id}-{insurer.number}-{number}-{branch}-{acquired_on}")
    kw.setdefault("card_classification", InsuredCardClassification.GENERAL)
    kw.setdefault("personal_family", PersonalFamilyClassification.INSURED)
    kw.setdefault("insured_name", "山田太郎")
    kw.setdefault("copay_ratio", 30)
    return Qualification(
        person_id=person_id,
        insurer=insurer,
        symbol=symbol,
        number=number,
        branch=branch,
        acquired_on=acquired_on,
        lost_on=lost_on,
        **kw,
    )


def view(p: Person | None = None, *qs: Qualification, no_provide: bool = False) -> RegistryView:
    p = p or person()
    return RegistryView(person=p, qualifications=qs or (qualification(p.id),), no_provide=no_provide)


def certificate(
    not_after: date = date(2029, 4, 1), not_before: date | None = None, revoked: bool = False
) -> CertificateStatus:
    """A certificate issued five years before ``not_after`` unless ``not_before`` says otherwise."""
    not_before = not_before or add_months(not_after, -60)
    return CertificateStatus(serial="SERIAL-1", not_before=not_before, not_after=not_after, revoked=revoked)


def card(
    cert: CertificateStatus | None = None, link: SerialLink | None = None, consents: Consents = NO_CONSENT
) -> CardCheckRequest:
    return CardCheckRequest(
        certificate=cert or certificate(), link=link or LinkedPerson("P1"), consents=consents
    )


def card_check(
    registry: RegistryView | None = None,
    *,
    today: date = TODAY,
    not_after: date = date(2029, 4, 1),
    consents: Consents = NO_CONSENT,
    link: SerialLink | None = None,
    revoked: bool = False,
    policy: Policy = DEFAULT_POLICY,
) -> EligibilityResult:
    request = card(certificate(not_after=not_after, revoked=revoked), link, consents)
    return check_card(request, registry if registry is not None else view(), today, policy)


def number_request(
    insurer_number: str = KENPO.number,
    symbol: str = "1234",
    number: str = "5678",
    branch: str | None = "00",
    birthdate: date = date(1980, 4, 1),
    limit_consent: bool = False,
) -> NumberCheckRequest:
    return NumberCheckRequest(insurer_number, symbol, number, branch, birthdate, limit_consent)


def is_valid(result: EligibilityResult) -> bool:
    return result.status is ProcessingResultStatus.NORMAL and result.validity is QualificationValidity.VALID


# --- a healthy card check ----------------------------------------------------------------------------


def test_healthy_card_check_is_valid_with_no_notes() -> None:
    result = card_check()
    assert is_valid(result)
    assert result.codes == ()
    assert result.code is None
    assert result.person_id == "P1"
    assert [r.qualification.insurer.number for r in result.results] == [KENPO.number]


def test_card_check_reports_the_certificate_end_and_grace_end() -> None:
    result = card_check(not_after=date(2025, 11, 10), today=date(2025, 11, 1))
    assert result.certificate_not_after == date(2025, 11, 10)
    assert result.grace_ends_on == date(2026, 2, 28)


# --- certificate dates: warning window (W001) ---------------------------------------------------------

NOT_AFTER = date(2027, 2, 15)  # warning from 2026-11-15


def test_no_warning_the_day_before_the_three_month_window() -> None:
    assert card_check(not_after=NOT_AFTER, today=date(2026, 11, 14)).codes == ()


def test_warning_from_exactly_three_months_before_not_after() -> None:
    result = card_check(not_after=NOT_AFTER, today=date(2026, 11, 15))
    assert is_valid(result)
    assert result.codes == (W001,)


def test_not_after_day_itself_is_still_normal_with_the_warning() -> None:
    result = card_check(not_after=NOT_AFTER, today=NOT_AFTER, consents=ALL_CONSENTS)
    assert is_valid(result)
    assert result.codes == (W001,)
    assert result.medical_info == ALL_KINDS


def test_warning_window_of_a_month_end_expiry_starts_at_the_clamped_day() -> None:
    # 2027-05-31 minus 3 months: no Feb 31, so the window opens on 2027-02-28.
    assert card_check(not_after=date(2027, 5, 31), today=date(2027, 2, 27)).codes == ()
    assert card_check(not_after=date(2027, 5, 31), today=date(2027, 2, 28)).codes == (W001,)


# --- certificate dates: grace period (W002) and expiry (E001) -----------------------------------------

EXPIRY = date(2025, 11, 10)  # grace through 2026-02-28


def test_day_after_not_after_is_in_grace_and_still_valid() -> None:
    result = card_check(not_after=EXPIRY, today=EXPIRY + DAY)
    assert is_valid(result)
    assert result.codes[0] is W002
    assert W001 not in result.codes


def test_grace_withholds_medical_info_even_with_consent() -> None:
    result = card_check(not_after=EXPIRY, today=EXPIRY + DAY, consents=ALL_CONSENTS)
    assert result.medical_info == frozenset()
    assert result.withheld == (WithheldReason.CERTIFICATE_IN_GRACE,)


def test_grace_does_not_withhold_the_limit_bracket_which_is_not_medical_info() -> None:
    result = card_check(not_after=EXPIRY, today=EXPIRY + DAY, consents=ALL_CONSENTS)
    assert result.results[0].limit_visible


def test_last_day_of_grace_is_still_valid() -> None:
    result = card_check(not_after=EXPIRY, today=date(2026, 2, 28))
    assert is_valid(result)
    assert result.codes == (W002,)


def test_day_after_grace_is_an_expired_certificate_error() -> None:
    result = card_check(not_after=EXPIRY, today=date(2026, 3, 1))
    assert result.status is ProcessingResultStatus.ERROR
    assert result.validity is None
    assert result.code is ProcessingResultCode.CERTIFICATE_EXPIRED
    assert result.results == ()
    assert result.person_id is None


@pytest.mark.parametrize(
    ("not_after", "last_grace_day"),
    [
        (date(2026, 1, 31), date(2026, 4, 30)),
        (date(2028, 2, 29), date(2028, 5, 31)),
        (date(2026, 12, 20), date(2027, 3, 31)),
        (date(2027, 11, 30), date(2028, 2, 29)),
    ],
    ids=["jan-31", "leap-feb-29", "december-crosses-year", "grace-ends-on-leap-day"],
)
def test_month_end_edges_of_the_grace_period(not_after: date, last_grace_day: date) -> None:
    assert card_check(not_after=not_after, today=not_after + DAY).codes == (W002,)
    assert is_valid(card_check(not_after=not_after, today=last_grace_day))
    after = card_check(not_after=not_after, today=last_grace_day + DAY)
    assert after.code is ProcessingResultCode.CERTIFICATE_EXPIRED


def test_a_six_month_grace_policy_keeps_the_card_usable_longer() -> None:
    six = Policy(certificate_grace_months=6)
    assert is_valid(card_check(not_after=EXPIRY, today=date(2026, 5, 31), policy=six))
    assert card_check(not_after=EXPIRY, today=date(2026, 6, 1), policy=six).code is (
        ProcessingResultCode.CERTIFICATE_EXPIRED
    )
    default = card_check(not_after=EXPIRY, today=date(2026, 3, 1))
    assert default.code is ProcessingResultCode.CERTIFICATE_EXPIRED


def test_a_one_month_warning_policy_warns_later() -> None:
    one = Policy(certificate_warning_months=1)
    assert card_check(not_after=NOT_AFTER, today=date(2026, 11, 15), policy=one).codes == ()
    assert card_check(not_after=NOT_AFTER, today=date(2027, 1, 15), policy=one).codes == (W001,)


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)), st.integers(-200, 200))
def test_certificate_phase_follows_the_calendar(not_after: date, offset: int) -> None:
    today = not_after + timedelta(days=offset)
    always_insured = view(person(), qualification(acquired_on=date(2000, 1, 1)))
    result = card_check(always_insured, not_after=not_after, today=today, consents=ALL_CONSENTS)
    if today < DEFAULT_POLICY.warning_starts_on(not_after):
        assert result.codes == () and result.medical_info == ALL_KINDS
    elif today <= not_after:
        assert result.codes == (W001,) and result.medical_info == ALL_KINDS
    elif today <= DEFAULT_POLICY.grace_ends_on(not_after):
        assert result.codes == (W002,) and result.medical_info == frozenset()
    else:
        assert result.code is ProcessingResultCode.CERTIFICATE_EXPIRED


# --- certificate not yet valid, revoked (F15) --------------------------------------------------------


def test_certificate_not_yet_valid_is_an_error() -> None:
    request = card(certificate(not_before=TODAY + DAY))
    result = check_card(request, view(), TODAY)
    assert result.status is ProcessingResultStatus.ERROR
    assert result.code is ProcessingResultCode.CERTIFICATE_NOT_YET_VALID


def test_certificate_is_usable_from_its_not_before_day() -> None:
    assert is_valid(check_card(card(certificate(not_before=TODAY)), view(), TODAY))


def test_revoked_certificate_is_an_error() -> None:
    result = card_check(revoked=True, consents=ALL_CONSENTS)
    assert result.status is ProcessingResultStatus.ERROR
    assert result.codes == (ProcessingResultCode.CERTIFICATE_REVOKED,)
    assert result.results == () and result.medical_info == frozenset() and result.person_id is None


@pytest.mark.parametrize(
    "other_trouble",
    ["expired-after-grace", "in-grace", "not-yet-valid", "never-registered", "renewal-pending", "no-person"],
)
def test_revocation_wins_over_every_other_condition(other_trouble: str) -> None:
    cert = certificate(revoked=True)
    link: SerialLink = LinkedPerson("P1")
    registry: RegistryView | None = view()
    if other_trouble == "expired-after-grace":
        cert = certificate(not_after=EXPIRY, revoked=True)
    elif other_trouble == "in-grace":
        cert = certificate(not_after=TODAY - DAY, revoked=True)
    elif other_trouble == "not-yet-valid":
        cert = certificate(not_before=TODAY + DAY, revoked=True)
    elif other_trouble == "never-registered":
        link = NeverRegistered()
    elif other_trouble == "renewal-pending":
        link = RenewalLinkPending()
    else:
        registry = None
    result = check_card(card(cert, link), registry, TODAY)
    assert result.status is ProcessingResultStatus.ERROR
    assert result.code is ProcessingResultCode.CERTIFICATE_REVOKED


# --- registration links (F9, F12, F2) ---------------------------------------------------------------


@pytest.mark.parametrize("link", [NeverRegistered(), RegistrationCancelled()], ids=["never", "cancelled"])
def test_card_not_registered_for_insurance_use_is_an_error(link: SerialLink) -> None:
    result = card_check(None, link=link, consents=ALL_CONSENTS)
    assert result.status is ProcessingResultStatus.ERROR
    assert result.code is ProcessingResultCode.NOT_REGISTERED
    assert result.results == () and result.person_id is None


def test_renewed_certificate_without_its_serial_link_finds_no_one() -> None:
    result = card_check(None, link=RenewalLinkPending())
    assert result.status is ProcessingResultStatus.NORMAL
    assert result.validity is QualificationValidity.NO_MATCH
    assert result.code is W005
    assert result.results == () and result.person_id is None


def test_renewal_link_pending_releases_nothing_even_with_consent() -> None:
    result = card_check(None, link=RenewalLinkPending(), consents=ALL_CONSENTS)
    assert result.medical_info == frozenset()
    assert result.withheld == (WithheldReason.NOT_ELIGIBLE,)


def test_link_reaching_no_registry_record_is_no_match() -> None:
    result = check_card(card(consents=ALL_CONSENTS), None, TODAY)
    assert result.status is ProcessingResultStatus.NORMAL
    assert result.validity is QualificationValidity.NO_MATCH
    assert result.medical_info == frozenset()
    assert result.withheld == (WithheldReason.NOT_ELIGIBLE,)


def test_wrong_link_returns_the_other_persons_data_as_a_valid_result() -> None:
    # F2: the serial of 山田太郎's card was linked to 山田太朗; the rules cannot tell, the counter must.
    stranger = person("P2", "山田太朗", date(1952, 9, 9), sex=Sex.MALE)
    stranger_q = qualification(
        "P2", insurer=KOKUHO, symbol="", number="998877", copay_ratio=20, insured_name="山田太朗"
    )
    result = card_check(view(stranger, stranger_q), link=LinkedPerson("P2"), consents=ALL_CONSENTS)
    assert is_valid(result)
    assert result.person_id == "P2"
    (shown,) = result.results
    assert (shown.name, shown.person.birthdate, shown.qualification.copay_ratio) == (
        "山田太朗",
        date(1952, 9, 9),
        20,
    )
    assert result.medical_info == ALL_KINDS  # the leak of F2: the stranger's records, with consent


# --- qualification dates (F10, F1) -------------------------------------------------------------------

ACQUIRED = date(2026, 4, 1)
LOST = date(2026, 10, 1)  # first day without the qualification


def dated_view(acquired: date = ACQUIRED, lost: date | None = None, **kw: Any) -> RegistryView:
    return view(person(), qualification(acquired_on=acquired, lost_on=lost, **kw))


def test_qualification_is_valid_on_its_acquisition_day() -> None:
    assert is_valid(card_check(dated_view(), today=ACQUIRED))


def test_qualification_is_not_valid_the_day_before_acquisition() -> None:
    result = card_check(dated_view(), today=ACQUIRED - DAY, consents=ALL_CONSENTS)
    assert result.validity is QualificationValidity.NO_MATCH
    assert result.results == ()
    assert result.medical_info == frozenset()


def test_qualification_is_valid_the_day_before_loss() -> None:
    assert is_valid(card_check(dated_view(lost=LOST), today=LOST - DAY))


def test_qualification_is_invalid_with_its_reason_on_the_loss_day() -> None:
    registry = dated_view(lost=LOST, reason_of_loss=ReasonOfLoss.OTHER)
    result = card_check(registry, today=LOST, consents=ALL_CONSENTS)
    assert result.status is ProcessingResultStatus.NORMAL
    assert result.validity is QualificationValidity.INVALID
    (shown,) = result.results
    assert shown.qualification.reason_of_loss is ReasonOfLoss.OTHER
    assert shown.qualification.lost_on == LOST
    assert result.medical_info == frozenset()
    assert result.withheld == (WithheldReason.NOT_ELIGIBLE,)


def test_invalid_result_shows_the_most_recently_lost_qualification() -> None:
    older = qualification(number="1", acquired_on=date(2010, 4, 1), lost_on=date(2015, 4, 1))
    newer = qualification(number="2", acquired_on=date(2015, 4, 1), lost_on=LOST)
    result = card_check(view(person(), newer, older), today=TODAY)
    assert result.validity is QualificationValidity.INVALID
    assert [r.qualification.number for r in result.results] == ["2"]


def test_input_lag_before_the_new_insurer_registers_gives_invalid_not_valid() -> None:
    # F1: changed jobs on 2026-11-01; the old insurer registered the loss, the new one not yet.
    old = qualification(
        acquired_on=date(2015, 4, 1),
        lost_on=date(2026, 11, 1),
        reason_of_loss=ReasonOfLoss.OTHER_INSURANCE_ACQUIRED,
    )
    result = card_check(view(person(), old), today=TODAY)
    assert result.validity is QualificationValidity.INVALID
    assert not is_valid(result)


def test_input_lag_for_a_first_qualification_gives_no_match_not_valid() -> None:
    # F1: a newborn or a new resident whose qualification the registry view does not hold yet.
    result = card_check(view(person(), qualification(acquired_on=TODAY + timedelta(days=30))), today=TODAY)
    assert result.validity is QualificationValidity.NO_MATCH


def test_once_the_new_qualification_is_registered_the_card_check_is_valid_with_it() -> None:
    old = qualification(
        insurer=KENPO,
        acquired_on=date(2015, 4, 1),
        lost_on=date(2026, 11, 1),
        reason_of_loss=ReasonOfLoss.OTHER_INSURANCE_ACQUIRED,
    )
    new = qualification(insurer=KYOKAI, symbol="77", number="123", acquired_on=date(2026, 11, 1))
    result = card_check(view(person(), old, new), today=TODAY)
    assert is_valid(result)
    assert [r.qualification.insurer for r in result.results] == [KYOKAI]


def test_qualification_acquired_in_the_future_is_no_match() -> None:
    result = card_check(dated_view(acquired=TODAY + DAY), today=TODAY)
    assert result.validity is QualificationValidity.NO_MATCH
    assert result.results == ()


# --- number checks ----------------------------------------------------------------------------------


def test_number_check_with_exact_numbers_and_birthdate_is_valid() -> None:
    result = check_number(number_request(), [view()], TODAY)
    assert is_valid(result)
    assert result.person_id == "P1"
    assert len(result.results) == 1


def test_number_check_with_a_wrong_birthdate_is_no_match() -> None:
    result = check_number(number_request(birthdate=date(1980, 4, 2)), [view()], TODAY)
    assert result.validity is QualificationValidity.NO_MATCH
    assert result.results == () and result.person_id is None


def test_number_check_with_a_wrong_number_is_no_match() -> None:
    assert check_number(number_request(number="5679"), [view()], TODAY).validity is (
        QualificationValidity.NO_MATCH
    )


def test_number_check_with_no_candidates_is_no_match() -> None:
    assert check_number(number_request(), [], TODAY).validity is QualificationValidity.NO_MATCH


def test_six_digit_kokuho_insurer_number_matches_its_zero_padded_form() -> None:
    registry = view(person(), qualification(insurer=KOKUHO, symbol="", number="998877"))
    request = number_request(insurer_number="131016", symbol="", number="998877")
    assert is_valid(check_number(request, [registry], TODAY))


def test_kokuho_insurer_number_stored_with_six_digits_matches_the_padded_request() -> None:
    six_digit = Insurer("131016", "千代田区", InsurerKind.NATIONAL)
    registry = view(person(), qualification(insurer=six_digit, symbol="", number="998877"))
    request = number_request(insurer_number="00131016", symbol="", number="998877")
    assert is_valid(check_number(request, [registry], TODAY))


def test_padded_kokuho_insurer_number_matches_too() -> None:
    registry = view(person(), qualification(insurer=KOKUHO, symbol="", number="998877"))
    request = number_request(insurer_number="00131016", symbol="", number="998877")
    assert is_valid(check_number(request, [registry], TODAY))


def test_surrounding_spaces_typed_by_staff_do_not_prevent_a_match() -> None:
    request = number_request(insurer_number=" 06139999 ", symbol=" 1234", number="5678 ", branch=" 00 ")
    assert is_valid(check_number(request, [view()], TODAY))


TWIN_BIRTHDAY = date(2020, 6, 6)


def twins() -> list[RegistryView]:
    return [
        view(
            person(f"T{i}", name, TWIN_BIRTHDAY),
            qualification(f"T{i}", branch=f"0{i}", personal_family=PersonalFamilyClassification.DEPENDENT),
        )
        for i, name in ((1, "山田一花"), (2, "山田二葉"))
    ]


def test_twins_with_the_branch_omitted_are_multiple_matches_without_personal_data() -> None:
    result = check_number(number_request(branch=None, birthdate=TWIN_BIRTHDAY), twins(), TODAY)
    assert result.status is ProcessingResultStatus.NORMAL
    assert result.validity is QualificationValidity.MULTIPLE_MATCHES
    assert result.results == ()
    assert result.person_id is None
    assert result.medical_info == frozenset()


@pytest.mark.parametrize("branch", ["01", "02"])
def test_twins_with_the_branch_given_are_one_person(branch: str) -> None:
    result = check_number(number_request(branch=branch, birthdate=TWIN_BIRTHDAY), twins(), TODAY)
    assert is_valid(result)
    assert result.person_id == f"T{branch[1]}"


@pytest.mark.parametrize("blank", ["", "  "])
def test_blank_branch_means_not_given(blank: str) -> None:
    # An empty InsuredBranchNumber (older cards have no 枝番) is the same as omitting it.
    assert is_valid(check_number(number_request(branch=blank), [view()], TODAY))
    assert check_number(number_request(branch=blank, birthdate=TWIN_BIRTHDAY), twins(), TODAY).validity is (
        QualificationValidity.MULTIPLE_MATCHES
    )


def test_branch_omitted_with_only_one_person_is_that_person() -> None:
    assert is_valid(check_number(number_request(branch=None), [view()], TODAY))


def test_number_check_on_a_lost_qualification_alone_is_invalid_with_reason() -> None:
    registry = view(person(), qualification(lost_on=LOST, reason_of_loss=ReasonOfLoss.DEATH))
    result = check_number(number_request(), [registry], TODAY)
    assert result.validity is QualificationValidity.INVALID
    assert result.results[0].qualification.reason_of_loss is ReasonOfLoss.DEATH


def test_number_check_on_a_lost_qualification_with_another_valid_one_is_invalid_new_qualification() -> None:
    old = qualification(acquired_on=date(2015, 4, 1), lost_on=LOST)
    new = qualification(insurer=KYOKAI, symbol="77", number="123", acquired_on=LOST)
    result = check_number(number_request(), [view(person(), old, new)], TODAY)
    assert result.validity is QualificationValidity.INVALID_NEW_QUALIFICATION
    assert result.validity.value == "3"
    assert [r.qualification for r in result.results] == [old]  # the new insurer's numbers are not disclosed


def test_number_check_on_the_new_qualification_is_valid() -> None:
    old = qualification(acquired_on=date(2015, 4, 1), lost_on=LOST)
    new = qualification(insurer=KYOKAI, symbol="77", number="123", acquired_on=LOST)
    request = number_request(insurer_number=KYOKAI.number, symbol="77", number="123")
    assert is_valid(check_number(request, [view(person(), old, new)], TODAY))


def test_number_check_on_a_future_qualification_is_no_match() -> None:
    registry = view(person(), qualification(acquired_on=TODAY + DAY))
    assert check_number(number_request(), [registry], TODAY).validity is QualificationValidity.NO_MATCH


@pytest.mark.parametrize("situation", ["valid", "no-match", "multiple"])
def test_number_checks_never_release_medical_info(situation: str) -> None:
    if situation == "valid":
        result = check_number(number_request(), [view()], TODAY)
    elif situation == "no-match":
        result = check_number(number_request(number="0"), [view()], TODAY)
    else:
        result = check_number(number_request(branch=None, birthdate=TWIN_BIRTHDAY), twins(), TODAY)
    assert result.medical_info == frozenset()
    assert result.withheld == (WithheldReason.NUMBER_CHECK,)


def with_limit() -> RegistryView:
    limit = LimitCertificate(
        classification=LimitApplicationCertificateClassification.LIMIT_APPLICATION,
        bracket=LimitApplicationCertificateClassificationFlag.A03,
        certificate_date=date(2026, 4, 1),
        valid_start=date(2026, 4, 1),
        valid_end=date(2027, 3, 31),
    )
    return view(person(), qualification(limit=limit))


def test_number_check_shows_limit_data_only_with_consent() -> None:
    without = check_number(number_request(), [with_limit()], TODAY).results[0]
    assert not without.limit_visible and without.limit_consent is ConsentFlag.NOT_CONSENTED
    with_consent = check_number(number_request(limit_consent=True), [with_limit()], TODAY).results[0]
    assert with_consent.limit_visible and with_consent.limit_consent is ConsentFlag.CONSENTED


def test_card_check_shows_limit_data_only_with_the_limit_consent() -> None:
    medication_only = Consents(medication=True)
    assert not card_check(with_limit(), consents=medication_only).results[0].limit_visible
    assert card_check(with_limit(), consents=Consents(limit_bracket=True)).results[0].limit_visible


def test_number_check_does_not_apply_certificate_notes() -> None:
    assert check_number(number_request(), [view()], TODAY).codes == ()


# --- no-provide flag (F4) ---------------------------------------------------------------------------


def test_no_provide_flag_keeps_the_qualification_valid_but_withholds_everything() -> None:
    result = card_check(view(no_provide=True), consents=ALL_CONSENTS)
    assert is_valid(result)
    assert result.medical_info == frozenset()
    assert result.withheld == (WithheldReason.NO_PROVIDE_FLAG,)
    assert W003 in result.codes


def test_no_provide_flag_discloses_itself_even_without_consent() -> None:
    result = card_check(view(no_provide=True), consents=NO_CONSENT)
    assert W003 in result.codes
    assert WithheldReason.NO_PROVIDE_FLAG in result.withheld


def test_no_provide_flag_and_grace_both_name_their_reason() -> None:
    result = card_check(view(no_provide=True), not_after=TODAY - DAY, consents=ALL_CONSENTS)
    assert result.codes == (W002, W003)
    assert set(result.withheld) == {WithheldReason.NO_PROVIDE_FLAG, WithheldReason.CERTIFICATE_IN_GRACE}


def test_no_provide_flag_does_not_hide_the_limit_bracket() -> None:
    flagged = dataclasses.replace(with_limit(), no_provide=True)
    assert card_check(flagged, consents=ALL_CONSENTS).results[0].limit_visible


# --- consent ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("consents", "kinds"),
    [
        (Consents(medication=True), {MedicalInfoKind.MEDICATION}),
        (Consents(clinical=True, operation=True), {MedicalInfoKind.CLINICAL, MedicalInfoKind.OPERATION}),
        (Consents(checkup=True), {MedicalInfoKind.CHECKUP}),
        (ALL_CONSENTS, set(MedicalInfoKind)),
    ],
)
def test_medical_info_is_exactly_the_consented_kinds(consents: Consents, kinds: set[MedicalInfoKind]) -> None:
    result = card_check(consents=consents)
    assert result.medical_info == kinds
    assert result.withheld == ()
    assert result.consents == consents


@given(st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_medical_info_never_exceeds_consent(med: bool, cli: bool, ope: bool, chk: bool, lim: bool) -> None:
    consents = Consents(medication=med, clinical=cli, operation=ope, checkup=chk, limit_bracket=lim)
    result = card_check(consents=consents)
    assert result.medical_info == consents.given()


def test_no_consent_releases_nothing_and_says_so() -> None:
    result = card_check(consents=NO_CONSENT)
    assert result.medical_info == frozenset()
    assert result.withheld == (WithheldReason.NO_CONSENT,)


def test_limit_bracket_consent_alone_is_no_medical_consent() -> None:
    result = card_check(consents=Consents(limit_bracket=True))
    assert result.medical_info == frozenset()
    assert result.withheld == (WithheldReason.NO_CONSENT,)


# --- ● replacement (F5) -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "shown"),
    [("髙橋一郎", "●橋一郎"), ("山﨑花子", "山●花子"), ("𠮷田太郎", "●田太郎")],
    ids=["U+9AD9", "U+FA11", "U+20BB7"],
)
def test_characters_outside_the_set_become_black_circles_in_name_and_insured_name(
    name: str, shown: str
) -> None:
    p = person(name=name)
    result = card_check(view(p, qualification(insured_name=name)))
    (r,) = result.results
    assert (r.name, r.insured_name) == (shown, shown)
    assert W004 in result.codes


def test_dependent_with_an_unrepresentable_insured_name_gets_the_note() -> None:
    child = person(name="山田花子")
    result = card_check(view(child, qualification(insured_name="山﨑太郎")))
    assert result.results[0].name == "山田花子"
    assert result.results[0].insured_name == "山●太郎"
    assert W004 in result.codes


def test_an_unrepresentable_name_of_other_also_gets_the_note() -> None:
    result = card_check(view(person(name_of_other="髙田花"), qualification()))
    assert result.results[0].name_of_other == "●田花"
    assert W004 in result.codes


def test_ordinary_kanji_and_kana_are_untouched_and_carry_no_note() -> None:
    p = person(name="高橋 ゆうこ", name_kana="ﾀｶﾊｼ ﾕｳｺ", address="東京都千代田区霞が関１－２－２")
    result = card_check(view(p, qualification(insured_name="高橋 ゆうこ")))
    (r,) = result.results
    assert (r.name, r.insured_name, r.name_kana) == ("高橋 ゆうこ", "高橋 ゆうこ", "ﾀｶﾊｼ ﾕｳｺ")
    assert "●" not in r.address
    assert W004 not in result.codes


def test_windows_variant_characters_are_held_without_a_black_circle_or_note() -> None:
    # FULLWIDTH TILDE typed on Windows is the JIS X 0208 wave dash: in the set, shown, no W004.
    result = card_check(view(person(name="山田～花子"), qualification(insured_name="山田～花子")))
    assert result.results[0].name == "山田〜花子"
    assert W004 not in result.codes


def test_replacement_leaves_the_stored_person_unchanged() -> None:
    p = person(name="髙橋一郎")
    before = dataclasses.replace(p)
    result = card_check(view(p, qualification(insured_name="髙橋一郎")))
    assert p == before and p.name == "髙橋一郎"
    assert result.results[0].person.name == "髙橋一郎"
    assert result.results[0].qualification.insured_name == "髙橋一郎"


def test_number_check_replaces_too() -> None:
    p = person(name="𠮷田太郎")
    result = check_number(number_request(), [view(p, qualification(insured_name="𠮷田太郎"))], TODAY)
    assert result.results[0].name == "●田太郎"
    assert result.codes == (W004,)


def test_codes_put_certificate_notes_first_then_flag_then_characters() -> None:
    p = person(name="髙橋一郎")
    registry = view(p, qualification(insured_name="髙橋一郎"), no_provide=True)
    result = card_check(registry, not_after=TODAY + DAY)
    assert result.codes == (W001, W003, W004)
    assert result.code is W001


# --- releasing medical information after the check --------------------------------------------

CONSENTED_AT = datetime(2026, 11, 24, 9, 0, tzinfo=JST)


def test_consented_records_are_released_within_the_available_time() -> None:
    at_the_last_second = CONSENTED_AT + timedelta(hours=24)
    assert release_refusal("medication", {"medication"}, (), CONSENTED_AT, at_the_last_second,
                           no_provide_now=False) == ()


def test_a_second_after_the_available_time_the_consent_has_expired() -> None:
    later = CONSENTED_AT + timedelta(hours=24, seconds=1)
    assert release_refusal("medication", {"medication"}, (), CONSENTED_AT, later,
                           no_provide_now=False) == (WithheldReason.CONSENT_EXPIRED,)


def test_a_no_provide_flag_set_after_the_check_withholds_what_was_consented() -> None:
    assert release_refusal("medication", {"medication"}, (), CONSENTED_AT, CONSENTED_AT,
                           no_provide_now=True) == (WithheldReason.NO_PROVIDE_FLAG,)


def test_a_kind_not_released_at_the_check_gives_the_checks_reasons() -> None:
    assert release_refusal("checkup", {"medication"}, (), CONSENTED_AT, CONSENTED_AT,
                           no_provide_now=False) == (WithheldReason.NO_CONSENT,)
    grace = (WithheldReason.CERTIFICATE_IN_GRACE,)
    assert release_refusal("medication", set(), grace, CONSENTED_AT, CONSENTED_AT,
                           no_provide_now=False) == grace


def test_the_available_time_is_policy() -> None:
    short = Policy(consent_available_hours=1)
    assert release_refusal("medication", {"medication"}, (), CONSENTED_AT, CONSENTED_AT + timedelta(hours=2),
                           no_provide_now=False, policy=short) == (WithheldReason.CONSENT_EXPIRED,)
