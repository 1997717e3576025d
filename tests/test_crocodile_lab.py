"""Browser-less tests of the CrocodileLab app (ipywidgets 8 without a kernel)."""

from __future__ import annotations

import copy
import html
import re

import pytest
import torch

from halign_widgets.crocodile import DOMAIN_TERMS, domain_splits
from halign_widgets.crocodile.evaluation import split_scores
from halign_widgets.data import ImageDataset, make_world
from halign_widgets.errors import ConfigError, InputShapeError, TrainingBusyError
from halign_widgets.widgets import CrocodileLab

SMALL = dict(epochs=2, batch_size=32, width=4, dim=16, device="cpu")


@pytest.fixture(scope="module")
def world() -> ImageDataset:
    return make_world("domains", 160, size=32, seed=0, label_source_corr=0.8)


@pytest.fixture
def lab(world: ImageDataset):
    app = CrocodileLab(world, key="t-croco", **SMALL)
    yield app
    app.close()


def test_panels_start_with_placeholders_and_the_untrained_attention(lab: CrocodileLab) -> None:
    assert lab.history == [] and lab.learned is None and lab.results == {}
    texts = [t.get_text() for ax in lab.curves.figure.axes for t in ax.texts]
    assert "press Start" in texts
    assert "train to see" in [t.get_text() for t in lab.graphs.figure.axes[1].texts]
    assert lab.attention is not None and "untrained" in lab.attention_view.figure.axes[0].get_title()
    assert torch.equal(lab.prior, lab.truth) and lab.preset.value == "full"
    assert not lab.start_button.disabled and lab.stop_button.disabled


def test_bad_input_is_refused_before_anything_is_built(world: ImageDataset) -> None:
    no_ood = ImageDataset(world.images, world.labels, world.classes, world.masks, dict(world.meta), dict(world.info),
                          {k: v for k, v in world.splits.items() if k != "ood"})
    with pytest.raises(ConfigError, match="'ood' split"):
        CrocodileLab(no_ood, key="t-croco-bad")
    with pytest.raises(ConfigError, match="baseline"):
        CrocodileLab(world, config="erm", key="t-croco-bad")
    with pytest.raises(ConfigError, match="epochs must be an integer between 1 and 200, got 0"):
        CrocodileLab(world, epochs=0, key="t-croco-bad")


def test_run_trains_and_fills_every_panel(lab: CrocodileLab) -> None:
    renders = (lab.curves.renders, lab.graphs.renders, lab.attention_view.renders)
    trainer = lab.run()
    assert lab.last_error is None and trainer.state == "finished" and len(lab.history) == 2
    for entry in lab.history:
        assert {"id_map", "ood_map", "train_prior", "train_contrastive", "val_domain"} <= set(entry)
    id_line = lab.curves.figure.axes[0].lines[0]
    ood_line = lab.curves.figure.axes[1].lines[0]
    assert list(id_line.get_ydata()) == lab.history.column("id_map")
    assert list(ood_line.get_ydata()) == lab.history.column("ood_map")
    assert lab.learned is not None and lab.learned.shape == (4, 4)
    assert "training-source validation" in lab.summary.value and "Oracle" in lab.summary.value
    assert set(lab.results) == {"train-val", "oracle"}
    assert (lab.curves.renders, lab.graphs.renders, lab.attention_view.renders) > renders
    assert "trained" in lab.attention_view.figure.axes[0].get_title()
    assert lab.model is trainer.model
    _check_summary(lab, epochs=2)


NUMBER = r"[-+]?\d+(?:\.\d+)?"


def _check_summary(lab: CrocodileLab, epochs: int) -> None:
    """The summary's claims, read back from its text, against scores computed directly (issue 13, Deliver 3)."""
    summary = html.unescape(re.sub(r"<[^>]+>", "", lab.summary.value))
    found = re.search(rf"finished after (\d+) epoch\(s\).*\(epoch (\d+)\): ID test mAP ({NUMBER}), OOD test mAP "
                      rf"({NUMBER}), drop ({NUMBER}).*upper bound, epoch (\d+)\): OOD mAP ({NUMBER})", summary)
    assert found, summary
    assert int(found.group(1)) == epochs == len(lab.history)
    assert 1 <= int(found.group(2)) <= epochs and 1 <= int(found.group(6)) <= epochs
    # the lab's model holds the weights selected on training-source validation
    ind, ood = split_scores(lab.model, lab.splits, "test"), split_scores(lab.model, lab.splits, "ood_test")
    assert float(found.group(3)) == pytest.approx(ind["map"], abs=5e-4)
    assert float(found.group(4)) == pytest.approx(ood["map"], abs=5e-4)
    assert float(found.group(5)) == pytest.approx(ind["map"] - ood["map"], abs=1e-3)
    oracle = copy.deepcopy(lab.model)
    oracle.load_state_dict(lab.tracker.selected_state("oracle"))
    assert float(found.group(7)) == pytest.approx(split_scores(oracle, lab.splits, "ood_test")["map"], abs=5e-4)
    assert html.unescape(re.sub(r"<[^>]+>", "", lab.status.value)) == f"finished: {epochs} epoch(s)"


