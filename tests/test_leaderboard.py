"""evaluate_methods: one tidy row per method with every metric, and its long form for plotting."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from halign_widgets.data import ImageDataset
from halign_widgets.errors import ConfigError, InputShapeError, UnknownNameError
from halign_widgets.explain.leaderboard import HIGHER_IS_BETTER, leaderboard_plot_data, select_images
from halign_widgets.explain.metrics import evaluate_methods
from halign_widgets.models import SmallCNN

METRICS = list(HIGHER_IS_BETTER)


@pytest.fixture(scope="module")
def world() -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    n = 12
    x = 0.2 + 0.1 * torch.rand(n, 1, 16, 16, generator=g)
    masks = torch.zeros(n, 1, 16, 16, dtype=torch.bool)
    for i in range(n):
        r, c = 2 + i % 8, 3 + (i * 5) % 8
        masks[i, 0, r:r + 5, c:c + 5] = True
    x[masks] += 0.6
    labels = torch.arange(n) % 2
    return ImageDataset(x, labels, ["a", "b"], masks, splits={"test": torch.arange(2, n)})


@pytest.fixture(scope="module")
def model() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(1, 2, width=4, depth=2).eval()


def mask_oracle(_m: nn.Module, x: torch.Tensor, _t: torch.Tensor) -> torch.Tensor:
    """A custom explainer: the bright pixels (here exactly the masks)."""
    return (x[:, 0] > 0.5).float()


def test_table_has_expected_columns_and_finite_values(model, world):
    calls: list[tuple[str, int, int]] = []
    table = evaluate_methods(model, world, ["saliency", "gradcam", mask_oracle], n_images=6, steps=4,
                             progress=lambda *a: calls.append(a))
    assert calls == [("saliency", 1, 3), ("gradcam", 2, 3), ("mask_oracle", 3, 3)]
    assert list(table["method"]) == ["saliency", "gradcam", "mask_oracle"]
    for col in METRICS:
        assert col in table.columns and f"{col}_std" in table.columns
    assert (table["n_images"] == 6).all()
    for _, row in table.iterrows():
        assert row["n_undefined"] == 0
        assert all(math.isfinite(row[c]) for c in METRICS), row
        assert all(math.isfinite(row[f"{c}_std"]) for c in METRICS if c != "seconds_per_image"), row
        assert 0 <= row["deletion"] <= 1 and 0 <= row["insertion"] <= 1
        assert row["overall"] == pytest.approx(row["insertion"] - row["deletion"])
    oracle = table.set_index("method").loc["mask_oracle"]
    assert oracle["pointing"] == 1.0 and oracle["relevance_mass"] == 1.0 and oracle["energy_pointing"] == 1.0
    # the oracle ignores the model: randomizing the model leaves its map unchanged
    assert oracle["sanity_spearman"] == pytest.approx(1.0) and oracle["sanity_ssim"] == pytest.approx(1.0)
    sal = table.set_index("method").loc["saliency"]
    assert sal["sanity_spearman"] < 0.9


def test_options_no_masks_no_sanity(model, world):
    x, y = world.images[:4], world.labels[:4]
    table = evaluate_methods(model, (x, y), {"integrated_gradients": {"n_steps": 4}}, sanity=False,
                             steps=2, baseline="zero")
    assert math.isnan(table.loc[0, "pointing"]) and math.isnan(table.loc[0, "sanity_ssim"])
    assert math.isfinite(table.loc[0, "insertion"]) and table.loc[0, "n_images"] == 4
    with pytest.raises(UnknownNameError):
        evaluate_methods(model, x, ["no_such_method"], sanity=False)
    with pytest.raises(ConfigError):
        evaluate_methods(model, x, [], sanity=False)


def test_select_images(world):
    x, y, m = select_images(world, n_images=4, seed=3)
    assert x.shape == (4, 1, 16, 16) and y.shape == (4,) and m.shape == (4, 1, 16, 16)
    x2, _, _ = select_images(world, n_images=4, seed=3)
    assert torch.equal(x, x2)                                      # deterministic for a seed
    test_images = world.split("test").images
    assert all(any(torch.equal(img, t) for t in test_images) for img in x)   # drawn from the test split
    with pytest.raises(InputShapeError):
        select_images((world.images, world.labels, world.masks[:3]))
    with pytest.raises(InputShapeError):
        select_images("images")


def test_plot_data_is_long_form(model, world):
    table = evaluate_methods(model, world, ["saliency", mask_oracle], n_images=4, steps=2, sanity=False)
    long = leaderboard_plot_data(table)
    assert len(long) == 2 * len(METRICS)
    assert set(long.columns) == {"method", "metric", "mean", "std", "higher_is_better"}
    row = long[(long.method == "saliency") & (long.metric == "deletion")].iloc[0]
    assert row["mean"] == table.loc[0, "deletion"] and not row["higher_is_better"]
    with pytest.raises(ConfigError):
        leaderboard_plot_data(table, metrics=["nope"])
