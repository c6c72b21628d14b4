"""The BentoML prediction service clinicians call (`mrbs serve`, or `bentoml serve` of a Bento).

The service loads one model version from the local BentoML store: `mrbs serve` imports the
registry's champion there first (pinned to its exact version); a built Bento carries it. It is
ready only once that model has loaded and a canned prediction of the example patient matches
the value recorded when the model was imported, so a corrupt or mismatched artifact never
serves answers. The module reads its model tag and limits from the environment when BentoML
imports it, because BentoML takes both from the class declaration.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final, cast

import bentoml

from features.eligibility import ACTIVE_SLEDAI_MIN
from features.pipeline import required_fields
from features.record import FIELDS_BY_NAME
from features.schema import canonical_values, patient_model
from serving.predictor import (
    INTERVAL_LEVEL,
    INTERVAL_REFITS_FILE,
    INTERVAL_TRUSTED_TYPES,
    MLFLOW_MODEL_FOLDER,
    IntervalEstimator,
    ModelIdentity,
    Predictor,
)
from serving.respond import model_ref, predict_batch, predict_record
from serving.schemas import (
    BatchRequest,
    BatchResponse,
    EmptyRequest,
    ModelDescription,
    PredictionResponse,
    PredictorInfo,
    ProbabilityInterval,
    example_patient,
    predict_request,
)
from serving.security import GUARD_ANSWERS, MODEL_VERSION_HEADER, Guard
from serving.settings import ServingSettings

log = logging.getLogger("mrbs.service")

#: Agreement required between the canned prediction at start-up and the recorded one.
CANNED_TOLERANCE: Final = 1e-9
INTENDED_USE: Final = (
    "Probability of an SRI-4 response at week 48 of belimumab 10 mg/kg IV for an adult with "
    "active, refractory SLE, from baseline data; supports, does not replace, clinical judgement."
)
_SETTINGS = ServingSettings()


class ModelUnavailableError(bentoml.exceptions.BentoMLException):
    """The model is not loaded; answered as 503 with the reason."""

    error_code = HTTPStatus.SERVICE_UNAVAILABLE


@bentoml.service(
    name="mrbs-sri4-service",
    workers=_SETTINGS.workers,
    traffic={
        "timeout": _SETTINGS.timeout_seconds * 2,
        "max_concurrency": _SETTINGS.max_concurrency,
    },
    labels={"product": "mrbs", "model": "mrbs-sri4"},
)
class MRBSService:
    bento_model = bentoml.models.BentoModel(_SETTINGS.bento_model)

    def __init__(self) -> None:
        self.predictor: Predictor | None = None
        self.intervals: IntervalEstimator | None = None
        self.problem = "not loaded yet"
        try:
            self.predictor = self._load()
        except Exception as error:
            self.problem = f"model {self.bento_model.tag} could not be loaded: {error}"
            log.error("MRBS service not ready: %s", self.problem)

    def _load(self) -> Predictor:
        import mlflow.sklearn

        metadata = dict(self.bento_model.info.metadata)
        pipeline = mlflow.sklearn.load_model(self.bento_model.path_of(MLFLOW_MODEL_FOLDER))
        identity = ModelIdentity(
            name=str(metadata.get("name", "mrbs-sri4")),
            version=str(metadata.get("version", "")),
            run_id=str(metadata.get("run_id", "")),
            trained_at=str(metadata.get("trained_at", "")),
            metadata=metadata,
        )
        predictor = Predictor(pipeline, identity)
        record = patient_model().model_validate(example_patient())
        canned = predict_record(predictor, record).probability
        expected = float(metadata["canned_probability"])
        if abs(canned - expected) > CANNED_TOLERANCE:
            raise ValueError(
                f"the example patient scores {canned:.6f}, but {expected:.6f} was recorded "
                "when the model was imported"
            )
        refits = Path(self.bento_model.path_of(INTERVAL_REFITS_FILE))
        if refits.exists():
            from skops.io import load

            trusted = [str(name) for name in metadata.get(INTERVAL_TRUSTED_TYPES, [])]
            self.intervals = IntervalEstimator(load(refits, trusted=trusted), identity)
        log.info("MRBS model %s version %s ready", identity.name, identity.version)
        return predictor

    def __is_ready__(self) -> bool:
        return self.predictor is not None

    def _ready(self, context: bentoml.Context) -> Predictor:
        if self.predictor is None:
            raise ModelUnavailableError(self.problem)
        context.response.headers[MODEL_VERSION_HEADER.decode()] = self.predictor.identity.version
        return self.predictor

    @bentoml.api(route="/predict", input_spec=predict_request())
    async def predict(
        self, patient: Any, context: bentoml.Context, interval: bool = False
    ) -> PredictionResponse:
        """Probability of SRI-4 response at week 48 for one patient, with its basis."""
        # One patient takes well under a millisecond, less than handing the call to a worker
        # thread would, so it runs on the event loop; batches run in worker threads.
        response = predict_record(self._ready(context), patient)
        if interval and self.intervals is not None:
            lower, upper = self.intervals.interval(canonical_values(patient))
            bounds = ProbabilityInterval(
                lower=round(lower, 6),
                upper=round(upper, 6),
                level=INTERVAL_LEVEL,
                refits=len(self.intervals.refits),
            )
            response = response.model_copy(update={"interval": bounds})
        return response

    @bentoml.api(route="/predict_batch", input_spec=BatchRequest)
    def predict_batch(
        self, patients: list[dict[str, Any]], context: bentoml.Context
    ) -> BatchResponse:
        """One result per patient, in order; a bad record fails only itself."""
        predictor = self._ready(context)
        return BatchResponse(results=predict_batch(predictor, patients), model=model_ref(predictor))

    @bentoml.api(route="/model", input_spec=EmptyRequest)
    def model(self, context: bentoml.Context) -> ModelDescription:
        """Which model answers, for whom, from which predictors, and how well."""
        predictor = self._ready(context)
        return describe(predictor, 0 if self.intervals is None else len(self.intervals.refits))


def _bounds(bounds: tuple[float, float] | None) -> list[float] | None:
    return None if bounds is None else [bounds[0], bounds[1]]


def describe(predictor: Predictor, interval_refits: int) -> ModelDescription:
    identity = predictor.identity
    metadata = dict(identity.metadata)
    required = set(required_fields(predictor.features.feature_set))
    predictors = [
        PredictorInfo(
            name=name,
            unit=FIELDS_BY_NAME[name].unit,
            accepted_units=list(FIELDS_BY_NAME[name].units.symbols),
            plausible_range=_bounds(FIELDS_BY_NAME[name].hard),
            training_range=_bounds(FIELDS_BY_NAME[name].soft),
            required=name in required,
            description=FIELDS_BY_NAME[name].description,
        )
        for name in predictor.fields
    ]
    metrics = {str(k): float(v) for k, v in dict(metadata.get("metrics", {})).items()}
    return ModelDescription(
        name=identity.name,
        version=identity.version,
        trained_at=identity.trained_at,
        run_id=identity.run_id,
        intended_use=INTENDED_USE,
        population=(
            "MRBS eligibility: ACR 1997 criteria, age over 18, SLEDAI-2K >= "
            f"{ACTIVE_SLEDAI_MIN}, refractory disease, IgG >= 400 mg/dL, IgA >= 10 mg/dL, no "
            "cyclophosphamide or rituximab, no HIV/HBV/HCV, and the protocol's other exclusions."
        ),
        predictors=predictors,
        metrics=metrics,
        model_card=str(metadata.get("model_card", "")),
        interval_refits=interval_refits,
    )


def _document_error_answers() -> None:
    """Make the served OpenAPI document list every error answer and its real shape.

    BentoML answers a request that fails validation with pydantic's list of problems under
    ``detail`` (``loc``, ``msg``, ``type``; never the input), but documents ``detail`` as a
    string; and it cannot know the answers `Guard` gives before a request reaches the service
    (401, 413, 429, 504). Clients and contract tests would otherwise be told a wrong contract.
    """
    from _bentoml_sdk.service.openapi import error_responses
    from bentoml._internal.service.openapi.specification import (
        MediaType,
        Response,
        Schema,
    )
    from bentoml._internal.service.openapi.utils import exception_components_schema

    guard_error = Schema(
        type="object",
        properties={"error": Schema(type="string", description="What was refused and why.")},
        required=["error"],
    )
    for status, description in GUARD_ANSWERS.items():
        error_responses[status] = Response(
            description=description,
            content={"application/json": MediaType(schema=guard_error)},
        )

    location = Schema(anyOf=[Schema(type="string"), Schema(type="integer")])
    problem = Schema(
        type="object",
        description="One offending field: where it is, what is wrong, the error type.",
        properties={
            "loc": Schema(type="array", items=location),
            "msg": Schema(type="string"),
            "type": Schema(type="string"),
            "url": Schema(type="string"),
        },
        required=["loc", "msg", "type"],
    )
    invalid = exception_components_schema()["InvalidArgument"]
    if invalid.properties is None or "detail" not in invalid.properties:
        raise RuntimeError(
            "BentoML's error schema changed: InvalidArgument has no 'detail' property to "
            "correct; check the served /docs.json against the 400 answers"
        )
    invalid.properties["detail"] = Schema(
        anyOf=[Schema(type="string"), Schema(type="array", items=problem)],
        title="Error Detail",
    )


_document_error_answers()
# The decorator made MRBSService a bentoml Service, which takes ASGI middleware.
cast(Any, MRBSService).add_asgi_middleware(Guard)
