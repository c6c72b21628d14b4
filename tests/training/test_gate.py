"""The promotion gate: each rule on both sides, and net benefit checked over a window."""

from __future__ import annotations

import pandas as pd
import pytest

from training.config import load_config
from training.gate import evaluate_gate, net_benefit_check

CONFIG = load_config()
GOOD = {"auroc": 0.72, "calibration_slope": 1.0, "calibration_intercept": 0.0}


def curve(model: list[float], treat_all: list[float]) -> pd.DataFrame:
    thresholds = [0.3, 0.4, 0.5, 0.6]
    return pd.DataFrame(
        {"threshold": thresholds, "model": model, "treat_all": treat_all, "treat_none": 0.0}
    )


USEFUL = curve([0.30, 0.22, 0.12, 0.05], [0.29, 0.17, 0.0, -0.25])


def test_good_model_passes() -> None:
    result = evaluate_gate(GOOD, USEFUL, CONFIG, sample_size_met=True, sample_size_override=False)
    assert result.passed
    assert result.reasons == []


@pytest.mark.parametrize(
    ("metric", "inside", "outside", "reason"),
    [
        ("auroc", 0.60, 0.599, "AUROC 0.599 below 0.6"),
        ("calibration_slope", 0.80, 0.79, "calibration slope 0.790 outside 0.8-1.2"),
        ("calibration_slope", 1.20, 1.21, "calibration slope 1.210 outside 0.8-1.2"),
        ("calibration_intercept", -0.2, -0.21, "calibration intercept -0.210 beyond +/-0.2"),
    ],
)
def test_each_rule_on_both_sides(metric: str, inside: float, outside: float, reason: str) -> None:
    ok = evaluate_gate(
        {**GOOD, metric: inside}, USEFUL, CONFIG, sample_size_met=True, sample_size_override=False
    )
    assert ok.passed
    failed = evaluate_gate(
        {**GOOD, metric: outside}, USEFUL, CONFIG, sample_size_met=True, sample_size_override=False
    )
    assert failed.reasons == [reason]


def test_high_auroc_alone_does_not_pass() -> None:
    result = evaluate_gate(
        {"auroc": 0.95, "calibration_slope": 0.5, "calibration_intercept": 0.0},
        USEFUL,
        CONFIG,
        sample_size_met=True,
        sample_size_override=False,
    )
    assert not result.passed


def test_net_benefit_must_be_positive_at_every_threshold() -> None:
    # At 0.6 the model's net benefit is 0: treating by the model helps nobody there.
    reasons = net_benefit_check(curve([0.30, 0.22, 0.12, 0.0], [0.29, 0.17, 0.0, -0.25]), 0.3, 0.6)
    assert reasons == ["net benefit not positive at threshold(s) 0.6"]


def test_net_benefit_must_beat_treat_all_on_average() -> None:
    # Mean of model - max(treat_all, 0): (0.01 - 0.03 - 0.01 + 0.01) / 4 = -0.005.
    reasons = net_benefit_check(curve([0.30, 0.14, 0.01, 0.01], [0.29, 0.17, 0.02, 0.0]), 0.3, 0.6)
    assert reasons == [
        "net benefit not above treat-all on average over 0.3-0.6 (mean difference -0.0050)"
    ]


def test_sample_size_below_minimum_fails_unless_overridden() -> None:
    below = evaluate_gate(GOOD, USEFUL, CONFIG, sample_size_met=False, sample_size_override=False)
    assert below.reasons == ["development cohort below the Riley minimum sample size"]
    assert evaluate_gate(
        GOOD, USEFUL, CONFIG, sample_size_met=False, sample_size_override=True
    ).passed


def test_missing_metric_fails() -> None:
    result = evaluate_gate({}, USEFUL, CONFIG, sample_size_met=True, sample_size_override=False)
    assert len(result.reasons) == 3
