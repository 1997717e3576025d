"""``load_trained``, the model registry and the JSON history (issue 15, item 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from halign_widgets.causality import CausalCNN
from halign_widgets.errors import CheckpointError, CheckpointMismatchError, ConfigError, UnknownNameError
from halign_widgets.models import SmallCNN
from halign_widgets.training import (
    History,
    build_model,
    load_trained,
    model_families,
    register_model,
    registry,
    save_checkpoint,
)


class Foreign(nn.Module):
    def __init__(self, k: int = 3) -> None:
        super().__init__()
        self.config = {"k": k}
        self.lin = nn.Linear(k, 2)


def test_lab_families_rebuild_from_their_checkpoint(tmp_path: Path) -> None:
    assert {"SmallCNN", "CausalCNN"} <= set(model_families())
    torch.manual_seed(0)
    for model in (SmallCNN(width=4, depth=2), CausalCNN(width=4, depth=2, image_size=16, setting="cat")):
        path = save_checkpoint(tmp_path / f"{type(model).__name__}.pt", model, history=[{"epoch": 1, "x": 0.5}])
        again, history = load_trained(path)
        assert type(again) is type(model) and again.config == model.config and not again.training
        assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values(),
                                                     strict=True))
        assert history == [{"epoch": 1, "x": 0.5}]


def test_a_foreign_class_is_refused_with_how_to_register_it(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "f.pt", Foreign())
    with pytest.raises(CheckpointMismatchError, match=r"holds a Foreign, which is not a registered.*register_model"):
        load_trained(path)
    register_model(Foreign)
    try:
        model, _ = load_trained(path)
        assert isinstance(model, Foreign) and model.config == {"k": 3}
    finally:
        registry._FAMILIES.pop("Foreign")


def test_an_unimported_lab_family_names_the_package_to_import(tmp_path: Path, monkeypatch) -> None:
    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "c.pt", CausalCNN(width=4, depth=2, image_size=16))
    monkeypatch.delitem(registry._FAMILIES, "CausalCNN")
    with pytest.raises(CheckpointMismatchError, match="`import halign_widgets.causality` registers it"):
        load_trained(path)


def test_registry_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nn.Module subclass"):
        register_model(int)  # type: ignore[arg-type]
    other = type("SmallCNN", (nn.Module,), {})
    with pytest.raises(ConfigError, match="already registered as 'SmallCNN'"):
        register_model(other)
    with pytest.raises(UnknownNameError, match="unknown model family 'Nope'"):
        build_model("Nope")
    with pytest.raises(CheckpointMismatchError, match="cannot rebuild a SmallCNN"):
        build_model("SmallCNN", {"colour": 1}, source="x.pt")
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        load_trained(tmp_path)                                    # a folder without last.pt


def test_history_json_round_trip_and_damage(tmp_path: Path) -> None:
    history = History([{"epoch": 1, "val_loss": 0.5, "val_acc": None}, {"epoch": 2, "val_loss": 0.25}])
    path = history.save(tmp_path / "h.json", seed=3, device="cpu")
    assert History.load(path) == history and History.read_run(path) == {"seed": 3, "device": "cpu"}
    assert json.loads(path.read_text())["format"] == "halign_widgets.history/1"
    (tmp_path / "plain.json").write_text(json.dumps([{"epoch": 1}]))
    assert History.load(tmp_path / "plain.json") == [{"epoch": 1}]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="damaged"):
        History.load(tmp_path / "bad.json")
    (tmp_path / "wrong.json").write_text(json.dumps({"history": 3}))
    with pytest.raises(CheckpointError, match="not a training history"):
        History.load(tmp_path / "wrong.json")
    with pytest.raises(CheckpointError, match="no history file"):
        History.load(tmp_path / "missing.json")
