"""The failure catalogue (F1–F15): what goes wrong at the counter and the right response.

One source for the reception console's explanations, the failure gallery and the rehearsal
scenarios. Figures come from the 全国保険医団体連合会 clinic surveys cited in the project docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Failure:
    id: str
    name_ja: str
    name_en: str
    clinic_sees_ja: str
    clinic_sees_en: str
    response_ja: str
    response_en: str
    figure_ja: str = ""
    figure_en: str = ""


class FailureMode(Enum):
    INPUT_LAG = Failure(
        "F1",
        "資格情報入力のタイムラグ",
        "input lag",
        "加入しているのに「該当資格なし」または「無効」と表示される",
        "an insured patient shows as 'no matching qualification' or 'invalid'",
        "資格確認書・資格情報のお知らせ・番号での確認を依頼。それでも確認できなければ被保険者資格申立書で通常の負担割合。10割負担にしない。",
        "Ask for the 資格確認書 / 資格情報のお知らせ or do a number check; if nothing confirms, use the "
        "被保険者資格申立書 and the normal co-pay. Never charge 100%.",
        "「無効」表示のトラブル 50.9%（2025年10〜12月、10,519施設）",
        "'invalid' shown: 50.9% of 10,519 clinics (Oct–Dec 2025)",
    )
    WRONG_LINK = Failure(
        "F2",
        "紐付け誤り",
        "wrong link",
        "他人の氏名・生年月日・負担割合（同意があれば薬剤情報）が有効として表示される",
        "a valid result with someone else's name, birth date, co-pay and, with consent, medication",
        "目の前の患者と氏名・生年月日を照合。一致しなければ中止し、データを使わず報告する。",
        "Compare name and birth date with the patient in front of you; stop, do not use the data, report.",
        "2023年に約7,300件の誤登録が判明",
        "about 7,300 wrong links found in 2023",
    )
    CERTIFICATE_EXPIRED = Failure(
        "F3",
        "電子証明書の有効期限切れ",
        "expired certificate",
        "警告表示と医療情報なし。猶予期間後はエラー",
        "a warning and no medical information; an error after the grace period",
        "市区町村での更新を案内。その間は番号で確認する。",
        "Tell the patient to renew at the municipality; check by number meanwhile.",
        "有効期限切れのトラブル 45.2%（2025年10〜12月、前年20.1%から倍増）",
        "expired certificates: 45.2% of clinics (Oct–Dec 2025), up from 20.1%",
    )
    NO_PROVIDE_FLAG = Failure(
        "F4",
        "自己情報提供不可フラグ",
        "no-provide flag",
        "資格は有効だが「情報を提供できません」と表示される（フラグの存在自体が分かってしまう）",
        "qualification valid, but 'information cannot be provided', which itself reveals the flag",
        "通常どおり対応する。理由は尋ねない。",
        "Treat normally; do not ask why.",
    )
    NAME_CHARACTERS = Failure(
        "F5",
        "氏名の●表示",
        "● in names",
        "氏名の一部が●で表示される",
        "a name with ●",
        "患者本人に氏名を確認し、記録を手で修正する。",
        "Confirm the name with the patient; correct records by hand.",
        "●表示のトラブル 77.2%（2025年10〜12月）",
        "● in names: 77.2% of clinics (Oct–Dec 2025)",
    )
    READER_ERROR = Failure(
        "F6",
        "カードリーダーのエラー",
        "reader errors",
        "カードリーダーのエラーコードとメッセージ",
        "a reader error code and message",
        "再試行・カードの置き直し。暗証番号か目視確認に切り替え、だめなら番号で確認。",
        "Retry, reseat the card, switch to PIN or visual check, fall back to a number check.",
        "読み取り・認証エラー 48.2%（2025年10〜12月）",
        "reader errors: 48.2% of clinics (Oct–Dec 2025)",
    )
    FACE_MISMATCH = Failure(
        "F7",
        "顔認証の不一致",
        "face mismatch",
        "「顔が一致しません」と表示され再試行",
        "'face does not match', retries",
        "暗証番号または目視確認に切り替える。",
        "Switch to PIN or visual check.",
    )
    PIN_LOCKED = Failure(
        "F8",
        "暗証番号ロック",
        "PIN locked",
        "3回誤るとロック（残り回数が表示される）",
        "locked after 3 wrong PINs; remaining tries shown before",
        "今日は顔認証か目視確認。ロック解除は市区町村窓口で。",
        "Face or visual check today; reset at the municipality.",
    )
    NOT_REGISTERED = Failure(
        "F9",
        "保険証利用登録なし",
        "not registered for insurance use",
        "「利用登録がされていません」",
        "'not registered'",
        "カードリーダーで利用登録するか、番号で確認する。",
        "Register at the reader, or do a number check.",
        "2024年11月〜2025年11月に23万人以上が登録を解除",
        "over 230,000 cancelled their registration Nov 2024 – Nov 2025",
    )
    QUALIFICATION_LOST = Failure(
        "F10",
        "資格喪失・新しい資格",
        "lost or new qualification",
        "「無効」（喪失事由あり）または「無効（新しい資格あり）」",
        "2 invalid with a reason of loss, or 3 invalid (newer qualification exists)",
        "新しい保険者の情報（資格確認書等）を確認する。",
        "Ask for the new insurer's details.",
    )
    WRONG_COPAY = Failure(
        "F11",
        "負担割合・限度額の誤登録",
        "wrong co-pay or ceiling data",
        "有効だが負担割合が誤っている",
        "a valid result with the wrong ratio",
        "患者の書類を優先し、保険者に報告する。",
        "Trust the patient's documents; report.",
    )
    RENEWAL_LINK_MISSING = Failure(
        "F12",
        "更新後の紐付け未了",
        "renewal link missing",
        "更新直後に「該当資格なし」",
        "4 no matching qualification right after renewal",
        "番号で確認する。",
        "Do a number check.",
        "2025年度に2,770万件、2026年度に2,020万件の証明書が期限を迎える",
        "27.7 million certificates fall due in FY2025, 20.2 million in FY2026",
    )
    OUTAGE = Failure(
        "F13",
        "システム障害・通信障害",
        "system outage / network",
        "エラーまたは応答なし",
        "an error or no answer",
        "被保険者資格申立書で通常の負担割合。後で再確認する。",
        "Use the 被保険者資格申立書 and the normal co-pay; recheck later.",
        "2025年8月以降、約3,400件で患者が10割負担を求められた",
        "about 3,400 patients made to pay 100% since Aug 2025",
    )
    MULTIPLE_MATCHES = Failure(
        "F14",
        "複数該当",
        "multiple matches",
        "「複数該当」",
        "5 several qualifications match",
        "枝番など追加の情報を確認する。",
        "Ask for more data (e.g. the branch number).",
    )
    CERTIFICATE_REVOKED = Failure(
        "F15",
        "電子証明書の失効",
        "revoked certificate",
        "エラー（カードが一時停止されている）",
        "an error (card suspended)",
        "カードなしとして扱い、資格確認書等で確認する。",
        "Treat as no card; check by number from other documents.",
    )

    @property
    def id(self) -> str:
        return self.value.id

    @classmethod
    def by_id(cls, failure_id: str) -> FailureMode:
        for mode in cls:
            if mode.value.id == failure_id.upper():
                return mode
        raise KeyError(failure_id)
