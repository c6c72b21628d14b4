"""The HTTP service clinicians' systems call: BentoML, bearer tokens, limits and audit."""

from serving.http.settings import ServingSettings

__all__ = ["ServingSettings"]
