"""`onshi simulate-day`: N patients through K clinics, with trouble rates derived from the surveys.

Pure and deterministic: each clinic draws from ``numpy.random.default_rng([seed, clinic])``, so a
seed gives the same visits whatever the order or the progress bar (the shell's ``on_day`` callback).
No server is involved; the model is the catalogue's fallback logic applied to random visits.

The model (every number and its source is in ``rehearsal.assumptions``; the fit in ``rehearsal.calibrate``):

* A visit is checked by card with probability ``card_share``, otherwise by number (資格確認書 …).
* Per-visit rates come from the survey fit (``rehearsal.calibrate.fit``): the survey's kinds restated on
  the all-clinics base, the survey's own period and the card checks of its clinics, with clinics that
  differ. "Invalid" (F1/F10/F12) and "reader errors" (F6/F7/F8) are split between their causes by
  assumed shares; rarer causes have assumed rates.
* The smartphone マイナ保険証 (F16, F17; shares in ``rehearsal.assumptions``, ours: no published count): a
  share ``phone_share`` of the card visits present a phone, and of those ``phone_only_share`` have no card
  on them. A clinic has a 汎用カードリーダー with probability ``general_reader_share`` (drawn once per
  clinic). Without one, a phone-only patient is F16 (one with the card uses the card); with one, the phone
  is checked and its own certificate or link fails (F17) at the rate ``rate_F17``, before any other cause.
  F16 needs the 申立書 when the patient carries no document (the マイナポータル screen counts); F17 only
  when, besides, the patient has no card. Phone draws come from a stream of their own
  (``[seed, clinic, 17]``), so the rest of the day is the same whatever the phone shares.
* A central-system outage (F13) strikes a clinic-day with probability ``outage_day_rate`` and lasts
  ``outage_minutes``; every patient arriving in it is affected, whatever the check.
* Each affected visit costs staff minutes (per cause). It needs the 被保険者資格申立書 when nothing
  else confirms eligibility: always for F1 (the new qualification is not registered, so the number
  check fails too) and F13; for F2, F3, F6, F9, F10, F12, F15 when the patient carries no document
  to check by number (``carry_documents``). Those patients would have paid 100% without it.
* The national picture is NOT the sample scaled up: it applies the rates to every check in the country
  for a month (``rehearsal.calibrate.national``), with 95% intervals over the surveys' sampling error
  and the range of every assumption.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from onshi.catalogue import FIGURES, FailureMode
from rehearsal import assumptions
from rehearsal.assumptions import STAFF_MINUTES, SURVEYS, a
from rehearsal.calibrate import (
    ALWAYS_DECLARATION,
    BASIS_LABELS,
    CARD_ONLY,
    CAUSES,
    NEEDS_DOCUMENTS,
    NUMBER_ONLY,
    PHONE_ONLY,
    WORK_MINUTES,
    central_assumed,
    central_splits,
    fit,
    national,
    national_plot,
    per_check_rates,
    rate_basis,
    sig3,
)

PHONE_SHARES = ("phone_share", "phone_only_share", "general_reader_share")
__all__ = [
    "ALWAYS_DECLARATION",
    "CARD_ONLY",
    "CAUSES",
    "NEEDS_DOCUMENTS",
    "NUMBER_ONLY",
    "PHONE_ONLY",
    "PHONE_SHARES",
    "STAFF_MINUTES",
    "WORK_MINUTES",
    "SimConfig",
    "SimResult",
    "simulate",
    "write_report",
]



@dataclass(frozen=True)
class SimConfig:
    patients: int = 1000
    clinics: int = 1
    days: int = 1
    seed: int = 1
    card_share: float = a("card_share_national")
    carry_documents: float = a("carry_documents")
    rates: Mapping[str, float] = field(default_factory=dict)  # per visit, F1…F17 except F13, F16
    outage_day_rate: float = a("outage_day_rate")  # F13: chance a clinic-day has an outage
    outage_minutes: float = a("outage_minutes")
    staff_minutes: Mapping[str, float] = field(default_factory=lambda: dict(STAFF_MINUTES))
    monthly_checks: float = FIGURES["monthly_checks"].value
    survey: str = "2025"
    exposure_checks: float = 0.0  # card checks of the median surveyed clinic in the survey period
    declaration_known: bool = True
    # What the user set by hand: the national estimate holds these fixed instead of drawing them.
    overrides: Mapping[str, float] = field(default_factory=dict)  # per-visit rates; F13 = outage per day
    card_share_given: bool = False
    # The smartphone: None = the assumption (its central value here, drawn across its range nationally).
    phone_share: float | None = None  # of card visits, the patient presents a phone
    phone_only_share: float | None = None  # of those, no card on them
    general_reader_share: float | None = None  # clinics with a 汎用カードリーダー

    def __post_init__(self) -> None:
        if self.patients < 0 or self.clinics < 1 or self.days < 1:
            raise ValueError("patients ≥ 0, clinics ≥ 1, days ≥ 1")
        for name in ("card_share", "carry_documents", "outage_day_rate", *PHONE_SHARES):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        unknown = set(self.rates) - set(CAUSES)
        if unknown:
            raise ValueError(f"unknown causes {sorted(unknown)}; use F1…F17")
        if "F16" in self.rates:
            raise ValueError("F16 has no rate of its own: it follows from --phone-share, --phone-only-share "
                             "and --general-reader-share")
        for key in ("card", "number"):
            if sum(self.rates.get(c, 0) for c in self.causes_for(key)) > 1:
                raise ValueError(f"the {key}-check rates add up to more than 1")

    @staticmethod
    def causes_for(kind: str) -> tuple[str, ...]:
        excluded = NUMBER_ONLY if kind == "card" else CARD_ONLY
        return tuple(c for c in CAUSES if c != "F13" and c not in excluded and c not in PHONE_ONLY)

    def share(self, name: str) -> float:
        """A phone share: as set, else the assumption's central value."""
        value: float | None = getattr(self, name)
        return a(name) if value is None else value

    @property
    def phone_given(self) -> dict[str, float]:
        """The phone shares set by hand (held fixed in the national estimate)."""
        return {name: getattr(self, name) for name in PHONE_SHARES if getattr(self, name) is not None}

    @classmethod
    def from_survey(
        cls,
        survey: str = "2025",
        *,
        overrides: Mapping[str, float] | None = None,
        card_share: float | None = None,
        **options: Any,
    ) -> SimConfig:
        """Per-visit rates fitted to a clinic survey (``rehearsal.calibrate.fit``), then ``overrides``
        (F13 = outage per clinic-day). ``card_share``: this clinic's (default: the national share)."""
        if survey not in SURVEYS:
            raise ValueError(f"unknown survey {survey!r}; use one of {', '.join(SURVEYS)}")
        fitted = fit(survey)
        rates = per_check_rates(fitted.lambdas, fitted.checks_per_period, central_splits(), central_assumed())
        overrides = dict(overrides or {})
        unknown = set(overrides) - set(CAUSES)
        if unknown:
            raise ValueError(f"unknown causes {sorted(unknown)}; use F1…F17")
        rest = {k: v for k, v in overrides.items() if k != "F13"}
        rates.update(rest)
        extra = {"outage_day_rate": overrides["F13"]} if "F13" in overrides else {}
        return cls(
            rates=rates, card_share=a("card_share_national") if card_share is None else card_share,
            survey=survey, exposure_checks=fitted.checks_per_period, overrides=overrides,
            card_share_given=card_share is not None, **{**extra, **options}
        )