def test_background_run_disables_start_and_refuses_a_second_one(lab: CrocodileLab) -> None:
    lab.start_button.click()
    assert lab.start_button.disabled and not lab.stop_button.disabled
    assert "training" in lab.attention_view.figure.axes[1].texts[0].get_text(), "the old maps stayed on screen"
    assert "train to see" in [t.get_text() for t in lab.graphs.figure.axes[1].texts]
    lab.run(background=True)
    assert isinstance(lab.last_error, TrainingBusyError)
    lab.select(index=1)                      # never touches the model while it trains
    assert "redrawn when the run ends" in lab.status.value
    assert lab.wait(120) and lab.last_error is None
    assert not lab.start_button.disabled and lab.stop_button.disabled
    lab.run(background=True)
    lab.stop()
    assert not lab.running and lab.trainer.state in ("stopped", "finished")
    if lab.trainer.state == "stopped" and not lab.history:
        assert "before the first epoch ended" in lab.summary.value


def test_prior_editor_presets_and_errors(lab: CrocodileLab) -> None:
    before = lab.graphs.renders
    lab.edit_prior(0, 3, 1.0)
    assert float(lab.prior[0, 3]) == 1.0 and lab.cells[0][3].value == 1.0
    assert "mass → halo = 1" in lab.status.value and lab.graphs.renders > before
    lab.set_prior("reversed")
    assert torch.equal(lab.prior, lab.truth.t())
    assert [[c.value for c in row] for row in lab.cells] == lab.truth.t().tolist()
    lab.set_prior(torch.zeros(3, 3))
    assert isinstance(lab.last_error, InputShapeError) and torch.equal(lab.prior, lab.truth.t())
    lab.set_prior("empty")
    assert lab.last_error is None and float(lab.prior.sum()) == 0.0
    lab.cells[1][2].value = float("nan")                 # refused by the app's float guard
    assert lab.cells[1][2].value == 0.0 and isinstance(lab.last_error, ConfigError)
    lab.set_prior("reversed")
    lab.select(epochs=1)
    lab.run()
    assert torch.equal(lab.trainer.step_fn.prior, lab.truth.t()), "the run did not train with the edited prior"


def test_switches_disable_what_does_nothing_and_refuse_impossible_configurations(lab: CrocodileLab) -> None:
    lab.select(domain_branch=False)
    assert lab.preset.value == "custom"
    for t in DOMAIN_TERMS:
        assert lab.switches[t].disabled and lab.weights[t].disabled
    assert not set(lab.current_configuration().losses.on) & set(DOMAIN_TERMS)
    lab.select(on=["contrastive"])
    assert isinstance(lab.last_error, ConfigError) and "domain branch" in str(lab.last_error)
    lab.select(config="task_domain")
    assert lab.last_error is None and lab.preset.value == "task_domain" and not lab.switches["prior"].value
    assert lab.weights["prior"].disabled and all(c.disabled for row in lab.cells for c in row)
    lab.select(weights={"task": 0.5})
    assert lab.preset.value == "custom" and lab.current_configuration().losses.weight("task") == 0.5
    for bad in (-0.1, lab.weights["task"].max + 1, float("nan"), True):
        lab.select(weights={"task": bad})
        assert isinstance(lab.last_error, ConfigError) and "the weight of 'task' must be a finite number ≥ 0 and ≤" \
            in str(lab.last_error)
    assert lab.weights["task"].value == 0.5                     # a refused weight leaves the slider alone
    lab.select(off=["task", "task_uniform", "task_intervened", "task_consistency", "domain", "domain_uniform",
                    "domain_intervened", "domain_consistency"])
    lab.run()
    assert isinstance(lab.last_error, ConfigError) and "every loss term off" in str(lab.last_error)


def test_attention_panel_follows_the_selection(lab: CrocodileLab) -> None:
    lab.select(part="OOD test", index=2, finding="halo")
    title = lab.attention_view.figure.axes[0].get_title()
    assert lab.last_error is None and "OOD test #2" in title and "halo" in title
    assert {"causal_on_finding", "causal_on_marker", "spurious_on_finding", "spurious_on_marker"} <= set(lab.attention)
    assert "marker" in lab.attention_view.figure.axes[1].get_title()
    lab.select(index=10_000)
    assert isinstance(lab.last_error, ConfigError)
    lab.select(finding="nodule")
    assert "nodule" in str(lab.last_error)


def test_the_lab_accepts_prepared_splits(world: ImageDataset) -> None:
    app = CrocodileLab(domain_splits(world, seed=1), key="t-croco-splits", config="task_only", **SMALL)
    try:
        assert not app.domain_branch.value and app.preset.value == "task_only"
    finally:
        app.close()
