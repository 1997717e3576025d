"""The course kit's checks (halign_widgets.course) on hand-built cases.

Each check prints one line — ``✅ pass: …`` or ``⏳ not yet: … (hint: …)`` — and returns True/False.
Tested: exact passes and not-yets on cases computed by hand, the stub answer (None), wrong types,
exceptions inside a comparison and bad arguments (never raised: always a "not yet"), that a "not
yet" does not print the expected value, and the helpers (accuracy_of, temporarily, best_time).
"""

from __future__ import annotations

import inspect
import time

import pytest
import torch
from torch import nn

import halign_widgets.course as course
from halign_widgets.course import (
    NotYet,
    Verdict,
    accuracy_of,
    best_time,
    check_ablation_drop,
    check_accuracy,
    check_causality_closed_form,
    check_channel_order,
    check_explanation_score,
    check_map_score,
    check_pathway_drop,
    check_speedup,
    check_true,
    check_value,
    checker,
    temporarily,
)
from halign_widgets.errors import ConfigError, LabelMismatchError


def _line(capsys: pytest.CaptureFixture[str]) -> str:
    """The line printed by the last check (every check prints exactly one line)."""
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines and all(line.startswith(("✅ pass: ", "⏳ not yet: ")) for line in lines), lines
    return lines[-1]


# -- the generic core -------------------------------------------------------------------------------
def test_check_value_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_value("x", 0.5004, 0.5, tol=1e-3) is True
    assert _line(capsys).startswith("✅ pass: x — ")
    assert check_value("x", 0.51, 0.5, tol=1e-3) is False
    out = _line(capsys)
    assert out.startswith("⏳ not yet: x — ") and "(hint: " in out
    assert check_value("x", 3, 3) is True and check_value("x", 3.0000001, 3) is False      # tol 0: exact
    assert check_value("x", 105.0, 100.0, rtol=0.1) is True and check_value("x", 111.0, 100.0, rtol=0.1) is False


def test_not_yet_never_prints_the_expected_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_value("x", 0.9, 0.123456, tol=1e-3) is False
    out = _line(capsys)
    assert "0.1235" not in out and "0.123" not in out
    assert check_accuracy("acc", 0.0, _Picker(), *_four_images()) is False
    assert "0.75" not in _line(capsys)


