"""Methods agree with their papers on every input (issue 12, item 13).

(a) GradientShap (and SmoothGrad): an image's map does not depend on the other images of its batch.
(b) Saliency takes the maximum of |∂y/∂x| over colour channels (Simonyan et al.); SmoothGrad is
    saliency averaged under noise; occlusion's map is the output change, not C times it.
(c) The pass size adapts to the memory and never changes the result.
"""

from __future__ import annotations

import pytest
import torch

from halign_widgets.explain import _memory, explain
from halign_widgets.explain.captum_methods import run_captum
from halign_widgets.models import SmallCNN


@pytest.fixture(scope="module")
def rgb() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(in_channels=3, num_classes=3, width=4, depth=3).eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 3, 24, 24, generator=g)
    x[1] = 0.5                          # a flat image: its own blur is itself
    x[2, :, :, :12] = 1.0               # very different neighbours
    return x


@pytest.mark.parametrize("method, options", [("gradient_shap", {"n_samples": 5}),
                                             ("gradient_shap", {"n_samples": 3, "baseline": "mean", "stdevs": 0.0}),
                                             ("smoothgrad", {"n_samples": 4})])
def test_an_image_is_explained_the_same_alone_or_in_a_batch(rgb, images, method, options) -> None:
    batch = explain(rgb, images, method, target=[0, 1, 2, 0], seed=3, **options).maps
    for i, t in enumerate([0, 1, 2, 0]):
        alone = explain(rgb, images[i:i + 1], method, target=t, seed=3, **options).maps
        assert torch.equal(alone[0], batch[i]), (method, i)
    swapped = explain(rgb, images.flip(0), method, target=[0, 2, 1, 0], seed=3, **options).maps
    assert torch.equal(swapped.flip(0), batch)


def test_gradient_shap_draws_from_the_image_s_own_references(rgb, images) -> None:
    """Each image against {black, its own blur}: captum on that image alone, with exactly those references."""
    import numpy as np
    from captum.attr import GradientShap

    from halign_widgets.explain import make_baseline

    maps = explain(rgb, images, "gradient_shap", target=1, n_samples=6, seed=4).maps
    for i in range(images.shape[0]):
        xi = images[i:i + 1].clone().requires_grad_(True)
        refs = torch.cat([torch.zeros_like(xi), make_baseline(xi.detach(), "blur")])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(4)
            np.random.seed(4)
            expected = GradientShap(rgb).attribute(xi, baselines=refs, target=1, n_samples=6, stdevs=0.1)
        assert torch.allclose(maps[i], expected.detach().sum(1)[0], atol=1e-7), i


def _input_gradient(model, x, target):
    x = x.clone().requires_grad_(True)
    score = model(x)[torch.arange(x.shape[0]), target].sum()
    (grad,) = torch.autograd.grad(score, x)
    return grad


def test_saliency_is_the_channel_maximum_of_the_absolute_gradient(rgb, images) -> None:
    target = torch.tensor([0, 1, 2, 0])
    grad = _input_gradient(rgb, images, target)
    assert torch.allclose(explain(rgb, images, "saliency", target=target).maps, grad.abs().amax(1), atol=1e-7)
    assert torch.allclose(explain(rgb, images, "saliency", target=target, channels="sum").maps,
                          grad.abs().sum(1), atol=1e-6)
    assert torch.allclose(explain(rgb, images, "saliency", target=target, abs=False).maps, grad.sum(1), atol=1e-6)
    # max < sum on an RGB image: the channel reduction matters
    assert bool((grad.abs().amax(1) < grad.abs().sum(1) - 1e-9).any())


def test_smoothgrad_is_saliency_averaged_under_noise(rgb, images) -> None:
    target = torch.tensor([0, 1, 2, 0])
    grad = _input_gradient(rgb, images, target)
    zero_noise = explain(rgb, images, "smoothgrad", target=target, stdev=0.0, n_samples=3).maps
    assert torch.allclose(zero_noise, grad.abs().amax(1), atol=1e-7)
    assert torch.allclose(explain(rgb, images, "smoothgrad", target=target, stdev=0.0, n_samples=2,
                                  channels="sum").maps, grad.abs().sum(1), atol=1e-6)


