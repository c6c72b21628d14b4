"""Where MRBS keeps things: artifact paths in a run, registry tags, the BentoML model layout.

Training writes these names, and serving, batch scoring and release read them; declaring them
once here keeps writer and readers in step.
"""

from __future__ import annotations

from typing import Final

# -- in a candidate's MLflow run --------------------------------------------------------------

#: The logged MLflow model (see `scoring.bundle`).
MODEL_ARTIFACT: Final = "model"
#: Reference distributions of the predictors, for drift (`features.reference`).
REFERENCE_BINS_ARTIFACT: Final = "validation/reference_bins.json"
#: The decision curve the promotion gate re-reads.
DECISION_CURVE_ARTIFACT: Final = "validation/decision_curve.csv"
#: Bootstrap refits of the chosen pipeline, behind the service's uncertainty interval.
REFITS_ARTIFACT: Final = "interval/refits.skops"
#: The model card, as Markdown and as a standalone HTML page.
MODEL_CARD_MARKDOWN: Final = "model_card/model_card.md"
MODEL_CARD_HTML: Final = "model_card/model_card.html"
#: The validation card of an external validation or a site update, as Markdown and HTML.
VALIDATION_CARD_MARKDOWN: Final = "validation_card/validation_card.md"
VALIDATION_CARD_HTML: Final = "validation_card/validation_card.html"
#: A site update: the parent validated on the local cohort before updating, under this folder.
BEFORE_UPDATE_FOLDER: Final = "before_update"

# -- registry tags on a model version ---------------------------------------------------------

TRAINED_AT_TAG: Final = "mrbs.trained_at"
MODEL_CARD_TAG: Final = "mrbs.model_card"
#: SHA-256 of every file of the registered model folder, as JSON (`scoring.bundle.manifest`);
#: also kept in the metadata of the version imported into BentoML.
MANIFEST_TAG: Final = "mrbs.artifact_manifest"
#: SHA-256 of the interval refits file, when the version's run has one.
REFITS_DIGEST_TAG: Final = "mrbs.refits_sha256"
VALIDATION_CARD_TAG: Final = "mrbs.validation_card"
VALIDATION_CARD_BEFORE_TAG: Final = "mrbs.validation_card.before_update"

# -- a model in the BentoML store -------------------------------------------------------------

#: The MLflow model folder, as downloaded from the registry.
BENTO_MLFLOW_MODEL: Final = "mlflow_model"
#: The bootstrap refits, beside it.
BENTO_REFITS: Final = "interval/refits.skops"
#: The model card (HTML), which the clinician page links to.
BENTO_MODEL_CARD: Final = "model_card.html"
#: Metadata key listing the skops types reviewed for the refits.
BENTO_REFIT_TYPES: Final = "interval_trusted_types"
