"""The clinic's own patient records (what the clinic has on file, not what the system says).

Kept in a small JSON file so a clinic (or a test) can write it by hand::

    {"patients": [{"id": "P001", "name": "山田 太郎", "name_kana": "ヤマダ タロウ",
                   "birthdate": "1980-04-01", "visit_today": true, "booked_tomorrow": false,
                   "documents": [{"kind": "kakuninsho", "insurer_number": "06139981",
                                  "symbol": "12", "number": "1234", "branch": "00"}]}]}

Insurance data from a check goes into ``confirmed`` only when staff accept it (see the console:
a possible wrong link holds it out of the record until they decide).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from clinic_client.wronglink import Identity

DocumentKind = Literal["kakuninsho", "oshirase", "portal", "koreisha", "hokensho"]
DOCUMENT_LABELS: dict[str, tuple[str, str]] = {
    "kakuninsho": ("資格確認書", "eligibility certificate"),
    "oshirase": ("資格情報のお知らせ", "eligibility notice"),
    # マイナポータル 資格情報画面 on the patient's phone: its numbers are checked like the papers'.
    "portal": ("マイナポータルの資格情報画面", "マイナポータル eligibility screen"),
    "koreisha": ("高齢受給者証", "elderly recipient certificate"),
    "hokensho": ("健康保険証（旧）など", "old insurance card or other"),
}
# The same papers by the names the console's action log uses (number_check's "document").
DOCUMENT_ACTION_NAMES: dict[str, str] = {
    "kakuninsho": "eligibility_certificate",
    "oshirase": "eligibility_notice",
    "portal": "myna_portal",
    "koreisha": "elderly_certificate",
    "hokensho": "other",
}
DOCUMENT_OF_ACTION_NAME: dict[str, str] = {v: k for k, v in DOCUMENT_ACTION_NAMES.items()}


def document_label(action_name: str, lang: str = "ja") -> str:
    """The paper's name for a number_check ``document`` value (eligibility_notice → 資格情報のお知らせ)."""
    ja, en = DOCUMENT_LABELS[DOCUMENT_OF_ACTION_NAME[action_name]]
    return ja if lang == "ja" else en


class InsuranceDocument(BaseModel):
    """Numbers printed on a paper document the patient showed."""

    kind: DocumentKind = "kakuninsho"
    insurer_number: str
    symbol: str | None = None
    number: str
    branch: str | None = None

    def label(self, lang: str = "ja") -> str:
        ja, en = DOCUMENT_LABELS[self.kind]
        return ja if lang == "ja" else en

    @property
    def action_name(self) -> str:
        return DOCUMENT_ACTION_NAMES[self.kind]


class Confirmed(BaseModel):
    """Insurance data staff took into the record from a check."""

    check_id: str
    checked_at: str
    insurer_number: str | None = None
    insurer_name: str | None = None
    symbol: str | None = None
    number: str | None = None
    branch: str | None = None
    copay_percent: int | None = None
    limit_bracket: str | None = None


class PatientRecord(BaseModel):
    id: str
    name: str
    name_kana: str = ""
    birthdate: date
    sex: str | None = None
    address: str = ""
    phone: str = ""
    visit_today: bool = True
    booked_tomorrow: bool = False
    documents: list[InsuranceDocument] = Field(default_factory=list)
    copay_percent: int | None = None  # from the patient's own documents, if any
    persona: str | None = None  # demo only: which fixture card this patient carries
    confirmed: Confirmed | None = None

    @property
    def identity(self) -> Identity:
        return Identity(self.name, self.birthdate, self.name_kana)

    @property
    def age_text(self) -> str:
        return self.birthdate.strftime("%Y-%m-%d")


class PatientFile(BaseModel):
    patients: list[PatientRecord] = Field(default_factory=list)


class PatientStore:
    """Thread-safe access to the JSON patient file; writes are atomic (temp file + rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        if not path.exists():
            self._write(PatientFile())

    def _read(self) -> PatientFile:
        return PatientFile.model_validate_json(self.path.read_text(encoding="utf-8"))

    def _write(self, data: PatientFile) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".patients-", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(data.model_dump(mode="json"), ensure_ascii=False, indent=2))
        os.replace(tmp, self.path)

    def all(self) -> list[PatientRecord]:
        with self._lock:
            return self._read().patients

    def get(self, patient_id: str) -> PatientRecord | None:
        return next((p for p in self.all() if p.id == patient_id), None)

    def today(self) -> list[PatientRecord]:
        return [p for p in self.all() if p.visit_today]

    def tomorrow(self) -> list[PatientRecord]:
        return [p for p in self.all() if p.booked_tomorrow]

    def replace_all(self, patients: list[PatientRecord]) -> None:
        with self._lock:
            self._write(PatientFile(patients=patients))

    def update(self, patient_id: str, **changes: Any) -> PatientRecord:
        with self._lock:
            data = self._read()
            for i, record in enumerate(data.patients):
                if record.id == patient_id:
                    data.patients[i] = record.model_copy(update=changes)
                    self._write(data)
                    return data.patients[i]
        raise KeyError(patient_id)
