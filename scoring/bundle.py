"""The MLflow model MRBS logs and everything loads: the fitted pipeline, answered by `Scorer`.

A logged MRBS model is an MLflow pyfunc model written with MLflow's models-from-code:

- ``MLmodel``: MLflow's description; its pyfunc ``config`` lists the skops types reviewed for
  the pipeline and its signature names every record field;
- ``python_model.py``: `scoring/mlflow_model.py`, whose ``predict`` is
  `scoring.table.prediction_table`, so ``mlflow.pyfunc.load_model(uri).predict(baseline)``
  answers with the same validation and the same `Scorer` as every other way in;
- ``artifacts/pipeline.skops``: the fitted pipeline (skops, never pickle);
- ``artifacts/golden.json``: a few golden patients and the probability each was given when the
  model was logged, at full precision;
- ``code/``: the MRBS packages the model imports (features, scoring, infra), as logged.

`load` reads such a folder without MLflow (the service and the batch scorer load it directly)
and checks the golden patients before the model answers: each must get its logged probability
within `GOLDEN_TOLERANCE`, through `Scorer` and through the logged pipeline itself. A model that
has changed, or a library that computes differently, never answers.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import yaml

from features import columns as cols
from features.record import FIELDS, REQUIRED
from features.schema import FLAGS, PROBLEMS
from infra.artifacts import MANIFEST_TAG, MODEL_ARTIFACT
from infra.store import UNREGISTERED, ModelIdentity
from scoring.scorer import Scorer

PIPELINE: Final = "pipeline"
GOLDEN: Final = "golden"
#: The logged model's one parameter: whether ``predict`` adds each predictor's contribution.
CONTRIBUTIONS_PARAM: Final = "contributions"
#: The largest difference allowed between a golden patient's probability now and when logged.
GOLDEN_TOLERANCE: Final = 1e-12
#: Golden patients: spread over the development cohort's range of predictions, and one with
#: every optional predictor missing (so imputation is checked too).
GOLDEN_QUANTILES: Final = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Where MLflow records the registered name and version in a model it downloads from the
#: registry.
REGISTERED_META: Final = "registered_model_meta"

#: Types outside skops' defaults that MRBS pipelines hold, each reviewed: MRBS's own feature
#: steps; numpy dtypes and scipy's B-splines (and its array-conversion alias) inside
#: SplineTransformer; scikit-learn's private calibration and histogram-boosting parts; XGBoost's
#: booster and its scikit-learn wrapper; a site's update of a parent model (`SiteUpdate`, plain
#: floats and arrays) and scikit-learn's `FrozenEstimator`, which only holds the fitted parent
#: classifier. A pipeline holding anything else is refused.
TRUSTED_TYPES: Final = frozenset(
    {
        "features.pipeline.BaselineFeatures",
        "features.pipeline.ClinicalTerms",
        "features.pipeline.MedianImputer",
        "numpy.dtype",
        "scoring.site_update.SiteUpdate",
        "scipy._lib.array_api_compat.numpy._aliases.asarray",
        "scipy.interpolate._bsplines.BSpline",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.frozen._frozen.FrozenEstimator",
        "xgboost.core.Booster",
        "xgboost.sklearn.XGBClassifier",
    }
)
#: Distributions a logged MRBS model needs at load time, pinned to the versions it was fit with.
MODEL_REQUIREMENTS: Final = (
    "scikit-learn",
    "xgboost",
    "skops",
    "numpy",
    "pandas",
    "scipy",
    "pyarrow",
    "pandera",
    "pydantic",
    "pyyaml",
)
#: MRBS's packages the model's code imports, copied into the model.
CODE_PACKAGES: Final = ("features", "scoring", "infra")
_ROOT: Final = Path(__file__).resolve().parent.parent
_ENTRY: Final = Path(__file__).resolve().with_name("mlflow_model.py")


class UntrustedTypesError(RuntimeError):
    """A pipeline holds types nobody has reviewed for the skops format."""


class ModelIntegrityError(RuntimeError):
    """A model folder that cannot be trusted to answer; the message names the model and why."""


def reviewed(untrusted: Iterable[str], what: str) -> list[str]:
    """``untrusted`` (types a skops file asks to trust), sorted; error if any is unreviewed."""
    found = set(untrusted)
    unreviewed = sorted(found - TRUSTED_TYPES)
    if unreviewed:
        raise UntrustedTypesError(
            f"{what} holds types not reviewed for the skops format: "
            f"{', '.join(unreviewed)}; review them and add them to TRUSTED_TYPES in "
            "scoring/bundle.py (MRBS does not fall back to pickle)"
        )
    return sorted(found)


def dump_reviewed(obj: Any, path: Path, what: str) -> list[str]:
    """Write ``obj`` with skops to ``path``; returns the reviewed types loading it needs."""
    from skops.io import dump, get_untrusted_types

    dump(obj, path)
    return reviewed(get_untrusted_types(file=path), what)


def load_reviewed(path: Path, trusted: Iterable[str], what: str) -> Any:
    """Load a skops file, trusting only ``trusted`` (which must all be reviewed)."""
    from skops.io import load

    return load(path, trusted=reviewed(trusted, what))


def pip_requirements() -> list[str]:
    return [f"{name}=={metadata.version(name)}" for name in MODEL_REQUIREMENTS]


def golden_records(scorer: Scorer, inputs: pd.DataFrame) -> list[dict[str, Any]]:
    """A few development patients (`GOLDEN_QUANTILES` of their predictions) and one of them
    with every optional predictor left out, as records of canonical values (None: missing)."""
    probability = scorer.probabilities(scorer.derive(cols.from_frame(inputs, scorer.fields)))
    order = np.argsort(probability, kind="stable")
    picks = [int(order[int(q * (len(order) - 1))]) for q in GOLDEN_QUANTILES]
    frame = inputs.iloc[picks][list(scorer.fields)].astype(object)
    records = [
        {str(k): (None if pd.isna(v) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]
    required = {name for name in scorer.fields if name in REQUIRED}
    records.append(
        {k: (v if k in required else None) for k, v in records[len(records) // 2].items()}
    )
    return records


def _golden_table(scorer: Scorer, records: list[dict[str, Any]]) -> dict[str, Any]:
    probability = scorer.probabilities(scorer.derive(cols.from_records(records, scorer.fields)))
    return {"records": records, "probability": [float(p) for p in probability]}


def check_golden(scorer: Scorer, golden: dict[str, Any]) -> None:
    """Each golden patient gets its logged probability within `GOLDEN_TOLERANCE`, through the
    scorer and through the pipeline itself; `ModelIntegrityError` otherwise."""
    records = golden["records"]
    expected = np.asarray(golden["probability"], dtype=float)
    columns = cols.from_records(records, scorer.fields)
    through_scorer = scorer.probabilities(scorer.derive(columns))
    frame = cols.frame_of(columns, scorer.fields)
    through_pipeline = np.asarray(scorer.pipeline.predict_proba(frame)[:, 1], dtype=float)
    for label, got in (("the scorer", through_scorer), ("the logged pipeline", through_pipeline)):
        worst = float(np.max(np.abs(got - expected))) if expected.size else 0.0
        if got.shape != expected.shape or not worst <= GOLDEN_TOLERANCE:
            raise ModelIntegrityError(
                f"model {scorer.identity.uri}: a golden patient gets a probability {worst:.3g} "
                f"away from the one logged with the model through {label} (tolerance "
                f"{GOLDEN_TOLERANCE:g}); the model or a library it runs on has changed"
            )


def _signature(scorer: Scorer) -> Any:
    """Every record field by name (required ones as required), and a baseline table's own
    problems and flags, of any type: MRBS's own validation reads each value and reports the
    ones it cannot use, row by row."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
    from mlflow.types.schema import AnyType

    from scoring.table import prediction_fields

    inputs: list[Any] = []
    for spec in FIELDS:
        inputs.append(ColSpec(AnyType(), spec.name, required=spec.name in REQUIRED))
        if spec.has_alternative_units:
            inputs.append(ColSpec(AnyType(), spec.unit_column, required=False))
    # A baseline table's own notes: its problems say why a value was left out.
    inputs += [ColSpec(AnyType(), name, required=False) for name in (PROBLEMS, FLAGS)]
    kinds = {"double": "double", "string": "string", "bool": "boolean"}
    outputs: list[Any] = [
        ColSpec(kinds[str(field.type)], field.name, required=False)
        for field in prediction_fields(scorer, contributions=True)
    ]
    # ``contributions``: each predictor's contribution (one extra prediction per predictor).
    params = ParamSchema([ParamSpec(CONTRIBUTIONS_PARAM, "boolean", True)])
    return ModelSignature(inputs=Schema(inputs), outputs=Schema(outputs), params=params)


