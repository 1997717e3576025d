"""The shortcut detective on a hand-made pair of models whose reading region we know."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from halign_widgets.data import ImageDataset
from halign_widgets.errors import ConfigError, UnknownNameError
from halign_widgets.explain.shortcut import marker_mask, shortcut_detective, train_shortcut_pair
from halign_widgets.models import SmallCNN
from halign_widgets.training import recalibrate_batchnorm

S = 24
BOX = (1, 5, 1, 5)                         # marker region (y0, y1, x0, x1)


class RegionReader(nn.Module):
    """Class-1 logit − class-0 logit = ``gain · (mean of the pixels in region − threshold)``."""

    def __init__(self, region: torch.Tensor, threshold: float, gain: float = 30.0) -> None:
        super().__init__()
        self.features = nn.Sequential(OrderedDict(conv1=nn.Conv2d(1, 1, 1, bias=False)))
        with torch.no_grad():
            self.features.conv1.weight.fill_(1.0)
        self.register_buffer("region", region.float())
        self.threshold, self.gain = threshold, gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = (self.features(x)[:, 0] * self.region).flatten(1).sum(1) / self.region.sum()
        score = self.gain * (mean - self.threshold)
        return torch.stack([-score / 2, score / 2], 1)


def toy_world(n: int = 40, seed: int = 0) -> ImageDataset:
    """Lesion at a fixed place: bright = malignant, dim = benign; marker independent of the label."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 2
    marker = torch.rand(n, generator=g) < 0.5
    x = 0.2 + 0.05 * torch.rand(n, 1, S, S, generator=g)
    lesion = torch.zeros(S, S, dtype=torch.bool)
    lesion[12:18, 12:18] = True
    x[:, 0, 12:18, 12:18] = torch.where(labels == 1, 0.9, 0.45)[:, None, None]
    x[marker, 0, BOX[0]:BOX[1], BOX[2]:BOX[3]] = 0.95
    masks = lesion.expand(n, 1, S, S).clone()
    return ImageDataset(x, labels, ["benign", "malignant"], masks, {"marker": marker}, {"marker_box": BOX},
                        {"test": torch.arange(n)})


@pytest.fixture
def pair() -> tuple[dict[str, nn.Module], ImageDataset]:
    world = toy_world()
    lesion = world.masks[0, 0]
    return {"shortcut": RegionReader(marker_mask(world), 0.6), "clean": RegionReader(lesion, 0.65)}, world


def test_detective_orders_lesion_and_marker_shares(pair):
    models, world = pair
    table = shortcut_detective(models, world, ["saliency"], n_images=None, which="all")
    row = table.set_index("model")
    assert row.loc["shortcut", "marker_share"] == pytest.approx(1.0)
    assert row.loc["shortcut", "lesion_share"] == pytest.approx(0.0)
    assert row.loc["clean", "lesion_share"] == pytest.approx(1.0)
    assert row.loc["clean", "marker_share"] == pytest.approx(0.0)
    assert row.loc["clean", "accuracy"] == 1.0
    assert row.loc["shortcut", "accuracy"] < 0.8                 # marker independent of the label
    marked = world.meta["marker"]
    expected = float((world.labels[marked] == 1).float().mean())  # "malignant iff marker" on marked images
    assert row.loc["shortcut", "accuracy_marked"] == pytest.approx(expected)
    assert row.loc["shortcut", "marker_area"] == pytest.approx(16 / S ** 2)


def test_detective_selection_and_custom_explainer(pair):
    models, world = pair

    def everywhere(_m: nn.Module, x: torch.Tensor, _t: torch.Tensor) -> torch.Tensor:
        return torch.ones(x.shape[0], S, S)

    table = shortcut_detective(models, world, [everywhere, "saliency"], n_images=5, which="marked", seed=1)
    assert list(table["method"]) == ["everywhere", "saliency"] * 2
    assert (table["n_images"] == 5).all()
    flat = table[table["method"] == "everywhere"]              # uniform map → share = area fraction
    assert flat["lesion_share"].to_numpy() == pytest.approx(flat["lesion_area"].to_numpy())
    with pytest.raises(UnknownNameError):
        shortcut_detective(models, world, ["saliency"], which="some")


def test_marker_box_errors(pair):
    models, world = pair
    world.info.pop("marker_box")
    with pytest.raises(ConfigError, match="marker_box"):
        shortcut_detective(models, world, ["saliency"])
    with pytest.raises(ConfigError):
        marker_mask(world, (0, 40, 0, 4))


def test_recalibrate_batchnorm_uses_exact_statistics():
    torch.manual_seed(0)
    model = SmallCNN(1, 2, width=4, depth=2)
    x = torch.rand(20, 1, 16, 16)
    recalibrate_batchnorm(model, x, batch_size=5)         # equal batches: exact mean
    with torch.no_grad():
        pre = model.features.conv1.conv(x)
    assert torch.allclose(model.features.conv1.bn.running_mean, pre.mean((0, 2, 3)), atol=1e-5)
    assert model.training and model.features.conv1.bn.momentum == 0.1   # mode and momentum restored
    model.eval()
    recalibrate_batchnorm(model, x, batch_size=5)
    assert not model.training


def test_train_shortcut_pair_smoke():
    pair = train_shortcut_pair(n=96, epochs=1, size=32, width=4, seed=0)
    assert set(pair.models) == set(pair.datasets) == {"shortcut", "clean"}
    assert all(len(h) == 1 for h in pair.histories.values())
    assert not any(m.training for m in pair.models.values())
    sc, clean = pair.datasets["shortcut"], pair.datasets["clean"]
    train = sc.split("train")
    assert not bool(train.meta["marker"][train.labels == 0].any())          # shortcut: malignant only
    cm, cl = clean.meta["marker"], clean.labels
    assert bool(cm[cl == 0].any()) and bool(cm[cl == 1].any())            # control: in both classes
    assert len(clean) == 96 and {"train", "val"} <= set(clean.splits)


def test_train_shortcut_pair_absent_control_and_errors():
    pair = train_shortcut_pair(n=64, epochs=1, size=32, width=4, seed=1, control="absent")
    assert torch.equal(pair.datasets["shortcut"].masks, pair.datasets["clean"].masks)   # same masses
    assert not bool(pair.datasets["clean"].meta["marker"].any())
    with pytest.raises(ConfigError):
        train_shortcut_pair(n=96, shortcut=0.0)
    with pytest.raises(UnknownNameError):
        train_shortcut_pair(n=96, control="none")
