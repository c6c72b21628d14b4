"""Settings of the prediction service: the environment (``MRBS_`` prefix) and BentoML's arguments.

`bentoml serve` builds them when it starts the service (`serving.http.service`): from the
environment the operator gave the server, then from BentoML's own arguments (``--arg``, which
`mrbs serve` passes and a built Bento stores), which win.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from infra.settings import Settings


class ServingSettings(BaseSettings):
    """Limits, credentials and audit of the service; defaults suit one clinic's integration."""

    model_config = SettingsConfigDict(env_prefix="MRBS_", extra="ignore", frozen=True)

    home: Path = Field(default_factory=lambda: Settings().home)
    tokens_file: Path | None = Field(
        default=None,
        description="Bearer tokens, one 'caller sha256-hex' per line (MRBS_TOKENS_FILE); "
        "default <home>/tokens. Create entries with `mrbs token create`.",
    )
    audit_log: Path | None = Field(
        default=None, description="JSON-lines audit log; default <home>/audit/predictions.jsonl."
    )
    audit_key_file: Path | None = Field(
        default=None,
        description="Secret key for the keyed hash of inputs in the audit log; created on first "
        "use; default <home>/audit/key.",
    )
    max_body_bytes: int = Field(1_000_000, ge=1_000, description="Larger bodies get 413.")
    max_concurrency: int = Field(32, ge=1, description="More requests in flight get 429.")
    timeout_seconds: float = Field(10.0, gt=0, description="Slower requests get 504.")
    bento_model: str | None = Field(
        None,
        description="BentoML model tag the service answers with, one exact version (`mrbs serve` "
        "imports the registry's version and passes its tag; a built Bento carries it).",
    )
    workers: int = Field(1, ge=1, description="Service worker processes (MRBS_WORKERS).")
    cds_issuers: Path | None = Field(
        None,
        description="CDS Hooks issuer allow-list (MRBS_CDS_ISSUERS): JSON mapping each EHR's "
        "'iss' to its JWK Set and browser origins; none: every CDS Hooks call is refused.",
    )

    @property
    def resolved_tokens_file(self) -> Path:
        return self.tokens_file or self.home / "tokens"

    @property
    def resolved_audit_log(self) -> Path:
        return self.audit_log or self.home / "audit" / "predictions.jsonl"

    @property
    def resolved_audit_key_file(self) -> Path:
        return self.audit_key_file or self.home / "audit" / "key"

    @property
    def bentoml_home(self) -> Path:
        return self.home / "bentoml"
