"""What the service tests share: a registered model, its token and the servers' environment."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from infra.settings import Settings
from serving.http.settings import ServingSettings
from tests.conftest import TRAINED
from tests.serving.http.ehr_helpers import Keys

#: Every field an audit line may carry, written out here (not read from the code under test);
#: none of them holds a patient value or identifier.
AUDIT_LINE_FIELDS = frozenset(
    {
        "time",
        "request_id",
        "caller",
        "route",
        "model_version",
        "input_hmac_sha256",
        "outcome",
        "latency_ms",
    }
)
#: The registered version the service tests serve: the session's trained version.
MODEL_URI = TRAINED


@dataclass(frozen=True)
class ServedModel:
    settings: Settings
    serving: ServingSettings
    version: str
    tag: str
    token: str
    environment: dict[str, str]
    folder: Path
    #: The signing keys of the EHR the CDS Hooks tests play (trusted by `serving`).
    ehr_keys: Keys

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def audit_log(self) -> Path:
        return Path(self.environment["MRBS_AUDIT_LOG"])
