"""Core dataclasses <-> JSON-able dicts, for the registry's stored versions."""

from __future__ import annotations

from datetime import date
from typing import Any

from onshi.codes import (
    InsuredCardClassification,
    LimitApplicationCertificateClassification,
    LimitApplicationCertificateClassificationFlag,
    PersonalFamilyClassification,
    ReasonOfLoss,
    SpecificDiseaseCategory,
)
from server.core.model import (
    ElderlyRecipient,
    Insurer,
    LimitCertificate,
    Qualification,
    SpecificDisease,
)


def _d(value: Any) -> date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _req(value: Any) -> date:
    day = _d(value)
    if day is None:
        raise ValueError("a required date is missing")
    return day


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def qualification_to_dict(q: Qualification) -> dict[str, Any]:
    return {
        "id": q.id,
        "person_id": q.person_id,
        "insurer_number": q.insurer.number,
        "symbol": q.symbol,
        "number": q.number,
        "branch": q.branch,
        "card_classification": q.card_classification.value,
        "personal_family": q.personal_family.value,
        "insured_name": q.insured_name,
        "acquired_on": _iso(q.acquired_on),
        "copay_ratio": q.copay_ratio,
        "lost_on": _iso(q.lost_on),
        "reason_of_loss": q.reason_of_loss.value if q.reason_of_loss else None,
        "preschool": q.preschool,
        "issued_on": _iso(q.issued_on),
        "valid_from": _iso(q.valid_from),
        "card_expires_on": _iso(q.card_expires_on),
        "elderly": None
        if q.elderly is None
        else {
            "certificate_date": _iso(q.elderly.certificate_date),
            "valid_start": _iso(q.elderly.valid_start),
            "valid_end": _iso(q.elderly.valid_end),
            "contribution_ratio": q.elderly.contribution_ratio,
        },
        "limit": None
        if q.limit is None
        else {
            "classification": q.limit.classification.value,
            "bracket": q.limit.bracket.value,
            "certificate_date": _iso(q.limit.certificate_date),
            "valid_start": _iso(q.limit.valid_start),
            "valid_end": _iso(q.limit.valid_end),
            "long_term_date": _iso(q.limit.long_term_date),
        },
        "specific_diseases": [
            {
                "category": d.category.value,
                "self_pay_limit_yen": d.self_pay_limit_yen,
                "valid_start": _iso(d.valid_start),
                "valid_end": _iso(d.valid_end),
            }
            for d in q.specific_diseases
        ],
    }


def qualification_from_dict(data: dict[str, Any], insurer: Insurer) -> Qualification:
    """Builds a Qualification; raises ValueError/KeyError naming the bad field on bad data."""
    elderly = data.get("elderly")
    limit = data.get("limit")
    reason = data.get("reason_of_loss")
    return Qualification(
        id=str(data["id"]),
        person_id=str(data["person_id"]),
        insurer=insurer,
        symbol=str(data.get("symbol") or ""),
        number=str(data["number"]),
        branch=str(data.get("branch") or "00").zfill(2),
        card_classification=InsuredCardClassification(str(data.get("card_classification", "01")).zfill(2)),
        personal_family=PersonalFamilyClassification(str(data.get("personal_family", "1"))),
        insured_name=str(data.get("insured_name") or ""),
        acquired_on=_req(data["acquired_on"]),
        copay_ratio=int(data.get("copay_ratio", 30)),
        lost_on=_d(data.get("lost_on")),
        reason_of_loss=ReasonOfLoss(str(reason).zfill(2)) if reason else None,
        preschool=bool(data.get("preschool", False)),
        issued_on=_d(data.get("issued_on")),
        valid_from=_d(data.get("valid_from")),
        card_expires_on=_d(data.get("card_expires_on")),
        elderly=None
        if not elderly
        else ElderlyRecipient(
            certificate_date=_req(elderly["certificate_date"]),
            valid_start=_req(elderly["valid_start"]),
            valid_end=_req(elderly["valid_end"]),
            contribution_ratio=int(elderly["contribution_ratio"]),
        ),
        limit=None
        if not limit
        else LimitCertificate(
            classification=LimitApplicationCertificateClassification(str(limit["classification"]).zfill(2)),
            bracket=LimitApplicationCertificateClassificationFlag(str(limit["bracket"])),
            certificate_date=_req(limit["certificate_date"]),
            valid_start=_req(limit["valid_start"]),
            valid_end=_req(limit["valid_end"]),
            long_term_date=_d(limit.get("long_term_date")),
        ),
        specific_diseases=tuple(
            SpecificDisease(
                category=SpecificDiseaseCategory(str(d["category"])),
                self_pay_limit_yen=int(d.get("self_pay_limit_yen", 10000)),
                valid_start=_req(d["valid_start"]),
                valid_end=_d(d.get("valid_end")),
            )
            for d in data.get("specific_diseases") or ()
        ),
    )
