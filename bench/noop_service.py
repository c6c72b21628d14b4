"""A BentoML service that validates `/predict`'s body and answers at once: the framework's floor.

Started by `bench.serving` with `bentoml serve bench.noop_service:NoOpService`. It takes the
very request model `/predict` takes (the same pydantic validation of the same payload) and
returns a fixed, small answer at once (on the event loop, the framework's cheapest path),
without MRBS's middleware or model.
"""

from __future__ import annotations

from typing import Any

import bentoml
from pydantic import BaseModel

from serving.http.schemas import predict_request


class NoOpAnswer(BaseModel):
    probability: float


@bentoml.service(name="mrbs-noop", workers=1)
class NoOpService:
    @bentoml.api(route="/predict", input_spec=predict_request())
    async def predict(self, patient: Any, interval: bool = False) -> NoOpAnswer:
        """Accept one validated patient record and answer a constant."""
        return NoOpAnswer(probability=0.5)
