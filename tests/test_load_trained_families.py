"""CoCoReco, ScratchCNN, CrocodileNet and BaselineNet load back with one ``load_trained`` call (issue 17).

``biovision.compare_models(models_dir=…)`` and the CROCODILE runs save these families with
``save_checkpoint``; each package registers its classes, so the checkpoint rebuilds the same
class with the same configuration and bit-identical weights (and buffers, such as CoCoReco's gains).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from halign_widgets.biovision import CoCoReco, ScratchCNN
from halign_widgets.crocodile import BaselineNet, CrocodileNet
from halign_widgets.training import load_trained, model_families, save_checkpoint

FAMILIES = {
    "CoCoReco": lambda: CoCoReco(in_channels=1, num_classes=3, width=16, cab_areas=("v1",), dropout=0.1),
    "ScratchCNN": lambda: ScratchCNN(in_channels=3, num_classes=2, width=32, norm="none"),
    "CrocodileNet": lambda: CrocodileNet(1, num_findings=2, num_sources=3, width=4, depth=2, dim=8),
    "BaselineNet": lambda: BaselineNet(1, num_findings=2, num_sources=2, width=4, depth=2),
}


def _perturb(model: nn.Module) -> None:
    """Move every float tensor off its initial value, so equal weights after loading mean they were loaded."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for t in list(model.parameters()) + [b for b in model.buffers() if b.is_floating_point()]:
            t.add_(torch.rand(t.shape, generator=g) * 0.1 + 0.01)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_a_saved_family_loads_back_as_the_same_class_with_equal_weights(name: str, tmp_path: Path) -> None:
    assert name in model_families()
    torch.manual_seed(0)
    model = FAMILIES[name]()
    _perturb(model)
    path = save_checkpoint(tmp_path / f"masses-{name}-0.pt", model, history=[{"epoch": 1, "val_acc": 0.5}])
    torch.manual_seed(123)                       # a fresh build draws other weights: only loading can match
    again, history = load_trained(path)
    assert type(again) is type(model) and again.config == model.config and not again.training
    mine, theirs = model.state_dict(), again.state_dict()
    assert list(mine) == list(theirs)
    assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert history == [{"epoch": 1, "val_acc": 0.5}]
    x = torch.rand(2, model.config["in_channels"], 32, 32)
    with torch.no_grad():
        assert torch.equal(model.eval()(x), again(x))


@pytest.mark.parametrize("name, home", [("CoCoReco", "halign_widgets.biovision"),
                                        ("CrocodileNet", "halign_widgets.crocodile")])
def test_an_unregistered_family_names_its_package(name: str, home: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from halign_widgets.errors import CheckpointMismatchError
    from halign_widgets.training import registry

    path = save_checkpoint(tmp_path / "m.pt", FAMILIES[name]())
    monkeypatch.delitem(registry._FAMILIES, name)
    with pytest.raises(CheckpointMismatchError, match=f"holds a {name}.*`import {home}` registers it"):
        load_trained(path)
