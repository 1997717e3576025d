"""Every public method and app runs with a float64 model (issue 15, item 4).

On a CPU machine most "the model lives elsewhere" assumptions show up as dtype errors: a method
that feeds float32 CPU tensors to a float64 model fails exactly where it would feed CPU tensors
to a CUDA model. ``tests/test_dtypes.py`` covers explain(), every metric, activation
maximization, the Trainer and the causality maps; this file covers the rest of the public API —
the leaderboard, the shortcut detective, the causality module and networks, the training helpers
notebooks call (``predict``, ``evaluate``, ``load_trained``) — and every app that takes or trains a
model, the later chapters' too (PrototypeBrowser, ProtoPNetDashboard, CrocodileLab, ConnectomeExplorer).
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

from halign_widgets.causality import (
    CausalClassifier,
    CausalCNN,
    CausalityModule,
    causality_factors,
    causality_map_of,
    channel_order,
    channel_statistic,
    feature_extractor,
    random_factors,
)
from halign_widgets.data import ImageDataset
from halign_widgets.explain import (
    GradCAM,
    GradCAMPlusPlus,
    LayerCAM,
    ScoreCAM,
    evaluate_methods,
    leaderboard_plot_data,
    rise,
    shortcut_detective,
)
from halign_widgets.models import SmallCNN, get_layer, layer_shapes, model_dtype
from halign_widgets.training import (
    evaluate,
    fit_classifier,
    load_trained,
    predict,
    recalibrate_batchnorm,
    recompute_bn_stats,
    save_checkpoint,
)


def _world(n: int = 12, size: int = 32) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    images = 0.3 * torch.rand(n, 1, size, size, generator=g)
    labels = torch.arange(n) % 2
    masks = torch.zeros(n, 1, size, size, dtype=torch.bool)
    masks[:, :, 8:20, 8:20] = True
    images[labels == 1, :, 8:20, 8:20] += 0.6
    splits = {"train": torch.arange(0, n - 4), "val": torch.arange(n - 4, n - 2), "test": torch.arange(n - 2, n)}
    info = {"marker_box": (0, 4, 0, 4)}
    return ImageDataset(images, labels, ["a", "b"], masks, {}, info, splits)


@pytest.fixture(scope="module")
def world() -> ImageDataset:
    return _world()


@pytest.fixture(scope="module")
def m64(world: ImageDataset) -> SmallCNN:
    torch.manual_seed(0)
    model = SmallCNN(in_channels=1, num_classes=2, width=4, depth=3).double()
    return recalibrate_batchnorm(model, world.images).eval()


def _finite(t: torch.Tensor) -> bool:
    return bool(torch.isfinite(torch.as_tensor(t)).all())


def test_the_leaderboard_scores_a_float64_model(m64: SmallCNN, world: ImageDataset) -> None:
    table = evaluate_methods(m64, world, ["gradcam", "saliency"], n_images=4, steps=4, sanity=True, split=None)
    assert list(table["method"]) == ["gradcam", "saliency"]
    assert table[["deletion", "insertion", "pointing"]].notna().all().all()
    assert len(leaderboard_plot_data(table)) > 0
    assert model_dtype(m64) is torch.float64  # nothing cast the model behind our back


def test_the_shortcut_detective_on_float64_models(m64: SmallCNN, world: ImageDataset) -> None:
    table = shortcut_detective({"a": m64, "b": copy.deepcopy(m64)}, world, ["gradcam"], n_images=4, split=None,
                               which="all")
    assert set(table["model"]) == {"a", "b"} and table["accuracy"].between(0, 1).all()


@pytest.mark.parametrize("cam", [GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM])
def test_cam_classes_and_rise_on_a_float64_model(cam, m64: SmallCNN, world: ImageDataset) -> None:
    x, target = world.images[:2], torch.tensor([1, 0])
    maps = cam(m64, get_layer(m64, m64.last_conv_layer))(x, target)
    assert maps.shape == (2, 32, 32) and maps.dtype == torch.float32 and _finite(maps)
    assert _finite(rise(m64, x, target, n_masks=16, batch_size=8))


def test_causality_module_networks_and_maps_in_float64(world: ImageDataset) -> None:
    x = world.images[:3]
    torch.manual_seed(0)
    net = CausalCNN(width=4, depth=3, setting="mulcat", image_size=32).double().eval()
    assert net(x.double()).dtype == torch.float64
    out = causality_map_of(net, x)
    assert all(_finite(v) for v in out.values())
    features = feature_extractor(net, net.last_conv_layer)(x.double())
    assert features.dtype == torch.float64
    statistic = channel_statistic(features)
    assert _finite(statistic) and channel_order(statistic).shape == (3, features.shape[1])
    assert causality_factors(out["map"].double()).dtype == torch.float64
    assert random_factors(3, 4, dtype=torch.float64).dtype == torch.float64
    module = CausalityModule("mulcatbool").double()
    assert module(features).dtype == torch.float64
    torch.manual_seed(0)
    backbone = SmallCNN(width=4, depth=3).double()
    wrapped = CausalClassifier(backbone, "features.conv2", num_classes=2, input_shape=(1, 32, 32)).double().eval()
    assert wrapped(x.double()).dtype == torch.float64
    assert layer_shapes(backbone, (1, 32, 32))["features.conv3"] == (16, 8, 8)


def test_predict_and_evaluate_follow_a_float64_model(m64: SmallCNN, world: ImageDataset) -> None:
    x = world.images  # float32 images, a float64 model
    probs = predict(m64, x, batch_size=5)
    with torch.no_grad():
        expected = torch.softmax(m64(x.double()), 1).float()
    assert probs.dtype == torch.float32 and probs.device.type == "cpu"
    assert torch.allclose(probs, expected, atol=1e-6)
    assert torch.equal(predict(m64, world, output="labels"), expected.argmax(1))
    assert torch.allclose(predict(m64, (x, world.labels), output="logits"), m64(x.double()).float(), atol=1e-5)
    scores = evaluate(m64, world.test, batch_size=1)
    with torch.no_grad():
        logits = m64(world.test.images.double())
    assert math.isclose(scores["accuracy"], float((logits.argmax(1) == world.test.labels).double().mean()))
    assert math.isclose(scores["loss"], float(torch.nn.functional.cross_entropy(logits, world.test.labels)),
                        rel_tol=1e-9)


def test_training_helpers_and_reloading_keep_float64(m64: SmallCNN, world: ImageDataset, tmp_path) -> None:
    model = copy.deepcopy(m64)
    assert recompute_bn_stats(model, world.train, num_images=6, batch_size=4) == 3
    trained, trainer = fit_classifier(world, model, epochs=1, batch_size=4, device="cpu", progress=False)
    assert model_dtype(trained) is torch.float64 and math.isfinite(trainer.history[-1]["train_loss"])
    path = save_checkpoint(tmp_path / "m.pt", trained, history=list(trainer.history))
    again, history = load_trained(path)  # rebuilt in float32 from its config, the float64 weights cast
    assert model_dtype(again) is torch.float32 and len(history) == 1
    assert torch.allclose(predict(again, world.images), predict(trained, world.images), atol=1e-5)


# -- apps ------------------------------------------------------------------------------------------

def test_attribution_explorer_on_a_float64_model(m64: SmallCNN, world: ImageDataset) -> None:
    from halign_widgets.widgets import AttributionExplorer

    app = AttributionExplorer(m64, world, key="f64-attr", methods=["gradcam", "saliency"], steps=4)
    try:
        assert app.last_error is None and set(app.explanations) == {"gradcam", "saliency"}
    finally:
        app.close()


def test_suny_explorer_on_a_float64_model(m64: SmallCNN, world: ImageDataset) -> None:
    from halign_widgets.widgets import SunyExplorer

    app = SunyExplorer(m64, world.subset(torch.arange(3)), key="f64-suny")
    try:
        app.run()
        assert app.last_error is None
    finally:
        app.close()


def test_actmax_studio_on_a_float64_model() -> None:
    from halign_widgets.widgets import ActivationMaximizationStudio

    torch.manual_seed(0)
    app = ActivationMaximizationStudio(SmallCNN(width=4, depth=2).double(), key="f64-actmax", size=16)
    try:
        app.steps.value = 10
        result = app.run()
        assert app.last_error is None and result is not None and len(result.trajectory) == 10
    finally:
        app.close()


def test_causality_explorer_on_a_float64_model(world: ImageDataset) -> None:
    from halign_widgets.widgets import CausalityMapExplorer

    torch.manual_seed(0)
    net = CausalCNN(width=2, depth=2, setting="mulcat", image_size=32).double()
    app = CausalityMapExplorer(net, world.images[:3], key="f64-cexp")
    try:
        assert app.last_error is None and _finite(app.result["map"])
    finally:
        app.close()


def test_training_dashboard_trains_a_float64_model(world: ImageDataset) -> None:
    from halign_widgets.widgets import TrainingDashboard

    torch.manual_seed(0)
    model = SmallCNN(width=4, depth=2).double()
    dash = TrainingDashboard(model, world, epochs=1, batch_size=4, key="f64-dash", device="cpu")
    try:
        dash.start()
        assert dash.wait(60) and dash.last_error is None and len(dash.history) == 1
        assert model_dtype(dash.model) is torch.float64
    finally:
        dash.close()


# -- the apps of chapters 03, 05 and 06 ---------------------------------------------------------------

def _proto64() -> torch.nn.Module:
    from halign_widgets.prototypes import ProtoPNet

    torch.manual_seed(0)
    return ProtoPNet(1, 2, 2, 4, width=4, depth=2).double()


def test_prototype_browser_explains_and_edits_a_float64_protopnet(world: ImageDataset) -> None:
    from halign_widgets.widgets import PrototypeBrowser

    model = _proto64()
    app = PrototypeBrowser(model, world, key="f64-pb", k=2)         # pushes located now, on float32 images
    try:
        assert app.last_error is None and app.explanation is not None
        assert app.explanation.logits.dtype == torch.float64 and _finite(app.explanation.logits)
        app.select(index=1, prototype=0)
        assert app.last_error is None and app.nearest is not None
        app.disable_button.click()                                   # scores the test split with the edit
        assert app.last_error is None and model.prototype_active[0] == 0
        app.undo_button.click()
        assert app.last_error is None and model.prototype_active[0] == 1
        assert model_dtype(model) is torch.float64
    finally:
        app.close()


def test_protopnet_dashboard_trains_a_float64_protopnet_through_its_stages(world: ImageDataset) -> None:
    from halign_widgets.prototypes import Schedule
    from halign_widgets.widgets import ProtoPNetDashboard

    dash = ProtoPNetDashboard(_proto64, world, schedule=Schedule(0, 1, 1), batch_size=4, key="f64-pd", device="cpu")
    try:
        dash.run()
        assert dash.last_error is None and dash.state == "finished"
        assert [h["stage"] for h in dash.history] == ["joint", "last layer · push 1"]
        assert all(math.isfinite(h["train_loss"]) for h in dash.history) and dash.push is not None
        assert model_dtype(dash.model) is torch.float64
    finally:
        dash.close()


def test_crocodile_lab_trains_and_draws_a_float64_crocodilenet(monkeypatch) -> None:
    from halign_widgets.crocodile import run as crocodile_run
    from halign_widgets.data import make_world
    from halign_widgets.widgets import CrocodileLab, crocodile_lab

    built = crocodile_run.build_model

    def build64(*args, **kwargs):                    # the lab builds its own models: make them float64
        return built(*args, **kwargs).double()

    monkeypatch.setattr(crocodile_run, "build_model", build64)
    monkeypatch.setattr(crocodile_lab, "build_model", build64)
    domains = make_world("domains", 96, size=32, seed=0, label_source_corr=0.8)
    lab = CrocodileLab(domains, key="f64-croco", epochs=1, batch_size=32, width=4, dim=16, device="cpu")
    try:
        assert lab.last_error is None and model_dtype(lab.model) is torch.float64   # untrained attention drawn
        lab.run()
        assert lab.last_error is None and lab._trained and model_dtype(lab.model) is torch.float64
        assert all(math.isfinite(v) for v in lab.results["train-val"].values())
        assert lab.learned is not None and _finite(lab.learned)
        assert lab.attention is not None
    finally:
        lab.close()


def test_connectome_explorer_on_a_float64_cocoreco() -> None:
    from halign_widgets.biovision import CoCoReco
    from halign_widgets.data import make_world
    from halign_widgets.widgets import ConnectomeExplorer

    torch.manual_seed(0)
    model = CoCoReco(width=32).double().eval()
    app = ConnectomeExplorer(model, make_world("context", 6, size=32, seed=0), key="f64-conn")
    try:
        assert app.last_error is None and math.isclose(float(app.result["probs"].sum()), 1.0, rel_tol=1e-6)
        app.pathway_boxes["dorsal"].value = True                     # a cut: the model runs again
        assert app.last_error is None and model_dtype(model) is torch.float64
    finally:
        app.close()
