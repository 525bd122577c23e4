"""Every assumption behind the simulation's figures, stated once, with its range and its source.

Plain data. The survey figures themselves (and their bases) are in ``onshi.catalogue.FIGURES``; what is
here is what the model adds to them. ``source`` names a published figure, or says that the value is our
own assumption (``ours=True``). Each report prints this table (``rows()``), and the national intervals
draw every ranged assumption uniformly between ``low`` and ``high``.
"""

from __future__ import annotations

from dataclasses import dataclass

from onshi.catalogue import FIGURES

OURS = "本プロジェクトの仮定 / our assumption"
# The smartphone マイナ保険証: what is public is dates, not counts (no published share of phone checks or
# of clinics with a 汎用カードリーダー in our sources), so these are ours, with what they lean on.
_PHONE_NOTE = (
    "公表された件数・割合なし。スマートフォンでの受付は2025年9月19日から、汎用カードリーダーは任意で補助は"
    "2025年8月29日から、当初は設置が少ない",
    "no published count; phones at the counter since 19 Sep 2025, the 汎用 reader optional, subsidised "
    "from 29 Aug 2025, few at first",
)


@dataclass(frozen=True)
class Assumption:
    key: str
    value: float
    low: float
    high: float
    label_ja: str
    label_en: str
    source: str = OURS
    # What a share is a share OF (for a share whose label does not say it), Japanese and English.
    base_ja: str = ""
    base_en: str = ""
    # What an assumption of ours leans on (public dates, the absence of a published count …).
    note_ja: str = ""
    note_en: str = ""

    @property
    def ours(self) -> bool:
        return self.source.startswith(OURS)

    def source_text(self, lang: str = "both") -> str:
        """The source in one language (ours: 本プロジェクトの仮定 / our assumption, with what it leans on)."""
        if not self.ours:
            return self.source
        ja = "本プロジェクトの仮定" + (f"（{self.note_ja}）" if self.note_ja else "")
        en = "our assumption" + (f" ({self.note_en})" if self.note_en else "")
        return ja if lang == "ja" else en if lang == "en" else f"{ja} / {en}"

    def label(self, lang: str = "both") -> str:
        """The label with its base, e.g. 「スマートフォンを出す患者（マイナ保険証での受診に占める割合）」."""
        ja = f"{self.label_ja}（{self.base_ja}）" if self.base_ja else self.label_ja
        en = f"{self.label_en} ({self.base_en})" if self.base_en else self.label_en
        return ja if lang == "ja" else en if lang == "en" else f"{ja} / {en}"


@dataclass(frozen=True)
class Survey:
    """A clinic survey as the calibration uses it: kinds as shares of the clinics WITH trouble."""

    key: str  # "2024", "2025"
    clinics: int  # responding clinics
    share_troubled: float  # of responding clinics
    kinds: dict[str, float]  # names / invalid / reader / expired, of the clinics with trouble
    period: str  # key of the Assumption giving the months the survey asked about
    card_share: str  # key of the Assumption giving the card share during that period
    label_ja: str
    label_en: str

    def share_all(self, kind: str) -> float:
        """A kind restated on the base of all responding clinics (kind × share with trouble)."""
        return self.kinds[kind] * self.share_troubled


KINDS = ("names", "invalid", "reader", "expired")


def _survey(key: str, period: str, card_share: str, label_ja: str, label_en: str) -> Survey:
    return Survey(
        key,
        int(FIGURES[f"survey_{key}_clinics"].value),
        FIGURES[f"survey_{key}_share_troubled"].value,
        {k: FIGURES[f"survey_{key}_{k}"].value for k in KINDS},
        period,
        card_share,
        label_ja,
        label_en,
    )


SURVEYS: dict[str, Survey] = {
    "2024": _survey(
        "2024",
        "period_months_2024",
        "card_share_2024",
        "2024年調査（8〜9月回答）",
        "2024 survey (answered Aug–Sep 2024)",
    ),
    "2025": _survey(
        "2025",
        "period_months_2025",
        "card_share_2025",
        "2025年調査（10〜12月回答、8月以降）",
        "2025 survey (answered Oct–Dec 2025, since Aug 2025)",
    ),
    "2025i": _survey(
        "2025i",
        "period_months_2025i",
        "card_share_2025i",
        "2025年中間集計（2〜4月回答、2024年12月以降）",
        "2025 interim (answered Feb–Apr 2025, since Dec 2024)",
    ),
}

