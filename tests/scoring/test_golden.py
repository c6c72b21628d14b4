"""Golden predictions: a handful of patients, their probability and contributions, kept in the
repository, so that any change of MRBS's numbers is seen.

Two pipelines of the families MRBS trains (spline logistic regression and XGBoost on the
extended predictors) are fitted with fixed hyperparameters on the session's simulated
development cohort (1,800 patients, seed 11). Six of its patients, one with every optional
predictor left out, are scored and compared with ``golden.json`` to `TOLERANCE`. A change that
is meant to move the numbers regenerates the file deliberately:

    .venv/bin/python -m tests.scoring.test_golden
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import pytest

from features.columns import from_records
from features.record import REQUIRED
from infra.store import ModelIdentity
from scoring.scorer import Scorer
from tests.conftest import build_baseline
from tests.scoring.conftest import fit
from training.data import ModellingCohort, load_cohort

GOLDEN: Final = Path(__file__).with_name("golden.json")
#: Largest difference allowed from the stored numbers (probability and log-odds).
TOLERANCE: Final = 1e-9
FAMILIES: Final = ("logistic_spline", "xgboost")
PATIENTS: Final = (0, 1, 2, 100, 500)


def _records(cohort: ModellingCohort, scorer: Scorer) -> list[dict[str, Any]]:
    """The golden patients' record fields (None: missing), and the first of them again with
    every optional predictor left out."""
    frame = cohort.inputs(scorer.feature_set).iloc[list(PATIENTS)].astype(object)
    records = [
        {str(k): (None if pd.isna(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]
    records.append({k: (v if k in REQUIRED else None) for k, v in records[0].items()})
    return records


def answers(cohort: ModellingCohort) -> dict[str, Any]:
    """Each family's probability and contributions for the golden patients."""
    found: dict[str, Any] = {}
    for family in FAMILIES:
        scorer = Scorer(fit(family, cohort), ModelIdentity(name=family, version="golden"))
        records = _records(cohort, scorer)
        scores = scorer.score(from_records(records, scorer.fields))
        assert scores.contributions is not None
        found[family] = {
            "records": records,
            "probability": scores.probability.tolist(),
            "contributions": dict(
                zip(scorer.shown_as, scores.contributions.T.tolist(), strict=True)
            ),
        }
    return found


@pytest.mark.parametrize("family", FAMILIES)
def test_the_golden_patients_get_the_stored_numbers(family: str, development_cohort: Path) -> None:
    stored = json.loads(GOLDEN.read_text())[family]
    now = answers(load_cohort(development_cohort, eligible_only=True))[family]
    assert now["records"] == stored["records"]
    np.testing.assert_allclose(now["probability"], stored["probability"], rtol=0, atol=TOLERANCE)
    assert set(now["contributions"]) == set(stored["contributions"])
    for name, values in stored["contributions"].items():
        np.testing.assert_allclose(
            now["contributions"][name], values, rtol=0, atol=TOLERANCE, err_msg=name
        )


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        cohort = load_cohort(build_baseline(Path(folder), 1800, 11), eligible_only=True)
        GOLDEN.write_text(json.dumps(answers(cohort), indent=1) + "\n")
    print(f"wrote {GOLDEN}")
