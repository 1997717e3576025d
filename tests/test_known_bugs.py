"""Known bugs of issue 12 (item 12): the causality tap's permanent hook and SUNY's progress closure.

(``Trainer(precise_bn=1)`` meaning 128 images is tested in ``test_training_hardening.py``.)
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from halign_widgets.causality import CausalClassifier
from halign_widgets.explain import suny


class UserBackbone(nn.Module):
    """Not a SmallCNN: the classifier must tap it through a hook."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.stem(x)).mean((2, 3)))


def _hooks(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in module.modules())


def test_wrapping_a_backbone_leaves_it_working_and_unhooked() -> None:
    torch.manual_seed(0)
    backbone = UserBackbone().eval()
    x = torch.rand(3, 1, 16, 16)
    before = backbone(x)
    clf = CausalClassifier(backbone, "block", num_classes=2, input_shape=(1, 16, 16)).eval()
    assert _hooks(backbone) == 0
    assert torch.equal(backbone(x), before)                       # raised the private _Stop before the fix
    assert clf(x).shape == (3, 2) and _hooks(backbone) == 0
    assert torch.equal(backbone(x), before)
    assert torch.equal(clf.forward_features(x), backbone.block(backbone.stem(x)))
    with pytest.raises(RuntimeError):
        clf(torch.rand(3, 2, 16, 16))                             # wrong channels: the backbone raises …
    assert _hooks(backbone) == 0 and torch.equal(backbone(x), before)   # … and the hook is still removed


def test_the_tap_trains_through_the_backbone() -> None:
    torch.manual_seed(0)
    backbone = UserBackbone()
    clf = CausalClassifier(backbone, "stem", num_classes=2, input_shape=(1, 8, 8))
    clf(torch.rand(2, 1, 8, 8)).sum().backward()
    assert backbone.stem[0].weight.grad is not None and backbone.head.weight.grad is None


@pytest.mark.parametrize("kw", [
    dict(causes="patches", grid=2, pool=None),                   # exact, cached complements
    dict(causes="features", pool=3),                             # exact on a pool
    dict(causes="features", pool=6, samples=5),                  # permutation sampling
    dict(causes="filters", pool=2),
])
def test_suny_progress_is_monotone_and_ends_at_one(kw) -> None:
    from halign_widgets.models import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(width=4, depth=2).eval()
    x = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    seen: list[float] = []
    suny(model, x, progress=seen.append, **kw)
    assert seen and all(0.0 <= v <= 1.0 for v in seen)
    assert all(a <= b for a, b in zip(seen, seen[1:], strict=False)), seen
    assert seen[-1] == 1.0
    # every image reaches its share: 1/3 and 2/3 are reported when the first two images end
    assert pytest.approx(1 / 3) in seen and pytest.approx(2 / 3) in seen
