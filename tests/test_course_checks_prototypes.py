"""The ProtoPNet checks of the course kit (chapter 03) on hand-built models and a tiny world.

- the largest single-prototype drop: a last layer that reads only prototype 0 (so switching it off
  turns every prediction from class 1 to class 0) — the drops are known exactly;
- collapse: two prototype vectors made equal by hand;
- what the prototypes look at: a random ProtoPNet pushed onto a small masses world, compared with
  the lab's truth functions and with switches flipped by hand;
- without masks the mask checks print one "not yet" line saying they are skipped; nothing ever raises.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from halign_widgets.course import (
    check_distinct_prototypes,
    check_largest_prototype_drop,
    check_off_mask_drop,
    check_top_prototype_on_mask,
    prototypes_off,
)
from halign_widgets.data import make_world
from halign_widgets.errors import ConfigError
from halign_widgets.prototypes import ProtoPNet, explanation_truth, prototype_truth, push_prototypes


def _line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def _model(per_class: int = 2) -> ProtoPNet:
    torch.manual_seed(0)
    return ProtoPNet(in_channels=1, num_classes=2, prototypes_per_class=per_class, latent_depth=4,
                     layer="features.conv3").eval()


def _reads_only_prototype_0() -> tuple[ProtoPNet, torch.Tensor, torch.Tensor]:
    model = _model()
    with torch.no_grad():
        model.last_layer.weight.zero_()
        model.last_layer.weight[1, 0] = 1.0      # logits (0, s_0) with s_0 > 0: class 1 everywhere
    x = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(1))
    return model, x, torch.tensor([1, 1, 1, 0])


def test_prototypes_off_restores_the_switches() -> None:
    model = _model()
    with prototypes_off(model, [1, 3]) as chosen:
        assert chosen == [1, 3] and model.prototype_active.tolist() == [1.0, 0.0, 1.0, 0.0]
    assert model.prototype_active.tolist() == [1.0] * 4
    with pytest.raises(ConfigError, match="do not exist"), prototypes_off(model, [4]):
        pass
    with pytest.raises(ConfigError, match="ProtoPNet"), prototypes_off(torch.nn.Linear(2, 2), [0]):
        pass


def test_largest_prototype_drop(capsys: pytest.CaptureFixture[str]) -> None:
    model, x, y = _reads_only_prototype_0()
    data = SimpleNamespace(images=x, labels=y)          # intact 0.75; prototype 0 off: 0.25; the others: 0.75
    assert check_largest_prototype_drop("m", 0.5, model, data) is True
    out = _line(capsys)
    assert out.startswith("✅ pass: m — the largest drop +0.500") and "[0]" in out
    assert check_largest_prototype_drop("m", 0.0, model, data) is False
    assert "not the largest" in _line(capsys)
    assert check_largest_prototype_drop("m", -0.5, model, data) is False
    assert "wrong sign" in _line(capsys)
    assert check_largest_prototype_drop("m", 50.0, model, data) is False
    assert "percentage" in _line(capsys)
    assert check_largest_prototype_drop("m", 0.3, model, data) is False
    assert "0.500" not in _line(capsys)
    assert model.prototype_active.tolist() == [1.0] * 4          # the check put every switch back


@pytest.mark.parametrize("answer, words", [(None, "still None"), ("half", "(str)"), (torch.ones(3), "shape (3,)")])
def test_largest_prototype_drop_bad_answers(answer: object, words: str, capsys: pytest.CaptureFixture[str]) -> None:
    model, x, y = _reads_only_prototype_0()
    assert check_largest_prototype_drop("m", answer, model, SimpleNamespace(images=x, labels=y)) is False
    out = _line(capsys)
    assert out.startswith("⏳ not yet: m — ") and words in out


def test_largest_prototype_drop_error_inside(capsys: pytest.CaptureFixture[str]) -> None:
    broken = SimpleNamespace(images=None, labels=None)
    assert check_largest_prototype_drop("m", 0.5, torch.nn.Linear(2, 2), broken) is False
    out = _line(capsys)
    assert out.startswith("⏳ not yet: m — the check could not use this answer") and "ProtoPNet" in out


def test_distinct_prototypes(capsys: pytest.CaptureFixture[str]) -> None:
    model = _model(per_class=3)                                      # 6 prototypes
    assert check_distinct_prototypes("n", 6, model) is True
    assert _line(capsys).startswith("✅ pass: n — 6 distinct of 6")
    with torch.no_grad():
        model.prototype_vectors[1] = model.prototype_vectors[0]     # collapse 0 and 1
        model.prototype_vectors[4] = model.prototype_vectors[0]     # ... and 4 (another class: still the same part)
    assert check_distinct_prototypes("n", 4, model) is True
    assert "[[0, 1, 4]]" in _line(capsys)
    assert check_distinct_prototypes("n", 1, model) is False
    assert "number of collapsed groups" in _line(capsys)
    assert check_distinct_prototypes("n", 5, model) is False
    assert "not what the lab finds" in _line(capsys)
    assert check_distinct_prototypes("n", 9, model) is False
    assert "between 1 and" in _line(capsys)
    for bad in (None, 4.5, "four"):
        assert check_distinct_prototypes("n", bad, model) is False
        assert _line(capsys).startswith("⏳ not yet: n — ")
    assert check_distinct_prototypes("n", 4, "not a model") is False
    assert "could not use this answer" in _line(capsys)


@pytest.fixture(scope="module")
def pushed() -> tuple[ProtoPNet, object, object]:
    world = make_world("masses", 30, size=32, seed=2)
    model = _model(per_class=3)
    push = push_prototypes(model, world.train)
    return model, push, world


def test_top_prototype_on_mask(pushed: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    model, _, world = pushed
    expected = float(explanation_truth(model, world.test, top=1)["on_mask"].mean())
    assert check_top_prototype_on_mask("t", expected, model, world.test) is True
    assert _line(capsys).startswith("✅ pass: t — ")
    wrong = expected + 2.0 / len(world.test) if expected < 0.5 else expected - 2.0 / len(world.test)
    assert check_top_prototype_on_mask("t", wrong, model, world.test) is False
    assert f"{expected:.3f}" not in _line(capsys)
    assert check_top_prototype_on_mask("t", -0.3, model, world.test) is False
    assert "outside [0, 1]" in _line(capsys)
    assert check_top_prototype_on_mask("t", expected, model, world.test, top=99) is False      # error inside
    assert "could not use this answer" in _line(capsys)


def test_off_mask_drop(pushed: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    model, push, world = pushed
    truth = prototype_truth(model, push, world.train)
    off = [int(j) for j in truth.index[~truth["on_mask"]]]

    def accuracy() -> float:
        with torch.no_grad():
            return float((model(world.test.images).argmax(1) == world.test.labels).float().mean())

    intact = accuracy()
    with torch.no_grad():
        model.prototype_active[off] = 0.0
    changed = accuracy()
    with torch.no_grad():
        model.prototype_active.fill_(1.0)
    assert check_off_mask_drop("o", intact - changed, model, push, world.train, world.test) is True
    assert _line(capsys).startswith(f"✅ pass: o — {len(off)} off-lesion prototype(s) off")
    assert check_off_mask_drop("o", intact - changed + 0.3, model, push, world.train, world.test) is False
    assert _line(capsys).startswith("⏳ not yet: o — ")
    assert check_off_mask_drop("o", None, model, push, world.train, world.test) is False
    assert "still None" in _line(capsys)
    assert model.prototype_active.tolist() == [1.0] * model.num_prototypes


def test_mask_checks_are_skipped_without_masks(pushed: tuple, capsys: pytest.CaptureFixture[str]) -> None:
    model, push, world = pushed
    bare = SimpleNamespace(images=world.test.images, labels=world.test.labels, masks=None)
    assert check_top_prototype_on_mask("t", 0.5, model, bare) is False
    out = _line(capsys)
    assert out.startswith("⏳ not yet: t — skipped: ") and "masks" in out
    assert check_off_mask_drop("o", None, model, push, bare, bare) is False
    assert _line(capsys).startswith("⏳ not yet: o — skipped")
