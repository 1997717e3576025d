"""Tests of atomic, weights_only checkpoints (halign_widgets.training.checkpoint)."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from halign_widgets.errors import CheckpointError, CheckpointMismatchError
from halign_widgets.models import SmallCNN
from halign_widgets.training import checkpoint as ckpt_module
from halign_widgets.training import load_checkpoint, read_checkpoint, save_checkpoint


def small(width: int = 4, seed: int = 0, num_classes: int = 2) -> SmallCNN:
    torch.manual_seed(seed)
    return SmallCNN(in_channels=1, num_classes=num_classes, width=width, depth=2)


def test_roundtrip_restores_model_optimizer_and_metadata(tmp_path):
    model = small()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(4, 1, 8, 8)).sum().backward()
    opt.step()
    history = [{"epoch": 1, "train_loss": 0.5, "val_loss": None}]
    path = save_checkpoint(tmp_path / "run" / "last.pt", model, opt, epoch=1, history=history, seed=7,
                           extra={"global_step": 3})
    # the file is readable by plain torch with weights_only=True: no pickled code inside
    raw = torch.load(path, weights_only=True)
    assert raw["model_class"] == "SmallCNN" and raw["model_config"] == model.config

    other = small(seed=1)
    other_opt = torch.optim.Adam(other.parameters(), lr=1e-3)
    data = load_checkpoint(path, other, other_opt)
    for key, value in model.state_dict().items():
        assert torch.equal(other.state_dict()[key], value), key
    assert data["epoch"] == 1 and data["history"] == history and data["seed"] == 7
    assert data["extra"]["global_step"] == 3
    assert torch.equal(other_opt.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])


def test_failed_save_leaves_the_old_checkpoint_and_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    old = small(seed=0)
    save_checkpoint(path, old, epoch=1)

    def broken_save(obj, handle, *args, **kwargs):
        handle.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_module.torch, "save", broken_save)
    with pytest.raises(CheckpointError, match="disk full"):
        save_checkpoint(path, small(seed=1), epoch=2)
    monkeypatch.undo()

    assert sorted(os.listdir(tmp_path)) == ["last.pt"]
    restored = small(seed=5)
    assert load_checkpoint(path, restored)["epoch"] == 1
    assert torch.equal(restored.classifier.weight, old.classifier.weight)


_EXECUTED: list[str] = []


def _side_effect() -> dict:
    _EXECUTED.append("code ran")
    return {}


class Evil:
    def __reduce__(self):
        return (_side_effect, ())


def test_loading_never_executes_code_from_the_file(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model_state": Evil()}, path)
    with pytest.raises(CheckpointError, match="cannot be loaded safely|corrupt"):
        read_checkpoint(path)
    assert _EXECUTED == []


def test_mismatched_model_raises_with_the_difference(tmp_path):
    path = save_checkpoint(tmp_path / "a.pt", small(width=4))
    with pytest.raises(CheckpointMismatchError, match=r"width: checkpoint 4 vs model 8"):
        load_checkpoint(path, small(width=8))
    with pytest.raises(CheckpointMismatchError, match="SmallCNN"):
        load_checkpoint(path, nn.Linear(3, 2))

    seq_path = save_checkpoint(tmp_path / "b.pt", nn.Sequential(nn.Linear(3, 2)))
    with pytest.raises(CheckpointMismatchError, match=r"0.weight: checkpoint \(2, 3\) vs model \(4, 3\)"):
        load_checkpoint(seq_path, nn.Sequential(nn.Linear(3, 4)))
    with pytest.raises(CheckpointMismatchError, match="missing keys"):
        load_checkpoint(seq_path, nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2)))
    assert isinstance(CheckpointMismatchError("x"), CheckpointError)


def test_optimizer_with_other_parameter_groups_is_a_mismatch(tmp_path):
    model = small()
    opt = torch.optim.Adam(model.parameters())
    path = save_checkpoint(tmp_path / "c.pt", model, opt)
    partial = torch.optim.Adam(model.classifier.parameters())
    with pytest.raises(CheckpointMismatchError, match="set_trainable"):
        load_checkpoint(path, small(), partial)


def test_missing_corrupt_or_foreign_files_raise_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint file"):
        read_checkpoint(tmp_path / "missing.pt")
    good = save_checkpoint(tmp_path / "good.pt", small())
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        read_checkpoint(truncated)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00not a checkpoint at all")
    with pytest.raises(CheckpointError):
        read_checkpoint(junk)
    foreign = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), foreign)
    with pytest.raises(CheckpointError, match="not a halign_widgets checkpoint"):
        read_checkpoint(foreign)
