"""Synthetic belimumab-treated SLE cohorts calibrated to the published BLISS tables.

``simulate(n, seed)`` returns a `SimulatedCohort` of raw ``patients``, ``labs`` and
``assessments`` tables, laid out as `features.tables` declares, and a ``truth`` table with the
true SRI-4 response probability; ``write_tables`` writes them as CSV or Parquet. Every
calibration constant lives in `SimulationConfig`, with its source; ``shifted_config`` makes the
config of a site whose response rate and strongest effects differ (`SiteShift`).
``data/README.md`` describes the files and the effect structure.
"""

from simulator.cohort import SimulatedCohort, simulate
from simulator.config import SimulationConfig
from simulator.io import write_tables
from simulator.site_shift import SiteShift, shifted_config

__all__ = [
    "SimulatedCohort",
    "SimulationConfig",
    "SiteShift",
    "shifted_config",
    "simulate",
    "write_tables",
]
