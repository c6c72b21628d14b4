"""Training configuration: validated when loaded, errors name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import DEFAULT_CONFIG, ConfigError, load_config


def test_default_config_loads() -> None:
    config = load_config()
    assert config.validation.bootstrap_resamples == 200
    assert {c.kind for c in config.candidates} >= {"logistic_spline", "xgboost"}
    assert {c.feature_set for c in config.candidates} == {"core", "extended"}


def test_every_config_in_configs_folder_loads() -> None:
    for path in DEFAULT_CONFIG.parent.glob("*.yaml"):
        assert load_config(path).candidates


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


CANDIDATE = "candidates: [{name: a, kind: xgboost}]\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CANDIDATE + "seeds: 3\n", r"seeds: Extra inputs are not permitted"),
        (CANDIDATE + "cv_folds: 1\n", r"cv_folds: Input should be greater than or equal to 2"),
        ("candidates: [{name: a, kind: svm}]\n", r"candidates\.0\.kind: Input should be"),
        ("candidates: []\n", r"candidates: List should have at least 1 item"),
        (
            "candidates: [{name: a, kind: xgboost}, {name: a, kind: xgboost}]\n",
            r"duplicate name\(s\) a",
        ),
        ("candidates: [{name: a, kind: xgboost, feature_set: all}]\n", r"feature_set"),
        ("candidates: [\n", r"cannot be read"),
    ],
)
def test_bad_config_names_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_config(_write(tmp_path, text))
    assert str(tmp_path / "c.yaml") in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "absent.yaml")
