"""Fitting, comparing and validating candidate models; MLflow tracking and the model registry.

`training.train.train` is `mrbs train`; `training.evaluate.evaluate` is `mrbs evaluate`;
`training.update.update` is `mrbs update`; `training.registry.promote` is `mrbs promote`.
"""

from training.config import TrainingConfig, load_config
from training.evaluate import evaluate
from training.registry import promote
from training.train import train
from training.update import update

__all__ = ["TrainingConfig", "evaluate", "load_config", "promote", "train", "update"]
