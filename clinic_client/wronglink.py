"""Wrong-link detection (F2): does the returned person match the patient the clinic has on file?

A card linked to someone else comes back *valid*, with the other person's name, birth date,
co-pay and, with consent, medication. The central system cannot tell; the counter must. This
pure function compares the clinic's own record with what came back, so the console can hold the
data out of the record until staff decide.

Rules (say why):
- compared after NFKC and without spaces, so full/half-width and spacing differences are not alarms;
- ● in the returned name (F5) stands for exactly one character the system could not hold;
- the 通称名 (NameOfOther) counts as the name too;
- the birth date must be equal; a different birth date is always flagged.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from onshi.messages import ResultOfQualificationConfirmation

REPLACEMENT = "●"


@dataclass(frozen=True)
class Identity:
    """Who the clinic believes the patient is (from its own records)."""

    name: str
    birthdate: date
    name_kana: str = ""


@dataclass(frozen=True)
class Mismatch:
    field: str  # "name" | "birthdate"
    on_file: str
    returned: str

    @property
    def label_ja(self) -> str:
        return {"name": "氏名", "birthdate": "生年月日"}.get(self.field, self.field)

    @property
    def label_en(self) -> str:
        return {"name": "name", "birthdate": "birth date"}.get(self.field, self.field)


@dataclass(frozen=True)
class WrongLinkFlag:
    """A possible wrong link: what differs. ``kana_matches`` hints at a variant spelling."""

    mismatches: tuple[Mismatch, ...]
    kana_matches: bool = False

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(m.field for m in self.mismatches)


def normalize_name(text: str) -> str:
    """NFKC, no spaces of any width (氏名の区切りの違いは問題にしない)."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if not ch.isspace())


def normalize_kana(text: str) -> str:
    """Half-width katakana → full-width (NFKC), hiragana → katakana, no spaces."""
    out = []
    for ch in normalize_name(text):
        code = ord(ch)
        out.append(chr(code + 0x60) if 0x3041 <= code <= 0x3096 else ch)
    return "".join(out)


def names_match(on_file: str, returned: str) -> bool:
    """Equal after normalisation, each ● in ``returned`` matching any one character."""
    left, right = normalize_name(on_file), normalize_name(returned)
    if len(left) != len(right):
        return False
    return all(r == REPLACEMENT or l_ == r for l_, r in zip(left, right, strict=True))


def check_identity(on_file: Identity, returned: ResultOfQualificationConfirmation) -> WrongLinkFlag | None:
    """None when the returned person is the patient on file; otherwise what differs.

    >>> from onshi.messages import ResultOfQualificationConfirmation as R
    >>> me = Identity("山田 太郎", date(1980, 4, 1), "ヤマダ タロウ")
    >>> check_identity(me, R(Name="山田　太郎", Birthdate="19800401")) is None
    True
    >>> check_identity(me, R(Name="山田 太郎", Birthdate="19800402")).fields
    ('birthdate',)
    """
    mismatches: list[Mismatch] = []
    names = [n for n in (returned.Name, returned.NameOfOther) if n]
    if names and not any(names_match(on_file.name, n) for n in names):
        mismatches.append(Mismatch("name", on_file.name, returned.Name or returned.NameOfOther or ""))
    if returned.Birthdate:
        on_file_text = on_file.birthdate.strftime("%Y%m%d")
        if returned.Birthdate.strip() != on_file_text:
            mismatches.append(Mismatch("birthdate", _show_date(on_file_text), _show_date(returned.Birthdate)))
    if not mismatches:
        return None
    kana = [k for k in (returned.NameKana, returned.NameOfOtherKana) if k]
    kana_matches = bool(on_file.name_kana) and any(
        normalize_kana(on_file.name_kana) == normalize_kana(k) for k in kana
    )
    return WrongLinkFlag(tuple(mismatches), kana_matches=kana_matches)


def _show_date(text: str) -> str:
    text = text.strip()
    return f"{text[:4]}-{text[4:6]}-{text[6:8]}" if len(text) == 8 and text.isdigit() else text
