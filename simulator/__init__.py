"""Synthetic belimumab-treated SLE cohorts calibrated to the published BLISS tables.

``simulate(n, seed)`` returns a `SimulatedCohort` of raw ``patients``, ``labs`` and
``assessments`` tables, laid out as `features.tables` declares, and a ``truth`` table with the
true SRI-4 response probability; ``write_tables`` writes them as CSV or Parquet. Every
calibration constant lives in `SimulationConfig`, with its source. ``data/README.md`` describes
the files and the effect structure.
"""

from simulator.cohort import SimulatedCohort, simulate
from simulator.config import SimulationConfig
from simulator.io import write_tables

__all__ = ["SimulatedCohort", "SimulationConfig", "simulate", "write_tables"]
