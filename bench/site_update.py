"""Benchmark: a model taken to a shifted site and updated on 200 local patients.

A spline logistic model (extended predictors) is developed on 2,000 simulated patients of the
default cohort. A shifted site (`simulator.site_shift`: response rate 35 %, the strongest
predictors' effects scaled by 0.7) provides 200 local patients, on which `training.updating`
chooses and fits the update, and 20,000 held-out patients of the same site. The parent's and the
updated model's calibration are measured against each held-out patient's true probability (the
simulator writes it): calibration intercept and slope from a binomial GLM of the true probability
on the model's log-odds (offset for the intercept), and the ICI as mean |p - true p|. Repeated
for several draws of the 200 local patients. Figures are printed, not asserted.

    .venv/bin/python -m bench.site_update [--draws 10]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import logit

from features.cohort import assemble
from features.io import write_table
from simulator import simulate
from simulator.site_shift import SiteShift, shifted_config
from training.candidates import build_pipeline
from training.config import Candidate, load_config
from training.data import ModellingCohort, load_cohort
from training.updating import closed_test, updated_pipeline

SHIFT = SiteShift(response_rate=0.35, effect_scale=0.7)
FEATURE_SET = "extended"


def _cohort(
    folder: Path, n: int, seed: int, shift: SiteShift | None
) -> tuple[ModellingCohort, np.ndarray]:
    raw = simulate(n, seed, config=shifted_config(shift) if shift else None)
    table = assemble(raw.patients, raw.labs, raw.assessments).table
    cohort = load_cohort(write_table(table, folder / f"{n}-{seed}.parquet"), eligible_only=True)
    truth = raw.truth.set_index("patient_id")["true_response_probability"]
    return cohort, truth.loc[cohort.frame["patient_id"].astype(str)].to_numpy(dtype=float)


def against_truth(p: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Calibration intercept, slope and ICI of predictions p against the true probabilities."""
    lp = logit(np.clip(p, 1e-9, 1 - 1e-9))
    family = sm.families.Binomial()
    intercept = sm.GLM(truth, np.ones((len(lp), 1)), family=family, offset=lp).fit().params[0]
    slope = sm.GLM(truth, sm.add_constant(lp), family=family).fit().params[1]
    return {
        "intercept": float(intercept),
        "slope": float(slope),
        "ici": float(np.mean(abs(p - truth))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=10, help="Draws of the 200 local patients.")
    parser.add_argument("--local", type=int, default=200, help="Local patients per draw.")
    args = parser.parse_args()
    config = load_config()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        development, _ = _cohort(work, 2_000, 7, None)
        candidate = Candidate(name="logistic", kind="logistic_spline", feature_set=FEATURE_SET)
        parent = build_pipeline(candidate, config.seed).set_params(classifier__C=0.1)
        parent.fit(development.inputs(FEATURE_SET), development.y)
        held_out, truth = _cohort(work, 20_000, 1_000, SHIFT)
        X_held = held_out.inputs(FEATURE_SET)
        parent_figures = against_truth(parent.predict_proba(X_held)[:, 1], truth)
        rows = []
        for draw in range(args.draws):
            local, _ = _cohort(work, args.local, 2_000 + draw, SHIFT)
            result = closed_test(parent, local.inputs(FEATURE_SET), local.y, config)
            updated = updated_pipeline(parent, result.chosen_fit)
            figures = against_truth(updated.predict_proba(X_held)[:, 1], truth)
            rows.append({"draw": draw, "n": result.n, "method": result.chosen, **figures})
    table = pd.DataFrame(rows)
    print(
        f"site: response rate {SHIFT.response_rate}, effect scale {SHIFT.effect_scale}; "
        f"held-out {len(truth)} patients, true response rate {truth.mean():.3f}"
    )
    print(
        "parent: intercept {intercept:.3f}, slope {slope:.3f}, ICI {ici:.3f}".format(
            **parent_figures
        )
    )
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(
        "updated, mean over draws: intercept {:.3f}, slope {:.3f}, ICI {:.3f}; methods {}".format(
            table["intercept"].mean(),
            table["slope"].mean(),
            table["ici"].mean(),
            table["method"].value_counts().sort_index().to_dict(),
        )
    )


if __name__ == "__main__":
    main()