def test_occlusion_of_the_whole_image_is_the_output_change(rgb, images) -> None:
    target = torch.tensor([0, 1, 2, 0])
    maps = explain(rgb, images, "occlusion", target=target, window=24, stride=24, baseline="zeros").maps
    with torch.no_grad():
        drop = (rgb(images) - rgb(torch.zeros_like(images)))[torch.arange(4), target]
    assert torch.allclose(maps, drop[:, None, None].expand_as(maps), atol=1e-5)


@pytest.mark.parametrize("method, options", [("integrated_gradients", {"n_steps": 7}),
                                             ("occlusion", {"batch_size": 5, "window": 6, "stride": 6}),
                                             ("deeplift", {}), ("saliency", {})])
def test_the_pass_size_never_changes_the_result(rgb, images, method, options) -> None:
    # identical up to float rounding: a conv kernel may sum in another order for another batch size
    # (IG and DeepLift come out bit for bit equal here; saliency and occlusion within ~1e-8)
    maps = [explain(rgb, images, method, target=1, max_pass=cap, **options).maps for cap in (1, 9, 30, 10_000)]
    for other in maps[1:]:
        assert torch.allclose(maps[0], other, rtol=1e-6, atol=1e-7), method
    assert torch.allclose(explain(rgb, images, method, target=1, **options).maps, maps[0], rtol=1e-6, atol=1e-7)


def test_the_chunks_follow_max_pass(rgb, images, monkeypatch) -> None:
    from halign_widgets.explain import captum_methods

    sizes: list[int] = []
    real = captum_methods._dispatch
    monkeypatch.setattr(captum_methods, "_dispatch",
                        lambda name, model, x, *a: sizes.append(x.shape[0]) or real(name, model, x, *a))
    opts = dict(baseline="zeros", n_steps=5, internal_batch_size=None)
    run_captum("integrated_gradients", rgb, images, torch.ones(4, dtype=torch.long), max_pass=10, **opts)
    assert sizes == [2, 2]                                     # 2 images × 5 steps = 10 per pass
    sizes.clear()
    monkeypatch.setattr(_memory, "available_memory", lambda device="cpu": 10 ** 9)
    run_captum("integrated_gradients", rgb, images, torch.ones(4, dtype=torch.long), max_pass=None, **opts)
    assert sizes == [4]                                        # 1 GB free: room for all 20 in one pass
    sizes.clear()
    monkeypatch.setattr(_memory, "available_memory", lambda device="cpu": 0)
    run_captum("integrated_gradients", rgb, images, torch.ones(4, dtype=torch.long), max_pass=None, **opts)
    assert sizes == [3, 1]                                     # no memory: the minimum pass of 16 images


def test_the_automatic_cap_grows_with_the_memory_and_is_bounded(rgb, images) -> None:
    per_image = _memory.bytes_per_image(rgb, images)
    # one image of 3×24×24 float32 plus every activation, times the backward factor
    assert per_image > _memory.BACKWARD_FACTOR * images[0].numel() * 4
    caps = [_memory.auto_max_pass(rgb, images, memory=m) for m in (0, 10 ** 6, 10 ** 8, 10 ** 9, 10 ** 12)]
    assert caps == sorted(caps) and caps[0] == _memory.MIN_PASS
    assert caps[-1] == min(_memory.MAX_PASS, _memory.MAX_PASS_BYTES // per_image)   # bounded however much is free
    assert caps[2] == int(_memory.MEMORY_FRACTION * 10 ** 8 // per_image) > caps[1]
    huge = _memory.bytes_per_image(SmallCNN(width=32, depth=4), torch.rand(1, 1, 128, 128))
    assert _memory.auto_max_pass(SmallCNN(width=32, depth=4), torch.rand(1, 1, 128, 128), memory=10 ** 13) == max(
        _memory.MIN_PASS, _memory.MAX_PASS_BYTES // huge)          # a big machine still caps the bytes
    bigger = _memory.bytes_per_image(rgb, torch.rand(1, 3, 48, 48))
    assert 3.5 * per_image < bigger < 4.5 * per_image         # activations scale with the image area
    assert _memory.available_memory("cpu") > 0
