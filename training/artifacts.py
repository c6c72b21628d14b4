"""A validation report as files: tables (CSV) and plots (PNG), logged to the active MLflow run."""

from __future__ import annotations

from pathlib import Path

from infra.artifacts import DECISION_CURVE_ARTIFACT
from training import plots
from training.validate import ValidationReport


def log_validation(
    report: ValidationReport, folder: Path, artifact_path: str | None = None
) -> None:
    """Write the report's tables and plots into ``folder`` and log them to the active run
    (under ``artifact_path`` when given, else at the run's root)."""
    import mlflow

    validation = folder / "validation"
    plot_folder = folder / "plots"
    validation.mkdir()
    plot_folder.mkdir()
    report.summary().to_csv(validation / "metrics.csv", index=False)
    report.subgroups.to_csv(validation / "subgroups.csv", index=False)
    report.decision_curve.to_csv(folder / DECISION_CURVE_ARTIFACT, index=False)
    report.calibration_curve.to_csv(validation / "calibration_curve.csv", index=False)
    report.effects.to_csv(validation / "effects.csv", index=False)
    if report.bootstrap is not None:
        report.bootstrap.to_frame().rename_axis("metric").to_csv(validation / "bootstrap.csv")
        report.bootstrap.point632plus_frame().rename_axis("metric").to_csv(
            validation / "bootstrap_632plus.csv"
        )
    low, high = report.interval("auroc")
    plots.roc_plot(
        report.y,
        report.curve_p,
        f"AUROC {report.headline('auroc'):.3f} ({low:.3f}-{high:.3f})",
        plot_folder / "roc.png",
    )
    plots.calibration_plot(
        report.calibration_curve,
        report.curve_p,
        f"slope {report.headline('calibration_slope'):.2f}, "
        f"intercept {report.headline('calibration_intercept'):.2f}",
        plot_folder / "calibration.png",
    )
    plots.decision_curve_plot(report.decision_curve, plot_folder / "decision_curve.png")
    plots.effects_plot(
        report.effects, "odds ratio of SRI-4 response (log scale)", plot_folder / "effects.png"
    )
    mlflow.log_artifacts(str(folder), artifact_path=artifact_path)
