"""Plain data the eligibility rules work on: no database, no HTTP, no clock.

The storage layer builds these from the registry *as the central system sees it at a moment*
(only facts whose ``visible_from`` has passed); the rules turn them into an EligibilityResult.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from onshi.codes import (
    ConsentFlag,
    InsuredCardClassification,
    InsurerKind,
    LimitApplicationCertificateClassification,
    LimitApplicationCertificateClassificationFlag,
    MedicalInfoKind,
    PersonalFamilyClassification,
    PrescriptionIssueSelect,
    ProcessingResultCode,
    ProcessingResultStatus,
    QualificationValidity,
    ReasonOfLoss,
    Sex,
    SpecificDiseaseCategory,
    WithheldReason,
)


@dataclass(frozen=True)
class Insurer:
    number: str  # 8 digits (国保 6 digits zero-padded)
    name: str
    kind: InsurerKind


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    name_kana: str  # half-width katakana, as in the real messages
    birthdate: date
    sex: Sex
    address: str = ""
    post_number: str = ""
    name_of_other: str = ""  # 通称名
    name_of_other_kana: str = ""


@dataclass(frozen=True)
class ElderlyRecipient:
    """高齢受給者証 (age 70–74)."""

    certificate_date: date
    valid_start: date
    valid_end: date
    contribution_ratio: int  # percent: 20 or 30


@dataclass(frozen=True)
class LimitCertificate:
    """限度額適用認定証 data."""

    classification: LimitApplicationCertificateClassification
    bracket: LimitApplicationCertificateClassificationFlag
    certificate_date: date
    valid_start: date
    valid_end: date
    long_term_date: date | None = None


@dataclass(frozen=True)
class SpecificDisease:
    """特定疾病療養受療証."""

    category: SpecificDiseaseCategory
    self_pay_limit_yen: int
    valid_start: date
    valid_end: date | None = None


@dataclass(frozen=True)
class Qualification:
    """One qualification record (資格) as an insurer registered it."""

    id: str
    person_id: str
    insurer: Insurer
    symbol: str  # 記号 (may be empty for 国保/後期)
    number: str  # 番号
    branch: str  # 枝番, 2 digits
    card_classification: InsuredCardClassification
    personal_family: PersonalFamilyClassification
    insured_name: str  # 被保険者氏名 (the main insured person, for dependents)
    acquired_on: date  # QualificationDate
    copay_ratio: int  # percent: 10, 20 or 30
    lost_on: date | None = None  # DisqualificationDate: first day without the qualification
    reason_of_loss: ReasonOfLoss | None = None
    preschool: bool = False
    issued_on: date | None = None  # InsuredCertificateIssuanceDate
    valid_from: date | None = None  # InsuredCardValidDate
    card_expires_on: date | None = None  # InsuredCardExpirationDate
    elderly: ElderlyRecipient | None = None
    limit: LimitCertificate | None = None
    specific_diseases: tuple[SpecificDisease, ...] = ()

    def is_valid_on(self, day: date) -> bool:
        return self.acquired_on <= day and (self.lost_on is None or day < self.lost_on)


@dataclass(frozen=True)
class CertificateStatus:
    """What J-LIS answers about the presented user-authentication certificate.

    The cryptographic checks (signature, chain, nonce) happen in the shell before the rules run;
    this is the outcome the rules need: validity window and revocation as of the moment.
    """

    serial: str
    not_before: date
    not_after: date  # last day the certificate is valid
    revoked: bool = False


class SerialLink:
    """How the central system's registration index resolves a certificate serial."""


@dataclass(frozen=True)
class LinkedPerson(SerialLink):
    person_id: str  # may be the wrong person (F2): the rules cannot tell, the counter must


@dataclass(frozen=True)
class RegistrationCancelled(SerialLink):
    pass


@dataclass(frozen=True)
class RenewalLinkPending(SerialLink):
    """The certificate is a renewal whose old→new serial link has not reached the system yet."""


@dataclass(frozen=True)
class NeverRegistered(SerialLink):
    pass


@dataclass(frozen=True)
class Consents:
    """Answers given on the reader's consent screens."""

    medication: bool = False  # 薬剤情報
    clinical: bool = False  # 診療情報
    operation: bool = False  # 手術情報
    checkup: bool = False  # 特定健診情報
    limit_bracket: bool = False  # 限度額情報
    prescription: PrescriptionIssueSelect = PrescriptionIssueSelect.PAPER

    def given(self) -> frozenset[MedicalInfoKind]:
        pairs = {
            MedicalInfoKind.MEDICATION: self.medication,
            MedicalInfoKind.CLINICAL: self.clinical,
            MedicalInfoKind.OPERATION: self.operation,
            MedicalInfoKind.CHECKUP: self.checkup,
        }
        return frozenset(kind for kind, yes in pairs.items() if yes)


@dataclass(frozen=True)
class RegistryView:
    """Everything the central system knows about one person as of the moment of the check."""

    person: Person
    qualifications: tuple[Qualification, ...]
    no_provide: bool = False  # 自己情報提供不可フラグ


@dataclass(frozen=True)
class CardCheckRequest:
    certificate: CertificateStatus
    link: SerialLink
    consents: Consents = field(default_factory=Consents)


@dataclass(frozen=True)
class NumberCheckRequest:
    insurer_number: str
    symbol: str
    number: str
    branch: str | None  # None: not given (older cards have no 枝番)
    birthdate: date
    limit_consent: bool = False


@dataclass(frozen=True)
class QualificationResult:
    """One ResultOfQualificationConfirmation: the qualification as presented to the clinic."""

    qualification: Qualification
    person: Person
    name: str  # after ● replacement
    name_kana: str
    insured_name: str
    name_of_other: str
    address: str
    limit_consent: ConsentFlag
    limit_visible: bool  # 限度額 data goes out only with consent


@dataclass(frozen=True)
class EligibilityResult:
    status: ProcessingResultStatus
    validity: QualificationValidity | None
    codes: tuple[ProcessingResultCode, ...] = ()  # the reason (error) or side notes, most important first
    results: tuple[QualificationResult, ...] = ()
    person_id: str | None = None
    medical_info: frozenset[MedicalInfoKind] = frozenset()  # kinds the clinic may now view
    withheld: tuple[WithheldReason, ...] = ()
    consents: Consents | None = None
    certificate_not_after: date | None = None
    grace_ends_on: date | None = None

    @property
    def code(self) -> ProcessingResultCode | None:
        """The one ProcessingResultCode the XML carries."""
        return self.codes[0] if self.codes else None
