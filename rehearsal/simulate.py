"""`onshi simulate-day`: N patients through K clinics, with trouble rates derived from the surveys.

Pure and deterministic: each clinic draws from ``numpy.random.default_rng([seed, clinic])``, so a
seed gives the same visits whatever the order or the progress bar (the shell's ``on_day`` callback).
No server is involved; the model is the catalogue's fallback logic applied to random visits.

The model (every number is a parameter; the defaults and how they are derived are in the report):

* A visit is checked by card with probability ``card_share``, otherwise by number (資格確認書 …).
* The clinic surveys give the share *s* of clinics that met a trouble at least once. With *v* card
  checks per clinic in the period the survey asks about, a per-visit rate *p* gives
  ``s = 1 − (1 − p)^v``, so ``p = 1 − (1 − s)^(1/v)``. "Invalid" (F1/F10/F12) and "reader errors"
  (F6/F7/F8) are split between their causes by fixed shares; rarer causes have assumed rates.
* A central-system outage (F13) strikes a clinic-day with probability ``outage_day_rate`` and lasts
  ``outage_minutes``; every patient arriving in it is affected, whatever the check.
* Each affected visit costs staff minutes (per cause). It needs the 被保険者資格申立書 when nothing
  else confirms eligibility: always for F1 (the new qualification is not registered, so the number
  check fails too) and F13; for F2, F3, F6, F9, F10, F12, F15 when the patient carries no document
  to check by number (``carry_documents``). Those patients would have paid 100% without it.
* The national picture scales per-visit rates to the published monthly volume of checks.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from onshi.catalogue import FIGURES, FailureMode

WORK_MINUTES = 8 * 60  # a clinic's reception hours in a day
CAUSES = tuple(mode.id for mode in FailureMode)  # F1 … F15

# Which visits each cause can hit: card checks, number checks, or both.
CARD_ONLY = frozenset({"F2", "F3", "F4", "F6", "F7", "F8", "F9", "F12", "F15"})
NUMBER_ONLY = frozenset({"F14"})
# Causes where a number check from the patient's documents settles it (else the 申立書).
NEEDS_DOCUMENTS = frozenset({"F2", "F3", "F6", "F9", "F10", "F12", "F15"})
ALWAYS_DECLARATION = frozenset({"F1", "F13"})

# Staff minutes lost per affected visit (assumption: explaining, retrying, a number check, a form).
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
}
# How the survey's grouped answers split between causes (assumption).
INVALID_SPLIT = {"F1": 0.45, "F10": 0.35, "F12": 0.20}
READER_SPLIT = {"F6": 0.6, "F7": 0.3, "F8": 0.1}
# Per-visit rates of causes the surveys do not measure (assumption, order of magnitude).
ASSUMED_RATES = {"F2": 2e-5, "F4": 5e-4, "F9": 3e-3, "F11": 5e-4, "F14": 3e-4, "F15": 1e-4}


def rate_from_clinic_share(share: float, visits: float) -> float:
    """Per-visit probability *p* such that a clinic with ``visits`` checks meets it at least once
    with probability ``share``: ``1 − (1 − share)^(1/visits)``."""
    if not 0 <= share < 1 or visits <= 0:
        raise ValueError("share must be in [0, 1) and visits positive")
    return float(1 - (1 - share) ** (1 / visits))


@dataclass(frozen=True)
class SimConfig:
    patients: int = 1000
    clinics: int = 1
    days: int = 1
    seed: int = 1
    card_share: float = 0.39
    carry_documents: float = 0.7
    rates: Mapping[str, float] = field(default_factory=dict)  # per visit, F1…F15 except F13
    outage_day_rate: float = 0.01  # F13: chance a clinic-day has an outage
    outage_minutes: float = 60
    staff_minutes: Mapping[str, float] = field(default_factory=lambda: dict(STAFF_MINUTES))
    monthly_checks: float = FIGURES["monthly_checks"].value
    survey: str = "2025"
    exposure_checks: float = 0.0  # card checks per clinic in the survey period (for the derivation)
    declaration_known: bool = True

    def __post_init__(self) -> None:
        if self.patients < 0 or self.clinics < 1 or self.days < 1:
            raise ValueError("patients ≥ 0, clinics ≥ 1, days ≥ 1")
        for name in ("card_share", "carry_documents", "outage_day_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be between 0 and 1")
        unknown = set(self.rates) - set(CAUSES)
        if unknown:
            raise ValueError(f"unknown causes {sorted(unknown)}; use F1…F15")
        for key in ("card", "number"):
            if sum(self.rates.get(c, 0) for c in self.causes_for(key)) > 1:
                raise ValueError(f"the {key}-check rates add up to more than 1")

    @staticmethod
    def causes_for(kind: str) -> tuple[str, ...]:
        excluded = NUMBER_ONLY if kind == "card" else CARD_ONLY
        return tuple(c for c in CAUSES if c != "F13" and c not in excluded)

    @classmethod
    def from_survey(
        cls,
        survey: str = "2025",
        *,
        overrides: Mapping[str, float] | None = None,
        card_share: float | None = None,
        patients_per_day: float = 40,
        days_per_period: float = 20,
        **options: Any,
    ) -> SimConfig:
        """Per-visit rates from a clinic survey (2024 or 2025), then ``overrides`` (F13 = outage per
        clinic-day). Exposure: ``patients_per_day × days_per_period × card_share`` card checks."""
        share_key = "card_share_2025_11" if survey == "2025" else "card_share_2025_05"
        share = FIGURES[share_key].value if card_share is None else card_share
        exposure = patients_per_day * days_per_period * share

        def derived(name: str) -> float:
            return rate_from_clinic_share(FIGURES[f"survey_{survey}_{name}"].value, exposure)

        rates: dict[str, float] = dict(ASSUMED_RATES)
        rates["F5"] = derived("names")
        rates["F3"] = derived("expired")
        for cause, part in INVALID_SPLIT.items():
            rates[cause] = derived("invalid") * part
        for cause, part in READER_SPLIT.items():
            rates[cause] = derived("reader") * part
        overrides = dict(overrides or {})
        outage = overrides.pop("F13", None)
        rates.update(overrides)
        extra = {"outage_day_rate": outage} if outage is not None else {}
        return cls(
            rates=rates, card_share=share, survey=survey, exposure_checks=exposure, **{**extra, **options}
        )


@dataclass
class SimResult:
    config: SimConfig
    visits: dict[str, np.ndarray]  # columns: clinic, day, minute, card, cause, declaration, minutes
    totals: dict[str, Any]

    def rows(self) -> list[dict[str, Any]]:
        v = self.visits
        return [
            {
                "clinic": int(v["clinic"][i]),
                "day": int(v["day"][i]),
                "minute": round(float(v["minute"][i]), 1),
                "method": "card" if v["card"][i] else "number",
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
    out: dict[str, list[np.ndarray]] = {
        k: [] for k in ("clinic", "day", "minute", "card", "cause", "declaration", "minutes")
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
        if outage:
            down = (minute >= outage_start) & (minute < outage_start + config.outage_minutes)
            cause[down] = CAUSES.index("F13")
        hit = cause >= 0
        safe = np.where(hit, cause, 0)
        declaration = hit & (always[safe] | (needs_docs[safe] & ~documents))
        out["clinic"].append(np.full(n, clinic))
        out["day"].append(np.full(n, day))
        out["minute"].append(minute)
        out["card"].append(card)
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
    scale = config.monthly_checks / patients if patients else 0.0
    return {
        "patients": patients,
        "card_visits": int(np.sum(visits["card"])),
        "affected": affected,
        "by_cause": by_cause,
        "staff_minutes": float(sum(minutes.values())),
        "staff_minutes_by_cause": minutes,
        "would_pay_full": full,
        "would_pay_full_by_cause": declaration,
        "charged_full": 0 if config.declaration_known else full,
        "national": {
            "monthly_checks": config.monthly_checks,
            "affected": affected * scale,
            "by_cause": {c: n * scale for c, n in by_cause.items()},
            "staff_hours": sum(minutes.values()) * scale / 60,
            "would_pay_full": full * scale,
        },
    }


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


def _plots(result: SimResult, out: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager
    from matplotlib.ticker import FuncFormatter

    japanese = [
        f.name
        for f in font_manager.fontManager.ttflist
        if any(k in f.name for k in ("Noto Sans CJK", "IPA", "Takao", "VL Gothic"))
    ]
    if japanese:
        plt.rcParams["font.family"] = japanese[0]
    totals = result.totals
    labels = [f"{c}" for c in CAUSES]
    names = [FailureMode.by_id(c).value.name_en for c in CAUSES]
    files: dict[str, str] = {}

    def bar(values: list[float], title: str, xlabel: str, name: str, colour: str) -> None:
        fig, ax = plt.subplots(figsize=(10, 6), dpi=110)
        positions = list(range(len(labels)))[::-1]  # F1 at the top
        ax.barh(positions, values, color=colour)
        ax.set_yticks(positions, [f"{a}  {b}" for a, b in zip(labels, names, strict=True)], fontsize=9)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        top = max(values) if any(values) else 1
        for y, v in zip(positions, values, strict=True):
            if v:
                ax.annotate(f" {v:,.0f}", (v, y), va="center", fontsize=8)
        ax.set_xlim(0, top * 1.15)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
        fig.tight_layout()
        fig.savefig(out / name)
        plt.close(fig)
        files[name.removesuffix(".png")] = name

    bar(
        [totals["by_cause"][c] for c in CAUSES],
        "Patients affected by cause",
        "patients",
        "affected_by_cause.png",
        "#c0392b",
    )
    bar(
        [totals["staff_minutes_by_cause"][c] for c in CAUSES],
        "Staff minutes lost by cause",
        "minutes",
        "staff_minutes_by_cause.png",
        "#2c3e50",
    )
    bar(
        [totals["would_pay_full_by_cause"][c] for c in CAUSES],
        "Patients who would have paid 100% without the declaration (申立書)",
        "patients",
        "would_pay_full_by_cause.png",
        "#d35400",
    )
    national = totals["national"]
    bar([national["by_cause"][c] for c in CAUSES],
        f"National picture: affected visits per month at {national['monthly_checks'] / 1e6:,.1f} M checks",
        "visits / month", "national_by_cause.png", "#8e44ad")
    return files


def write_report(result: SimResult, out: Path) -> dict[str, Path]:
    """Writes report.md, report.html, visits.csv, totals.json and the PNG plots into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    config, totals = result.config, result.totals
    with (out / "visits.csv").open("w", newline="", encoding="utf-8") as handle:
        rows = result.rows()
        writer = csv.DictWriter(
            handle, fieldnames=["clinic", "day", "minute", "method", "cause", "declaration", "staff_minutes"]
        )
        writer.writeheader()
        writer.writerows(rows)
    cfg = {**asdict(config), "rates": dict(config.rates), "staff_minutes": dict(config.staff_minutes)}
    (out / "totals.json").write_text(
        json.dumps({"config": cfg, "totals": totals}, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    plots = _plots(result, out)
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


def _table(result: SimResult) -> list[tuple[str, str, int, float, int, float]]:
    t = result.totals
    return [
        (
            c,
            f"{FailureMode.by_id(c).value.name_ja} / {FailureMode.by_id(c).value.name_en}",
            t["by_cause"][c],
            t["staff_minutes_by_cause"][c],
            t["would_pay_full_by_cause"][c],
            t["national"]["by_cause"][c],
        )
        for c in CAUSES
    ]


def render_markdown(result: SimResult, plots: Mapping[str, str]) -> str:
    c, t = result.config, result.totals
    buf = io.StringIO()
    w = buf.write
    w("# 診療所の一日 / A day at the clinic\n\n")
    w(f"- 患者 / patients: **{t['patients']:,}** ({c.clinics} clinic(s) × {c.days} day(s)), seed {c.seed}\n")
    w(f"- カードで確認 / checked by card: {t['card_visits']:,} ({c.card_share:.1%} assumed)\n")
    w(
        f"- トラブルのあった患者 / patients affected: **{t['affected']:,}** "
        f"({t['affected'] / max(t['patients'], 1):.2%})\n"
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
    n = t["national"]
    w("\n## 全国規模に換算 / The national picture\n\n")
    w(
        f"At {n['monthly_checks'] / 1e6:,.1f} million checks a month ({FIGURES['monthly_checks'].source}): "
        f"**{n['affected'] / 1e6:,.2f} M** affected visits, **{n['staff_hours'] / 1e3:,.0f} k** staff hours, "
        f"**{n['would_pay_full']:,.0f}** visits a month that only the 申立書 keeps from paying 100% "
        f"(reported: about {FIGURES['full_payment_cases'].value:,.0f} patients made to pay 100% "
        "since Aug 2025, "
        f"{FIGURES['full_payment_cases'].source}).\n\n"
    )
    w(
        "| cause | failure | affected | staff min | 100% w/o 申立書 | national / month |\n"
        "|---|---|---:|---:|---:|---:|\n"
    )
    for cause, name, affected, minutes, full, national in _table(result):
        w(f"| {cause} | {name} | {affected:,} | {minutes:,.0f} | {full:,} | {national:,.0f} |\n")
    w("\n")
    for name in plots.values():
        w(f"![{name}]({name})\n\n")
    w("## 前提 / Assumptions\n\n")
    w(
        f"- Rates derive from the {c.survey} clinic survey ({FIGURES[f'survey_{c.survey}_names'].source}): "
        f"p = 1 − (1 − s)^(1/v) with v = {c.exposure_checks:,.0f} card checks per clinic in the period "
        "(40 patients a day × 20 days × card share).\n"
    )
    w(
        f"- 'Invalid' splits {INVALID_SPLIT}; 'reader errors' split {READER_SPLIT}; "
        f"assumed rates {ASSUMED_RATES}.\n"
    )
    w(f"- Outage (F13): {c.outage_day_rate:.2%} of clinic-days, {c.outage_minutes:.0f} minutes.\n")
    w(f"- Patients carrying a document to check by number: {c.carry_documents:.0%}.\n")
    w(f"- Staff minutes per affected visit: {dict(c.staff_minutes)}.\n")
    w(
        "- Per-visit rates used: "
        + ", ".join(f"{k} {v:.2e}" for k, v in sorted(c.rates.items(), key=lambda kv: int(kv[0][1:])))
        + "\n"
    )
    return buf.getvalue()


def render_html(result: SimResult, plots: Mapping[str, str]) -> str:
    t = result.totals
    rows = "".join(
        f"<tr><td>{c}</td><td>{html.escape(name)}</td><td>{a:,}</td><td>{m:,.0f}</td><td>{f:,}</td>"
        f"<td>{n:,.0f}</td></tr>"
        for c, name, a, m, f, n in _table(result)
    )
    images = "".join(
        f'<figure><img src="{html.escape(p)}" alt="{html.escape(p)}"></figure>' for p in plots.values()
    )
    return f"""<!doctype html><html lang="ja"><head><meta charset="utf-8">
<title>診療所の一日 / A day at the clinic</title>
<style>body{{font-family:system-ui,'Noto Sans CJK JP',sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}
td:nth-child(2){{text-align:left}}img{{max-width:100%}}.big{{font-size:1.4em}}</style></head><body>
<h1>診療所の一日 / A day at the clinic</h1>
<p class="big">患者 {t["patients"]:,} 人のうち {t["affected"]:,} 人にトラブル。
職員の損失 {t["staff_minutes"]:,.0f} 分。
申立書がなければ10割負担：{t["would_pay_full"]:,} 人。<br>
{t["affected"]:,} of {t["patients"]:,} patients affected; {t["staff_minutes"]:,.0f} staff minutes lost;
{t["would_pay_full"]:,} would have paid 100% without the 申立書.</p>
<table><tr><th>cause</th><th>failure</th><th>affected</th><th>staff min</th><th>100% w/o 申立書</th>
<th>national / month</th></tr>{rows}</table>{images}
<pre>{html.escape(render_markdown(result, {}).split("## 前提 / Assumptions")[1])}</pre></body></html>"""


def with_rates(config: SimConfig, **rates: float) -> SimConfig:
    """A copy with some per-visit rates replaced (tests, what-if runs)."""
    return replace(config, rates={**config.rates, **rates})
