"""The explain() entry point: shapes, defaults, typed errors, display normalization, dispatch."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from halign_widgets.errors import (
    InputShapeError,
    InvalidPixelError,
    TargetOutOfRangeError,
    UnknownKnobError,
    UnknownNameError,
)
from halign_widgets.explain import Explanation, explain, list_methods, make_baseline, shared_scale
from halign_widgets.models import SmallCNN

FAST = {"integrated_gradients": {"n_steps": 4}, "gradient_shap": {"n_samples": 2},
        "smoothgrad": {"n_samples": 2}, "rise": {"n_masks": 20}, "occlusion": {}}


@pytest.fixture(scope="module")
def model() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(width=4, depth=3)


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.rand(2, 1, 32, 32)


def test_every_method_returns_finite_maps_at_input_resolution(model: SmallCNN, x: torch.Tensor) -> None:
    names = [m for m in list_methods() if m != "suny"]
    assert len(names) >= 13
    for name in names:
        e = explain(model, x, name, **FAST.get(name, {}))
        assert isinstance(e, Explanation) and e.method == name
        assert e.maps.shape == (2, 32, 32), name
        assert e.maps.dtype == torch.float32 and bool(torch.isfinite(e.maps).all()), name
        assert float(e.maps.abs().sum()) > 0, name
        assert e.seconds >= 0 and e.target.shape == (2,)


def test_defaults_target_is_prediction_layer_is_last_conv(model: SmallCNN, x: torch.Tensor) -> None:
    e = explain(model, x, "Grad-CAM")
    with torch.no_grad():
        assert e.target.tolist() == model.eval()(x).argmax(1).tolist()
    assert e.layer == "features.conv3" and e.method == "gradcam"
    assert explain(model, x, "saliency").layer is None
    e2 = explain(model, x, "gradcam", target=1, layer="features.conv2")
    assert e2.target.tolist() == [1, 1] and e2.layer == "features.conv2"
    assert not torch.allclose(e.maps, e2.maps)


def test_signed_maps_are_kept_raw(model: SmallCNN, x: torch.Tensor) -> None:
    e = explain(model, x, "input_x_gradient")
    assert float(e.maps.min()) < 0 < float(e.maps.max())
    assert float(e.maps.abs().max()) != pytest.approx(1.0)


def test_model_mode_and_grads_restored(x: torch.Tensor) -> None:
    m = SmallCNN(width=4, depth=2)
    m.train()
    m.features.conv1.bn.eval()
    running = m.features.conv1.bn.running_mean.clone()
    for name in ("gradcam", "saliency", "scorecam"):
        explain(m, x, name)
    assert m.training and not m.features.conv1.bn.training and m.features.conv2.bn.training
    assert torch.equal(running, m.features.conv1.bn.running_mean)   # eval mode: no BN update
    assert all(p.grad is None for p in m.parameters())


def test_typed_errors_list_choices(model: SmallCNN, x: torch.Tensor) -> None:
    with pytest.raises(UnknownNameError, match="gradcam"):
        explain(model, x, "gradcamm")
    with pytest.raises(UnknownNameError, match="features.conv1"):
        explain(model, x, "gradcam", layer="features.conv9")
    with pytest.raises(TargetOutOfRangeError, match="0..1"):
        explain(model, x, "gradcam", target=2)
    with pytest.raises(TargetOutOfRangeError):
        explain(model, x, "saliency", target=[0, -1])
    with pytest.raises(UnknownKnobError, match="n_steps"):
        explain(model, x, "integrated_gradients", nsteps=3)
    with pytest.raises(InputShapeError):
        explain(model, x[0], "gradcam")
    with pytest.raises(InputShapeError, match="channel"):
        explain(model, torch.rand(1, 3, 32, 32), "gradcam")
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InvalidPixelError):
        explain(model, bad, "gradcam")


def test_normalized_views_and_shared_scale(model: SmallCNN, x: torch.Tensor) -> None:
    a = explain(model, x, "input_x_gradient")
    b = explain(model, x, "gradcam")
    per = a.normalized("per-map")
    assert torch.allclose(per.abs().flatten(1).amax(1), torch.ones(2))
    assert float(per.min()) < 0
    ab = a.normalized("abs")
    assert float(ab.min()) >= 0 and torch.allclose(ab.flatten(1).amax(1), torch.ones(2))
    s = shared_scale([a, b])
    assert s == pytest.approx(max(float(a.maps.abs().max()), float(b.maps.abs().max())))
    sa, sb = a.normalized("shared", scale=s), b.normalized("shared", scale=s)
    assert max(float(sa.abs().max()), float(sb.abs().max())) == pytest.approx(1.0)
    assert torch.allclose(sa * s, a.maps)
    with pytest.raises(UnknownNameError, match="per-map"):
        a.normalized("weird")


def test_baselines() -> None:
    x = torch.rand(2, 1, 16, 16)
    assert torch.equal(make_baseline(x, "zeros"), torch.zeros_like(x))
    m = make_baseline(x, "mean")
    assert torch.allclose(m[:, :, 3, 5], x.mean(dim=(2, 3)))
    blur = make_baseline(x, "blur")
    assert blur.shape == x.shape and float(blur.std()) < float(x.std())
    assert abs(float(blur.mean()) - float(x.mean())) < 0.02
    with pytest.raises(UnknownNameError, match="blur"):
        make_baseline(x, "bluur")
    ig_zero = explain(SmallCNN(width=4, depth=2), x, "integrated_gradients", baseline="zeros", n_steps=4)
    ig_blur = explain(SmallCNN(width=4, depth=2), x, "integrated_gradients", baseline="blur", n_steps=4)
    assert not torch.allclose(ig_zero.maps, ig_blur.maps)


def test_seeded_methods_are_deterministic(model: SmallCNN, x: torch.Tensor) -> None:
    for name, opts in (("rise", {"n_masks": 20}), ("smoothgrad", {"n_samples": 3}),
                       ("gradient_shap", {"n_samples": 3})):
        assert torch.equal(explain(model, x, name, **opts).maps, explain(model, x, name, **opts).maps)


def test_suny_dispatch_wraps_combined_map(model: SmallCNN, x: torch.Tensor, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {}

    class FakeResult:
        combined = torch.ones(2, 8, 8)

    def fake_suny(m, images, target=None, layer=None, **options):
        calls.update(target=target, layer=layer, options=options)
        return FakeResult()

    fake = types.ModuleType("halign_widgets.explain.suny")
    fake.suny = fake_suny  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "halign_widgets.explain.suny", fake)
    assert "suny" in list_methods()
    e = explain(model, x, "suny", target=1, n_causes=4)
    assert e.maps.shape == (2, 32, 32) and torch.allclose(e.maps, torch.ones(2, 32, 32))
    assert isinstance(e.extras["suny"], FakeResult)
    assert calls["layer"] == "features.conv3" and calls["options"] == {"n_causes": 4}
    assert calls["target"].tolist() == [1, 1]


def test_large_batches_are_chunked_without_changing_maps(model: SmallCNN) -> None:
    x = torch.rand(5, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    whole = explain(model, x, "integrated_gradients", target=1, n_steps=30)   # chunks of 2 images
    single = torch.cat([explain(model, x[i:i + 1], "integrated_gradients", target=1, n_steps=30).maps
                        for i in range(5)])
    assert torch.allclose(whole.maps, single, atol=1e-6)
