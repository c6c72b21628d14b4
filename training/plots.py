"""Validation plots as PNG files: ROC, calibration with its band, decision curve, effects.

Figures are drawn on matplotlib `Figure` objects directly, never through pyplot, so nothing
here chooses a backend or keeps global state: PNG files only, on servers and CI alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

_DPI = 110


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=_DPI)
    return path


def roc_plot(y: npt.ArrayLike, p: npt.ArrayLike, auroc_text: str, path: Path) -> Path:
    false_positive, true_positive, _ = roc_curve(y, p)
    figure = Figure(figsize=(4.6, 4.4))
    axes = figure.subplots()
    axes.plot(false_positive, true_positive, color="#1f5fa8", label=auroc_text)
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="no discrimination")
    axes.set(xlabel="1 - specificity", ylabel="sensitivity", title="ROC: SRI-4 at week 48")
    axes.legend(loc="lower right", fontsize=8)
    return _save(figure, path)


def calibration_plot(curve: pd.DataFrame, p: npt.ArrayLike, summary: str, path: Path) -> Path:
    """``curve`` holds predicted, observed, lower, upper (a smoothed curve with its band)."""
    figure = Figure(figsize=(4.6, 5.2))
    axes, histogram = figure.subplots(2, 1, gridspec_kw={"height_ratios": [4, 1]}, sharex=True)
    axes.fill_between(
        curve["predicted"],
        curve["lower"],
        curve["upper"],
        color="#9ec1e6",
        alpha=0.6,
        label="95 % band",
    )
    axes.plot(curve["predicted"], curve["observed"], color="#1f5fa8", label="smoothed calibration")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="ideal")
    axes.set(ylabel="observed proportion responding", xlim=(0, 1), ylim=(0, 1), title=summary)
    axes.legend(loc="upper left", fontsize=8)
    histogram.hist(np.asarray(p, dtype=float), bins=40, range=(0, 1), color="grey")
    histogram.set(xlabel="predicted probability of SRI-4 response", yticks=[])
    return _save(figure, path)


def decision_curve_plot(curve: pd.DataFrame, path: Path) -> Path:
    """``curve`` holds threshold, model, treat_all, treat_none (net benefit)."""
    figure = Figure(figsize=(5.2, 4.2))
    axes = figure.subplots()
    axes.plot(curve["threshold"], curve["model"], color="#1f5fa8", label="model")
    axes.plot(curve["threshold"], curve["treat_all"], color="#c0504d", label="treat all")
    axes.plot(curve["threshold"], curve["treat_none"], color="black", label="treat none")
    floor = min(-0.05, float(curve[["model", "treat_none"]].min().min()) - 0.02)
    axes.set(
        xlabel="threshold probability of response",
        ylabel="net benefit",
        ylim=(floor, max(0.05, float(curve["treat_all"].max()) + 0.05)),
        title="Decision curve",
    )
    axes.legend(fontsize=8)
    return _save(figure, path)


def effects_plot(effects: pd.DataFrame, xlabel: str, path: Path) -> Path:
    """``effects`` holds predictor and effect (and optionally lower, upper), one row each."""
    ordered = effects.sort_values("effect")
    figure = Figure(figsize=(5.6, 0.35 * len(ordered) + 1.2))
    axes = figure.subplots()
    positions = np.arange(len(ordered))
    if {"lower", "upper"} <= set(ordered.columns):
        errors = np.vstack(
            [ordered["effect"] - ordered["lower"], ordered["upper"] - ordered["effect"]]
        )
        axes.errorbar(ordered["effect"], positions, xerr=errors, fmt="o", color="#1f5fa8")
    else:
        axes.hlines(positions, 1.0, ordered["effect"], color="#1f5fa8")
        axes.plot(ordered["effect"], positions, "o", color="#1f5fa8")
    axes.axvline(1.0, color="grey", linestyle=":")
    axes.set_xscale("log")
    axes.set_yticks(positions, ordered["predictor"] + "  (" + ordered["comparison"] + ")")
    axes.set(xlabel=xlabel, title="Predictor effects")
    return _save(figure, path)
