"""Training CoCoReco through the lab's Trainer: the CAB schedule and the L_mb terms in the history."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from halign_widgets.biovision import CoCoReco, CoCoRecoStep, ScratchCNN, ablate
from halign_widgets.data import ImageDataset
from halign_widgets.errors import ConfigError
from halign_widgets.training import Callback, Trainer


def _data(n: int = 24) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    x = 0.3 + 0.1 * torch.rand(n, 1, 32, 32, generator=g)
    y = torch.arange(n) % 2
    x[y == 1, :, 8:16, 8:16] += 0.5
    return ImageDataset(x, y, ["a", "b"], splits={"train": torch.arange(16), "val": torch.arange(16, n)})


class _Record(Callback):
    def __init__(self) -> None:
        self.active: dict[int, set[bool]] = {}

    def on_batch_end(self, trainer: Trainer, step: int, logs: dict[str, Any]) -> None:
        self.active.setdefault(logs["epoch"], set()).add(trainer.model.cab_active)


def test_cab_is_off_in_the_first_epoch_and_lmb_lands_in_the_history() -> None:
    data = _data()
    torch.manual_seed(0)
    model = CoCoReco(width=32)
    step, record = CoCoRecoStep(lmb_weights={"v1": 0.1, "pfc": 0.1, "it": 0.2}), _Record()
    trainer = Trainer(model, data.train, data.val, epochs=2, batch_size=8, step_fn=step, callbacks=[step, record],
                      progress=False, precise_bn=0)
    history = trainer.fit()
    assert record.active == {1: {False}, 2: {True}}
    first, second = history[0], history[1]
    for area in ("v1", "pfc", "it"):
        assert first[f"train_lmb_{area}"] == 0.0 and first[f"val_lmb_{area}"] == 0.0
        assert second[f"train_lmb_{area}"] > 0.0 and second[f"val_lmb_{area}"] > 0.0
    assert "train_ce" in second and second["train_loss"] >= second["train_ce"]
    assert trainer.evaluate(data.val)["lmb_it"] > 0 and model.cab_active     # inference after epoch 1: CABs on


def test_no_warmup_and_zero_weight_is_plain_cross_entropy() -> None:
    data = _data()
    torch.manual_seed(0)
    model = CoCoReco(width=32)
    step, record = CoCoRecoStep(lmb_weights=0.0, cab_warmup=0), _Record()
    trainer = Trainer(model, data.train, epochs=1, batch_size=8, step_fn=step, callbacks=[step, record],
                      progress=False, precise_bn=0)
    trainer.fit()
    assert record.active == {1: {True}}
    loss, logits, terms = step(model, data.images[:8], data.labels[:8])
    assert torch.allclose(loss, terms["ce"]) and terms["lmb_it"] > 0 and logits.shape == (8, 2)


def test_the_same_step_trains_the_scratch_baseline() -> None:
    data = _data()
    step = CoCoRecoStep()
    trainer = Trainer(ScratchCNN(width=32), data.train, data.val, epochs=1, batch_size=8, step_fn=step,
                      callbacks=[step], progress=False, precise_bn=0)
    history = trainer.fit()
    assert "train_ce" in history[0] and not any(k.startswith("train_lmb") for k in history[0])


def test_a_training_run_with_a_pathway_cut_never_trains_it_and_restores_it() -> None:
    data = _data()
    torch.manual_seed(0)
    model = CoCoReco(width=32)
    shortcut = model.projections["pfc_to_it"].conv.weight.detach().clone()
    ventral = model.projections["v4_to_it"].conv.weight.detach().clone()
    step = CoCoRecoStep()
    with ablate(model, pathways=["pfc_shortcut"]):
        Trainer(model, data.train, epochs=1, batch_size=8, step_fn=step, callbacks=[step], progress=False,
                precise_bn=0).fit()
    assert torch.equal(model.projections["pfc_to_it"].conv.weight, shortcut), "a cut projection was trained"
    assert not torch.equal(model.projections["v4_to_it"].conv.weight, ventral)
    assert not model.is_cut("pfc->it")


def test_gains_survive_a_checkpoint(tmp_path) -> None:
    data = _data()
    model = CoCoReco(width=32)
    model.set_gain("v4->it", 0.3)
    model.cut("pfc->it")
    step = CoCoRecoStep()
    trainer = Trainer(model, data.train, epochs=1, batch_size=8, step_fn=step, callbacks=[step], progress=False,
                      precise_bn=0)
    trainer.fit()
    path = trainer.save(tmp_path / "coco.pt")
    fresh = CoCoReco(width=32)
    Trainer(fresh, data.train, epochs=1, progress=False).load(path)
    assert fresh.gain("v4->it") == 0.3 and fresh.is_cut("pfc->it") and fresh.gain("v1->v4") == 0.05


def test_bad_step_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="≥ 0"):
        CoCoRecoStep(lmb_weights=-1.0)
    with pytest.raises(ConfigError, match="≥ 0"):
        CoCoRecoStep(lmb_weights={"it": float("nan")})
    with pytest.raises(ConfigError, match="cab_warmup"):
        CoCoRecoStep(cab_warmup=-1)