ASSUMPTIONS: dict[str, Assumption] = {
    a.key: a
    for a in (
        # The exposure: how many card checks a clinic made in the period a survey asked about.
        Assumption(
            "period_months_2025",
            3.25,
            2.5,
            4.0,
            "2025年調査の対象期間（月）",
            "months the 2025 survey covers",
            FIGURES["survey_2025_clinics"].source + "：8月以降、10月14日〜12月1日回答",
        ),
        Assumption(
            "period_months_2025i",
            3.25,
            2.0,
            4.5,
            "2025年中間集計の対象期間（月）",
            "months the 2025 interim covers",
            FIGURES["survey_2025i_clinics"].source + "：2024年12月2日以降、2〜4月回答",
        ),
        Assumption(
            "period_months_2024",
            3.0,
            2.0,
            6.0,
            "2024年調査の対象期間（月）",
            "months the 2024 survey covers (the question's period is not in our sources)",
        ),
        Assumption("business_days", 20, 18, 22, "1か月の診療日数", "business days a month"),
        Assumption(
            "patients_per_day",
            40,
            25,
            60,
            "1施設1日あたりの患者数（中央値）",
            "patients per clinic per day (median clinic)",
        ),
        Assumption(
            "clinic_size_spread",
            0.5,
            0.5,
            0.5,
            "施設規模のばらつき（対数標準偏差）",
            "spread of clinic sizes (log-normal sigma)",
        ),
        Assumption(
            "card_share_spread",
            0.3,
            0.3,
            0.3,
            "施設ごとのカード利用率のばらつき（対数標準偏差）",
            "spread of card use between clinics (log-normal sigma around the period's share)",
        ),
        Assumption(
            "card_share_2025",
            0.34,
            FIGURES["card_share_2025_05"].value,
            FIGURES["card_share_2025_11"].value,
            "2025年8〜11月のカード利用率",
            "card share Aug–Nov 2025",
            "厚生労働省 公表：利用率（確認件数に占める割合）2025年5月 29.3%、11月 39%（間をとる）",
        ),
        Assumption(
            "card_share_2025i",
            0.25,
            0.18,
            0.293,
            "2024年12月〜2025年4月のカード利用率",
            "card share Dec 2024 – Apr 2025",
        ),
        Assumption(
            "card_share_2024",
            0.12,
            0.09,
            0.16,
            "2024年の調査期間のカード利用率",
            "card share in the 2024 survey's period",
        ),
        Assumption(
            "card_share_national",
            FIGURES["card_share_2025_11"].value,
            0.35,
            0.43,
            "全国推計に使うカード利用率",
            "card share for the national month",
            FIGURES["card_share_2025_11"].source + "（幅は本プロジェクトの仮定）",
        ),
        Assumption(
            "monthly_checks",
            FIGURES["monthly_checks"].value,
            FIGURES["monthly_checks"].value,
            FIGURES["monthly_checks"].value,
            "1か月の確認件数（全国）",
            "checks a month, nationwide",
            FIGURES["monthly_checks"].source,
        ),
        # How the survey's grouped answers split between our causes (shares; the range is the share's).
        Assumption(
            "split_invalid_F1",
            0.45,
            0.25,
            0.65,
            "「無効」のうち入力のタイムラグ（F1）",
            "'invalid' that is input lag (F1)",
        ),
        Assumption(
            "split_invalid_F10",
            0.35,
            0.2,
            0.5,
            "「無効」のうち資格喪失・新資格（F10）",
            "'invalid' that is a lost/new qualification (F10)",
        ),
        Assumption(
            "split_invalid_F12",
            0.20,
            0.05,
            0.35,
            "「無効」のうち更新後の紐付け未了（F12）",
            "'invalid' that is a missing renewal link (F12)",
        ),
        Assumption(
            "split_reader_F6",
            0.6,
            0.4,
            0.8,
            "読み取り・認証エラーのうち機器エラー（F6）",
            "reader errors that are device errors (F6)",
        ),
        Assumption(
            "split_reader_F7",
            0.3,
            0.15,
            0.45,
            "読み取り・認証エラーのうち顔認証（F7）",
            "reader errors that are face mismatches (F7)",
        ),
        Assumption(
            "split_reader_F8",
            0.1,
            0.03,
            0.2,
            "読み取り・認証エラーのうち暗証番号ロック（F8）",
            "reader errors that are PIN locks (F8)",
        ),
        # Causes the surveys do not measure: per-visit rates, an order of magnitude (×/÷ 3).
        Assumption(
            "rate_F2",
            2e-5,
            2e-5 / 3,
            6e-5,
            "紐付け誤り（F2）の確認1件あたりの率",
            "wrong link (F2) per check",
        ),
        Assumption(
            "rate_F4", 5e-4, 5e-4 / 3, 1.5e-3, "提供不可フラグ（F4）の率", "no-provide flag (F4) per check"
        ),
        Assumption("rate_F9", 3e-3, 1e-3, 9e-3, "利用登録なし（F9）の率", "not registered (F9) per check"),
        Assumption(
            "rate_F11", 5e-4, 5e-4 / 3, 1.5e-3, "負担割合の誤登録（F11）の率", "wrong co-pay (F11) per check"
        ),
        Assumption("rate_F14", 3e-4, 1e-4, 9e-4, "複数該当（F14）の率", "multiple matches (F14) per check"),
        Assumption(
            "rate_F15",
            1e-4,
            1e-4 / 3,
            3e-4,
            "電子証明書の失効（F15）の率",
            "revoked certificate (F15) per check",
        ),
        # The smartphone マイナ保険証 (F16, F17). Not in the surveys (which asked about the months from Aug
        # and Dec 2025; phones reached the counter on 19 Sep 2025): the calibration leaves them out.
        Assumption(
            "phone_share",
            0.01,
            0.002,
            0.05,
            "スマートフォンを出す患者",
            "patients presenting a smartphone",
            OURS,
            "マイナ保険証での受診に占める割合",
            "of マイナ保険証 visits",
            *_PHONE_NOTE,
        ),
        Assumption(
            "phone_only_share",
            0.3,
            0.1,
            0.6,
            "スマートフォンだけでカードを持っていない患者",
            "patients with only the phone, no card on them",
            OURS,
            "スマートフォンを出す患者に占める割合",
            "of the patients presenting a phone",
            *_PHONE_NOTE,
        ),
        Assumption(
            "general_reader_share",
            0.15,
            0.05,
            0.40,
            "汎用カードリーダーのある施設",
            "clinics with a 汎用カードリーダー",
            OURS,
            "全医療機関に占める割合",
            "of all clinics",
            *_PHONE_NOTE,
        ),
        Assumption(
            "rate_F17",
            3e-3,
            1e-3,
            9e-3,
            "スマートフォン自身の証明書・紐付けの不具合（F17）の率",
            "the phone's own certificate or link failing (F17)",
            OURS,
            "スマートフォンでの確認1件あたり",
            "per phone check",
        ),
        Assumption(
            "outage_day_rate",
            0.01,
            0.003,
            0.03,
            "障害（F13）のある施設・日の割合",
            "share of clinic-days with an outage (F13)",
        ),
        Assumption("outage_minutes", 60, 20, 120, "障害の長さ（分）", "outage length (minutes)"),
        Assumption(
            "carry_documents",
            0.7,
            0.5,
            0.85,
            "番号で確認できる書類を持っている患者",
            "patients carrying a document to check by number",
        ),
        Assumption(
            "staff_minutes_factor",
            1.0,
            0.5,
            1.5,
            "トラブル1件あたりの職員の時間（倍率）",
            "staff minutes per affected visit (multiplier of the table)",
        ),
    )
}

