"""Every method follows the model's dtype (issue 12, item 8).

A float64 copy of a float32 SmallCNN must give the same explanations, metrics, training runs and
causality maps as the float32 original, up to float32 rounding; a bfloat16 copy must work too
(looser tolerance: bfloat16 keeps about three significant digits). Inputs stay float32 — the
methods cast them — and returned maps stay float32.
"""

from __future__ import annotations

import copy

import pytest
import torch

from halign_widgets.causality import CausalClassifier, CausalCNN, causality_map, causality_map_of
from halign_widgets.explain import activation_maximization, explain, list_methods, suny
from halign_widgets.explain.metrics import (
    average_drop_increase,
    deletion_insertion,
    energy_pointing,
    pointing_game,
    relevance_mass,
    sanity_check,
)
from halign_widgets.models import SmallCNN, layer_shapes, model_dtype, model_input
from halign_widgets.training import Trainer

OPTIONS = {"integrated_gradients": {"n_steps": 4}, "gradient_shap": {"n_samples": 3},
           "smoothgrad": {"n_samples": 3}, "rise": {"n_masks": 24, "batch_size": 8}, "occlusion": {},
           "suny": {"causes": "patches", "grid": 2, "pool": None}}


def _warm(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give batch norm non-trivial statistics, then eval mode."""
    g = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(8, model.in_channels, 32, 32, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def m32() -> SmallCNN:
    torch.manual_seed(0)
    return _warm(SmallCNN(in_channels=1, num_classes=3, width=4, depth=3))


@pytest.fixture(scope="module")
def m64(m32: SmallCNN) -> SmallCNN:
    return copy.deepcopy(m32).double()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(1))


def close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-4) -> bool:
    """Equal up to ``rel`` of the larger map's max |value| (maps have arbitrary scales)."""
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-12)
    return bool(((a.double() - b.double()).abs() <= rel * scale).all())


def test_model_dtype_and_input_follow_the_first_floating_parameter(m64: SmallCNN) -> None:
    assert model_dtype(m64) == torch.float64 and model_dtype(torch.nn.ReLU()) is None
    assert model_input(m64, torch.zeros(1, 1, 4, 4)).dtype == torch.float64
    assert model_input(torch.nn.ReLU(), torch.zeros(1, dtype=torch.float16)).dtype == torch.float16
    assert model_input(m64, torch.zeros(2, dtype=torch.long), images=False).dtype == torch.long
    assert layer_shapes(m64, (1, 32, 32))["features.conv3"] == (16, 8, 8)


@pytest.mark.parametrize("method", list_methods())
def test_every_method_of_explain_gives_the_float32_maps_on_a_float64_model(method, m32, m64, x) -> None:
    a = explain(m32, x, method, target=[0, 2], **OPTIONS.get(method, {}))
    b = explain(m64, x, method, target=[0, 2], **OPTIONS.get(method, {}))
    assert b.maps.dtype == torch.float32 and b.maps.shape == (2, 32, 32)
    assert float(a.maps.abs().max()) > 0 and close(a.maps, b.maps), method


@pytest.mark.parametrize("method", ["saliency", "gradcam", "integrated_gradients", "scorecam", "rise"])
def test_a_bfloat16_model_explains_close_to_float32(method, m32, x) -> None:
    mbf = copy.deepcopy(m32).to(torch.bfloat16)
    a = explain(m32, x, method, target=[0, 2], **OPTIONS.get(method, {}))
    b = explain(mbf, x, method, target=[0, 2], **OPTIONS.get(method, {}))
    assert b.maps.dtype == torch.float32 and bool(torch.isfinite(b.maps).all())
    corr = torch.corrcoef(torch.stack([a.maps.flatten(), b.maps.flatten()]))[0, 1]
    assert float(corr) > 0.97, (method, float(corr))


def test_suny_features_on_a_float64_model(m32, m64, x) -> None:
    a = suny(m32, x[:1], target=1, layer="features.conv1", pool=None)
    b = suny(m64, x[:1], target=1, layer="features.conv1", pool=None)
    assert torch.allclose(a.r_n, b.r_n, atol=1e-6) and torch.allclose(a.r_s, b.r_s, atol=1e-6)
    # the Shapley values are ~1e-5 here, so float32 rounding shows at 1e-3 of the max-normalized map
    assert b.necessity.dtype == torch.float32 and close(a.combined, b.combined, rel=2e-3)


