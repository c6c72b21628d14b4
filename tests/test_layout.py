"""The architecture as the code shows it: layers that import only downwards, a stated public
surface per package, and nothing done on import."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parent.parent
#: Each package and the project packages it may import (the layers, bottom up).
ALLOWED: Final = {
    "infra": set(),
    "features": {"infra"},
    "simulator": {"infra", "features"},
    "scoring": {"infra", "features"},
    "training": {"infra", "features", "scoring"},
    "serving": {"infra", "features", "scoring"},
    "mrbs": {"infra", "features", "simulator", "scoring", "training", "serving"},
}
PACKAGES: Final = tuple(ALLOWED)


def _imports(path: Path) -> set[str]:
    """Top-level names of every module ``path`` imports, anywhere in it."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    wrong = {
        f"{path.relative_to(ROOT)} imports {name}"
        for path in (ROOT / package).rglob("*.py")
        for name in _imports(path) & set(PACKAGES)
        if name != package and name not in ALLOWED[package]
    }
    assert not wrong, sorted(wrong)


def _subpackages() -> list[str]:
    found = []
    for package in PACKAGES:
        for init in sorted((ROOT / package).rglob("__init__.py")):
            found.append(".".join(init.parent.relative_to(ROOT).parts))
    return found


@pytest.mark.parametrize("name", _subpackages())
def test_every_package_states_its_surface_and_purpose(name: str) -> None:
    module = importlib.import_module(name)
    assert (module.__doc__ or "").strip(), f"{name} has no docstring"
    assert isinstance(getattr(module, "__all__", None), list), f"{name} has no __all__"
    for exported in module.__all__:
        assert hasattr(module, exported), f"{name}.__all__ names {exported}, which it lacks"


def _third_party() -> list[str]:
    own = set(PACKAGES)
    found: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.Import):
                    found |= {alias.name for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module)
    return sorted(
        name
        for name in found
        if name.split(".")[0] not in own
        and name.split(".")[0] not in sys.stdlib_module_names
        and name != "mlflow"  # only the MLflow entry of a logged model imports it at top level
    )


@pytest.mark.slow
def test_importing_the_packages_changes_neither_the_environment_nor_the_warning_filters() -> None:
    """Third-party libraries do both on import (pandera sets SPARK_LOCAL_IP, statsmodels adds
    filters): they are imported first, and only what MRBS's own modules then change counts."""
    modules = [
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "mlflow_model.py"
    ]
    code = "\n".join(
        [
            "import importlib, os, warnings",
            f"for name in {_third_party()!r}: importlib.import_module(name)",
            "before = (dict(os.environ), list(warnings.filters))",
            f"for name in {modules!r}: importlib.import_module(name)",
            "after = (dict(os.environ), list(warnings.filters))",
            "changed = set(after[0].items()) ^ set(before[0].items())",
            "assert after == before, (changed, [f for f in after[1] if f not in before[1]])",
            "print('unchanged')",
        ]
    )
    run = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
    )
    assert run.stdout.strip() == "unchanged", run.stderr[-3000:]