# Staff minutes lost per affected visit (our assumption: explaining, retrying, a number check, a form;
# the national range multiplies them by the assumption "staff_minutes_factor").
STAFF_MINUTES: dict[str, float] = {
    "F1": 10,
    "F2": 15,
    "F3": 5,
    "F4": 2,
    "F5": 2,
    "F6": 5,
    "F7": 3,
    "F8": 4,
    "F9": 4,
    "F10": 8,
    "F11": 6,
    "F12": 5,
    "F13": 10,
    "F14": 3,
    "F15": 5,
    "F16": 5,  # the reader refuses the phone; numbers from papers or the マイナポータル screen
    "F17": 5,  # the phone fails; the card, or numbers as for F16
}


def a(key: str) -> float:
    """An assumption's central value."""
    return ASSUMPTIONS[key].value


def rows(keys: tuple[str, ...] | None = None) -> list[Assumption]:
    """The assumptions a report prints (all, or the given keys in order)."""
    return [ASSUMPTIONS[k] for k in keys] if keys else list(ASSUMPTIONS.values())


def markdown_table(keys: tuple[str, ...] | None = None) -> str:
    out = ["| 前提 / assumption | 値 / value | 幅 / range | 出典 / source |", "|---|---:|---:|---|"]
    for item in rows(keys):
        rng = "—" if item.low == item.high else f"{_fmt(item.low)}–{_fmt(item.high)}"
        source = item.source_text() if item.note_ja else item.source
        out.append(f"| {item.label()} | {_fmt(item.value)} | {rng} | {source} |")
    return "\n".join(out) + "\n"


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) < 0.01:
        return f"{value:.1e}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"