@dataclass
class SimResult:
    config: SimConfig
    # columns: clinic, day, minute, card, phone, general_reader, cause, declaration, minutes
    visits: dict[str, np.ndarray]
    totals: dict[str, Any]

    def rows(self) -> list[dict[str, Any]]:
        v = self.visits
        return [
            {
                "clinic": int(v["clinic"][i]),
                "day": int(v["day"][i]),
                "minute": round(float(v["minute"][i]), 1),
                "method": "smartphone" if v["phone"][i] else ("card" if v["card"][i] else "number"),
                "general_reader": bool(v["general_reader"][i]),
                "cause": CAUSES[v["cause"][i]] if v["cause"][i] >= 0 else "",
                "declaration": bool(v["declaration"][i]),
                "staff_minutes": float(v["minutes"][i]),
            }
            for i in range(len(v["clinic"]))
        ]


def _patients_per_slot(config: SimConfig) -> list[int]:
    slots = config.clinics * config.days
    base, extra = divmod(config.patients, slots)
    return [base + (1 if i < extra else 0) for i in range(slots)]


def _simulate_clinic(
    config: SimConfig, clinic: int, counts: list[int], on_day: Callable[[], None] | None = None
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([config.seed, clinic])
    card_causes = config.causes_for("card")
    number_causes = config.causes_for("number")
    card_p = np.array([config.rates.get(c, 0.0) for c in card_causes])
    number_p = np.array([config.rates.get(c, 0.0) for c in number_causes])
    card_idx = np.array([CAUSES.index(c) for c in card_causes])
    number_idx = np.array([CAUSES.index(c) for c in number_causes])
    minutes_by_cause = np.array([config.staff_minutes.get(c, 0.0) for c in CAUSES])
    needs_docs = np.array([c in NEEDS_DOCUMENTS for c in CAUSES])
    always = np.array([c in ALWAYS_DECLARATION for c in CAUSES])
    # The phone's draws: a stream of their own, so the rest of the day does not depend on them.
    phone_rng = np.random.default_rng([config.seed, clinic, 17])
    general_reader = bool(phone_rng.random() < config.share("general_reader_share"))
    f16, f17 = CAUSES.index("F16"), CAUSES.index("F17")
    rate_f17 = config.rates.get("F17", 0.0)
    out: dict[str, list[np.ndarray]] = {
        k: [] for k in ("clinic", "day", "minute", "card", "phone", "general_reader", "cause", "declaration",
                        "minutes")
    }
    for day, n in enumerate(counts):
        # The day's draws, in a fixed order: outage, arrivals, method, trouble, documents.
        outage = rng.random() < config.outage_day_rate
        outage_start = rng.random() * max(WORK_MINUTES - config.outage_minutes, 0)
        minute = np.sort(rng.random(n) * WORK_MINUTES)
        card = rng.random(n) < config.card_share
        u = rng.random(n)
        documents = rng.random(n) < config.carry_documents
        cause = np.full(n, -1)
        for mask, probs, idx in ((card, card_p, card_idx), (~card, number_p, number_idx)):
            edges = np.cumsum(probs)
            pick = np.searchsorted(edges, u[mask], side="right")
            chosen = np.where(pick < len(idx), idx[np.minimum(pick, len(idx) - 1)], -1)
            cause[mask] = chosen
        # The phone: who presents one, who has only the phone, and whether the phone's own check fails.
        phone = card & (phone_rng.random(n) < config.share("phone_share"))
        only_phone = phone & (phone_rng.random(n) < config.share("phone_only_share"))
        fails = phone_rng.random(n) < rate_f17
        if general_reader:
            cause[phone & fails] = f17  # the phone's certificate fails before anything is looked up
        else:
            cause[only_phone] = f16  # no card to fall back on: the reader cannot take the phone
            phone = only_phone  # a patient with the card uses the card
        if outage:
            down = (minute >= outage_start) & (minute < outage_start + config.outage_minutes)
            cause[down] = CAUSES.index("F13")
        hit = cause >= 0
        safe = np.where(hit, cause, 0)
        # F17 settles with the card when the patient has it; otherwise as the other causes, with documents.
        settled_by_card = (cause == f17) & ~only_phone
        declaration = hit & (always[safe] | (needs_docs[safe] & ~documents & ~settled_by_card))
        out["clinic"].append(np.full(n, clinic))
        out["day"].append(np.full(n, day))
        out["minute"].append(minute)
        out["card"].append(card)
        out["phone"].append(phone)
        out["general_reader"].append(np.full(n, general_reader))
        out["cause"].append(cause)
        out["declaration"].append(declaration)
        out["minutes"].append(np.where(hit, minutes_by_cause[safe], 0.0))
        if on_day is not None:
            on_day()
    return {k: np.concatenate(v) if v else np.array([]) for k, v in out.items()}


def totals_of(config: SimConfig, visits: Mapping[str, np.ndarray]) -> dict[str, Any]:
    cause = visits["cause"]
    patients = len(cause)
    by_cause = {c: int(np.sum(cause == i)) for i, c in enumerate(CAUSES)}
    minutes = {c: float(np.sum(visits["minutes"][cause == i])) for i, c in enumerate(CAUSES)}
    declaration = {c: int(np.sum(visits["declaration"][cause == i])) for i, c in enumerate(CAUSES)}
    affected = int(np.sum(cause >= 0))
    full = int(np.sum(visits["declaration"]))
    readers = visits["clinic"][visits["general_reader"].astype(bool)] if patients else np.array([])
    clinics_with_reader = {int(c) for c in np.unique(readers)}
    return {
        "patients": patients,
        "card_visits": int(np.sum(visits["card"])),
        "phone_visits": int(np.sum(visits["phone"])),
        "clinics_with_general_reader": len(clinics_with_reader),
        "affected": affected,
        "by_cause": by_cause,
        "staff_minutes": float(sum(minutes.values())),
        "staff_minutes_by_cause": minutes,
        "would_pay_full": full,
        "would_pay_full_by_cause": declaration,
        "charged_full": 0 if config.declaration_known else full,
        "national": national_of(config),
    }


def national_of(config: SimConfig) -> dict[str, Any]:
    """The country for a month from the config's rates (not the sample), with 95% intervals."""
    overrides = dict(config.overrides)
    if not config.exposure_checks:  # built by hand, not from a survey: its rates are the whole model
        overrides = {**config.rates, "F13": config.outage_day_rate}
    return national(config.survey, overrides=overrides,
                    card_share=config.card_share if config.card_share_given else None,
                    staff_minutes=dict(config.staff_minutes), phone=config.phone_given)


def simulate(config: SimConfig, on_day: Callable[[], None] | None = None) -> SimResult:
    """``on_day`` is called after each clinic-day (``clinics × days`` calls): the shell's progress bar."""
    counts = _patients_per_slot(config)
    parts = [
        _simulate_clinic(config, clinic, counts[clinic * config.days : (clinic + 1) * config.days], on_day)
        for clinic in range(config.clinics)
    ]
    visits = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return SimResult(config, visits, totals_of(config, visits))


# --- the report ----------------------------------------------------------------------------

METHODS = "docs/methods.md"


def cause_label(cause: str, lang: str = "both") -> str:
    from rehearsal.plots import label

    failure = FailureMode.by_id(cause).value
    return f"{cause}  {label(failure.name_ja, failure.name_en, lang)}"


def _plots(result: SimResult, out: Path, lang: str = "both") -> dict[str, str]:
    from rehearsal.plots import count_bars, label

    totals = result.totals
    names = [cause_label(c, lang) for c in CAUSES]
    sample = label(f"標本：患者 {totals['patients']:,} 人（seed {result.config.seed}）",
                   f"sample: {totals['patients']:,} patients (seed {result.config.seed})", lang)
    files: dict[str, str] = {}
    for key, title, xlabel, colour in (
        ("by_cause", label("原因別のトラブル（患者数）", "Patients affected by cause", lang),
         label("患者数", "patients", lang), "#c0392b"),
        ("staff_minutes_by_cause", label("原因別の職員の損失（分）", "Staff minutes lost by cause", lang),
         label("分", "minutes", lang), "#2c3e50"),
        ("would_pay_full_by_cause",
         label("申立書がなければ10割負担になる患者", "Patients who would pay 100% without the 申立書", lang),
         label("患者数", "patients", lang), "#d35400"),
    ):
        name = "affected_by_cause.png" if key == "by_cause" else f"{key}.png"
        count_bars([float(totals[key][c]) for c in CAUSES], names, title, xlabel, out / name, colour, sample)
        files[name.removesuffix(".png")] = name
    national_plot(totals["national"], out / "national_by_cause.png", lang)
    files["national_by_cause"] = "national_by_cause.png"
    return files


def write_report(result: SimResult, out: Path, lang: str = "both") -> dict[str, Path]:
    """Writes report.md, report.html, visits.csv, totals.json and the PNG plots into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    config, totals = result.config, result.totals
    with (out / "visits.csv").open("w", newline="", encoding="utf-8") as handle:
        rows = result.rows()
        writer = csv.DictWriter(
            handle, fieldnames=["clinic", "day", "minute", "method", "general_reader", "cause", "declaration",
                                "staff_minutes"]
        )
        writer.writeheader()
        writer.writerows(rows)
    cfg = {**asdict(config), "rates": dict(config.rates), "staff_minutes": dict(config.staff_minutes),
           "overrides": dict(config.overrides)}
    used = {k: {"value": v.value, "low": v.low, "high": v.high, "source": v.source}
            for k, v in assumptions.ASSUMPTIONS.items()}
    (out / "totals.json").write_text(
        json.dumps({"config": cfg, "totals": totals, "assumptions": used}, ensure_ascii=False, indent=2),
        encoding="utf-8")
    plots = _plots(result, out, lang)
    markdown = render_markdown(result, plots)
    (out / "report.md").write_text(markdown, encoding="utf-8")
    (out / "report.html").write_text(render_html(result, plots), encoding="utf-8")
    return {
        "markdown": out / "report.md",
        "html": out / "report.html",
        "csv": out / "visits.csv",
        "json": out / "totals.json",
        **{k: out / v for k, v in plots.items()},
    }


def span(value: dict[str, float]) -> str:
    """「平均（95%区間 下限–上限）」 for an estimate with its interval, to three significant figures."""
    return f"{sig3(value['mean'])} ({sig3(value['low'])}–{sig3(value['high'])})"


def national_lines(n: dict[str, Any]) -> str:
    """The national month in words, every figure with its interval (markdown)."""
    survey = SURVEYS[n["survey"]]
    return (
        f"全国の1か月（確認 {n['monthly_checks'] / 1e6:,.1f} "
        f"百万件、{FIGURES['monthly_checks'].source}）の期待値と"
        f"95%区間。率は{survey.label_ja}に当てはめたもので、"
        "上の標本を拡大したものではない。 / Expected visits in "
        f"one national month ({n['monthly_checks'] / 1e6:,.1f} "
        "M checks) with 95% intervals; rates fitted to the "
        f"{survey.label_en}, not the sample above scaled up.\n\n"
        f"- トラブルのあった受診 / affected visits: **{span(n['affected'])}**\n"
        f"- 職員の損失（時間）/ staff hours lost: **{span(n['staff_hours'])}**\n"
        f"- 申立書がなければ10割負担 / would pay 100% without the 申立書: **{span(n['would_pay_full'])}**\n"
        f"- うち申立書を使わない窓口で実際に10割 / of which charged 100% where the counter does not use it "
        f"(share of such counters from the ~{FIGURES['full_payment_cases'].value:,.0f} cases "
        f"{FIGURES['full_payment_cases'].base_text.ja}): **{span(n['charged_full'])}**\n"
    )


def _table(result: SimResult) -> list[tuple[str, str, int, float, int, str, str]]:
    t = result.totals
    return [
        (
            c,
            f"{FailureMode.by_id(c).value.name_ja} / {FailureMode.by_id(c).value.name_en}",
            t["by_cause"][c],
            t["staff_minutes_by_cause"][c],
            t["would_pay_full_by_cause"][c],
            span(t["national"]["by_cause"][c]),
            " / ".join(BASIS_LABELS[rate_basis(c, t["national"].get("overrides"))]),
        )
        for c in CAUSES
    ]


def render_markdown(result: SimResult, plots: Mapping[str, str]) -> str:
    c, t = result.config, result.totals
    buf = io.StringIO()
    w = buf.write
    w("# 診療所の一日 / A day at the clinic\n\n")
    w("## 標本 / The sample\n\n")
    w(f"- 患者 / patients: **{t['patients']:,}** ({c.clinics} clinic(s) × {c.days} day(s)), seed {c.seed}\n")
    w(f"- カードで確認 / checked by card: {t['card_visits']:,} (カード利用率 {c.card_share:.1%}"
      f"（確認件数に占める割合）/ card share {c.card_share:.1%} of checks)\n")
    w(f"- スマートフォンで確認した・しようとした患者 / checked or tried with a phone: {t['phone_visits']:,} "
      f"（マイナ保険証での受診の {c.share('phone_share'):.1%} がスマートフォンを出し、その "
      f"{c.share('phone_only_share'):.0%} はカードなし / {c.share('phone_share'):.1%} of マイナ保険証 visits "
      f"present a phone, {c.share('phone_only_share'):.0%} of those patients without the card; "
      "カードも持つ患者は汎用カードリーダーのない施設ではカードで受付 / those with the card use it where "
      "there is no 汎用 reader)\n")
    w(f"- 汎用カードリーダーのある施設 / clinics with a 汎用 reader: {t['clinics_with_general_reader']} / "
      f"{c.clinics}（施設が持つ確率 {c.share('general_reader_share'):.0%} / each clinic has one with "
      f"probability {c.share('general_reader_share'):.0%} of clinics）\n")
    w(
        f"- トラブルのあった患者 / patients affected: **{t['affected']:,}** "
        f"（患者の {t['affected'] / max(t['patients'], 1):.2%} / {t['affected'] / max(t['patients'], 1):.2%} "
        "of patients)\n"
    )
    w(
        f"- 職員の損失 / staff time lost: **{t['staff_minutes']:,.0f} min** "
        f"({t['staff_minutes'] / 60:,.1f} h)\n"
    )
    w(f"- 申立書がなければ10割負担 / would have paid 100% without the 申立書: **{t['would_pay_full']:,}**\n")
    if not c.declaration_known:
        w(
            f"- この設定では申立書を使わない窓口：実際に10割を請求 / charged 100% here: "
            f"**{t['charged_full']:,}**\n"
        )
    w("\n## 全国の1か月 / The national month\n\n")
    w(national_lines(t["national"]))
    w("\n| cause | failure | sample: affected | sample: staff min | sample: 100% w/o 申立書 "
      "| national / month: mean (95%) | 率の根拠 / rate from |\n|---|---|---:|---:|---:|---:|---|\n")
    for cause, name, affected, minutes, full, nat, basis in _table(result):
        w(f"| {cause} | {name} | {affected:,} | {minutes:,.0f} | {full:,} | {nat} | {basis} |\n")
    w("\n")
    for name in plots.values():
        w(f"![{name}]({name})\n\n")
    w("## 前提 / Assumptions\n\n")
    survey = SURVEYS[c.survey]
    w(f"- 率の出典 / rates from: {survey.label_ja} / {survey.label_en}; "
      f"{FIGURES[f'survey_{c.survey}_names'].source}. "
      "種類別の数字は「トラブルのあった施設」に占める割合で、"
      "全回答施設の割合に直してから当てはめた / the kinds are "
      "shares of the clinics with trouble, restated on the all-clinics base before fitting "
      "(`onshi calibrate --survey " + c.survey + "`).\n")
    w("- 中央値の施設のカード確認件数（調査期間）/ "
      f"card checks of the median surveyed clinic in the survey period: "
      f"{c.exposure_checks:,.0f}\n")
    w("- 標本で使った確認1件あたりの率 / per-visit rates used in the sample: "
      + ", ".join(f"{k} {v:.2e}" for k, v in sorted(c.rates.items(), key=lambda kv: int(kv[0][1:])))
      + "\n")
    if c.overrides:
        w("- 利用者が指定した率（全国推計でも固定）/ "
          f"rates set by hand (held fixed nationally): {dict(c.overrides)}\n")
    w(f"- 職員の時間（分、1件あたり）/ staff minutes per affected visit: {dict(c.staff_minutes)}\n\n")
    w(assumptions.markdown_table())
    w(f"\n方法の説明 / methods: `{METHODS}`\n")
    return buf.getvalue()


def markdown_to_html(text: str) -> str:
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark").enable("table").render(text))


def render_html(result: SimResult, plots: Mapping[str, str]) -> str:
    body = markdown_to_html(render_markdown(result, plots))
    return f"""<!doctype html><html lang="ja"><head><meta charset="utf-8">
<title>診療所の一日 / A day at the clinic</title>
<style>body{{font-family:system-ui,'IPAexGothic','Noto Sans CJK JP',sans-serif;max-width:1100px;
margin:2em auto;
padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em}}
img{{max-width:100%}}</style></head><body>
{body}</body></html>"""


def with_rates(config: SimConfig, **rates: float) -> SimConfig:
    """A copy with some per-visit rates replaced (tests, what-if runs)."""
    return replace(config, rates={**config.rates, **rates})
