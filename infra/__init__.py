"""What every stage shares and none owns: settings, the MLflow store, artifact names, warnings.

Every package may import `infra`; `infra` imports none of them.
"""

from infra.settings import Settings

__all__ = ["Settings"]
