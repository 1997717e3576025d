"""SUNY on a small trained CNN: value functions, self-duality, efficiency, filter hooks, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from halign_widgets.errors import (
    ConfigError,
    InputShapeError,
    InvalidPixelError,
    TargetOutOfRangeError,
    UnknownNameError,
)
from halign_widgets.explain.suny import make_causes, suny, suny_legend, suny_rgb
from halign_widgets.models import SmallCNN

SIZE = 32


def blob_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 1: a bright blob in the top-left quadrant; class 0: in the bottom-right one."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = 0.2 + 0.05 * torch.rand(n, 1, SIZE, SIZE, generator=g)
    for i in range(n):
        off = 2 if y[i] == 1 else SIZE // 2 + 2
        r, c = (torch.randint(0, SIZE // 2 - 8, (2,), generator=g) + off).tolist()
        x[i, :, r:r + 6, c:c + 6] = 0.9
    return x, y


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    net = SmallCNN(in_channels=1, num_classes=2, width=8, depth=3)
    x, y = blob_images(128, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    net.train()
    for step in range(40):
        idx = torch.arange(step * 32, step * 32 + 32) % 128
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return blob_images(4, seed=1)[0]


def test_patches_are_self_dual_on_a_real_cnn(model, images):
    res = suny(model, images[:2], causes="patches", grid=3, pool=None)
    assert res.exact and res.r_n.shape == (2, 9)
    assert torch.equal(res.pool_n, res.pool_s)
    assert float(res.r_n.abs().max()) > 1e-3  # a non-trivial game
    assert float((res.r_n - res.r_s).abs().max()) <= 1e-5
    cv = res.coalition_values
    full = cv["coalitions"].shape[0] - 1
    # E_N(S) = 1 − E_S(F∖S): the two games are duals of each other
    assert torch.allclose(cv["necessity"], 1 - cv["sufficiency"][:, full - torch.arange(full + 1)], atol=1e-6)


def test_self_duality_also_with_separate_forwards_for_each_game(model, images, monkeypatch):
    from halign_widgets.explain.suny import CauseSet

    cs = make_causes(model, images[:1], target=1, kind="patches", grid=3)
    s = torch.zeros(1, 9, dtype=torch.bool)
    s[0, [0, 4, 5]] = True
    assert torch.equal(cs.images("remove", s), cs.images("keep", ~s))  # the premise, bit for bit
    monkeypatch.setattr(CauseSet, "share_complements", False)
    res = suny(model, images[:1], causes="patches", grid=3, pool=None)
    assert res.forwards > 2 * 512  # both games really evaluated on their own
    assert float((res.r_n - res.r_s).abs().max()) <= 1e-5


def test_filters_with_the_full_pool_are_self_dual_too(model, images):
    res = suny(model, images[:1], causes="filters", layer="features.conv1", pool=None)
    assert float((res.r_n - res.r_s).abs().max()) <= 1e-5


def test_value_functions_match_direct_interventions(model, images):
    x = images[:1]
    res = suny(model, x, causes="patches", grid=2, pool=None, baseline="zeros")
    with torch.no_grad():
        p = torch.softmax(model(x), 1)[0, res.target[0]]
        p_base = torch.softmax(model(torch.zeros_like(x)), 1)[0, res.target[0]]
    cv = res.coalition_values
    assert torch.isclose(res.p_full[0], p)
    assert abs(cv["necessity"][0, 0].item()) < 1e-7  # removing nothing changes nothing
    assert cv["necessity"][0, -1].item() == pytest.approx(((p - p_base) / p).item(), abs=1e-5)
    assert cv["sufficiency"][0, 0].item() == pytest.approx((p_base / p).item(), abs=1e-5)
    # remove patch 0 (top-left quadrant) by hand
    xr = x.clone()
    xr[..., :SIZE // 2, :SIZE // 2] = 0
    with torch.no_grad():
        pr = torch.softmax(model(xr), 1)[0, res.target[0]]
    assert cv["necessity"][0, 1].item() == pytest.approx(((p - pr) / p).item(), abs=1e-5)


@pytest.mark.parametrize("causes", ["features", "filters", "patches"])
def test_efficiency_and_shapes(model, images, causes):
    res = suny(model, images[:2], causes=causes, pool=4, grid=3)
    cv = res.coalition_values
    for r, game in ((res.r_n, "necessity"), (res.r_s, "sufficiency")):
        assert torch.allclose(r.sum(1).double(), cv[game][:, -1] - cv[game][:, 0], atol=1e-5)
    assert res.necessity.shape == res.sufficiency.shape == res.combined.shape == (2, SIZE, SIZE)
    assert float(res.combined.max()) <= 1 + 1e-6 and float(res.necessity.min()) >= 0
    assert torch.equal(res.error_n, torch.zeros_like(res.error_n))
    # pools are the top causes by single-cause scores
    assert torch.equal(res.pool_n[0], res.single_n[0].topk(4).indices)
    assert torch.equal(res.pool_s[0], res.single_s[0].topk(4).indices)


def test_feature_maps_differ_because_interventions_are_not_complements(model, images):
    res = suny(model, images[:1], causes="features", pool=6)
    assert float((res.necessity - res.sufficiency).abs().max()) > 1e-4


def test_monte_carlo_path(model, images):
    res = suny(model, images[:1], causes="patches", grid=4, pool=12, samples=24, seed=3, antithetic=True)
    assert not res.exact and res.coalition_values is None and res.samples == 24
    assert float(res.error_n.max()) > 0
    again = suny(model, images[:1], causes="patches", grid=4, pool=12, samples=24, seed=3, antithetic=True)
    assert torch.equal(res.r_n, again.r_n)


def _next_module(model: nn.Module, name: str) -> nn.Module:
    names = [n for n, _ in model.features.named_children()]
    return getattr(model.features, names[names.index(name.split(".")[-1]) + 1])


def test_filter_interventions_zero_exactly_the_chosen_channels(model, images):
    x = images[:1]
    cs = make_causes(model, x, target=1, kind="filters", layer="features.conv2")
    layer_out: list = []
    nxt = _next_module(model, "features.conv2")  # the pool after conv2 sees the gated output
    h1 = model.features.conv2.register_forward_hook(lambda _m, _i, o: layer_out.append(o.detach()))
    h2 = nxt.register_forward_pre_hook(lambda _m, inp: layer_out.append(inp[0].detach()))
    try:
        coal = torch.zeros(2, cs.n_causes, dtype=torch.bool)
        coal[0, [1, 5]] = True
        coal[1, [2]] = True
        scope = torch.zeros(cs.n_causes, dtype=torch.bool)
        scope[[2, 3, 4]] = True
        layer_out.clear()
        cs.probs([("remove", coal[:1], None)])
        clean, gated = layer_out[0][0], layer_out[1][0]
        assert float(gated[[1, 5]].abs().max()) == 0.0
        others = [c for c in range(cs.n_causes) if c not in (1, 5)]
        assert torch.equal(gated[others], clean[others]) and float(clean[[1, 5]].abs().max()) > 0
        layer_out.clear()
        cs.probs([("keep", coal[1:], scope)])  # keep {2} within the pool {2, 3, 4}
        gated = layer_out[1][0]
        assert float(gated[[3, 4]].abs().max()) == 0.0
        untouched = [c for c in range(cs.n_causes) if c not in (3, 4)]
        assert torch.equal(gated[untouched], clean[untouched])
    finally:
        h1.remove()
        h2.remove()
    assert not model.features.conv2._forward_hooks  # suny's own hooks are gone
    assert all(not m._forward_pre_hooks for m in model.modules())


def test_hooks_are_removed_even_when_the_forward_raises(model, images):
    def boom(_fraction: float) -> None:
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        suny(model, images[:1], causes="filters", progress=boom)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert not model.training


def test_bad_input_gives_typed_errors(model, images):
    with pytest.raises(ConfigError, match="at most 32"):
        suny(model, images[:1], causes="features", pool=40)
    with pytest.raises(ConfigError, match="at most 9"):
        suny(model, images[:1], causes="patches", grid=3, pool=10)
    with pytest.raises(UnknownNameError, match="features.*filters.*patches|filters"):
        suny(model, images[:1], causes="pixels")
    with pytest.raises(ConfigError, match="samples"):
        suny(model, images[:1], samples=0)
    with pytest.raises(InputShapeError):
        suny(model, images[0])
    bad = images[:1].clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(InvalidPixelError):
        suny(model, bad)
    with pytest.raises(TargetOutOfRangeError):
        suny(model, images[:1], target=5)
    with pytest.raises(UnknownNameError):
        suny(model, images[:1], layer="features.nope")


def test_colour_rendering_and_legend():
    n = torch.zeros(1, 4, 4)
    s = torch.zeros(1, 4, 4)
    n[0, 0, 0], s[0, 0, 1] = 2.0, 3.0
    n[0, 1, 1], s[0, 1, 1] = 2.0, 3.0
    rgb = suny_rgb(n, s)
    assert rgb.shape == (1, 3, 4, 4) and float(rgb.min()) >= 0 and float(rgb.max()) <= 1
    assert rgb[0, :, 0, 0].tolist() == [0, 0, 1]  # necessary only: blue
    assert rgb[0, :, 0, 1].tolist() == [1, 0, 0]  # sufficient only: red
    assert rgb[0, :, 1, 1].tolist() == [1, 0, 1]  # both: magenta
    leg = suny_legend(16)
    assert leg.shape == (3, 16, 16)
    assert leg[:, -1, 0].tolist() == [0, 0, 0] and leg[:, 0, -1].tolist() == [1, 0, 1]
    assert leg[:, 0, 0].tolist() == [0, 0, 1] and leg[:, -1, -1].tolist() == [1, 0, 0]
    with pytest.raises(InputShapeError):
        suny_rgb(torch.zeros(4, 4), torch.zeros(5, 5))


def test_reachable_through_explain(model, images):
    from halign_widgets.explain import explain

    e = explain(model, images[:1], "suny", causes="patches", grid=2, pool=None)
    res = e.extras["suny"]
    assert torch.allclose(e.maps, res.combined)


def test_progress_is_reported_monotonically(model, images):
    seen: list[float] = []
    suny(model, images[:2], causes="patches", grid=2, pool=None, batch_size=4, progress=seen.append)
    assert len(seen) > 4 and all(b >= a for a, b in zip(seen, seen[1:], strict=False))
    assert 0.5 < seen[-1] <= 1.0


def test_per_image_tensor_baseline(model, images):
    base = torch.zeros_like(images[:2])
    a = suny(model, images[:2], causes="patches", grid=2, pool=None, baseline=base)
    b = suny(model, images[:2], causes="patches", grid=2, pool=None, baseline="zeros")
    assert torch.allclose(a.r_n, b.r_n, atol=1e-6)


def test_result_repr_is_short(model, images):
    res = suny(model, images[:1], causes="patches", grid=2, pool=None)
    text = repr(res)
    assert text.startswith("SunyResult(1 image(s), causes='patches'") and len(text) < 200