def test_every_metric_on_a_float64_model(m32, m64, x) -> None:
    maps = explain(m32, x, "gradcam", target=[0, 2]).maps
    mask = torch.zeros(2, 32, 32, dtype=torch.bool)
    mask[:, 8:20, 8:20] = True
    da, db = (deletion_insertion(m, x, maps, target=[0, 2], steps=8) for m in (m32, m64))
    assert torch.allclose(da.deletion_curve, db.deletion_curve, atol=1e-5)
    assert torch.allclose(da.insertion_curve, db.insertion_curve, atol=1e-5)
    ca, cb = (average_drop_increase(m, x, maps, target=[0, 2]) for m in (m32, m64))
    assert torch.allclose(ca.explained, cb.explained, atol=1e-5) and ca.increase == cb.increase
    maps, maps64 = (explain(m, x, "saliency", target=[0, 2]).maps for m in (m32, m64))
    for metric in (pointing_game, relevance_mass, energy_pointing):
        assert torch.allclose(metric(maps, mask), metric(maps64, mask), atol=1e-5, equal_nan=True)
    sa, sb = (sanity_check(m, x, "gradcam", target=[0, 2], similarity="spearman") for m in (m32, m64))
    assert sa["spearman"].tolist() == pytest.approx(sb["spearman"].tolist(), abs=1e-3)


def test_activation_maximization_on_float64_and_bfloat16_models(m32, m64) -> None:
    kw = dict(unit="class:1", steps=6, size=32, seed=0)
    a, b = activation_maximization(m32, **kw), activation_maximization(m64, **kw)
    assert b.image.dtype == torch.float32 and torch.allclose(a.image, b.image, atol=1e-4)
    assert b.trajectory == pytest.approx(a.trajectory, rel=1e-4, abs=1e-5)
    c = activation_maximization(m64, unit=("channel", "features.conv2", 3), steps=4, size=32, param="fourier")
    d = activation_maximization(m32, unit=("channel", "features.conv2", 3), steps=4, size=32, param="fourier")
    assert c.trajectory == pytest.approx(d.trajectory, rel=1e-3, abs=1e-5)
    e = activation_maximization(copy.deepcopy(m32).to(torch.bfloat16), **kw)
    assert bool(torch.isfinite(e.image).all()) and e.trajectory[0] == pytest.approx(a.trajectory[0], rel=0.05, abs=0.02)


def _data(n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, 3, (n,), generator=g)
    return torch.rand(n, 1, 32, 32, generator=g) * 0.5 + 0.2 * y[:, None, None, None], y


def test_trainer_fit_evaluate_predict_on_a_float64_model() -> None:
    x, y = _data()
    runs = []
    for dtype in (torch.float32, torch.float64):
        torch.manual_seed(0)
        model = SmallCNN(num_classes=3, width=4, depth=3).to(dtype)
        trainer = Trainer(model, (x, y), (x[:8], y[:8]), epochs=2, batch_size=8, progress=False, device="cpu",
                          precise_bn=16)
        trainer.fit()
        runs.append((trainer, trainer.evaluate((x, y)), trainer.predict(x)))
    (t32, e32, p32), (t64, e64, p64) = runs
    assert next(t64.model.parameters()).dtype == torch.float64 and p64.dtype == torch.float32
    assert [h["train_loss"] for h in t64.history] == pytest.approx([h["train_loss"] for h in t32.history], rel=1e-3)
    assert e64["loss"] == pytest.approx(e32["loss"], rel=1e-3) and torch.allclose(p32, p64, atol=1e-3)


def test_trainer_on_a_bfloat16_model_predicts_close_to_float32() -> None:
    x, y = _data(16)
    torch.manual_seed(0)
    model = SmallCNN(num_classes=3, width=4, depth=3)
    bf = copy.deepcopy(model).to(torch.bfloat16)
    probs = [Trainer(m, (x, y), epochs=1, progress=False, device="cpu").predict(x) for m in (model, bf)]
    assert probs[1].dtype == torch.float32 and torch.allclose(probs[0], probs[1], atol=0.03)


def test_causality_maps_of_float64_networks() -> None:
    x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(4))
    torch.manual_seed(0)
    net = _warm(CausalCNN(width=4, depth=3, image_size=32))
    a, b = causality_map_of(net, x), causality_map_of(copy.deepcopy(net).double(), x)
    assert b["map"].dtype == torch.float64 and torch.allclose(a["map"].double(), b["map"], rtol=1e-4, atol=1e-6)
    assert torch.equal(a["factors"].double(), b["factors"]) and torch.equal(a["order"], b["order"])
    assert torch.allclose(causality_map(a["features"].double(), "lehmer", 3.0).float(),
                          causality_map(a["features"], "lehmer", 3.0), rtol=1e-4)
    backbone = copy.deepcopy(net).double()
    clf = CausalClassifier(backbone, "features.conv2", num_classes=2, input_shape=(1, 32, 32)).double()
    assert clf(x.double()).dtype == torch.float64
