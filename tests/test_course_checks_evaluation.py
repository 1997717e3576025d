"""check_class_errors (halign_widgets.course.checks_evaluation) on hand-built cases.

A "picker" model whose logits are the first three pixels of the image predicts exactly the class
whose pixel is lit, so every count below is known by hand. Tested: the pass, the not-yets that
recognise a common slip (the correct ones counted, a column of the confusion matrix instead of a
row, every class's errors), impossible counts, fractions, wrong types, the stub ``None``, a bad
class, and that a "not yet" never prints the expected count.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from halign_widgets.course import check_class_errors


class _Picker(nn.Module):
    """Logits = the first three pixels (a learnable scale keeps it a model with a parameter)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :3] * self.scale


class _Data:
    """A dataset-like object: images, labels and class names."""

    classes = ("a", "b", "c")

    def __init__(self) -> None:
        predicted = torch.tensor([1, 0, 2, 0, 1, 1, 0, 2])
        self.labels = torch.tensor([1, 1, 1, 1, 0, 2, 0, 2])
        self.images = nn.functional.one_hot(predicted, 4).float().view(8, 1, 2, 2)
        # class 1 ('b'): 4 images, 1 right, 3 wrong; predicted 1 but wrong: 2; errors of every class: 5


def _line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(("✅ pass: ", "⏳ not yet: ")), lines
    return lines[0]


def test_the_count_of_one_true_class_passes(capsys: pytest.CaptureFixture[str]) -> None:
    model, data = _Picker(), _Data()
    assert check_class_errors("missed", 3, model, data, 1) is True
    assert _line(capsys) == ("✅ pass: missed — 3 of the 4 'b' images are misclassified (the lab counts 3; "
                             "its recall is 0.250)")
    assert check_class_errors("missed", 3, model, data, "b") is True                 # a class name works too
    assert check_class_errors("missed", torch.tensor(3), model, data, 1) is True     # a 0-d tensor
    assert check_class_errors("missed", 3.0, model, data, 1) is True
    capsys.readouterr()
    assert check_class_errors("c", 1, model, data.images, 2, labels=data.labels) is True      # tensors + labels
    assert "1 of the 2 class 2 images" in _line(capsys)                                       # no names: indices


@pytest.mark.parametrize("answer, reason", [
    (1, "the number of 'b' images the model gets RIGHT"),
    (2, "counts the images PREDICTED as 'b'"),
    (5, "counts the errors of every class"),
    (7, "is impossible: there are 4 'b' images here"),
    (-1, "is impossible"),
    (0.75, "looks like a fraction"),
    (2.5, "it is 2.5; a count of images was expected"),
    ("three", "(str); a count of images was expected"),
    (True, "a bool"),
])
def test_slips_get_a_reason_and_never_the_answer(answer: object, reason: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert check_class_errors("missed", answer, _Picker(), _Data(), 1) is False
    out = _line(capsys)
    assert out.startswith("⏳ not yet: missed — ") and reason in out, out
    assert "3 of" not in out and "counts 3" not in out


def test_a_plain_wrong_count_and_the_stub(capsys: pytest.CaptureFixture[str]) -> None:
    model, data = _Picker(), _Data()
    assert check_class_errors("missed", 0, model, data, 1) is False
    assert _line(capsys) == ("⏳ not yet: missed — 0 is not the lab's count of misclassified 'b' images (hint: "
                             "predict the test images (trainer.predict(test).argmax(1), or training.predict(model, "
                             "test, output='labels')) and count the images whose TRUE class is this one but whose "
                             "prediction differs)")
    assert check_class_errors("missed", None, model, data, 1) is False
    assert "still None" in _line(capsys)


@pytest.mark.parametrize("true_class", [3, "z", -1])
def test_a_class_that_does_not_exist_is_not_yet(true_class: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_class_errors("missed", 3, _Picker(), _Data(), true_class) is False
    out = _line(capsys)
    assert "could not use this answer" in out and ("does not exist" in out or "not one of" in out)


def test_errors_inside_are_not_yet(capsys: pytest.CaptureFixture[str]) -> None:
    data = _Data()
    assert check_class_errors("missed", 3, _Picker(), data.images, 1) is False                # labels missing
    assert "could not use this answer (ConfigError" in _line(capsys)
    assert check_class_errors("missed", 3, _Picker(), data.images, 1, labels=data.labels[:3]) is False
    assert "LabelMismatchError" in _line(capsys)
    assert check_class_errors("missed", 3, None, data, 1) is False
    assert "could not use this answer" in _line(capsys)


def test_agrees_with_the_labs_predictions_on_a_small_cnn(capsys: pytest.CaptureFixture[str]) -> None:
    from halign_widgets.models import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(in_channels=1, num_classes=2, width=4, depth=2)
    images, labels = torch.rand(40, 1, 16, 16), torch.randint(0, 2, (40,))
    model.eval()
    with torch.no_grad():
        predicted = model(images).argmax(1)
    model.train()                                       # the check evaluates in eval mode and restores the mode
    for cls in (0, 1):
        expected = int(((labels == cls) & (predicted != labels)).sum())
        assert check_class_errors("e", expected, model, images, cls, labels=labels) is True
    assert model.training
