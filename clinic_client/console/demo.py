"""Demo clinic records built from the fixture personas (what the clinic has on file for each).

The clinic knows its patients from their own documents, so the record holds the person's real
name and birth date (for F2 that is *not* who the wrong link returns) and the numbers on their
資格確認書 or 資格情報のお知らせ (for F1: the new insurer's notice the registry does not know yet).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml

from clinic_client.records import InsuranceDocument, PatientRecord

DEFAULT_PERSONAS = Path(__file__).resolve().parents[2] / "fixtures" / "personas.yaml"


def _document(persona: dict[str, Any]) -> InsuranceDocument | None:
    numbers = persona.get("numbers")
    qualifications = persona.get("qualifications") or []
    if numbers:
        source = {
            "insurer": numbers.get("insurer"),
            "symbol": numbers.get("symbol"),
            "number": numbers.get("number"),
            "branch": numbers.get("branch"),
        }
    elif qualifications:
        source = qualifications[0]
    else:
        return None
    has_card = bool(persona.get("card"))
    classification = str((qualifications[0] if qualifications else {}).get("card_classification", ""))
    kind = "kakuninsho" if classification == "08" or not has_card else "oshirase"
    return InsuranceDocument(
        kind=kind,  # type: ignore[arg-type]
        insurer_number=str(source["insurer"]),
        symbol=str(source["symbol"]) if source.get("symbol") else None,
        number=str(source["number"]),
        branch=str(source["branch"]) if source.get("branch") else None,
    )


def chart_number(persona_id: str, taken: set[str] | None = None) -> str:
    """The patient's 6-digit カルテ番号 at the demo clinic, fixed per persona.

    Staff see a number like a clinic's, never the persona's name (``f2-wrong-link`` would give the
    exercise away); the record keeps the persona (``PatientRecord.persona``) for the card and the
    rehearsal's scoring.
    """
    value = int.from_bytes(hashlib.sha256(persona_id.encode("utf-8")).digest()[:8], "big") % 900000
    number = 100000 + value
    while taken is not None and f"{number:06d}" in taken:  # a clash: the next free number
        number = 100000 + (number - 99999) % 900000
    return f"{number:06d}"


def demo_patients(path: Path = DEFAULT_PERSONAS) -> list[PatientRecord]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    patients: list[PatientRecord] = []
    taken: set[str] = set()
    for persona in data.get("personas", []):
        pid = str(persona["id"])
        if pid.endswith("-stranger"):
            continue  # the other side of a wrong link is not our patient
        person = persona["person"]
        qualifications = persona.get("qualifications") or []
        copay = persona.get("true_copay_ratio") or (
            qualifications[0].get("copay_ratio") if qualifications else None
        )
        document = _document(persona)
        number = chart_number(pid, taken)
        taken.add(number)
        patients.append(
            PatientRecord(
                id=number,
                name=str(person["name"]),
                name_kana=str(person.get("name_kana", "")),
                birthdate=person["birthdate"],
                sex=str(person.get("sex", "")) or None,
                address=str(person.get("address", "")),
                documents=[document] if document else [],
                copay_percent=int(copay) if copay else None,
                persona=pid,
                visit_today=True,
                booked_tomorrow=True,
            )
        )
    return sorted(patients, key=lambda p: p.id)  # by カルテ番号, as a clinic lists them