@pytest.mark.parametrize("answer", [None, ...])
def test_a_stub_answer_is_not_yet(answer: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_value("speedup", answer, 1.0, hint="time both") is False
    out = _line(capsys)
    assert out.startswith("⏳ not yet: speedup — it is still None") and out.endswith("(hint: time both)")


@pytest.mark.parametrize("answer, reason", [("abc", "(str); a number"), (True, "a bool"),
                                            (torch.ones(3), "shape (3,)"), (float("nan"), "nan"),
                                            ([1, 2], "a number was expected")])
def test_wrong_types_are_not_yet_with_the_reason(answer: object, reason: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert check_value("x", answer, 0.5, tol=0.1) is False
    out = _line(capsys)
    assert out.startswith("⏳ not yet: x — ") and reason in out


def test_check_value_tensors_sets_bools_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_value("v", torch.tensor([1.0, float("nan")]), [1.0, float("nan")]) is True   # NaN matches NaN
    assert check_value("v", [1.0, 2.5], [1.0, 2.0], tol=0.1) is False
    assert "1 of 2 values" in capsys.readouterr().out.splitlines()[-1]
    assert check_value("v", [1.0, 2.0, 3.0], [1.0, 2.0]) is False
    assert "shape (3,)" in _line(capsys)
    assert check_value("c", 4, {3, 4}) is True and check_value("c", 5, {3, 4}) is False
    assert check_value("b", True, True) is True and check_value("b", False, True) is False
    assert check_value("b", 1, True) is False                     # an int is not an answer to a yes/no question
    assert check_value("s", "  Dorsal ", "dorsal") is True and check_value("s", 3, "dorsal") is False


def test_check_true(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_true("big", 5, lambda a: a > 3, what="more than 3") is True
    assert _line(capsys) == "✅ pass: big — more than 3"
    assert check_true("big", 2, lambda a: a > 3, what="more than 3") is False
    assert "not yet true: more than 3" in _line(capsys)
    assert check_true("flag", True) is True and check_true("flag", 0) is False


def test_the_decorator_turns_any_comparison_into_a_never_raising_check(capsys: pytest.CaptureFixture[str]) -> None:
    @checker(hint="an even number")
    def check_even(answer: object) -> Verdict:
        n = course.as_integer(answer)
        return Verdict(n % 2 == 0, f"{n} is {'even' if n % 2 == 0 else 'odd'}")

    assert check_even("n", 4) is True
    assert _line(capsys) == "✅ pass: n — 4 is even"
    assert check_even("n", 3) is False
    assert _line(capsys) == "⏳ not yet: n — 3 is odd (hint: an even number)"
    assert check_even("n", 2.5) is False and "an integer was expected" in _line(capsys)
    assert check_even("n", 3, hint="try 4") is False and _line(capsys).endswith("(hint: try 4)")

    @checker
    def check_broken(answer: object) -> bool:
        return 1 / 0 > answer  # type: ignore[operator]

    assert check_broken("b", 1.0) is False
    out = _line(capsys)
    assert out.startswith("⏳ not yet: b — the check could not use this answer (ZeroDivisionError")

    @checker
    def check_reason(answer: object) -> tuple[bool, str]:
        if answer == "x":
            raise NotYet("x is not allowed", "use y")
        return answer == "y", "compared with y"

    assert check_reason("r", "y") is True and _line(capsys) == "✅ pass: r — compared with y"
    assert check_reason("r", "x") is False and _line(capsys) == "⏳ not yet: r — x is not allowed (hint: use y)"
    assert check_even.comparison(4).passed  # the undecorated comparison stays reachable


def test_keyboard_interrupt_still_stops_a_check() -> None:
    @checker
    def check_slow(answer: object) -> bool:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        check_slow("s", 1)


# -- models: accuracy and interventions --------------------------------------------------------------
class _Picker(nn.Module):
    """Logits = the first two pixels; ``flip`` swaps them (an intervention to measure)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.flip = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = x.flatten(1)[:, :2] * self.scale
        return logits.flip(1) if self.flip else logits


def _four_images() -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]]).view(4, 1, 1, 2)
    return images, torch.tensor([0, 1, 0, 1])            # picks 0, 1, 0, 0 → 3 of 4 right


def test_accuracy_of_and_check_accuracy(capsys: pytest.CaptureFixture[str]) -> None:
    model, (images, labels) = _Picker(), _four_images()
    assert accuracy_of(model, images, labels) == 0.75
    assert accuracy_of(model, images, labels, batch_size=1) == 0.75
    assert check_accuracy("acc", 0.75, model, images, labels) is True
    assert "the lab measures 0.750" in _line(capsys)
    assert check_accuracy("acc", 0.5, model, images, labels) is False
    assert check_accuracy("acc", 75.0, model, images, labels) is False
    assert "looks like a percentage" in _line(capsys)
    assert check_accuracy("acc", 1.5, model, images, labels) is False
    assert "outside [0, 1]" in _line(capsys)

    class Data:
        pass

    data = Data()
    data.images, data.labels = images, labels  # type: ignore[attr-defined]
    assert check_accuracy("acc", 0.75, model, data) is True
    assert model.training, "the model's mode is given back"
    with pytest.raises(LabelMismatchError):
        accuracy_of(model, images, labels[:3])


def test_check_ablation_drop(capsys: pytest.CaptureFixture[str]) -> None:
    model, (images, labels) = _Picker(), _four_images()
    flip = lambda: temporarily(model, flip=True)  # noqa: E731 - flipped: picks 1, 0, 1, 1 → 1 of 4
    assert check_ablation_drop("drop", 0.5, model, images, flip, labels) is True
    assert "0.750 → 0.250" in _line(capsys)
    assert model.flip is False, "the intervention is undone"
    assert check_ablation_drop("drop", -0.5, model, images, flip, labels) is False
    assert "wrong sign" in _line(capsys)
    assert check_ablation_drop("drop", 0.25, model, images, flip, labels) is False
    assert check_ablation_drop("drop", 0.5, model, images, "not an intervention", labels) is False
    assert "intervention must be a context manager" in _line(capsys)


def test_temporarily_restores_even_after_an_error() -> None:
    model = _Picker()
    with pytest.raises(RuntimeError):
        with temporarily(model, flip=True):
            assert model.flip is True
            raise RuntimeError("boom")
    assert model.flip is False
    with pytest.raises(ConfigError, match="no attribute"):
        with temporarily(model, flp=True):
            pass


def test_check_pathway_drop_agrees_with_the_labs_lesion_table(capsys: pytest.CaptureFixture[str]) -> None:
    from halign_widgets.biovision import CoCoReco, pathway_drops
    from halign_widgets.data import make_world

    torch.manual_seed(0)
    model = CoCoReco(in_channels=1, num_classes=2, width=32).eval()
    test = make_world("context", 40, size=32, seed=0).test
    drops = pathway_drops(model, test, pathways=["dorsal"])
    assert check_pathway_drop("dorsal_drop", drops["dorsal"], model, test, pathways="dorsal") is True
    assert check_pathway_drop("cab_drop", drops["cab"], model, test, cabs="all") is True
    assert check_pathway_drop("bad", 0.0, model, test, pathways="dorsl") is False
    assert "dorsl" in capsys.readouterr().out.splitlines()[-1]


# -- maps against masks -------------------------------------------------------------------------------
def _maps_and_masks() -> tuple[torch.Tensor, torch.Tensor]:
    maps = torch.tensor([[[1.0, 0.0], [0.0, 3.0]], [[0.0, 2.0], [-1.0, 2.0]]])
    masks = torch.tensor([[[True, False], [False, False]], [[False, True], [False, False]]])
    return maps, masks          # relevance mass 1/4 and 2/4; pointing game 0 and 1/2 (a tie of two maxima)


def test_check_map_score(capsys: pytest.CaptureFixture[str]) -> None:
    maps, masks = _maps_and_masks()
    assert check_map_score("rm", 0.375, maps, masks) is True
    assert "chance level (mask share) 0.250" in _line(capsys)
    assert check_map_score("rm", [0.25, 0.5], maps, masks) is True
    assert check_map_score("pg", 0.25, maps, masks[:, None], metric="pointing_game") is True
    assert check_map_score("rm", 0.5, maps, masks) is False
    assert check_map_score("rm", [0.25], maps, masks) is False
    assert "1 values for 2 image(s)" in _line(capsys)
    assert check_map_score("rm", 0.375, maps, masks, metric="relevance") is False
    assert "relevance_mass" in _line(capsys)                 # the unknown metric's message lists the choices
    empty = masks.clone()
    empty[1] = False                                          # image 2 undefined: NaN, left out of the mean
    assert check_map_score("rm", 0.25, maps, empty) is True
    assert "1 image(s) undefined" in _line(capsys)
    assert check_map_score("rm", [0.25, float("nan")], maps, empty) is True


def test_check_explanation_score_recomputes_the_maps(capsys: pytest.CaptureFixture[str]) -> None:
    from halign_widgets.explain import explain
    from halign_widgets.explain.metrics import relevance_mass
    from halign_widgets.models import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(in_channels=1, num_classes=2, width=4, depth=2).eval()
    images = torch.rand(3, 1, 16, 16)
    masks = torch.zeros(3, 1, 16, 16, dtype=torch.bool)
    masks[:, :, 4:10, 4:10] = True
    target = torch.tensor([0, 1, 0])
    expected = float(relevance_mass(explain(model, images, "gradcam", target=target).maps, masks[:, 0]).nanmean())
    assert check_explanation_score("rm", expected, model, images, masks, target=target) is True
    assert _line(capsys).startswith("✅ pass: rm — gradcam: mean relevance_mass")
    assert check_explanation_score("rm", expected + 0.2, model, images, masks, target=target) is False
    assert check_explanation_score("rm", expected, model, images, masks, method="no-such-method") is False


# -- causality maps -------------------------------------------------------------------------------------
def _features() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 5, 3, 3, generator=g)
    x[0, 2] *= 3.0                                              # channel 2: the largest mass after normalization
    return x


def test_check_causality_closed_form(capsys: pytest.CaptureFixture[str]) -> None:
    from halign_widgets.causality import causality_map, lehmer_mean, normalize_features

    x = _features()
    f = normalize_features(x).flatten(2)
    lm = lehmer_mean(f, 2.0)
    assert check_causality_closed_form("lm", lm[0], x, estimator="lehmer", p=2.0) is True
    assert "every column of the faithful map equals it" in _line(capsys)
    assert check_causality_closed_form("lm", lm, x) is True                            # B×k works too
    assert check_causality_closed_form("mass", f.sum(2)[0], x, estimator="max") is True
    assert check_causality_closed_form("C", causality_map(x, "max")[0], x, estimator="max") is True
    assert check_causality_closed_form("lm", f.mean(2)[0], x, estimator="lehmer", p=2.0) is False   # LM_1, not LM_2
    assert check_causality_closed_form("lm", lm[0, :3], x) is False
    assert "expected 5 values per image" in _line(capsys)


def test_check_causality_closed_form_through_a_model() -> None:
    from halign_widgets.causality import CausalCNN, features_of, lehmer_mean, normalize_features

    torch.manual_seed(0)
    model = CausalCNN(width=4, depth=2, setting="mulcat", image_size=16).eval()
    images = torch.rand(1, 1, 16, 16)
    lm = lehmer_mean(normalize_features(features_of(model, images)).flatten(2), 2.0)[0]
    assert check_causality_closed_form("lm", lm, model, images) is True
    assert check_causality_closed_form("lm", lm, model) is False                          # images missing


def test_check_channel_order(capsys: pytest.CaptureFixture[str]) -> None:
    from halign_widgets.causality import channel_order, channel_statistic

    x = _features()
    order = channel_order(channel_statistic(x, "max"))[0].tolist()
    assert order[0] == 2
    assert check_channel_order("top", 2, x) is True
    assert "largest mass S_i" in _line(capsys)
    assert check_channel_order("top", torch.tensor(2), x) is True
    assert check_channel_order("order", order, x) is True
    assert check_channel_order("top", order[1], x) is False
    assert check_channel_order("order", order[::-1], x) is False
    assert check_channel_order("order", [0, 0, 1, 2, 3], x) is False
    assert "each index 0…4 exactly once" in _line(capsys)
    assert check_channel_order("top", 7, x) is False
    assert check_channel_order("top", 2, torch.cat([x, x])) is False                    # one image only
    tied = torch.cat([x, x[:, 2:3]], 1)                                                  # channel 5 = channel 2
    assert check_channel_order("top", 5, tied) is True and check_channel_order("top", 2, tied) is True


# -- timing -------------------------------------------------------------------------------------------------
def test_best_time_and_check_speedup(capsys: pytest.CaptureFixture[str]) -> None:
    slow, fast = (lambda: time.sleep(0.004)), (lambda: time.sleep(0.0004))
    assert 0.003 < best_time(slow, repeat=2) < 0.05
    assert check_speedup("s", 8.0, slow, fast, repeat=2) is True
    assert "agree within a factor 10" in _line(capsys)
    assert check_speedup("s", 5000.0, slow, fast, repeat=2) is False
    assert check_speedup("s", 1 / 8.0, slow, fast, repeat=2) is False
    assert "slow / fast" in _line(capsys)
    assert check_speedup("s", -3.0, slow, fast) is False
    with pytest.raises(ConfigError):
        best_time(fast, repeat=0)


# -- the never-raise contract, for every public check ---------------------------------------------------------
CHECKS = [getattr(course, n) for n in course.__all__ if n.startswith("check_")]


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
@pytest.mark.parametrize("answer", [None, "a string", object(), float("inf"), torch.ones(2, 2), 0.5])
def test_no_check_ever_raises(check: object, answer: object, capsys: pytest.CaptureFixture[str]) -> None:
    """Whatever the answer, and with arguments that make the lab's own computation fail."""
    params = list(inspect.signature(check.comparison).parameters)[1:]      # type: ignore[attr-defined]
    required = [p for p in params if inspect.signature(check.comparison).parameters[p].default  # type: ignore[attr-defined]
                is inspect.Parameter.empty]
    result = check("answer", answer, *[None] * len(required))              # type: ignore[operator]
    assert result in (True, False)
    out = capsys.readouterr().out
    assert out.startswith(("✅ pass: answer", "⏳ not yet: answer")) and out.count("\n") == 1, out
    if answer is None:
        assert result is False and "still None" in out
