"""Per-visit trouble rates fitted to the clinic surveys, checked back against them, and the national month.

The model (every number is in ``rehearsal.assumptions``):

* A surveyed clinic *i* sees ``size_i × patients_per_day × business_days × months`` patients in the period
  the survey asked about; ``size_i`` is log-normal (median 1, sigma ``clinic_size_spread``). A share
  ``card_i`` of them is checked by card, beta-distributed between clinics around the period's card share.
* Clinics also differ in how often trouble reaches them, for reasons the surveys do not name (older
  patients, job changes, the reader model, who answered the survey): a log-normal factor ``f_i`` with
  mean 1 and sigma ``sigma`` multiplies every cause's rate at that clinic. ``sigma`` is *fitted*: it is
  what makes "any trouble" come out at 69.8% instead of the ~87% that independent causes would give.
* Trouble kind *k* strikes each card check with probability ``p_k × f_i``. A clinic answers "yes" for
  kind *k* if it met it at least once. Five survey figures (four kinds on the all-clinics base, and the
  share with any trouble) fit five parameters (four rates and ``sigma``); the check that matters is
  ``calibrate``: simulate the surveyed clinics with binomial draws and compare with every figure, and
  say plainly where it does not match.
* ``p_k`` is the national average per card check. Exposure scales it: a survey period twice as long
  halves the rate. The national month applies it to every check in the country with the ranges of
  every assumption and the surveys' sampling error, as 95% intervals.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from onshi.catalogue import FIGURES, FailureMode
from rehearsal.assumptions import ASSUMPTIONS, KINDS, STAFF_MINUTES, SURVEYS, Survey, a, markdown_table

CAUSES = tuple(mode.id for mode in FailureMode)  # F1 … F17
WORK_MINUTES = 8 * 60  # a clinic's reception hours in a day
# Which checks each cause can hit (the rest hit both card and number checks).
CARD_ONLY = frozenset({"F2", "F3", "F4", "F6", "F7", "F8", "F9", "F12", "F15"})
NUMBER_ONLY = frozenset({"F14"})
# The smartphone マイナ保険証: only a visit where the patient presents a phone meets these. F16: the phone
# only, at a clinic without a 汎用カードリーダー (follows from the phone shares, no rate of its own); F17:
# the phone's own certificate or link fails (per phone check, at a clinic with the reader).
PHONE_ONLY = frozenset({"F16", "F17"})
# Causes where a number check from the patient's documents settles it (else the 申立書). For F17 only when
# the patient has no card on them (with the card, the card check settles it).
NEEDS_DOCUMENTS = frozenset({"F2", "F3", "F6", "F9", "F10", "F12", "F15", "F16", "F17"})
ALWAYS_DECLARATION = frozenset({"F1", "F13"})
# Which causes each survey kind stands for, and the assumption giving each one's share of the kind.
KIND_CAUSES: dict[str, dict[str, str]] = {
    "names": {"F5": ""},
    "expired": {"F3": ""},
    "invalid": {"F1": "split_invalid_F1", "F10": "split_invalid_F10", "F12": "split_invalid_F12"},
    "reader": {"F6": "split_reader_F6", "F7": "split_reader_F7", "F8": "split_reader_F8"},
}
ASSUMED = ("F2", "F4", "F9", "F11", "F14", "F15", "F17")  # rates the surveys do not measure
KIND_LABELS = {
    "names": ("●表示", "● in names"),
    "invalid": ("「無効」表示", "'invalid' shown"),
    "reader": ("読み取り・認証エラー", "reader errors"),
    "expired": ("証明書の期限切れ", "expired certificate"),
    "any": ("何らかのトラブル", "any trouble"),
}
FIT_CLINICS = 10_000
SIGMA_MAX = 3.0


def sig3(value: float) -> str:
    """A count to three significant figures (1,958,582 → 1,960,000): no false precision in an estimate."""
    if value <= 0:
        return "0"
    digits = max(int(np.floor(np.log10(value))) - 2, 0)
    return f"{round(value, -digits):,.0f}"


@dataclass(frozen=True)
class Population:
    """Synthetic clinics, relative to the median clinic at the period's mean card share."""

    size: np.ndarray  # patients a day / the median clinic's
    card: np.ndarray  # card share / the period's mean card share
    z: np.ndarray  # standard normal: the clinic's trouble factor is exp(sigma z − sigma²/2)

    def exposure(self, sigma: float) -> np.ndarray:
        return np.asarray(self.size * self.card * np.exp(sigma * self.z - sigma**2 / 2))


