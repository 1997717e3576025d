"""ConnectomeExplorer driven from Python (no browser)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from halign_widgets.biovision import CoCoReco, ScratchCNN, pathway_edges
from halign_widgets.data import make_world
from halign_widgets.errors import ConfigError, InputShapeError, UnknownNameError
from halign_widgets.widgets import ConnectomeExplorer


@pytest.fixture(scope="module")
def world():
    return make_world("context", 16, size=32, seed=0, decoy=0.0)


@pytest.fixture(scope="module")
def model() -> CoCoReco:
    torch.manual_seed(0)
    m = CoCoReco(width=32).eval()
    with torch.no_grad():                     # a non-trivial decision layer, so cuts move the prediction
        m.classifier.weight.mul_(20.0)
    return m


def _state(model: CoCoReco) -> tuple:
    return model.gains.clone(), model.edge_on.clone(), dict(model.cab_on), model.cab_active


def test_cutting_a_pathway_changes_the_prediction_and_leaves_the_model_alone(model, world) -> None:
    before = _state(model)
    app = ConnectomeExplorer(model, world, key="t-conn")
    try:
        intact = app.result["probs"].copy()
        assert np.allclose(intact, app.result["intact_probs"]) and app.last_error is None
        renders = app.detail_view.renders
        app.pathway_boxes["dorsal"].value = True                      # what a click does
        assert app.cut_pathways == {"dorsal"} and app.detail_view.renders == renders + 1
        assert set(app.result["cut_edges"]) == set(pathway_edges("dorsal"))
        assert not np.allclose(app.result["probs"], intact), "cutting the dorsal stream did not move the prediction"
        assert np.allclose(app.result["intact_probs"], intact)
        assert "dorsal stream" in app.info.value and "intact model" in app.info.value
        now = _state(model)
        assert torch.equal(now[0], before[0]) and torch.equal(now[1], before[1]) and now[2:] == before[2:]
        app.reset()
        assert np.allclose(app.result["probs"], intact) and "nothing cut" in app.info.value
    finally:
        app.close()


def test_gain_slider_edge_cut_and_cab_switch(model, world) -> None:
    app = ConnectomeExplorer(model, world, key="t-conn")
    try:
        intact = app.result["probs"].copy()
        app.select(edge="v4->it")
        assert app.gain.value == pytest.approx(0.07) and not app.edge_cut.value
        app.gain.value = 1.5
        assert app.result["gains"]["v4->it"] == 1.5 and "v4->it = 1.5" in app.info.value
        assert model.gain("v4->it") == 0.07
        app.select(edge="pfc->it")
        assert app.gain.value == 1.0                                  # the slider follows the picked edge
        app.edge_cut.value = True
        assert "pfc->it" in app.result["cut_edges"]
        app.select(edge="v4->it")
        assert app.gain.value == 1.5 and not app.edge_cut.value       # overrides are remembered per edge
        assert set(app.result["factors"]) == {"v1", "pfc", "it"}
        app.cab.value = False
        assert app.result["factors"] == {} and "CABs off" in app.info.value
        texts = " ".join(t.get_text() for ax in app.factor_view.figure.axes for t in ax.texts)
        assert "CABs are off" in texts
        app.reset()
        assert np.allclose(app.result["probs"], intact) and app.cab.value and app.gain.value == pytest.approx(0.07)
    finally:
        app.close()


def test_area_panel_shows_its_channels_and_a_cam_or_why_not(model, world) -> None:
    app = ConnectomeExplorer(model, world, key="t-conn")
    try:
        app.select(index=3, area="v4")
        r = app.result
        assert r["index"] == 3 and r["area"] == "v4" and r["activations"].shape == (4, 4, 4)
        assert r["cam"] is not None and r["cam"].shape == (32, 32) and float(r["cam"].max()) == pytest.approx(1.0)
        app.select(pathways=["ventral", "dorsal"])                    # V4's output no longer reaches IT
        assert app.result["cam"] is None and app.last_error is None
        texts = " ".join(t.get_text() for ax in app.detail_view.figure.axes for t in ax.texts)
        assert "no longer" in texts
    finally:
        app.close()


def test_errors_are_inline_and_the_app_stays_usable(model, world) -> None:
    app = ConnectomeExplorer(model, world, key="t-conn")
    try:
        app.select(area="v44")
        assert isinstance(app.last_error, UnknownNameError) and "did you mean" in app.error_box.value
        app.select(index=99)
        assert isinstance(app.last_error, ConfigError)
        app.select(pathways=["sideways"])
        assert isinstance(app.last_error, UnknownNameError)
        for bad in (-1.0, float("inf"), float("nan"), True):   # the library's gain check, so inf and bools too
            app.select(edge="v1->v3", gain=bad)
            assert isinstance(app.last_error, ConfigError) and "the gain of v1->v3 must be a finite number ≥ 0" in \
                str(app.last_error)
        app.select(index=1, area="it")
        assert app.last_error is None and app.result["index"] == 1
    finally:
        app.close()


def test_a_model_without_cab_disables_the_switch(world) -> None:
    app = ConnectomeExplorer(CoCoReco(width=32, cab_areas=()).eval(), world, key="t-conn-nocab")
    try:
        assert app.cab.disabled and not app.cab.value and app.result["factors"] == {}
        texts = " ".join(t.get_text() for ax in app.factor_view.figure.axes for t in ax.texts)
        assert "no Contextual Attention Block" in texts
        app.select(cab=True)
        assert isinstance(app.last_error, ConfigError)
    finally:
        app.close()


def test_bad_construction_is_refused_with_a_typed_error(model, world) -> None:
    with pytest.raises(ConfigError, match="CoCoReco"):
        ConnectomeExplorer(ScratchCNN(), world, key="t-conn-bad")
    with pytest.raises(InputShapeError, match="32×32"):
        ConnectomeExplorer(model, torch.rand(2, 1, 16, 16), key="t-conn-bad")
    with pytest.raises(UnknownNameError, match="area"):
        ConnectomeExplorer(model, world, key="t-conn-bad", area="v9")
