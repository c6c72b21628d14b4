"""The warning policy entry points apply, and hand to the processes they start."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from infra.quiet import CHILD_WARNINGS, LIBRARY_DEFAULTS, child_environment, quiet_process


def test_a_child_gets_the_policy_once_beside_the_callers_own_warnings() -> None:
    environment = child_environment({"PYTHONWARNINGS": "error::DeprecationWarning", "X": "1"})
    assert environment["PYTHONWARNINGS"] == f"error::DeprecationWarning,{CHILD_WARNINGS}"
    assert environment["X"] == "1"
    again = child_environment(environment)
    assert again["PYTHONWARNINGS"].count(CHILD_WARNINGS) == 1


def test_a_users_own_library_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "false")
    quiet_process()
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "false"
    assert child_environment({"TQDM_DISABLE": "0"})["TQDM_DISABLE"] == "0"
    assert child_environment({})["TQDM_DISABLE"] == LIBRARY_DEFAULTS["TQDM_DISABLE"]


def test_the_policy_silences_the_warning_in_a_child() -> None:
    code = (
        "import warnings; warnings.warn('PySpark does not yet fully support pandas >= 3', "
        "FutureWarning); print('done')"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={}
    )
    quiet = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=child_environment({}),
    )
    assert "FutureWarning" in shown.stderr
    assert quiet.stderr == ""