def population(n: int, card_share: float, seed: int = 0) -> Population:
    rng = np.random.default_rng(seed)
    size = np.exp(a("clinic_size_spread") * rng.standard_normal(n))
    card = _relative_card(rng, n, card_share)
    return Population(size, card, rng.standard_normal(n))


def _relative_card(rng: np.random.Generator, n: int, card_share: float) -> np.ndarray:
    """Each clinic's card share relative to the period's: log-normal with mean 1, capped at 100% use."""
    spread = a("card_share_spread")
    relative = np.exp(spread * rng.standard_normal(n) - spread**2 / 2)
    return np.asarray(np.minimum(relative, 1 / card_share))


def _solve_lambdas(exposure: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """For each target share s, the λ with mean(1 − exp(−λ e)) = s (bisection in log λ, vectorised)."""
    lo = np.full(targets.shape, -12.0)
    hi = np.full(targets.shape, 8.0)
    for _ in range(40):
        mid = (lo + hi) / 2
        share = np.mean(-np.expm1(-np.exp(mid)[..., None] * exposure), axis=-1)
        below = share < targets
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return np.asarray(np.exp((lo + hi) / 2))


def _any(exposure: np.ndarray, lambdas: np.ndarray) -> float:
    return float(np.mean(-np.expm1(-lambdas.sum() * exposure)))


@dataclass(frozen=True)
class Fit:
    survey: Survey
    sigma: float  # the clinics' trouble factor (log-normal sigma)
    lambdas: dict[str, float]  # kind → events per card check × the period's card checks at the median clinic
    any_expected: float  # "any trouble" the fitted model expects (all-clinics base)
    any_fits: bool  # False when no sigma ≥ 0 can bring "any" to the survey's figure
    checks_per_period: float  # card checks of the median clinic in the period, at central assumptions

    def rate(self, kind: str, checks_per_period: float | None = None) -> float:
        """Per card check, the national average (over clinics' trouble factors)."""
        return self.lambdas[kind] / (checks_per_period or self.checks_per_period)


def median_checks(
    survey: Survey,
    patients_per_day: float | None = None,
    days: float | None = None,
    months: float | None = None,
    card_share: float | None = None,
) -> float:
    return (
        (patients_per_day or a("patients_per_day"))
        * (days or a("business_days"))
        * (months or a(survey.period))
        * (card_share or a(survey.card_share))
    )


@lru_cache(maxsize=8)
def fit(survey_key: str) -> Fit:
    """The four rates and ``sigma`` that reproduce the survey's kinds and "any" on the all-clinics base."""
    survey = SURVEYS[survey_key]
    people = population(FIT_CLINICS, a(survey.card_share))
    targets = np.array([survey.share_all(k) for k in KINDS])

    def at(sigma: float) -> tuple[np.ndarray, float]:
        e = people.exposure(sigma)
        lambdas = _solve_lambdas(e, targets)
        return lambdas, _any(e, lambdas)

    lo, hi = 0.0, SIGMA_MAX
    lambdas, any_lo = at(lo)
    fits = True
    if any_lo <= survey.share_troubled:  # heterogeneity only lowers "any": cannot reach it
        sigma, fits = 0.0, abs(any_lo - survey.share_troubled) < 0.005
    elif at(hi)[1] > survey.share_troubled:
        sigma, fits = hi, False
    else:
        for _ in range(24):
            mid = (lo + hi) / 2
            if at(mid)[1] > survey.share_troubled:
                lo = mid
            else:
                hi = mid
        sigma = (lo + hi) / 2
    lambdas, expected = at(sigma)
    return Fit(
        survey,
        sigma,
        dict(zip(KINDS, map(float, lambdas), strict=True)),
        expected,
        fits,
        median_checks(survey),
    )


@lru_cache(maxsize=8)
def sampling_lambdas(survey_key: str, draws: int = 40, seed: int = 11) -> np.ndarray:
    """λ refitted for ``draws`` resamples of the survey's own figures (binomial sampling error on the
    clinics that answered; ``sigma`` held at the point fit). Shape (draws, kinds)."""
    survey = SURVEYS[survey_key]
    point = fit(survey_key)
    rng = np.random.default_rng(seed)
    troubled = rng.binomial(survey.clinics, survey.share_troubled, draws)
    kinds = np.stack([rng.binomial(troubled, survey.kinds[k]) for k in KINDS], axis=1)
    targets = kinds / survey.clinics
    people = population(4_000, a(survey.card_share), seed=1)
    return _solve_lambdas(people.exposure(point.sigma), targets)


# --- the surveyed clinics, simulated ------------------------------------------------------------


def simulate_survey(survey_key: str, replicates: int = 200, seed: int = 1) -> dict[str, np.ndarray]:
    """The survey's clinics over its period, ``replicates`` times: each clinic's patients, its card checks
    (binomial), and each kind's events (binomial at ``p_k × f_i``). Share of clinics per kind and "any"."""
    survey, point = SURVEYS[survey_key], fit(survey_key)
    rng = np.random.default_rng(seed)
    m, n = a(survey.card_share), survey.clinics
    visits_median = a("patients_per_day") * a("business_days") * a(survey.period)
    shares: dict[str, list[float]] = {kind: [] for kind in (*KINDS, "any")}
    for _ in range(replicates):
        visits = np.maximum(
            np.rint(visits_median * np.exp(a("clinic_size_spread") * rng.standard_normal(n))), 1
        )
        card_checks = rng.binomial(visits.astype(np.int64), _relative_card(rng, n, m) * m)
        factor = np.exp(point.sigma * rng.standard_normal(n) - point.sigma**2 / 2)
        hit_any = np.zeros(n, dtype=bool)
        for kind in KINDS:
            p = np.minimum(point.rate(kind) * factor, 1.0)
            hit = rng.binomial(card_checks, p) > 0
            hit_any |= hit
            shares[kind].append(float(hit.mean()))
        shares["any"].append(float(hit_any.mean()))
    return {kind: np.array(v) for kind, v in shares.items()}


# --- patients made to pay 100% ----------------------------------------------------------------


def declaration_rates(
    lambdas: dict[str, float],
    checks: float,
    splits: dict[str, float],
    carry: float,
    assumed: dict[str, float],
) -> tuple[float, float]:
    """Per card check and per number check: the chance a visit needs the 申立書 (F13 aside; the phone's
    F16/F17 aside too: the surveys' periods barely include phones at the counter, from 19 Sep 2025)."""
    rate = per_check_rates(lambdas, checks, splits, assumed)
    card = sum(
        rate[c] * (1.0 if c in ALWAYS_DECLARATION else 1 - carry)
        for c in (*ALWAYS_DECLARATION, *NEEDS_DOCUMENTS)
        if c in rate and c not in NUMBER_ONLY and c not in PHONE_ONLY
    )
    number = sum(
        rate[c] * (1.0 if c in ALWAYS_DECLARATION else 1 - carry)
        for c in (*ALWAYS_DECLARATION, *NEEDS_DOCUMENTS)
        if c in rate and c not in CARD_ONLY and c not in PHONE_ONLY
    )
    return card, number


def per_check_rates(
    lambdas: dict[str, float], checks: float, splits: dict[str, float], assumed: dict[str, float]
) -> dict[str, float]:
    """Per-visit rate of each cause (F13 aside) from the fitted λ, the exposure and the splits."""
    rates: dict[str, float] = dict(assumed)
    for kind, causes in KIND_CAUSES.items():
        for cause, split in causes.items():
            rates[cause] = lambdas[kind] / checks * (splits[split] if split else 1.0)
    return rates


def central_splits() -> dict[str, float]:
    return {s: a(s) for causes in KIND_CAUSES.values() for s in causes.values() if s}


def central_assumed() -> dict[str, float]:
    return {c: a(f"rate_{c}") for c in ASSUMED}


@dataclass(frozen=True)
class FullPayment:
    """The share ``q`` of counters that charge 100% instead of using the 申立書, as each figure implies."""

    q_cases_2025: float  # from ~3,400 cases reported by 10,519 clinics since Aug 2025
    q_cases_low: float
    q_cases_high: float
    q_clinics_2025i: float  # from 12.3% of clinics (interim) that had a patient pay 100%
    needs_declaration_per_clinic_2025: float  # visits needing the 申立書 per clinic, since Aug 2025
    consistent: bool


def _needs_declaration_per_clinic(
    survey_key: str, carry: float | None = None, outage_day_rate: float | None = None
) -> np.ndarray:
    """Visits needing the 申立書 at each synthetic clinic over the survey period. The fitted rates scale
    inversely with the period, so the count per clinic does not depend on the months assumed."""
    survey, point = SURVEYS[survey_key], fit(survey_key)
    m = a(survey.card_share)
    people = population(FIT_CLINICS, m, seed=3)
    visits = people.size * a("patients_per_day") * a("business_days") * a(survey.period)
    carry = a("carry_documents") if carry is None else carry
    card_rate, number_rate = declaration_rates(
        point.lambdas, median_checks(survey), central_splits(), carry, central_assumed()
    )
    factor = np.exp(point.sigma * people.z - point.sigma**2 / 2)
    card = np.clip(people.card * m, 0, 1)
    outage = (a("outage_day_rate") if outage_day_rate is None else outage_day_rate) * a("outage_minutes")
    return np.asarray(
        visits * (factor * (card * card_rate + (1 - card) * number_rate) + outage / WORK_MINUTES)
    )


def _solve_q(per_clinic: np.ndarray, target: float) -> float:
    """The q with mean(1 − exp(−q × needs)) = target: the share of clinics with at least one 100% payment."""
    if float(np.mean(-np.expm1(-per_clinic))) < target:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if float(np.mean(-np.expm1(-mid * per_clinic))) < target else (lo, mid)
    return (lo + hi) / 2


@lru_cache(maxsize=1)
def full_payment() -> FullPayment:
    """``q`` from the ~3,400 cases (2025) and from the 12.3% of clinics (2025 interim). The range of the
    first spans the documents and outage assumptions and ±15% for "about" 3,400."""
    cases, clinics = FIGURES["full_payment_cases"].value, SURVEYS["2025"].clinics
    per_clinic = float(_needs_declaration_per_clinic("2025").mean())
    q = cases / (clinics * per_clinic)
    spread = [
        cases / (clinics * float(_needs_declaration_per_clinic("2025", carry, outage).mean()))
        for carry in (ASSUMPTIONS["carry_documents"].low, ASSUMPTIONS["carry_documents"].high)
        for outage in (ASSUMPTIONS["outage_day_rate"].low, ASSUMPTIONS["outage_day_rate"].high)
    ]
    q_low, q_high = min(spread) * 0.85, min(max(spread) * 1.15, 1.0)
    q_interim = _solve_q(_needs_declaration_per_clinic("2025i"), FIGURES["survey_2025i_full_payment"].value)
    consistent = q_low <= q_interim <= q_high
    return FullPayment(q, q_low, q_high, q_interim, per_clinic, consistent)


# --- calibrate: model against survey ----------------------------------------------------------


def calibration(survey_key: str, replicates: int = 200, seed: int = 1) -> dict[str, Any]:
    survey, point = SURVEYS[survey_key], fit(survey_key)
    sims = simulate_survey(survey_key, replicates, seed)
    rows = []
    for kind in (*KINDS, "any"):
        share_all = survey.share_troubled if kind == "any" else survey.share_all(kind)
        share_troubled = 1.0 if kind == "any" else survey.kinds[kind]
        model = sims[kind]
        tolerance = 0.05 if kind == "any" else 0.03
        mean = float(model.mean())
        rows.append(
            {
                "kind": kind,
                "label_ja": KIND_LABELS[kind][0],
                "label_en": KIND_LABELS[kind][1],
                "survey_share_all": round(share_all, 4),
                "survey_share_troubled": round(share_troubled, 4),
                "model_share_all": round(mean, 4),
                "model_low": round(float(np.percentile(model, 2.5)), 4),
                "model_high": round(float(np.percentile(model, 97.5)), 4),
                "tolerance": tolerance,
                "fits": abs(mean - share_all) <= tolerance,
            }
        )
    pay = full_payment()
    return {
        "survey": survey_key,
        "label_ja": survey.label_ja,
        "label_en": survey.label_en,
        "clinics": survey.clinics,
        "replicates": replicates,
        "seed": seed,
        "base": "all responding clinics (kind × share with trouble) / 全回答施設",
        "rows": rows,
        "fitted": {
            "sigma": round(point.sigma, 4),
            "any_fits": point.any_fits,
            "rate_per_card_check": {k: point.rate(k) for k in KINDS},
            "card_checks_median_clinic": point.checks_per_period,
        },
        "independent_any": round(1 - float(np.prod([1 - survey.share_all(k) for k in KINDS])), 4),
        "full_payment": {
            "q_from_cases_2025": pay.q_cases_2025,
            "q_low": pay.q_cases_low,
            "q_high": pay.q_cases_high,
            "q_from_clinics_2025_interim": pay.q_clinics_2025i,
            "needs_declaration_per_clinic_2025": pay.needs_declaration_per_clinic_2025,
            "consistent": pay.consistent,
        },
        "assumptions": {
            k: {"value": v.value, "low": v.low, "high": v.high, "source": v.source}
            for k, v in ASSUMPTIONS.items()
        },
    }


def mismatches(result: dict[str, Any]) -> list[str]:
    """Plain sentences (Japanese / English) for every figure the model does not match."""
    out = []
    for row in result["rows"]:
        if not row["fits"]:
            out.append(
                f"{row['label_ja']}：モデル {row['model_share_all']:.1%}、調査 {row['survey_share_all']:.1%}"
                f"（全回答施設）。許容差 {row['tolerance']:.0%} を超え、モデルはこの数字を再現できない。 / "
                f"{row['label_en']}: model {row['model_share_all']:.1%} "
                f"vs survey {row['survey_share_all']:.1%} "
                f"of all responding clinics — beyond {row['tolerance']:.0%}; the model does not reproduce it."
            )
    if not result["fitted"]["any_fits"]:
        out.append(
            f"「何らかのトラブル」：独立に起きると仮定しても {result['independent_any']:.1%} にしかならず、"
            "施設間の差（相関）では下げることしかできない。種類別の数字の基数が違う（全回答施設の割合）か、"
            "調査に4種類以外のトラブルが含まれる可能性がある。 / "
            f"'any trouble': even independent causes give only {result['independent_any']:.1%}; differences "
            "between clinics can only lower it. The kinds may be on another base (all clinics), or the "
            "survey counts trouble beyond these four kinds."
        )
    pay = result["full_payment"]
    if not pay["consistent"]:
        out.append(
            f"10割負担：約3,400件からは申立書を使わない窓口 {pay['q_from_cases_2025']:.1%}、中間集計の12.3%の"
            f"施設からは {pay['q_from_clinics_2025_interim']:.1%}。一つの値では両方を説明できない。 / "
            f"100% payment: the ~3,400 cases imply {pay['q_from_cases_2025']:.1%} of counters not using the "
            "申立書, the interim's 12.3% of clinics "
            f"{pay['q_from_clinics_2025_interim']:.1%}: one value does "
            "not explain both."
        )
    return out


def write_calibration(result: dict[str, Any], out: Path, lang: str = "both") -> dict[str, Path]:
    from rehearsal.plots import calibration_plot

    out.mkdir(parents=True, exist_ok=True)
    (out / "calibration.json").write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    plot = out / "calibration.png"
    calibration_plot(result, plot, lang)
    (out / "calibration.md").write_text(calibration_markdown(result), encoding="utf-8")
    (out / "calibration.html").write_text(calibration_html(result, plot.name), encoding="utf-8")
    return {
        "json": out / "calibration.json",
        "html": out / "calibration.html",
        "markdown": out / "calibration.md",
        "plot": plot,
    }


def calibration_table(result: dict[str, Any]) -> str:
    lines = [
        "| 種類 / kind | 調査・全回答施設 / survey, all clinics | 調査・トラブルのあった施設 / survey, "
        "of clinics with trouble | モデル / model (95%) | 判定 / fit |",
        "|---|---:|---:|---:|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['label_ja']} / {r['label_en']} | {r['survey_share_all']:.1%} | "
            f"{'—' if r['kind'] == 'any' else format(r['survey_share_troubled'], '.1%')} "
            f"| {r['model_share_all']:.1%} ({r['model_low']:.1%}–{r['model_high']:.1%}) | "
            f"{'✓' if r['fits'] else '✗'} ±{r['tolerance'] * 100:.0f}pt |"
        )
    return "\n".join(lines) + "\n"


def calibration_markdown(result: dict[str, Any], with_assumptions: bool = True) -> str:
    fitted, pay = result["fitted"], result["full_payment"]
    problems = mismatches(result)
    parts = [
        f"# 調査との照合 / Calibration: {result['label_ja']} / {result['label_en']}\n",
        f"基数：全回答施設（{result['clinics']:,}施設）。種類別の数字は「トラブルのあった施設」に占める割合なので、"
        "「トラブルがあった施設の割合」を掛けて全回答施設の割合に直している。 / Base: all "
        f"{result['clinics']:,} responding clinics; the survey's "
        "kinds are shares of the clinics with trouble, "
        "restated here as kind × share with trouble.\n",
        calibration_table(result),
        f"モデルの幅は、同じ数の施設を {result['replicates']} "
        "回シミュレーションした95%の範囲（標本のゆらぎ）。 / "
        "The model's range is the 95% spread of "
        f"{result['replicates']} simulated surveys of the same size.\n",
        f"- 施設間の差 / clinics' trouble factor (log-normal sigma, fitted): **{fitted['sigma']:.2f}**. "
        f"種類が独立なら「何らかのトラブル」は回答施設の {result['independent_any']:.1%} "
        "/ with independent kinds "
        f"'any trouble' would be {result['independent_any']:.1%} of responding clinics.\n"
        "- 5つの数字（4種類＋何らかのトラブル）に5つのパラメータ（4つの率＋施設間の差）を合わせているので、"
        "一致は当てはめの結果であって検証ではない。検証になるのは、率が期間や患者数の前提と整合するか、"
        "10割負担の数字を一つのパラメータで説明できるか。 / Five figures fit five parameters, so the match "
        "is a fit, not a test; the tests are whether the rates are plausible and whether one parameter "
        "explains the 100% payment figures.\n",
        "- 確認1件あたりの率 / rate per card check: "
        + ", ".join(f"{k} {v:.2e}" for k, v in fitted["rate_per_card_check"].items())
        + f" (median clinic: {fitted['card_checks_median_clinic']:,.0f} card checks in the period)\n",
        "\n## 10割負担 / Patients made to pay 100%\n",
        f"- 申立書が必要な受診（1施設、2025年8月以降）/ visits needing the 申立書 per clinic since Aug 2025: "
        f"{pay['needs_declaration_per_clinic_2025']:,.1f}\n"
        "- 約3,400件（回答施設からの報告）から：申立書を使わない窓口の割合 / "
        "from the ~3,400 reported cases, share "
        f"of counters not using the 申立書: **{pay['q_from_cases_2025']:.1%}** "
        f"({pay['q_low']:.1%}–{pay['q_high']:.1%}; "
        "基数：申立書が必要になった受診 / base: visits that needed it)\n"
        f"- 中間集計の12.3%の施設（回答施設の割合）から / from 12.3% of interim clinics: "
        f"**{pay['q_from_clinics_2025_interim']:.1%}**（申立書が必要になった受診に対する割合 "
        "/ of the visits that "
        "needed it)\n",
        "\n## 再現できない点 / Where the model does not match\n",
        ("\n".join(f"- {p}" for p in problems) if problems else "- なし / none\n"),
        "\n\n## 前提 / Assumptions\n\n" if with_assumptions else "\n",
        markdown_table() if with_assumptions else "",
        "\n再実行 / rerun: `onshi calibrate --survey " + result["survey"] + " --out DIR`\n",
    ]
    return "\n".join(parts)


def calibration_html(result: dict[str, Any], plot: str) -> str:
    from rehearsal.simulate import markdown_to_html

    body = markdown_to_html(calibration_markdown(result))
    return f"""<!doctype html><html lang="ja"><head><meta charset="utf-8">
<title>調査との照合 / Calibration {html.escape(result["survey"])}</title>
<style>body{{font-family:system-ui,'IPAexGothic','Noto Sans CJK JP',sans-serif;max-width:1100px;
margin:2em auto;
padding:0 1em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em}}
img{{max-width:100%}}</style></head><body>
<figure><img src="{html.escape(plot)}" alt="calibration"></figure>
{body}</body></html>"""


# --- the national month -----------------------------------------------------------------------


def national(
    survey_key: str = "2025",
    *,
    draws: int = 2000,
    seed: int = 0,
    overrides: dict[str, float] | None = None,
    card_share: float | None = None,
    carry_documents: float | None = None,
    staff_minutes: dict[str, float] | None = None,
    phone: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Expected visits a month nationwide per cause, with 95% intervals over the surveys' sampling error
    (refitted resamples) and every assumption's range (uniform; the unmeasured rates log-uniform).
    ``overrides`` fix a cause's per-visit rate (F13: outage per clinic-day; F17: per phone check); a given
    ``card_share`` or ``carry_documents`` is held fixed too, and so is each of ``phone``'s shares
    (``phone_share``, ``phone_only_share``, ``general_reader_share``).

    The phone (F16, F17): of the マイナ保険証 visits a share ``phone_share`` present a phone, of those a
    share ``phone_only_share`` have no card on them; ``general_reader_share`` of visits are at clinics with
    a 汎用カードリーダー. F16 = phone only at a clinic without one; F17 = phone checks at a clinic with one ×
    the F17 rate."""
    if "F16" in (overrides or {}):
        raise ValueError("F16 follows from the phone shares (phone_share, phone_only_share, "
                         "general_reader_share); it has no rate of its own")
    survey = SURVEYS[survey_key]
    overrides = dict(overrides or {})
    rng = np.random.default_rng(seed)
    lambdas = sampling_lambdas(survey_key)
    pick = lambdas[rng.integers(0, len(lambdas), draws)]  # (draws, kinds)

    def uniform(key: str) -> np.ndarray:
        item = ASSUMPTIONS[key]
        return rng.uniform(item.low, item.high, draws)

    def log_uniform(key: str) -> np.ndarray:
        item = ASSUMPTIONS[key]
        return np.exp(rng.uniform(np.log(item.low), np.log(item.high), draws))

    checks = (
        uniform("patients_per_day")
        * uniform("business_days")
        * uniform(survey.period)
        * uniform(survey.card_share)
    )
    share = np.full(draws, card_share) if card_share is not None else uniform("card_share_national")
    carry = np.full(draws, carry_documents) if carry_documents is not None else uniform("carry_documents")
    month = a("monthly_checks")
    rates: dict[str, np.ndarray] = {}
    for i, kind in enumerate(KINDS):
        causes = KIND_CAUSES[kind]
        raw = {c: uniform(s) if s else np.ones(draws) for c, s in causes.items()}
        total = sum(raw.values())
        for cause in causes:
            rates[cause] = pick[:, i] / checks * raw[cause] / total
    for cause in ASSUMED:
        if cause not in PHONE_ONLY:  # drawn last, so the other draws stay as they were before phones
            rates[cause] = log_uniform(f"rate_{cause}")
    for cause, value in overrides.items():
        if cause != "F13":
            rates[cause] = np.full(draws, value)
    outage = np.full(draws, overrides["F13"]) if "F13" in overrides else uniform("outage_day_rate")
    counts: dict[str, np.ndarray] = {}
    for cause in CAUSES:
        if cause in PHONE_ONLY:
            continue
        if cause == "F13":
            counts[cause] = (
                month * outage * np.minimum(uniform("outage_minutes"), WORK_MINUTES) / WORK_MINUTES
            )
            continue
        on_card = 0.0 if cause in NUMBER_ONLY else 1.0
        on_number = 0.0 if cause in CARD_ONLY else 1.0
        counts[cause] = month * rates[cause] * (share * on_card + (1 - share) * on_number)
    minutes = staff_minutes or STAFF_MINUTES
    factor = uniform("staff_minutes_factor")
    pay = full_payment()
    q = rng.uniform(pay.q_cases_low, pay.q_cases_high, draws)
    fixed = dict(phone or {})

    def held_or_drawn(key: str) -> np.ndarray:
        return np.full(draws, fixed[key]) if key in fixed else uniform(key)

    phone_share = held_or_drawn("phone_share")
    phones = share * phone_share
    only = held_or_drawn("phone_only_share")
    general = held_or_drawn("general_reader_share")
    rates["F17"] = np.full(draws, overrides["F17"]) if "F17" in overrides else log_uniform("rate_F17")
    counts["F16"] = month * phones * only * (1 - general)
    counts["F17"] = month * phones * general * rates["F17"]
    counts = {c: counts[c] for c in CAUSES}  # the catalogue's order
    affected = np.sum(list(counts.values()), axis=0)
    hours = sum(counts[c] * minutes.get(c, 0.0) for c in CAUSES) * factor / 60
    # F17 needs the 申立書 only without the card too (with it, the card check settles it).
    documents = sum(counts[c] for c in NEEDS_DOCUMENTS if c != "F17") + counts["F17"] * only
    needs = sum(counts[c] for c in ALWAYS_DECLARATION) + documents * (1 - carry)

    def summary(values: np.ndarray) -> dict[str, float]:
        values = np.asarray(values, dtype=float)
        return {
            "mean": float(values.mean()),
            "low": float(np.percentile(values, 2.5)),
            "high": float(np.percentile(values, 97.5)),
        }

    return {
        "monthly_checks": month,
        "survey": survey_key,
        "draws": draws,
        "interval": "95% (2.5th–97.5th percentile over sampling error and assumption ranges)",
        "by_cause": {c: summary(counts[c]) for c in CAUSES},
        "affected": summary(affected),
        "staff_hours": summary(hours),
        "would_pay_full": summary(needs),
        "charged_full": summary(needs * q),
        "rates": {c: summary(rates[c]) for c in CAUSES if c in rates},
        "overrides": overrides,
        "phone": {"phone_share": summary(phone_share), "phone_only_share": summary(only),
                  "general_reader_share": summary(general), "held": sorted(fixed)},
    }


@lru_cache(maxsize=4)
def national_picture(survey_key: str = "2025") -> dict[str, Any]:
    """The national month at the central assumptions' ranges (the gallery's picture; cached)."""
    return national(survey_key)


@lru_cache(maxsize=4)
def calibration_cached(survey_key: str) -> dict[str, Any]:
    return calibration(survey_key, replicates=100)


def rate_basis(cause: str, overrides: dict[str, float] | None = None) -> str:
    """Where a cause's national rate comes from: "survey" (fitted), "assumed" (ours) or "set" (by hand)."""
    if overrides and cause in overrides:
        return "set"
    if any(cause in causes for causes in KIND_CAUSES.values()):
        return "survey"
    return "assumed"


BASIS_LABELS = {
    "survey": ("調査に当てはめた率", "rate fitted to the survey"),
    "assumed": ("仮定の率（調査外）", "assumed rate (not surveyed)"),
    "set": ("指定した率", "rate set by hand"),
}


def national_rows(picture: dict[str, Any], lang: str = "both") -> list[tuple[str, float, float, float]]:
    from rehearsal.plots import label

    rows = []
    for cause in CAUSES:
        failure = FailureMode.by_id(cause).value
        value = picture["by_cause"][cause]
        rows.append(
            (
                f"{cause}  {label(failure.name_ja, failure.name_en, lang)}",
                value["mean"],
                value["low"],
                value["high"],
            )
        )
    return rows


def national_plot(picture: dict[str, Any], path: Path | Any, lang: str = "both") -> Any:
    """The national month by cause with 95% intervals (PNG to a path, SVG to a stream)."""
    from rehearsal.plots import label, range_bars

    survey = SURVEYS[picture["survey"]]
    basis = [rate_basis(c, picture.get("overrides")) for c in CAUSES]
    colours = {"survey": "#8e44ad", "assumed": "#95a5a6", "set": "#e67e22"}
    legend = {colours[b]: label(*BASIS_LABELS[b], lang) for b in dict.fromkeys(basis)}
    return range_bars(
        national_rows(picture, lang),
        label(
            f"全国の1か月（{picture['monthly_checks'] / 1e6:,.1f}百万件の確認）：原因別の件数と95%区間",
            f"Nationwide, one month ({picture['monthly_checks'] / 1e6:,.1f} M checks): visits by cause, "
            "95% intervals",
            lang,
        ),
        label("1か月の件数（対数目盛）", "visits a month (log scale)", lang),
        path,
        [colours[b] for b in basis],
        label(
            f"率は{survey.label_ja}に当てはめ（灰色は仮定の率）。標本の拡大ではない。",
            f"rates fitted to the {survey.label_en} (grey: assumed rates); not a sample scaled up",
            lang,
        ),
        legend,
    )
