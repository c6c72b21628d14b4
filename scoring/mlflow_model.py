"""The MLflow entry of an MRBS model: what ``mlflow.pyfunc.load_model`` runs (models from code).

MLflow copies this file into every logged MRBS model (`scoring.bundle.log_model`) and executes it
when the model is loaded, with the model's own copy of MRBS's code on the path. ``predict``
takes baseline rows as `mrbs cohort build` writes them (booleans, missing optional values, unit
columns) and returns their prediction columns (`scoring.table`): the same validation and the same
`scoring.scorer.Scorer` as every other way MRBS answers. Nothing else imports this module.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel, PythonModelContext

from scoring.bundle import CONTRIBUTIONS_PARAM, PIPELINE, identity_of, load_artifacts
from scoring.scorer import Scorer
from scoring.table import prediction_table


class MRBSModel(PythonModel):
    """The MLflow face of a logged MRBS pipeline."""

    scorer: Scorer

    def load_context(self, context: PythonModelContext) -> None:
        folder = Path(context.artifacts[PIPELINE]).parent.parent
        identity = identity_of(folder)
        self.scorer = load_artifacts(context.artifacts, context.model_config or {}, identity)

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, bool] | None = None,
    ) -> pd.DataFrame:
        """Every row's prediction columns, in order; rows with problems say why. The parameter
        ``contributions`` (default true) adds each predictor's contribution."""
        contributions = bool((params or {}).get(CONTRIBUTIONS_PARAM, True))
        return prediction_table(model_input, self.scorer, contributions=contributions).to_pandas()


mlflow.models.set_model(MRBSModel())
