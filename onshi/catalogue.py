"""The failure catalogue (F1–F17): what goes wrong at the counter and the right response.

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
    # For the failure gallery and the rehearsal debrief (added for rehearsal/):
    reality_ja: str = ""  # what really happened behind the screen
    reality_en: str = ""
    cost_ja: str = ""  # what it costs the patient
    cost_en: str = ""
    sources: tuple[str, ...] = ()  # where the figures come from
    layer: str = "central"  # where it arises: central (the system), reader, counter

    def text(self, name: str, lang: str = "ja") -> str:
        """A bilingual field by its stem, e.g. ``text("cost", "en")``."""
        return str(getattr(self, f"{name}_{'ja' if lang == 'ja' else 'en'}"))


# --- published figures ---------------------------------------------------------------------
# The numbers the gallery, the rehearsal debrief and `onshi simulate-day` cite, with their base (what a
# share is a share *of*) and their source. A share quoted on the wrong base is the fastest way for an
# advocate to lose an argument: the surveys' trouble kinds are shares of the clinics that HAD trouble.

HOKENI = "全国保険医団体連合会 会員調査"


@dataclass(frozen=True)
class Base:
    """What a figure is counted over, in words (Japanese first)."""

    ja: str
    en: str


BASES: dict[str, Base] = {
    "responding_2024": Base("回答施設（12,735施設）", "of 12,735 responding clinics"),
    "troubled_2024": Base("トラブルのあった施設（8,929施設）", "of the 8,929 clinics with trouble"),
    "responding_2025i": Base("回答施設（9,741施設）", "of 9,741 responding clinics"),
    "troubled_2025i": Base("トラブルのあった施設", "of the clinics with trouble"),
    "responding_2025": Base("回答施設（10,519施設）", "of 10,519 responding clinics"),
    "troubled_2025": Base("トラブルのあった施設", "of the clinics with trouble"),
    "reported_2025": Base("回答施設からの報告の合計（全国の推計ではない）",
                          "reported by the responding clinics (not a national estimate)"),
    "all_checks": Base("オンライン資格確認の全件数", "of all online eligibility checks"),
    "card_checks": Base("マイナ保険証での確認の件数", "of card checks"),
    "count": Base("件数", "a count"),
}


@dataclass(frozen=True)
class Figure:
    key: str
    value: float
    label_ja: str
    label_en: str
    source: str
    base: str = "count"  # key of BASES
    # A share of the clinics with trouble: the key of the survey's "had trouble" share, to restate it
    # on the all-clinics base (value × that share).
    of_troubled: str = ""

    @property
    def is_share(self) -> bool:
        return self.base != "count" and self.value < 1

    @property
    def base_text(self) -> Base:
        return BASES[self.base]

    @property
    def share_of_all(self) -> float | None:
        """The share of all responding clinics (for a share of the clinics with trouble), else None."""
        return self.value * FIGURES[self.of_troubled].value if self.of_troubled else None

    def text(self, lang: str = "ja") -> str:
        """The value with its base, e.g. 「トラブルのあった施設（…）の77.2%（全回答施設の53.9%）」."""
        ja = lang == "ja"
        base = self.base_text.ja if ja else self.base_text.en
        if not self.is_share:
            number = f"{self.value:,.0f}"
            return f"{number}（{base}）" if ja and self.base != "count" else (
                number if self.base == "count" else f"{number} ({base})")
        value = f"{self.value:.1%}"
        if self.of_troubled:  # the all-clinics base first: the figure an advocate can defend
            everyone = BASES[FIGURES[self.of_troubled].base]
            whole = f"{self.share_of_all:.1%}"
            if ja:
                return f"{everyone.ja}の{whole}（{base}では{value}）"
            return f"{whole} {everyone.en} ({value} {base})"
        out = f"{base}の{value}" if ja else f"{value} {base}"
        return out


_SURVEY_2024 = HOKENI + "（2024年8〜9月回答）"
_SURVEY_2025I = HOKENI + "（2025年2〜4月回答の中間集計、2024年12月2日以降）"
_SURVEY_2025 = HOKENI + "（2025年10月14日〜12月1日回答、2025年8月以降）"


def _kinds(survey: str, source: str, shares: dict[str, float], year_ja: str, year_en: str) -> list[Figure]:
    labels = {"names": ("●表示", "● in names"), "invalid": ("「無効」表示", "'invalid' shown"),
              "reader": ("読み取り・認証エラー", "reader errors"),
              "expired": ("証明書の期限切れ", "expired certificates")}
    return [Figure(f"survey_{survey}_{kind}", value, f"{labels[kind][0]}（{year_ja}）",
                   f"{labels[kind][1]} ({year_en})", source, f"troubled_{survey}",
                   f"survey_{survey}_share_troubled")
            for kind, value in shares.items()]


FIGURES: dict[str, Figure] = {
    f.key: f
    for f in (
        Figure("survey_2024_clinics", 12_735, "回答施設数（2024年）", "clinics answering (2024)",
               _SURVEY_2024),
        Figure("survey_2024_share_troubled", 8_929 / 12_735, "トラブルがあった施設（2024年）",
               "clinics with trouble (2024)", _SURVEY_2024, "responding_2024"),
        *_kinds("2024", _SURVEY_2024, {"names": 0.674, "reader": 0.529, "invalid": 0.478, "expired": 0.201},
                "2024年8〜9月回答", "answered Aug–Sep 2024"),
        Figure("survey_2025i_clinics", 9_741, "回答施設数（2025年中間）", "clinics answering (2025 interim)",
               _SURVEY_2025I),
        Figure("survey_2025i_share_troubled", 1 - 0.109, "トラブルがあった施設（2025年中間）",
               "clinics with trouble (2025 interim)", _SURVEY_2025I, "responding_2025i"),
        *_kinds("2025i", _SURVEY_2025I, {"names": 0.642, "reader": 0.436, "invalid": 0.379, "expired": 0.306},
                "2024年12月以降、中間集計", "since Dec 2024, interim"),
        Figure("survey_2025i_full_payment", 0.123, "患者が10割負担をした施設（2025年中間）",
               "clinics where a patient paid 100% (2025 interim)", _SURVEY_2025I, "responding_2025i"),
        Figure("survey_2025_clinics", 10_519, "回答施設数（2025年）", "clinics answering (2025)",
               _SURVEY_2025),
        Figure("survey_2025_share_troubled", 0.698, "トラブルがあった施設（2025年）",
               "clinics with trouble (2025)", _SURVEY_2025, "responding_2025"),
        *_kinds("2025", _SURVEY_2025, {"names": 0.772, "invalid": 0.509, "reader": 0.482, "expired": 0.452},
                "2025年8月以降", "since Aug 2025"),
        Figure("full_payment_cases", 3_400, "10割負担を求められた件数（2025年8月以降）",
               "patients made to pay 100% (since Aug 2025)", _SURVEY_2025, "reported_2025"),
        Figure("wrong_links_2023", 7_300, "判明した紐付け誤り（2023年）", "wrong links found (2023)",
               "2023年 政府公表"),
        Figure("monthly_checks", 231.6e6, "オンライン資格確認の件数（2025年5月、1か月）",
               "online eligibility checks in one month (May 2025)", "厚生労働省 公表（2025年5月分）"),
        Figure("monthly_card_checks", 67.9e6, "うちマイナ保険証（2025年5月）",
               "of which with the card (May 2025)",
               "厚生労働省 公表（2025年5月分）"),
        Figure("card_share_2025_05", 0.293, "マイナ保険証の利用率（2025年5月）", "card-use rate (May 2025)",
               "厚生労働省 公表（2025年5月分）", "all_checks"),
        Figure("card_share_2025_11", 0.39, "マイナ保険証の利用率（2025年11月）", "card-use rate (Nov 2025)",
               "厚生労働省 公表（2025年11月分）", "all_checks"),
        Figure("certificates_due_fy2025", 27.7e6, "2025年度に期限を迎える電子証明書",
               "certificates falling due in FY2025", "総務省・J-LIS 公表"),
        Figure("certificates_due_fy2026", 20.2e6, "2026年度に期限を迎える電子証明書",
               "certificates falling due in FY2026", "総務省・J-LIS 公表"),
        Figure("registrations_cancelled", 230_000, "保険証利用登録の解除（2024年11月〜2025年11月）",
               "registrations cancelled (Nov 2024 – Nov 2025)", "厚生労働省 公表"),
        Figure("consent_checkup", 0.16, "特定健診情報の閲覧に同意（2021〜22年）",
               "consented to show check-ups (2021–22)", "厚生労働省 公表", "card_checks"),
        Figure("consent_medication", 0.44, "薬剤情報の閲覧に同意（2021〜22年）",
               "consented to show medication (2021–22)", "厚生労働省 公表", "card_checks"),
    )
}


def headline(key: str, lang: str = "ja") -> str:
    """A failure's headline figure: label, value on its base, and the survey period."""
    fig = FIGURES[key]
    label = fig.label_ja if lang == "ja" else fig.label_en
    return f"{label}：{fig.text('ja')}" if lang == "ja" else f"{label}: {fig.text('en')}"


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
        headline("survey_2025_invalid", "ja"),
        headline("survey_2025_invalid", "en"),
        reality_ja="転職先の保険者が資格を登録するのは入社から数日〜数週間後。その間、中央システムには古い資格の喪失だけが届き、新しい資格はまだない。",
        reality_en=(
            "The new insurer registers the member days or weeks after they join. Meanwhile the "
            "system only knows the old qualification ended; the new one is not there yet."
        ),
        cost_ja="「資格なし」とされ、窓口で10割（全額）を請求されることがある。申立書を使えば通常の3割で済む。",
        cost_en=(
            "Told they have no insurance and charged 100% at the counter; with the 申立書 they pay the "
            "normal 30%."
        ),
        sources=(
            "全国保険医団体連合会 会員調査（2025年10〜12月、10,519施設）",
            "同 調査：2025年8月以降の10割負担 約3,400件",
        ),
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
        reality_ja="登録時の手入力ミスや同姓同名の取り違えで、カードの電子証明書が別人の資格に紐付けられている。",
        reality_en=(
            "A manual entry error or a same-name mix-up linked the card's certificate to another "
            "person's qualification."
        ),
        cost_ja="見知らぬ人の薬剤・診療情報が目の前の医師に見え、本人の記録には他人の情報が混ざる。誤った負担割合で請求される。",
        cost_en=(
            "A stranger's medication and diagnoses are shown to this doctor, and the wrong co-pay is "
            "charged."
        ),
        sources=("2023年 政府公表：紐付け誤り約7,300件",),
    )
    CERTIFICATE_EXPIRED = Failure(
        "F3",
        "電子証明書の有効期限切れ",
        "expired certificate",
        "警告表示と医療情報なし。猶予期間後はエラー",
        "a warning and no medical information; an error after the grace period",
        "市区町村での更新を案内。その間は番号で確認する。",
        "Tell the patient to renew at the municipality; check by number meanwhile.",
        headline("survey_2025_expired", "ja"),
        headline("survey_2025_expired", "en"),
        reality_ja="電子証明書は発行後5回目の誕生日で切れる。2025年度に2,770万件、2026年度に2,020万件が期限を迎える。",
        reality_en=(
            "The certificate ends on the 5th birthday after issue: 27.7 million fall due in FY2025, "
            "20.2 million in FY2026."
        ),
        cost_ja="猶予期間中は薬剤情報などが出ない。猶予後はカードが使えず、書類がなければ確認できない。",
        cost_en=(
            "During the grace period no medication information; after it the card fails and, without "
            "papers, nothing confirms."
        ),
        sources=("全国保険医団体連合会 会員調査（2024年8〜9月、2025年10〜12月）",),
    )
    NO_PROVIDE_FLAG = Failure(
        "F4",
        "自己情報提供不可フラグ",
        "no-provide flag",
        "資格は有効だが「情報を提供できません」と表示される（フラグの存在自体が分かってしまう）",
        "qualification valid, but 'information cannot be provided', which itself reveals the flag",
        "通常どおり対応する。理由は尋ねない。",
        "Treat normally; do not ask why.",
        reality_ja="DV被害者などの申出で自己情報提供不可フラグが設定され、薬剤・診療・健診情報がすべて止められる。",
        reality_en=(
            "At the request of e.g. a domestic-violence victim, the no-provide flag withholds all "
            "medication, clinical and check-up information."
        ),
        cost_ja="「提供できません」という表示そのものが、フラグ（つまり事情）があることを窓口に知らせてしまう。",
        cost_en=(
            "The message 'cannot be provided' itself tells the counter that a flag, and so a reason, "
            "exists."
        ),
    )
    NAME_CHARACTERS = Failure(
        "F5",
        "氏名の●表示",
        "● in names",
        "氏名の一部が●で表示される",
        "a name with ●",
        "患者本人に氏名を確認し、記録を手で修正する。",
        "Confirm the name with the patient; correct records by hand.",
        headline("survey_2025_names", "ja"),
        headline("survey_2025_names", "en"),
        reality_ja="髙・﨑・𠮷などシステムの文字集合にない字は●に置き換えられる。",
        reality_en="Characters outside the system's set (髙, 﨑, 𠮷 …) are replaced by ●.",
        cost_ja="名前が正しく表示されず、記録や領収書の手直しが必要。本人確認に時間がかかる。",
        cost_en=(
            "The name is shown wrongly; records and receipts must be fixed by hand; identification "
            "takes longer."
        ),
        sources=("全国保険医団体連合会 会員調査（2024年8〜9月回答、2025年10〜12月回答）",),
    )
    READER_ERROR = Failure(
        "F6",
        "カードリーダーのエラー",
        "reader errors",
        "カードリーダーのエラーコードとメッセージ",
        "a reader error code and message",
        "再試行・カードの置き直し。暗証番号か目視確認に切り替え、だめなら番号で確認。",
        "Retry, reseat the card, switch to PIN or visual check, fall back to a number check.",
        headline("survey_2025_reader", "ja"),
        headline("survey_2025_reader", "en"),
        reality_ja="カードを認識しない、カメラ故障、ケーブル抜け、タイムアウトなど、機器側のトラブル。",
        reality_en=(
            "The card is not recognised, the camera fails, a cable is out, a step times out: device trouble."
        ),
        cost_ja="何度もやり直しで待たされる。切り替えを知らない窓口では「保険証がない」扱いにされかねない。",
        cost_en=(
            "Repeated retries and waiting; a counter that does not know the fallbacks may treat the "
            "patient as uninsured."
        ),
        sources=("全国保険医団体連合会 会員調査（2024年8〜9月回答、2025年10〜12月回答）",),
        layer="reader",
    )
    FACE_MISMATCH = Failure(
        "F7",
        "顔認証の不一致",
        "face mismatch",
        "「顔が一致しません」と表示され再試行",
        "'face does not match', retries",
        "暗証番号または目視確認に切り替える。",
        "Switch to PIN or visual check.",
        reality_ja="マスク・眼鏡・照明・加齢で顔がカードの写真と一致しない。1歳未満のカードには写真がない。",
        reality_en=(
            "Mask, glasses, lighting or ageing since the photo defeat matching; cards of infants "
            "under 1 have no photo."
        ),
        cost_ja="忙しい窓口で何度も顔を撮られ、後ろの列に見られる。",
        cost_en="Photographed again and again at a busy counter, with the queue watching.",
        layer="reader",
    )
    PIN_LOCKED = Failure(
        "F8",
        "暗証番号ロック",
        "PIN locked",
        "3回誤るとロック（残り回数が表示される）",
        "locked after 3 wrong PINs; remaining tries shown before",
        "今日は顔認証か目視確認。ロック解除は市区町村窓口で。",
        "Face or visual check today; reset at the municipality.",
        reality_ja="暗証番号を3回間違えるとロックされ、解除は市区町村の窓口でしかできない。",
        reality_en="Three wrong PINs lock the card; only the municipal office can reset it.",
        cost_ja="ロック解除のために平日に役所へ行く必要がある。",
        cost_en="A weekday trip to the municipal office to unlock it.",
        layer="reader",
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
        reality_ja="保険証としての利用登録をしていない、または登録を解除したカード。",
        reality_en="The card was never registered for insurance use, or the registration was cancelled.",
        cost_ja="その場で登録を求められる。登録したくない人には圧力になる。",
        cost_en="Pressed to register on the spot, which is pressure on someone who chose not to.",
        sources=("2024年11月〜2025年11月の登録解除 23万人以上",),
    )
    QUALIFICATION_LOST = Failure(
        "F10",
        "資格喪失・新しい資格",
        "lost or new qualification",
        "「無効」（喪失事由あり）または「無効（新しい資格あり）」",
        "2 invalid with a reason of loss, or 3 invalid (newer qualification exists)",
        "新しい保険者の情報（資格確認書等）を確認する。",
        "Ask for the new insurer's details.",
        reality_ja="退職で資格を喪失した、または別の保険者に加入した。",
        reality_en="The patient left a job and lost the qualification, or joined another insurer.",
        cost_ja="新しい保険者の書類がないと確認できず、支払いが宙に浮く。",
        cost_en="Without the new insurer's papers nothing confirms, and payment is left hanging.",
    )
    WRONG_COPAY = Failure(
        "F11",
        "負担割合・限度額の誤登録",
        "wrong co-pay or ceiling data",
        "有効だが負担割合が誤っている",
        "a valid result with the wrong ratio",
        "患者の書類を優先し、保険者に報告する。",
        "Trust the patient's documents; report.",
        reality_ja="保険者が負担割合や限度額区分を誤って登録している。",
        reality_en="The insurer registered the wrong co-pay ratio or ceiling bracket.",
        cost_ja="本来2割の人が3割を払わされるなど、過大な請求になる。",
        cost_en="Overcharged, e.g. 30% instead of the 20% the patient really owes.",
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
        reality_ja="証明書を更新すると新しいシリアル番号になる。J-LISからの新旧紐付けが届くまで、新しい証明書では誰も見つからない。",
        reality_en=(
            "A renewed certificate has a new serial; until J-LIS's old→new link arrives, the new one "
            "finds no one."
        ),
        cost_ja="更新したばかりなのに「該当資格なし」。書類がなければ確認できない。",
        cost_en="'No matching qualification' right after renewing; without papers, nothing confirms.",
        sources=("2025年度 2,770万件、2026年度 2,020万件の証明書が期限を迎える",),
    )
    OUTAGE = Failure(
        "F13",
        "システム障害・通信障害",
        "system outage / network",
        "エラーまたは応答なし",
        "an error or no answer",
        "被保険者資格申立書で通常の負担割合。後で再確認する。",
        "Use the 被保険者資格申立書 and the normal co-pay; recheck later.",
        headline("full_payment_cases", "ja"),
        headline("full_payment_cases", "en"),
        reality_ja="中央システムの障害や回線の不具合で、確認そのものができない。",
        reality_en="The central system is down or the line fails: no check is possible at all.",
        cost_ja="申立書を知らない窓口では10割負担を求められる。2025年8月以降に約3,400件。",
        cost_en=(
            "Where the 申立書 is not known, patients are asked to pay 100%: about 3,400 cases since Aug 2025."
        ),
        sources=("全国保険医団体連合会 調査：2025年8月以降の10割負担 約3,400件",),
    )
    MULTIPLE_MATCHES = Failure(
        "F14",
        "複数該当",
        "multiple matches",
        "「複数該当」",
        "5 several qualifications match",
        "枝番など追加の情報を確認する。",
        "Ask for more data (e.g. the branch number).",
        reality_ja="双子の家族など、枝番なしの番号確認で複数の人が該当する。",
        reality_en=(
            "A number check without the branch number matches several people, e.g. twins in one family."
        ),
        cost_ja="追加の確認で待ち時間が延びる。",
        cost_en="Extra questions and a longer wait.",
    )
    CERTIFICATE_REVOKED = Failure(
        "F15",
        "電子証明書の失効",
        "revoked certificate",
        "エラー（カードが一時停止されている）",
        "an error (card suspended)",
        "カードなしとして扱い、資格確認書等で確認する。",
        "Treat as no card; check by number from other documents.",
        reality_ja="紛失の届出でカードが一時停止され、電子証明書が失効している。",
        reality_en="The card was suspended after a loss report; its certificate is revoked.",
        cost_ja="カードは使えない。書類がなければ確認できない。",
        cost_en="The card cannot be used; without papers, nothing confirms.",
    )

    PHONE_WITHOUT_GENERAL_READER = Failure(
        "F16",
        "スマートフォンだけで来院（汎用カードリーダーなし）",
        "phone only, no general-purpose card reader",
        "リーダーの画面「この医療機関ではスマートフォンでの受付はできません」",
        "the reader says this clinic cannot take smartphones",
        "資格確認書・資格情報のお知らせ（スマートフォンのマイナポータル資格情報画面でも可）を見せてもらい、"
        "被保険者番号で確認する。10割負担にしない。",
        "Ask for the 資格確認書 or 資格情報のお知らせ (or the マイナポータル eligibility screen on the "
        "phone) and check by number. Never charge 100%.",
        reality_ja=(
            "2025年9月19日からスマートフォンのマイナ保険証が順次使えるが、読み取りには顔認証付きカードリーダーとは別の"
            "汎用カードリーダーが要る。導入は医療機関の任意（補助は2025年8月29日から）で、置いていない窓口が多い。"
        ),
        reality_en=(
            "Since 19 Sep 2025 the card's functions on a phone can be used, but only where the clinic "
            "added a general-purpose card reader beside the face-auth reader: optional (subsidised from "
            "29 Aug 2025), so many counters have none."
        ),
        cost_ja="「スマホで使える」と聞いて来た患者が受付で断られ、書類がなければ確認に手間取る。",
        cost_en=(
            "Patients told their phone works are turned away at the counter; without papers the check takes "
            "long."
        ),
        sources=("厚生労働省・デジタル庁の周知：スマートフォンのマイナ保険証（2025年9月19日から順次利用可能、"
                 "汎用カードリーダーは任意・2025年8月29日から補助）",),
        layer="reader",
    )
    PHONE_CERTIFICATE = Failure(
        "F17",
        "スマートフォンの電子証明書・紐付けの不具合",
        "the phone's own certificate or link fails",
        "スマートフォンで読むとエラー（期限切れ・未登録・失効）、カードなら通る",
        "an error with the phone (expired, not registered, revoked) while the card would pass",
        "カードがあればカードで確認する。なければ資格確認書・資格情報のお知らせ（マイナポータルの資格情報画面）で"
        "番号確認。10割負担にしない。スマートフォンの再設定を案内する。",
        "Check with the card if the patient has it; otherwise by number from the 資格確認書 / "
        "資格情報のお知らせ (or the マイナポータル screen). Never charge 100%. Advise setting the phone up "
        "again.",
        reality_ja=(
            "スマートフォンにはカードとは別の電子証明書（別のシリアル番号）が入り、別に紐付けられる。カードの証明書を"
            "更新してもスマートフォンの証明書は更新されず、搭載直後は紐付けがまだ反映されていないことがある。"
        ),
        reality_en=(
            "The phone holds its own certificate (its own serial), linked separately. Renewing the card's "
            "certificate does not renew the phone's, and right after set-up the phone's link may not be "
            "visible yet."
        ),
        cost_ja="カードを持たずにスマートフォンだけで来ると、確認できず手間取る。",
        cost_en="A patient who brought only the phone cannot be checked with it; the counter takes longer.",
        sources=("厚生労働省・デジタル庁の周知：スマートフォンのマイナ保険証（スマホ用電子証明書はカードとは別に"
                 "発行・更新）",),
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
