"""The CROCODILE checks (halign_widgets.course.checks_crocodile) on hand-built cases.

Hand-built models whose logits and attention are known: the domain gap and the intervention
change are exact counts, the attention share of a flat map is the region's share of the image.
Also: the pass line, a wrong answer, the stub (None), a wrong type, an error inside (never raised)
and the one "skipped" line on data without a held-out source or without masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import Tensor, nn

from halign_widgets.course import (
    check_attention_share,
    check_domain_gap,
    check_intervention_change,
)
from halign_widgets.crocodile import DomainSplits, in_distribution_splits
from halign_widgets.data import ImageDataset

K = 2
LABELS = torch.tensor([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=torch.float32)


def _line(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(("✅ pass: ", "⏳ not yet: ")), lines
    return lines[0]


def _images(logits: Tensor) -> Tensor:
    """4×4 images whose first row carries the logits the models below read back."""
    x = torch.zeros(len(logits), 1, 4, 4)
    x[:, 0, 0, :K] = logits
    return x


@dataclass
class _Out:
    z: Tensor
    z_intervened: Tensor | None
    attention: Tensor
    grid: tuple[int, int]


class _Task(nn.Module):
    """z = the logits stored in the image; z_ĉ = the permuted image's logits; flat attention on a 2×2 grid."""

    def __init__(self) -> None:
        super().__init__()
        self.decoder = nn.Module()
        self.decoder.queries = nn.Parameter(torch.zeros(K, 3))

    def forward(self, x: Tensor, perm: Tensor | None = None) -> _Out:
        z = x[:, 0, 0, :K] + 0.0 * self.decoder.queries.sum()
        return _Out(z, None if perm is None else z[perm], torch.full((len(x), K, 4), 0.25), (2, 2))


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.task = _Task()

    def forward(self, x: Tensor) -> Tensor:
        return self.task(x).z


def _splits(id_logits: Tensor, ood_logits: Tensor) -> DomainSplits:
    images = torch.cat([_images(id_logits), _images(ood_logits)])
    labels = torch.cat([LABELS, LABELS])
    masks = torch.zeros(8, 1, 4, 4, dtype=torch.bool)
    masks[:, :, :2, :2] = True                                 # a quarter of every image
    ds = ImageDataset(images, labels, ["a", "b"], masks, {"source": torch.tensor([0] * 4 + [1] * 4)})
    parts = {"train": torch.arange(4), "val": torch.arange(4), "test": torch.arange(4),
             "ood_val": torch.arange(4, 8), "ood_test": torch.arange(4, 8)}
    return DomainSplits(ds, [0], 1, parts)


GOOD = torch.tensor([[3.0, -3.0], [-3.0, 3.0], [3.0, -3.0], [-3.0, 3.0]])     # every decision right
HALF = torch.tensor([[3.0, 3.0], [3.0, 3.0], [3.0, 3.0], [3.0, 3.0]])          # half of the decisions right


def test_domain_gap_is_the_difference_of_the_decision_accuracies(capsys: pytest.CaptureFixture[str]) -> None:
    splits = _splits(GOOD, HALF)
    assert check_domain_gap("gap", 0.5, _Net(), splits) is True          # 8/8 − 4/8
    out = _line(capsys)
    assert out.startswith("✅ pass: gap") and "1.000 in distribution" in out and "0.500" in out
    assert check_domain_gap("gap", 0.4, _Net(), splits) is False        # more than half a decision off
    out = _line(capsys)
    assert out.startswith("⏳ not yet: gap") and "+0.5000" not in out and "1.000" not in out
    assert check_domain_gap("gap", -0.5, _Net(), splits) is False
    assert "wrong sign" in _line(capsys)
    assert check_domain_gap("gap", 0.0, _Net(), _splits(GOOD, GOOD), metric="map") is True
    _line(capsys)


def test_intervention_change_swaps_in_the_neighbours_prediction(capsys: pytest.CaptureFixture[str]) -> None:
    splits = _splits(GOOD, GOOD)
    # perm = roll(arange(4), 1): image i gets image i−1's logits, whose labels are the other class -> all wrong
    assert check_intervention_change("change", 1.0, _Net(), splits, metric="accuracy") is True
    assert _line(capsys).startswith("✅ pass: change")
    assert check_intervention_change("change", 0.0, _Net(), splits, metric="accuracy") is False
    assert _line(capsys).startswith("⏳ not yet: change")


def test_attention_share_of_a_flat_map_is_the_regions_share(capsys: pytest.CaptureFixture[str]) -> None:
    ds = _splits(GOOD, GOOD).dataset
    for stream in ("causal", "spurious"):
        assert check_attention_share("share", 0.25, _Net(), ds, finding=0, stream=stream) is True
        out = _line(capsys)
        assert "over 4 images" in out and "chance, the region's share of the image: 0.2500" in out
    assert check_attention_share("share", 0.5, _Net(), ds, finding=1) is False
    _line(capsys)
    assert check_attention_share("share", 25.0, _Net(), ds) is False
    assert "outside [0, 1]" in _line(capsys)


def test_skipped_where_the_data_cannot_answer(capsys: pytest.CaptureFixture[str]) -> None:
    own = _splits(GOOD, GOOD).dataset
    own = ImageDataset(own.images[:4], LABELS.argmax(1), ["a", "b"], None,
                       splits={"train": torch.arange(4), "val": torch.arange(4), "test": torch.arange(4)})
    splits = in_distribution_splits(own)
    assert not splits.has_ood and splits.dataset.multilabel and splits.num_findings == 2
    assert check_domain_gap("gap", 0.1, _Net(), splits) is False
    assert _line(capsys).startswith("⏳ not yet: gap — skipped: this data has no held-out")
    assert check_intervention_change("change", 0.1, _Net(), splits, part="ood_test") is False
    line = _line(capsys)
    assert line.startswith("⏳ not yet: change — skipped:"), line
    assert check_attention_share("share", 0.1, _Net(), splits.dataset) is False
    assert "no ground-truth masks" in _line(capsys)
    assert check_intervention_change("change", 1.0, _Net(), splits, metric="accuracy") is True   # ID still works
    _line(capsys)


@pytest.mark.parametrize("answer, reason", [(None, "still None"), ("abc", "(str)"), (torch.ones(3), "shape (3,)")])
def test_stub_and_wrong_types_are_not_yet(answer: Any, reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    splits = _splits(GOOD, HALF)
    for check, args in ((check_domain_gap, (splits,)), (check_intervention_change, (splits,)),
                        (check_attention_share, (splits.dataset,))):
        assert check("x", answer, _Net(), *args) is False
        out = _line(capsys)
        assert out.startswith("⏳ not yet: x") and reason in out


def test_errors_inside_are_not_yet(capsys: pytest.CaptureFixture[str]) -> None:
    splits = _splits(GOOD, HALF)
    assert check_intervention_change("x", 0.1, nn.Linear(2, 2), splits) is False      # no task branch
    assert "could not use" in _line(capsys)
    assert check_domain_gap("x", 0.1, _Net(), splits, metric="f1") is False          # unknown metric
    assert "f1" in _line(capsys)
    assert check_domain_gap("x", 0.1, _Net(), object()) is False                     # not a DomainSplits
    _line(capsys)
    assert check_attention_share("x", 0.1, _Net(), splits.dataset, finding=7) is False
    _line(capsys)
