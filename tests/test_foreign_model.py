"""Your own model in every method and app: a small CNN defined here, not one of the lab's models.

Issue 17: any ``nn.Module`` classifier with at least one conv layer works in ``explain`` (every
method), SUNY, the metrics, the causality maps and every app; a model that lacks what a method
needs (no conv layer, no logits) gets a clear error.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from halign_widgets.causality import causality_map_of, features_of
from halign_widgets.data import ImageDataset
from halign_widgets.errors import ConfigError, HalignError, InputShapeError
from halign_widgets.explain import explain, list_methods, suny
from halign_widgets.explain.metrics import deletion_insertion, pointing_game, relevance_mass
from halign_widgets.models import feature_layer
from halign_widgets.widgets import (
    ActivationMaximizationStudio,
    AttributionExplorer,
    CausalityMapExplorer,
    SunyExplorer,
    TrainingDashboard,
)


class TheirCNN(nn.Module):
    """A researcher's classifier: no in_channels, no last_conv_layer, no forward_features."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                  nn.Conv2d(6, 8, 3, padding=1), nn.ReLU(inplace=True))
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.body(x).mean((2, 3)))


class NoConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16 * 16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class Scalar(TheirCNN):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)[:, 0]          # one number per image: no class logits


@pytest.fixture(scope="module")
def model() -> TheirCNN:
    torch.manual_seed(0)
    return TheirCNN().eval()


@pytest.fixture(scope="module")
def world() -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    x = 0.3 + 0.1 * torch.rand(12, 1, 16, 16, generator=g)
    y = torch.arange(12) % 2
    x[y == 1, :, 4:10, 4:10] += 0.4
    masks = torch.zeros(12, 1, 16, 16, dtype=torch.bool)
    masks[:, :, 4:10, 4:10] = True
    return ImageDataset(x, y, ["a", "b"], masks, splits={"train": torch.arange(8), "val": torch.arange(8, 12)})


def test_every_method_explains_a_foreign_model(model, world) -> None:
    x = world.images[:2]
    assert feature_layer(model) == "body.4"                 # the ReLU after the last conv
    for method in list_methods():
        e = explain(model, x, method)
        assert e.maps.shape == (2, 16, 16) and torch.isfinite(e.maps).all(), method
        if e.layer is not None:
            assert e.layer == "body.3"                      # CAM-family: the last conv layer
    res = suny(model, x[:1], causes="patches", grid=2, pool=None)
    assert torch.allclose(res.r_n, res.r_s, atol=1e-5)      # self-duality holds for any model
    cam = explain(model, x, "gradcam").maps
    curves = deletion_insertion(model, x, cam, steps=4)
    assert curves.deletion_curve.shape == (2, 5)
    assert relevance_mass(cam, world.masks[:2]).shape == (2,) and pointing_game(cam, world.masks[:2]).shape == (2,)


def test_causality_maps_of_a_foreign_model(model, world) -> None:
    out = causality_map_of(model, world.images[:3])
    assert out["features"].shape == (3, 8, 8, 8) and out["map"].shape == (3, 8, 8)
    assert bool((out["features"] >= 0).all()), "the features are taken after the ReLU"
    raw = features_of(model, world.images[:3], "body.3")      # a layer of your choice: the conv itself
    assert raw.shape == out["features"].shape and torch.equal(raw.clamp(min=0), out["features"])


