"""Cascading parameter randomization (Adebayo et al. 2018) and the Spearman / SSIM similarities."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from halign_widgets.errors import UnknownNameError
from halign_widgets.explain.metrics import cascade_layers, randomize_layers, sanity_check, spearman, ssim
from halign_widgets.models import SmallCNN
from halign_widgets.training import recalibrate_batchnorm


def blob_task(n: int = 128, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 1: a bright square in the left half; class 0: in the right half (32×32)."""
    g = torch.Generator().manual_seed(seed)
    x = 0.1 * torch.rand(n, 1, 32, 32, generator=g)
    y = torch.arange(n) % 2
    pos = torch.randint(2, 12, (n, 2), generator=g)
    for i in range(n):
        r, c = int(pos[i, 0]), int(pos[i, 1]) + (0 if y[i] == 1 else 16)
        x[i, 0, r:r + 5, c:c + 5] += 0.8
    return x, y


@pytest.fixture(scope="module")
def trained() -> tuple[SmallCNN, torch.Tensor, torch.Tensor]:
    x, y = blob_task()
    torch.manual_seed(0)
    model = SmallCNN(1, 2, width=4, depth=3)
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(4):
        for i in range(0, x.shape[0], 16):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[i:i + 16]), y[i:i + 16]).backward()
            opt.step()
    recalibrate_batchnorm(model, x)
    assert (model(x).argmax(1) == y).float().mean() > 0.9      # the model really reads the blob
    return model, x, y


def test_cascade_order_is_top_down():
    model = SmallCNN(1, 2, width=4, depth=3)
    assert cascade_layers(model) == ["classifier", "features.conv3", "features.conv2", "features.conv1"]


def test_randomize_leaves_original_untouched_and_is_reproducible(trained):
    model, _, _ = trained
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = randomize_layers(model, ["classifier", "features.conv3"], seed=5)
    b = randomize_layers(model, ["classifier", "features.conv3"], seed=5)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["classifier.weight"], before["classifier.weight"])
    assert not torch.equal(sa["features.conv3.conv.weight"], before["features.conv3.conv.weight"])
    assert torch.equal(sa["features.conv2.conv.weight"], before["features.conv2.conv.weight"])
    with pytest.raises(UnknownNameError):
        randomize_layers(model, ["features.conv9"])


def test_gradcam_similarity_falls_as_layers_are_randomized(trained):
    model, x, _ = trained
    tables = [sanity_check(model, x[:8], "gradcam", seed=s) for s in range(3)]
    assert list(tables[0]["layer"]) == ["none (original)", *cascade_layers(model)]
    for t in tables:
        assert t.loc[0, "spearman"] == pytest.approx(1.0) and t.loc[0, "ssim"] == pytest.approx(1.0)
    mean = sum(t[["spearman", "ssim"]] for t in tables) / len(tables)
    for col in ("spearman", "ssim"):
        first, full = mean[col].iloc[1], mean[col].iloc[-1]
        assert full < first and full < 0.5, (col, mean)


def test_model_independent_method_fails_the_check(trained):
    """An 'explainer' that ignores the model (an edge map of the image) keeps similarity 1 at every depth."""
    model, x, _ = trained

    def edges(_model: nn.Module, images: torch.Tensor, _target: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad((images[:, 0, :, 1:] - images[:, 0, :, :-1]).abs(), (0, 1))

    table, maps = sanity_check(model, x[:4], edges, similarity=("spearman", "spearman_signed", "ssim"),
                               return_maps=True)
    assert maps.shape == (len(cascade_layers(model)) + 1, 4, 32, 32)
    for col in ("spearman", "spearman_signed", "ssim"):
        assert table[col].between(1 - 1e-6, 1 + 1e-6).all(), table


def test_same_target_is_kept(trained):
    model, x, _ = trained
    seen: list[torch.Tensor] = []

    def record(_m: nn.Module, images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        seen.append(target.clone())
        return images[:, 0]

    sanity_check(model, x[:4], record, target=[0, 1, 0, 1])
    assert all(torch.equal(t, torch.tensor([0, 1, 0, 1])) for t in seen)
    with pytest.raises(UnknownNameError):
        sanity_check(model, x[:4], record, similarity=("pearson",))


def test_spearman_with_ties_matches_hand_computation():
    a = torch.tensor([[1.0, 2.0, 2.0, 3.0]]).view(1, 2, 2)
    b = torch.tensor([[1.0, 2.0, 3.0, 4.0]]).view(1, 2, 2)
    ra, rb = torch.tensor([1, 2.5, 2.5, 4]), torch.tensor([1.0, 2, 3, 4])
    ra, rb = ra - ra.mean(), rb - rb.mean()
    expected = float((ra * rb).sum() / (ra.norm() * rb.norm()))
    assert spearman(a, b).item() == pytest.approx(expected, abs=1e-6)
    assert spearman(-b, b, absolute=False).item() == pytest.approx(-1.0)
    assert spearman(-b, b, absolute=True).item() == pytest.approx(1.0)
    assert spearman(torch.zeros(1, 2, 2), b).item() == 0.0       # a constant map has no ranking


def test_ssim_identity_scale_and_noise():
    g = torch.Generator().manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(24.0), torch.arange(24.0), indexing="ij")
    blob = torch.exp(-((yy - 8) ** 2 + (xx - 15) ** 2) / 20)[None].repeat(2, 1, 1)
    assert torch.allclose(ssim(blob, blob), torch.ones(2), atol=1e-6)
    assert torch.allclose(ssim(blob, 7 * blob + 1), torch.ones(2), atol=1e-5)   # min-max normalized
    noise = torch.rand(2, 24, 24, generator=g)
    assert bool((ssim(blob, noise) < 0.3).all())
    assert bool((ssim(blob, noise) < ssim(blob, blob + 0.1 * noise)).all())
