"""The BentoML prediction service clinicians' systems call (`mrbs serve`, or a built Bento).

`build_service` makes the service class from `ServingSettings`; ``bentoml serve
serving.http.service:MRBSService`` asks this module for ``MRBSService``, which builds it from
the environment and BentoML's own arguments (`service_settings`). Nothing happens on import.

The service answers with one model version from the local BentoML store: `mrbs serve` imports
the registry's version there first and passes its tag; a built Bento carries it. It is ready
only once that model has loaded and given each of its golden patients the probability logged
with it (`scoring.bundle.load`), so a corrupt or mismatched artifact never answers.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from concurrent.futures import Future
from http import HTTPStatus
from pathlib import Path
from typing import Any, Final, cast

import bentoml

from features.eligibility import ACTIVE_SLEDAI_MIN
from features.pipeline import required_fields
from features.record import FIELDS_BY_NAME
from infra.artifacts import (
    BENTO_MLFLOW_MODEL,
    BENTO_REFIT_TYPES,
    BENTO_REFITS,
    REFITS_DIGEST_TAG,
)
from infra.store import ModelIdentity
from scoring import bundle
from scoring.intervals import IntervalEstimator
from scoring.scorer import Scorer
from serving.http import logs
from serving.http.ehr import ehr_app
from serving.http.explain import INTENDED_USE
from serving.http.page import PAGE_PATH, page_app
from serving.http.respond import interval_of, model_ref, predict_batch, predict_record
from serving.http.schemas import (
    BatchRequest,
    BatchResponse,
    EmptyRequest,
    ModelDescription,
    PredictionResponse,
    PredictorInfo,
    predict_request,
)
from serving.http.security import GUARD_ANSWERS, MODEL_VERSION_HEADER, Guard, Readiness
from serving.http.settings import ServingSettings

log = logging.getLogger("mrbs.service")

SERVICE_NAME: Final = "mrbs-sri4-service"
#: Patients of one /predict_batch request scored per step (a few milliseconds each).
BATCH_CHUNK: Final = 50


class ModelUnavailableError(bentoml.exceptions.BentoMLException):
    """The model is not loaded; answered as 503 with the reason."""

    error_code = HTTPStatus.SERVICE_UNAVAILABLE


def identity_of(metadata: dict[str, Any]) -> ModelIdentity:
    """The registered version a model in the BentoML store was imported from."""
    return ModelIdentity(
        name=str(metadata.get("name", "")),
        version=str(metadata.get("version", "")),
        run_id=str(metadata.get("run_id", "")),
        trained_at=str(metadata.get("trained_at", "")),
        tags=metadata,
    )


@functools.cache
def build_service(settings: ServingSettings) -> Any:
    """The BentoML service class answering with ``settings.bento_model`` under ``settings``."""
    _document_error_answers()
    logs.install()
    readiness = Readiness()
    model_reference = (
        bentoml.models.BentoModel(settings.bento_model) if settings.bento_model else None
    )

    @bentoml.service(
        name=SERVICE_NAME,
        workers=settings.workers,
        # `Guard` decides every refusal (after authentication, audited): BentoML's concurrency
        # limit is off, and its timeout, which it cannot disable, is a backstop it never reaches.
        traffic={"timeout": settings.timeout_seconds * 3},
        labels={"product": "mrbs", "model": "mrbs-sri4"},
    )
    class MRBSService:
        bento_model = model_reference

        def __init__(self) -> None:
            self.scorer: Scorer | None = None
            self.intervals: Future[IntervalEstimator | None] = Future()
            self.problem = "not loaded yet"
            try:
                self.scorer = load_model(self.bento_model)
            except Exception as error:
                self.problem = readiness.problem = str(error)
                log.error("MRBS service not ready: %s", self.problem)
                self.intervals.set_result(None)
                return
            readiness.problem = None
            # The refits load once the model answers: readiness does not wait for them, and
            # the first request that asks for an interval waits for them alone.
            threading.Thread(
                target=load_refits, args=(self.bento_model, self.intervals), daemon=True
            ).start()

        def __is_ready__(self) -> bool:
            return self.scorer is not None

        def _ready(self, context: bentoml.Context) -> Scorer:
            if self.scorer is None:
                raise ModelUnavailableError(self.problem)
            header = MODEL_VERSION_HEADER.decode()
            context.response.headers[header] = self.scorer.identity.version
            return self.scorer

        @bentoml.api(route="/predict", input_spec=predict_request())
        async def predict(
            self, patient: Any, context: bentoml.Context, interval: bool = False
        ) -> PredictionResponse:
            """Probability of SRI-4 response at week 48 for one patient, with its basis."""
            # One patient's answer takes about as long as handing it to a worker thread, so it
            # runs on the event loop; the interval's refits run in a thread, so that they never
            # hold up other requests.
            response = predict_record(self._ready(context), patient)
            if interval:
                estimator = await asyncio.wrap_future(self.intervals)
                if estimator is not None:
                    bounds = await asyncio.to_thread(interval_of, estimator, patient)
                    response = response.model_copy(update={"interval": bounds})
            return response

        @bentoml.api(route="/predict_batch", input_spec=BatchRequest)
        async def predict_batch(
            self, patients: list[dict[str, Any]], context: bentoml.Context
        ) -> BatchResponse:
            """One result per patient, in order; a bad record fails only itself."""
            scorer = self._ready(context)
            # Scored in chunks in a worker thread: the event loop stays free, and a request
            # that times out (`Guard`) stops at the next chunk instead of running on.
            results = []
            for start in range(0, len(patients), BATCH_CHUNK):
                chunk = patients[start : start + BATCH_CHUNK]
                results += await asyncio.to_thread(predict_batch, scorer, chunk, start)
            return BatchResponse(results=results, model=model_ref(scorer))

        @bentoml.api(route="/model", input_spec=EmptyRequest)
        def model(self, context: bentoml.Context) -> ModelDescription:
            """Which model answers, for whom, from which predictors, and how well."""
            scorer = self._ready(context)
            estimator = self.intervals.result()
            return describe(scorer, 0 if estimator is None else len(estimator))

    cast(Any, MRBSService).mount_asgi_app(page_app(settings), path=PAGE_PATH)
    cast(Any, MRBSService).mount_asgi_app(ehr_app(settings), path="/")
    cast(Any, MRBSService).add_asgi_middleware(Guard, settings=settings, readiness=readiness)
    return MRBSService


class NoModelError(RuntimeError):
    """The service was started without a model to answer with."""


def load_model(reference: Any) -> Scorer:
    """The scorer of a model in the BentoML store, checked against its golden patients."""
    if reference is None:
        raise NoModelError(
            "no model to answer with: start the service with `mrbs serve`, or serve a built "
            "Bento (`mrbs release`)"
        )
    identity = identity_of(dict(reference.info.metadata))
    try:
        scorer = bundle.load(Path(reference.path_of(BENTO_MLFLOW_MODEL)), identity)
    except Exception as error:
        raise RuntimeError(f"model {reference.tag} could not be loaded: {error}") from error
    log.info("MRBS model %s version %s ready", identity.name, identity.version)
    return scorer


def load_refits(reference: Any, done: Future[IntervalEstimator | None]) -> None:
    """Load the bootstrap refits beside a model in the BentoML store into ``done`` (None when
    it has none, or they cannot be loaded: the service then answers without intervals)."""
    metadata = dict(reference.info.metadata)
    refits = Path(reference.path_of(BENTO_REFITS))
    try:
        if not refits.exists():
            done.set_result(None)
            return
        identity = identity_of(metadata)
        bundle.verify_file(refits, str(metadata.get(REFITS_DIGEST_TAG, "")), identity)
        trusted = [str(name) for name in metadata.get(BENTO_REFIT_TYPES, [])]
        loaded = bundle.load_reviewed(refits, trusted, "the interval refits")
        done.set_result(IntervalEstimator(loaded, identity))
    except Exception as error:
        log.error("the interval refits of %s could not be loaded: %s", reference.tag, error)
        done.set_result(None)


def service_settings() -> ServingSettings:
    """The settings of a service `bentoml serve` starts: the environment it was given, and
    BentoML's arguments (``--arg name=value``, stored in a built Bento), which win."""
    arguments = {k: v for k, v in vars(bentoml.use_arguments()).items() if v is not None}
    return ServingSettings(**arguments)


def __getattr__(name: str) -> Any:
    # `bentoml serve serving.http.service:MRBSService` asks for the service by name, on start.
    if name == "MRBSService":
        return build_service(service_settings())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _bounds(bounds: tuple[float, float] | None) -> list[float] | None:
    return None if bounds is None else [bounds[0], bounds[1]]


def describe(scorer: Scorer, interval_refits: int) -> ModelDescription:
    identity = scorer.identity
    metadata = dict(identity.tags)
    required = set(required_fields(scorer.feature_set))
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
        for name in scorer.fields
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


@functools.cache
def _document_error_answers() -> None:
    """Make the served OpenAPI document list every error answer and its real shape.

    BentoML answers a request that fails validation with pydantic's list of problems under
    ``detail`` (``loc``, ``msg``, ``type``; never the input), but documents ``detail`` as a
    string; and it cannot know the answers `Guard` gives before a request reaches the service
    (401, 413, 429, 504). Clients and contract tests would otherwise be told a wrong contract.
    BentoML offers no public hook for either, so its table of error answers is amended once,
    when the first service is built.
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
