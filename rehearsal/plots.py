"""Plots an audience can read: a Japanese font that travels with the package, integer axes for counts,
intervals as error bars, Japanese first with English beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

LANGS = ("both", "ja", "en")


def _pyplot() -> Any:
    """matplotlib with IPAexGothic from matplotlib-fontja (bundled: no system font needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager
    from matplotlib_fontja import get_font_ttf_path

    path = get_font_ttf_path()
    font_manager.fontManager.addfont(path)
    plt.rcParams["font.family"] = font_manager.FontProperties(fname=path).get_name()
    plt.rcParams["axes.unicode_minus"] = False
    return plt


def font_name() -> str:
    """The font the plots use (tests check it is a Japanese one)."""
    plt = _pyplot()
    return str(plt.rcParams["font.family"][0])


def label(ja: str, en: str, lang: str = "both") -> str:
    """Japanese first, English beside it (or one of them)."""
    if lang == "ja":
        return ja
    if lang == "en":
        return en
    return f"{ja} / {en}"


def _thousands(plt: Any, ax: Any, axis: str = "x", integer: bool = True) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    target = ax.xaxis if axis == "x" else ax.yaxis
    if integer:
        target.set_major_locator(MaxNLocator(integer=True))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))


def count_bars(
    values: list[float], names: list[str], title: str, xlabel: str, path: Path, colour: str, note: str = ""
) -> Path:
    """Horizontal bars of counts (the sample: whole patients, an integer axis)."""
    plt = _pyplot()
    fig = count_figure(values, names, title, xlabel, colour, note)
    fig.savefig(path)
    plt.close(fig)
    return path


def count_figure(
    values: list[float], names: list[str], title: str, xlabel: str, colour: str, note: str = ""
) -> Any:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 6.2), dpi=110)
    positions = list(range(len(names)))[::-1]  # the first cause at the top
    ax.barh(positions, values, color=colour)
    ax.set_yticks(positions, names, fontsize=9)
    ax.set_title(_wrap(title), fontsize=12)
    ax.set_xlabel(xlabel)
    top = max(values) if any(values) else 1
    for y, v in zip(positions, values, strict=True):
        if v:
            ax.annotate(f" {v:,.0f}", (v, y), va="center", fontsize=8)
    ax.set_xlim(0, max(top * 1.15, 1))
    _thousands(plt, ax)
    if note:
        fig.text(0.01, 0.01, note, fontsize=8, color="#555")
    fig.tight_layout(rect=(0, 0.03 if note else 0, 1, 1))
    return fig


def range_bars(
    rows: list[tuple[str, float, float, float]],
    title: str,
    xlabel: str,
    path: Path | BinaryIO,
    colour: str | list[str],
    note: str = "",
    legend: dict[str, str] | None = None,
) -> Path | BinaryIO:
    """Estimates with 95% intervals as error bars, log scale (the causes span five orders of magnitude)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(10, 7), dpi=110)
    positions = np.arange(len(rows))[::-1]
    means = np.array([r[1] for r in rows])
    lows = np.array([r[2] for r in rows])
    highs = np.array([r[3] for r in rows])
    colours = colour if isinstance(colour, list) else [colour] * len(rows)
    for y, m, lo, hi, c in zip(positions, means, lows, highs, colours, strict=True):
        ax.errorbar([m], [y], xerr=[[m - lo], [hi - m]], fmt="o", color=c, ecolor=c, elinewidth=2, capsize=4)
    if legend:
        from matplotlib.lines import Line2D

        fig.legend(
            [Line2D([0], [0], color=c, marker="o", lw=2) for c in legend],
            list(legend.values()),
            loc="lower center",
            bbox_to_anchor=(0.5, 0.045),
            ncols=len(legend),
            fontsize=8,
            frameon=False,
        )
    ax.set_yticks(positions, [r[0] for r in rows], fontsize=9)
    ax.set_xscale("log")
    # Right-aligned: long cause labels push the axes right, and a centred title would run off the figure.
    ax.set_title(_wrap(title), fontsize=12, loc="right")
    ax.set_xlabel(xlabel)
    for y, m, hi in zip(positions, means, highs, strict=True):
        ax.annotate(f"  {_short(m)}", (hi, y), va="center", fontsize=8)
    from matplotlib.ticker import FuncFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _short(v)))
    ax.set_xlim(max(lows.min() / 2, 1), highs.max() * 6)
    ax.grid(axis="x", which="major", alpha=0.3)
    if note:
        fig.text(
            0.01, 0.01, note.replace(" / ", "\n", 1) if len(note) > 90 else note, fontsize=8, color="#555"
        )
    fig.tight_layout(rect=(0, (0.06 if note else 0) + (0.035 if legend else 0), 1, 1))
    fig.savefig(path, format=None if isinstance(path, Path) else "svg")
    plt.close(fig)
    return path


def _wrap(title: str) -> str:
    """Japanese on the first line, English on the second, when both do not fit on one."""
    return title.replace(" / ", "\n", 1) if len(title) > 60 else title


def _short(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:,.1f}M"
    if value >= 1e3:
        return f"{value / 1e3:,.0f}k"
    return f"{value:,.0f}"


def calibration_plot(result: dict[str, Any], path: Path | BinaryIO, lang: str = "both") -> Path | BinaryIO:
    """Survey and model side by side per kind on the all-clinics base; the model's 95% range as error bars."""
    plt = _pyplot()
    rows = result["rows"]
    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=110)
    x = np.arange(len(rows))
    survey = np.array([r["survey_share_all"] for r in rows]) * 100
    model = np.array([r["model_share_all"] for r in rows]) * 100
    low = np.array([r["model_low"] for r in rows]) * 100
    high = np.array([r["model_high"] for r in rows]) * 100
    ax.bar(x - 0.2, survey, 0.4, color="#7f8c8d", label=label("調査", "survey", lang))
    ax.bar(
        x + 0.2,
        model,
        0.4,
        color="#2980b9",
        yerr=[model - low, high - model],
        capsize=4,
        label=label("モデル（95%範囲）", "model (95% range)", lang),
    )
    for xi, s, m, h in zip(x, survey, model, high, strict=True):
        ax.annotate(f"{s:.1f}", (xi - 0.2, s), ha="center", va="bottom", fontsize=8)
        ax.annotate(
            f"{m:.1f}",
            (xi + 0.2, h),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 2),
            textcoords="offset points",
        )
    ax.set_xticks(
        x, [label(r["label_ja"], r["label_en"], lang).replace(" / ", "\n") for r in rows], fontsize=9
    )
    ax.set_ylabel(label("全回答施設に占める割合（%）", "% of all responding clinics", lang))
    ax.set_ylim(0, 115)
    ax.set_yticks(range(0, 101, 20))
    ax.set_title(
        _wrap(label(f"調査との照合：{result['label_ja']}", f"Calibration: {result['label_en']}", lang)),
        fontsize=11,
    )
    ax.legend(loc="upper left", ncols=2)
    fig.text(
        0.01,
        0.01,
        label(
            "基数：全回答施設（種類別＝トラブルのあった施設の割合×トラブルがあった施設の割合）",
            "base: all responding clinics (kind × share with trouble)",
            lang,
        ),
        fontsize=8,
        color="#555",
    )
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, format=None if isinstance(path, Path) else "svg")
    plt.close(fig)
    return path
