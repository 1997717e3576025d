"""``Trainer(amp=True)``: on the CPU, bfloat16 autocast for the training steps only, no scaler (issue 15, item 6).

The CUDA path (float16 + ``GradScaler``) runs in ``tools/gpu_check.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from halign_widgets.errors import ConfigError
from halign_widgets.training import Trainer, load_checkpoint
from halign_widgets.training._precision import Precision

_spec = importlib.util.spec_from_file_location("_ddp_worker", Path(__file__).with_name("_ddp_worker.py"))
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)  # type: ignore[union-attr]


def test_cpu_amp_runs_the_training_steps_in_bfloat16_and_nothing_else(tmp_path: Path) -> None:
    world = worker.tiny_world()
    model = worker.tiny_model()
    seen: dict[str, set[torch.dtype]] = {"train": set(), "eval": set()}
    model.features.conv1.conv.register_forward_hook(
        lambda m, i, out: seen["train" if torch.is_grad_enabled() and m.training else "eval"].add(out.dtype))
    trainer = Trainer(model, world.train, world.val, epochs=2, amp=True, checkpoint_dir=tmp_path, **worker.KW)
    trainer.fit()
    assert seen["train"] == {torch.bfloat16}                      # every training step under autocast
    assert seen["eval"] == {torch.float32}                        # validation and precise BN in float32
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert trainer._precision.scaler is None                       # bfloat16 needs no loss scaling
    reference = worker.tiny_model()
    plain = Trainer(reference, world.train, world.val, epochs=2, **worker.KW)
    plain.fit()
    for mixed, full in zip(trainer.history, plain.history,
                           strict=True):      # bfloat16 keeps ~3 digits: close, not equal
        assert mixed["train_loss"] == pytest.approx(full["train_loss"], abs=0.05)
    assert trainer.history[-1]["train_loss"] != plain.history[-1]["train_loss"]
    data = load_checkpoint(tmp_path / "last.pt")
    assert "grad_scaler" not in data["extra"]


@pytest.mark.parametrize("amp, model_dtype, message", [
    ("yes", torch.float32, "amp must be True or False"),
    (True, torch.float64, "amp=True needs a float32 model"),
])
def test_amp_options_are_checked(amp, model_dtype, message) -> None:
    world = worker.tiny_world()
    with pytest.raises(ConfigError, match=message):
        Trainer(worker.tiny_model().to(model_dtype), world.train, amp=amp, **worker.KW)


def test_precision_refuses_devices_without_an_autocast_path() -> None:
    with pytest.raises(ConfigError, match="runs on CUDA .* or the CPU"):
        Precision(True, torch.device("meta"), worker.tiny_model())
    off = Precision(False, torch.device("cpu"), worker.tiny_model())
    assert not off.enabled and off.state_dict() is None and not off.scaling