def _copy_code(target: Path) -> list[str]:
    """MRBS's packages (Python files only) under ``target``; returns their folders."""
    folders = []
    for package in CODE_PACKAGES:
        source = _ROOT / package
        for path in sorted(source.rglob("*.py")):
            copied = target / package / path.relative_to(source)
            copied.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, copied)
        folders.append(str(target / package))
    return folders


def log_model(pipeline: Any, inputs: pd.DataFrame, example: pd.DataFrame) -> Any:
    """Log a fitted MRBS pipeline as the active run's `infra.artifacts.MODEL_ARTIFACT`.

    ``inputs``: the development cohort's model inputs (golden patients are chosen from them);
    ``example``: a few baseline rows as `mrbs cohort build` writes them (the input example).
    Returns MLflow's ModelInfo.
    """
    import mlflow.pyfunc

    scorer = Scorer(pipeline, ModelIdentity(name="logging", version=UNREGISTERED))
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        trusted = dump_reviewed(pipeline, work / "pipeline.skops", "the pipeline")
        golden = _golden_table(scorer, golden_records(scorer, inputs))
        (work / "golden.json").write_text(json.dumps(golden, indent=1))
        check_golden(scorer, golden)
        return mlflow.pyfunc.log_model(
            name=MODEL_ARTIFACT,
            python_model=str(_ENTRY),
            artifacts={PIPELINE: str(work / "pipeline.skops"), GOLDEN: str(work / "golden.json")},
            model_config={"trusted_types": trusted, "feature_set": scorer.feature_set},
            code_paths=_copy_code(work / "code"),
            signature=_signature(scorer),
            input_example=example,
            pip_requirements=pip_requirements(),
        )