def test_every_app_runs_a_foreign_model(model, world) -> None:
    apps = [AttributionExplorer(model, world, key="foreign-attr", methods=["gradcam", "saliency"], steps=2),
            SunyExplorer(model, world, key="foreign-suny"),
            CausalityMapExplorer(model, world, key="foreign-causality"),
            ActivationMaximizationStudio(model, key="foreign-actmax", size=16)]
    try:
        attr, suny_app, causal, studio = apps
        assert attr.last_error is None and set(attr.explanations) == {"gradcam", "saliency"}
        suny_app.select(causes="patches", pool=4, grid=2)
        assert suny_app.last_error is None and suny_app.result is not None
        assert suny_app.intervene(None, "remove") is not None and suny_app.last_error is None
        assert causal.last_error is None and causal.result["k"] == 8
        causal.select(estimator="lehmer", p=2.0)
        assert causal.last_error is None
        studio.kind.value = "channel"
        studio.layer.value = "body.3"
        studio.steps.value = 10
        result = studio.run()
        assert studio.last_error is None and result.unit == ("channel", "body.3", 0)
    finally:
        for app in apps:
            app.close()
    dash = TrainingDashboard(TheirCNN, world, epochs=1, batch_size=4, key="foreign-dash")
    try:
        trainer = dash.run()
        assert dash.last_error is None and trainer.state == "finished" and len(dash.history) == 1
        assert isinstance(dash.model, TheirCNN)
    finally:
        dash.close()


def test_the_leaderboard_and_the_sanity_check_on_a_foreign_model(model, world) -> None:
    from halign_widgets.explain import evaluate_methods
    from halign_widgets.explain.metrics import sanity_check

    masks = torch.zeros(12, 1, 16, 16, dtype=torch.bool)
    masks[:, :, 4:10, 4:10] = True
    table = evaluate_methods(model, (world.images, world.labels, masks), ["gradcam", "saliency"], n_images=6,
                             steps=4, split=None)
    assert list(table["method"]) == ["gradcam", "saliency"]
    scores = [c for c in table.columns if c != "method" and not c.startswith("seconds_per_image")]
    assert {"deletion", "insertion", "pointing", "relevance_mass"} <= set(scores), scores
    assert table[scores].notna().all().all(), table[scores]           # every score, localization and sanity too
    before = {k: v.clone() for k, v in model.state_dict().items()}
    found = sanity_check(model, world.images[:3], "gradcam")
    assert len(found) >= 2 and all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_the_apps_of_one_architecture_say_which_model_they_need(model) -> None:
    from halign_widgets.data import make_world
    from halign_widgets.prototypes import ProtoPNet
    from halign_widgets.widgets import ConnectomeExplorer, ProtoPNetDashboard, PrototypeBrowser

    world = make_world("masses", n=40, size=16, seed=0)
    with pytest.raises(ConfigError, match=r"TheirCNN has none.*backbone.features = nn.Sequential"):
        ProtoPNet(backbone=model)
    with pytest.raises(ConfigError, match=r"shows a ProtoPNet, got a TheirCNN.*train_protopnet"):
        PrototypeBrowser(model, world)
    with pytest.raises(ConfigError, match=r"shows a CoCoReco model, got TheirCNN.*CoCoReco\("):
        ConnectomeExplorer(model, world)
    dash = ProtoPNetDashboard(TheirCNN(), world, key="foreign-protopnet")
    try:                                   # the dashboard says so inline and stays usable
        assert dash.run() is None and "trains a ProtoPNet, got a TheirCNN" in str(dash.last_error)
        assert not dash.start_button.disabled
    finally:
        dash.close()


def test_a_model_without_conv_layers_gets_a_clear_error(world) -> None:
    model = NoConv().eval()
    assert explain(model, world.images[:2], "saliency").maps.shape == (2, 16, 16)   # input methods work
    for call in (lambda: explain(model, world.images[:2], "gradcam"),
                 lambda: causality_map_of(model, world.images[:2]),
                 lambda: suny(model, world.images[:1])):
        with pytest.raises(ConfigError, match="Conv2d|conv layer"):
            call()
    with pytest.raises(HalignError, match="Conv2d"):
        CausalityMapExplorer(model, world, key="foreign-noconv")


def test_a_model_without_class_logits_gets_a_clear_error(world) -> None:
    model = Scalar().eval()
    with pytest.raises(InputShapeError, match="logits"):
        explain(model, world.images[:2], "gradcam")
