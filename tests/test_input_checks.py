"""Sizes are checked before the work (issue 12, item 9): too-small images and empty batches get typed errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from halign_widgets.errors import InputShapeError
from halign_widgets.explain import activation_maximization, explain, list_methods, suny
from halign_widgets.explain.metrics import average_drop_increase, deletion_insertion, sanity_check
from halign_widgets.models import SmallCNN, check_model_input, eval_mode, min_input_size
from halign_widgets.models.inputs import probe_min_input_size
from halign_widgets.training import Trainer


@pytest.fixture(scope="module")
def deep() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(in_channels=1, num_classes=2, width=4, depth=4).eval()


def test_smallcnn_declares_its_minimum_and_it_is_exact(deep: SmallCNN) -> None:
    assert min_input_size(deep) == 8 and SmallCNN(depth=1).min_input_size == 1
    assert deep(torch.rand(1, 1, 8, 8)).shape == (1, 2)           # the minimum works …
    with pytest.raises(RuntimeError, match="too small"):
        deep(torch.rand(1, 1, 7, 7))                              # … one pixel less fails inside torch
    with pytest.raises(InputShapeError, match=r"7×7 pixels but SmallCNN needs at least 8×8 \(depth=4: its 3"):
        check_model_input(deep, torch.rand(1, 1, 7, 7))
    with pytest.raises(InputShapeError, match="at least 8×8"):
        check_model_input(deep, torch.rand(1, 1, 64, 7))


@pytest.mark.parametrize("method", list_methods())
def test_explain_refuses_images_smaller_than_the_model_takes(method: str, deep: SmallCNN) -> None:
    with pytest.raises(InputShapeError, match=r"4×4 pixels but SmallCNN needs at least 8×8"):
        explain(deep, torch.rand(2, 1, 4, 4), method)


@pytest.mark.parametrize("method", list_methods())
def test_explain_refuses_an_empty_batch(method: str, deep: SmallCNN) -> None:
    with pytest.raises(InputShapeError, match="at least one image"):
        explain(deep, torch.rand(0, 1, 32, 32), method)


def test_suny_metrics_actmax_and_predict_check_sizes_first(deep: SmallCNN) -> None:
    small, empty = torch.rand(2, 1, 4, 4), torch.rand(0, 1, 32, 32)
    maps_small, maps_empty = torch.rand(2, 4, 4), torch.rand(0, 32, 32)
    calls = [
        lambda x, m: suny(deep, x, causes="patches", grid=2),
        lambda x, m: deletion_insertion(deep, x, m, steps=4),
        lambda x, m: average_drop_increase(deep, x, m),
        lambda x, m: sanity_check(deep, x, "saliency"),
        lambda x, m: Trainer(deep, (torch.rand(4, 1, 32, 32), torch.tensor([0, 1, 0, 1])), progress=False,
                             device="cpu").predict(x),
    ]
    for call in calls:
        with pytest.raises(InputShapeError, match="at least 8×8"):
            call(small, maps_small)
        with pytest.raises(InputShapeError, match="at least one image"):
            call(empty, maps_empty)
    with pytest.raises(InputShapeError, match=r"size=4.*at least 8×8"):
        activation_maximization(deep, "class:1", steps=2, size=4)
    with pytest.raises(InputShapeError, match=r"size=\(64, 6\).*at least 8×8"):
        activation_maximization(deep, "class:1", steps=2, size=(64, 6))


def test_the_trainer_refuses_a_dataset_of_too_small_images(deep: SmallCNN) -> None:
    with pytest.raises(InputShapeError, match=r"training data images are 4×4 pixels but SmallCNN needs at least 8×8"):
        Trainer(deep, (torch.rand(4, 1, 4, 4), torch.tensor([0, 1, 0, 1])), progress=False, device="cpu")


class Pooled(nn.Module):
    """A model that declares no minimum: a 5×5 conv then 2×2 pooling needs 6×6 pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 5)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(torch.relu(self.conv(x))).mean((2, 3)))


@pytest.mark.parametrize("side", [3, 5])
def test_other_models_get_torch_s_error_translated(side: int) -> None:
    model = Pooled().eval()
    x = torch.rand(2, 1, side, side)
    for call in (lambda: explain(model, x, "saliency"), lambda: explain(model, x, "gradcam"),
                 lambda: suny(model, x, causes="patches", grid=1),
                 lambda: deletion_insertion(model, x, torch.rand(2, side, side), steps=2),
                 lambda: activation_maximization(model, "class:0", steps=1, size=side)):
        with pytest.raises(InputShapeError, match=rf"{side}×{side} pixels are too small for Pooled; it needs at "
                                                  r"least 6×6 pixels \(found by trying it.*resize them to at least 6"):
            call()
    assert explain(model, torch.rand(2, 1, 6, 6), "saliency").maps.shape == (2, 6, 6)


class Strided(nn.Module):
    """Declares no minimum: three stride-2 3×3 convolutions (no padding) then 3×3 pooling need 31×31 pixels."""

    def __init__(self, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.BatchNorm2d(4), nn.Conv2d(4, 4, 3, stride=2),
                                  nn.Dropout(0.5), nn.Conv2d(4, 4, 3, stride=2), nn.MaxPool2d(3)).to(dtype)
        self.head = nn.Linear(4, 2).to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).mean((2, 3)))


def test_probe_finds_the_exact_minimum_and_leaves_the_model_as_it_was() -> None:
    torch.manual_seed(0)
    model = Strided(torch.float64).train()                        # train mode, float64: the probe must follow
    model.body[3].eval()                                          # a deliberate mix of modes is kept
    model(torch.rand(2, 3, 40, 40, dtype=torch.float64))          # BN statistics that must not move
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    assert probe_min_input_size(model, 3, 4) == 31
    assert probe_min_input_size(model, 3, 30) == 31              # from just below the minimum as well
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert model.training and model.body[1].training and not model.body[3].training
    assert torch.equal(torch.get_rng_state(), rng) and all(p.grad is None for p in model.parameters())
    with eval_mode(model), torch.no_grad():                       # the number is exact
        assert model(torch.zeros(1, 3, 31, 31, dtype=torch.float64)).shape == (1, 2)
        with pytest.raises(RuntimeError, match="too small"):
            model(torch.zeros(1, 3, 30, 30, dtype=torch.float64))
    with pytest.raises(InputShapeError, match=r"10×12 pixels are too small for Strided; it needs at least 31×31"):
        explain(model, torch.rand(1, 3, 10, 12, dtype=torch.float64), "saliency")


def test_a_model_without_a_minimum_keeps_the_plain_message() -> None:
    class Fixed(nn.Module):
        """Built for 16×16 only: flatten then Linear, so no side but 16 works (no minimum to name)."""

        def __init__(self) -> None:
            super().__init__()
            self.conv, self.pool, self.head = nn.Conv2d(1, 2, 3, padding=1), nn.MaxPool2d(4), nn.Linear(2 * 4 * 4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.pool(self.conv(x)).flatten(1))

    with pytest.raises(InputShapeError, match=r"3×3 pixels are too small for Fixed \(torch: .*resize them to the size "
                                              "the model was built for"):
        explain(Fixed().eval(), torch.rand(1, 1, 3, 3), "saliency")


def test_unrelated_runtime_errors_are_not_disguised() -> None:
    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError("something else entirely")

    broken = Broken()
    broken.register_parameter("w", nn.Parameter(torch.zeros(1)))
    with pytest.raises(RuntimeError, match="something else entirely") as info:
        explain(broken, torch.rand(1, 1, 8, 8), "saliency")
    assert not isinstance(info.value, InputShapeError)
