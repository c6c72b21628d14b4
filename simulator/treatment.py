"""Background therapy at baseline: prednisone dose, immunosuppressants and antimalarials.

Prednisone: 86.3 % of patients take corticosteroids and 58.0 % more than 7.5 mg/day (Furie
2014); users' doses are log-normal, rounded to 2.5 mg tablets, and higher with clinical
activity. Immunosuppressants (48.7 %, Furie 2014) are more common with renal activity, since
nephritis is treated with mycophenolate or azathioprine. Antimalarials 65.4 % (BLISS-52/76).
Constants: `simulator.config_baseline.Treatment`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from simulator.config_baseline import Treatment

FloatArray = npt.NDArray[np.float64]


def draw_treatment(
    activity: FloatArray,
    renal: npt.NDArray[np.bool_],
    config: Treatment,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """``prednisone_mg_day`` (0 for non-users), ``immunosuppressant`` and ``antimalarial``."""
    n = activity.size
    rho = config.prednisone_activity_loading
    z = rho * activity + np.sqrt(1 - rho**2) * rng.standard_normal(n)
    dose = config.prednisone_median_mg * np.exp(config.prednisone_sdlog * z)
    step = config.prednisone_step_mg
    dose = np.clip(np.round(dose / step) * step, step, config.prednisone_max_mg)
    user = rng.random(n) < config.corticosteroid_share
    p_immuno = np.where(renal, config.immunosuppressant_renal, config.immunosuppressant_other)
    return pd.DataFrame(
        {
            "prednisone_mg_day": np.where(user, dose, 0.0),
            "immunosuppressant": rng.random(n) < p_immuno,
            "antimalarial": rng.random(n) < config.antimalarial_share,
        }
    )
