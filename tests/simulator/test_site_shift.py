"""A site-shifted simulated cohort: its response rate and its effects are the ones asked for."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from simulator import SimulationConfig, simulate
from simulator.site_shift import STRONGEST, SiteShift, shifted_config

DEFAULT = SimulationConfig()


def test_the_response_rate_is_the_one_asked_for() -> None:
    truth = simulate(10_000, 3, config=shifted_config(SiteShift(response_rate=0.35))).truth
    assert truth["true_response_probability"].mean() == pytest.approx(0.35, abs=0.01)
    assert truth["response_status"].mean() == pytest.approx(0.35, abs=0.02)


def test_the_strongest_effects_are_scaled_and_the_rate_kept() -> None:
    config = shifted_config(SiteShift(effect_scale=0.6))
    for name in STRONGEST:
        assert getattr(config.response, name) == pytest.approx(
            0.6 * getattr(DEFAULT.response, name)
        )
    assert config.response.anti_sm_coef == DEFAULT.response.anti_sm_coef
    default_rate = simulate(10_000, 4).truth["true_response_probability"].mean()
    shifted_rate = simulate(10_000, 4, config=config).truth["true_response_probability"].mean()
    assert shifted_rate == pytest.approx(default_rate, abs=0.01)


def test_no_shift_is_the_default_model() -> None:
    config = shifted_config(SiteShift())
    assert config.response.intercept == pytest.approx(DEFAULT.response.intercept, abs=0.02)
    np.testing.assert_allclose(config.response.clinical_sledai_coef, 2.23)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"response_rate": 1.2}, "response_rate"), ({"effect_scale": 0.0}, "effect_scale")],
)
def test_an_impossible_shift_names_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        SiteShift(**kwargs)
