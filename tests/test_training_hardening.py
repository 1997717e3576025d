"""Hardening of the Trainer (issue 12): a diverging step keeps the model, precise_bn=1 is one image."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from halign_widgets.errors import ConfigError
from halign_widgets.models import SmallCNN
from halign_widgets.training import Callback, Trainer


def tiny_data(n: int = 48, size: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 1, size, size, generator=g) * 0.5 + 0.5 * y[:, None, None, None]
    return x, y


def tiny_model(seed: int = 0) -> SmallCNN:
    torch.manual_seed(seed)
    return SmallCNN(in_channels=1, num_classes=2, width=4, depth=2)


class Snapshots(Callback):
    """The full model state (parameters and buffers) and the optimiser state after every good step."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []
        self.optim: list[dict] = []

    def on_batch_end(self, trainer, step, logs):
        self.states.append({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})
        self.optim.append(copy.deepcopy(trainer.optimizer.state_dict()))


class NaNAtCall:
    """Cross-entropy that turns NaN (or makes NaN gradients) on its ``bad``-th call."""

    def __init__(self, bad: int, how: str = "loss") -> None:
        self.bad, self.how, self.calls = bad, how, 0

    def __call__(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        loss = nn.functional.cross_entropy(logits, y)
        if self.calls != self.bad:
            return loss
        if self.how == "loss":
            return loss * float("nan")
        # finite loss, NaN gradients: d/dz sqrt(z) at z = 0 is inf, times 0 gives NaN
        zero = (logits - logits.detach()).sum()
        return loss + 0.0 * torch.sqrt(zero)


def _assert_state_equal(model: nn.Module, expected: dict[str, torch.Tensor]) -> None:
    for key, value in model.state_dict().items():
        assert torch.equal(value, expected[key]), key


def _assert_optimizer_equal(a: dict, b: dict) -> None:
    assert a["state"].keys() == b["state"].keys()
    for idx in a["state"]:
        for key, value in a["state"][idx].items():
            other = b["state"][idx][key]
            assert torch.equal(value, other) if isinstance(value, torch.Tensor) else value == other


@pytest.mark.parametrize("how", ["loss", "gradients"])
def test_a_diverging_step_leaves_model_and_optimizer_at_the_last_good_step(how: str) -> None:
    x, y = tiny_data()  # 48 images, batch 16: 3 batches per epoch, so call 6 is epoch 2, batch 3
    snaps = Snapshots()
    trainer = Trainer(tiny_model(), (x, y), epochs=3, batch_size=16, progress=False, device="cpu",
                      criterion=NaNAtCall(6, how), callbacks=[snaps], precise_bn=0)
    with pytest.raises(ConfigError) as info:
        trainer.fit()
    message = str(info.value)
    assert "epoch 2, batch 3" in message and "no checkpoint was written (pass checkpoint_dir=" in message
    assert ("the loss is nan" in message) == (how == "loss")
    assert len(snaps.states) == 5 and trainer.global_step == 5
    assert all(bool(torch.isfinite(p).all()) for p in trainer.model.parameters())
    _assert_state_equal(trainer.model, snaps.states[-1])          # parameters AND batch-norm buffers
    _assert_optimizer_equal(trainer.optimizer.state_dict(), snaps.optim[-1])
    assert all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in trainer.model.parameters())
    # the model still trains from there: nothing in it is poisoned
    assert bool(torch.isfinite(trainer.model(x[:4])).all())


def test_divergence_message_names_the_last_checkpoint_and_its_epoch(tmp_path) -> None:
    x, y = tiny_data()
    trainer = Trainer(tiny_model(), (x, y), epochs=3, batch_size=16, progress=False, device="cpu",
                      criterion=NaNAtCall(3 * 2 + 1), checkpoint_dir=tmp_path / "run", precise_bn=0)
    with pytest.raises(ConfigError) as info:
        trainer.fit()
    message = str(info.value)
    assert "epoch 3, batch 1" in message and "the end of epoch 2" in message
    assert f"the last checkpoint is {tmp_path / 'run' / 'last.pt'} (epoch 2" in message


def test_divergence_in_the_first_epoch_without_a_checkpoint_yet(tmp_path) -> None:
    x, y = tiny_data()
    before = tiny_model()
    trainer = Trainer(tiny_model(), (x, y), epochs=1, batch_size=16, progress=False, device="cpu",
                      criterion=NaNAtCall(1), checkpoint_dir=tmp_path, precise_bn=0)
    with pytest.raises(ConfigError, match=r"epoch 1, batch 1.*initial values.*no checkpoint was written yet"):
        trainer.fit()
    _assert_state_equal(trainer.model, before.state_dict())


@pytest.mark.parametrize("value, expected", [(True, 128), (False, 0), (1, 1), (0, 0), (5, 5)])
def test_precise_bn_counts_images_and_only_bools_are_special(value, expected) -> None:
    x, y = tiny_data()
    trainer = Trainer(tiny_model(), (x, y), epochs=1, progress=False, device="cpu", precise_bn=value)
    assert trainer.precise_bn == expected and type(trainer.precise_bn) is int


def test_precise_bn_of_one_image_uses_exactly_one_image() -> None:
    from halign_widgets.training import recompute_bn_stats

    x, y = tiny_data()
    model = tiny_model()
    trainer = Trainer(model, (x, y), epochs=1, batch_size=16, progress=False, device="cpu", precise_bn=1)
    trainer.fit()
    reference = copy.deepcopy(model)
    recompute_bn_stats(reference, trainer.train_data, 1, 16)   # the statistics of image 0 alone
    for a, b in zip(model.buffers(), reference.buffers(), strict=True):
        assert torch.equal(a, b)
    recompute_bn_stats(reference, trainer.train_data, 128, 16)
    assert not torch.equal(model.features.conv1.bn.running_mean, reference.features.conv1.bn.running_mean)
