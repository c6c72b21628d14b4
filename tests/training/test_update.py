"""`mrbs update` end to end on the session's store: the site model, its lineage, its cards."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.cohort import assemble
from features.io import write_table
from simulator import simulate
from simulator.site_shift import SiteShift, shifted_config
from tests.conftest import TRAINED, ModelStore
from training.config import DEFAULT_CONFIG, load_config
from training.update import UpdateError, UpdateResult, site_model_name, update

QUICK = load_config(DEFAULT_CONFIG.parent / "quick.yaml")


def shifted_baseline(folder: Path, n: int = 400, seed: int = 21) -> Path:
    """A site with 35 % responders and weaker effects, as a baseline table."""
    config = shifted_config(SiteShift(response_rate=0.35, effect_scale=0.7))
    raw = simulate(n, seed, config=config)
    table = assemble(raw.patients, raw.labs, raw.assessments).table
    return write_table(table, folder / "site-b.parquet")


@pytest.fixture(scope="module")
def updated(model_store: ModelStore, tmp_path_factory: pytest.TempPathFactory) -> UpdateResult:
    cohort = shifted_baseline(tmp_path_factory.mktemp("site"))
    return update(TRAINED, cohort, QUICK, model_store.settings, site="site-b", echo=lambda _: None)


@pytest.mark.slow
def test_the_site_model_is_registered_with_its_lineage_and_cards(updated: UpdateResult) -> None:
    import mlflow
    from mlflow import MlflowClient

    registered = updated.registered
    assert (registered.name, registered.version) == ("mrbs-sri4-site-b", "1")
    tags = MlflowClient().get_model_version(registered.name, registered.version).tags
    assert tags["mrbs.parent_model"] == "mrbs-sri4"
    assert tags["mrbs.parent_version"] == "1"
    assert tags["mrbs.update.method"] == str(updated.test.chosen)
    assert tags["mrbs.local_n"] == str(updated.test.n)
    assert tags["mrbs.local_events"] == str(updated.test.events)
    assert len(tags["mrbs.cohort_sha256"]) == 64
    # 35 % responders against a parent fitted on 51 %: the parent is updated.
    assert updated.test.chosen >= 1
    assert updated.before.headline("calibration_intercept") < -0.3
    assert abs(updated.after.headline("calibration_intercept")) < 0.2
    for card in updated.cards.values():
        text = mlflow.artifacts.load_text(card.replace(".html", ".md"))
        assert "## Performance" in text
        assert "95 % interval" in text
    assert "before updating" in mlflow.artifacts.load_text(
        updated.cards["before"].replace(".html", ".md")
    )


@pytest.mark.slow
def test_promote_applies_the_same_gate_to_the_site_model(updated: UpdateResult) -> None:
    from training.registry import PromotionRefusedError, promote, resolve_alias

    name, version = updated.registered.name, updated.registered.version
    if updated.gate.passed:
        promote(name, version, QUICK)
        assert resolve_alias(name, "champion") == version
    else:
        with pytest.raises(PromotionRefusedError):
            promote(name, version, QUICK)


@pytest.mark.slow
def test_the_updated_model_loads_as_the_site_model(
    updated: UpdateResult, model_store: ModelStore
) -> None:
    from scoring.loading import load

    scorer = load(updated.registered.model_uri, model_store.settings)
    assert (scorer.identity.name, scorer.identity.version) == ("mrbs-sri4-site-b", "1")


@pytest.mark.parametrize("site", ["Site B", "", "-b", "b" * 64, "b/c"])
def test_an_unusable_site_name_is_refused_naming_the_option(site: str) -> None:
    with pytest.raises(UpdateError, match="--site"):
        site_model_name(site, QUICK)