def identity_of(folder: Path) -> ModelIdentity:
    """The registered name and version MLflow recorded when it downloaded ``folder``
    (unregistered, named by its run, when it came from elsewhere)."""
    meta = folder / REGISTERED_META
    described = yaml.safe_load((folder / "MLmodel").read_text()) or {}
    run_id = str(described.get("run_id") or "")
    if meta.exists():
        registered = yaml.safe_load(meta.read_text()) or {}
        return ModelIdentity(
            name=str(registered["model_name"]),
            version=str(registered["model_version"]),
            run_id=run_id,
        )
    return ModelIdentity(name=str(folder), version=UNREGISTERED, run_id=run_id)


def load_artifacts(
    artifacts: dict[str, str], config: dict[str, Any], identity: ModelIdentity
) -> Scorer:
    """The `Scorer` of a model's artifacts (paths by name) and its pyfunc config, checked
    against its golden patients. A damaged file is `ModelIntegrityError` naming it."""
    path = Path(artifacts[PIPELINE])
    try:
        pipeline = load_reviewed(path, config.get("trusted_types", []), f"model {identity.uri}")
        path = Path(artifacts[GOLDEN])
        golden = json.loads(path.read_text())
    except UntrustedTypesError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as error:
        raise ModelIntegrityError(
            f"model {identity.uri}: {path.name} cannot be read ({type(error).__name__}: "
            f"{error}); the artifact is damaged: log and register the model again"
        ) from None
    scorer = Scorer(pipeline, identity)
    check_golden(scorer, golden)
    return scorer


def file_digest(path: Path) -> str:
    """The SHA-256 of a file, in hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest(folder: Path) -> dict[str, str]:
    """The SHA-256 of every file of an MLflow model folder, by its path in the folder (the
    registry's `REGISTERED_META`, which MLflow adds on download, left out)."""
    files = (p for p in sorted(folder.rglob("*")) if p.is_file())
    return {
        p.relative_to(folder).as_posix(): file_digest(p)
        for p in files
        if p.relative_to(folder).as_posix() != REGISTERED_META
    }


def verify_file(path: Path, digest: str, identity: ModelIdentity) -> None:
    """Check a file recorded by its digest at registration (the interval refits)."""
    if identity.registered and file_digest(path) != digest:
        raise ModelIntegrityError(
            f"model {identity.name} version {identity.version}: {path.name} does not match the "
            "digest recorded at registration; refusing to use it"
        )


def verify_manifest(folder: Path, identity: ModelIdentity) -> None:
    """Check a registered version's files against the manifest recorded when it was
    registered (`MANIFEST_TAG`); `ModelIntegrityError` naming the version and the file."""
    if not identity.registered:
        return
    recorded = identity.tags.get(MANIFEST_TAG)
    label = f"model {identity.name} version {identity.version}"
    if not recorded:
        raise ModelIntegrityError(
            f"{label}: no artifact manifest was recorded when it was registered, so its files "
            "cannot be checked; register it again with MRBS (`mrbs train`)"
        )
    expected = json.loads(recorded) if isinstance(recorded, str) else dict(recorded)
    found = manifest(folder)
    for name in sorted(expected.keys() | found.keys()):
        if expected.get(name) == found.get(name):
            continue
        if name not in found:
            what = "is missing"
        elif name not in expected:
            what = "was not part of the registered model"
        else:
            what = "does not match the digest recorded at registration"
        raise ModelIntegrityError(f"{label}: {name} {what}; refusing to answer with it")


def load(folder: Path, identity: ModelIdentity) -> Scorer:
    """The `Scorer` of the MRBS model in ``folder`` (an MLflow model folder), checked: its
    files against the registration's manifest, then its golden patients."""
    verify_manifest(folder, identity)
    try:
        described = yaml.safe_load((folder / "MLmodel").read_text())
        flavor = described["flavors"]["python_function"]
        artifacts = {
            name: str(folder / entry["path"]) for name, entry in flavor["artifacts"].items()
        }
        config = dict(flavor.get("config") or {})
    except (OSError, yaml.YAMLError, KeyError, TypeError) as error:
        raise ModelIntegrityError(
            f"model {identity.uri}: {folder} is not an MRBS model folder ({error!r}); log it "
            "with `mrbs train` (models logged by earlier MRBS versions must be retrained)"
        ) from None
    return load_artifacts(artifacts, config, identity)
