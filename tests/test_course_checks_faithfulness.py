"""The faithfulness checks (halign_widgets.course.checks_faithfulness) on hand-built cases.

- deletion / insertion: a model whose only evidence is one pixel, so the curves are known by hand
  (the probability is σ(4) while the pixel is there and σ(0) = ½ once it is zeroed);
- the sanity check: with no layer re-initialized the maps are identical (Spearman exactly 1), and
  at full randomization the check agrees with the lab's own cascade (``sanity_check``'s last row);
- localization: the same score as ``check_explanation_score`` with masks, and on data without
  masks one "not yet" line that says it is skipped and how to give masks — also for the stub;
- every check: the stub ``None``, wrong types, errors inside — never raised, never the answer.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from halign_widgets.course import (
    check_deletion_insertion,
    check_localization,
    check_sanity_similarity,
)

SIG4 = 1.0 / (1.0 + math.exp(-4.0))
# 4 pixels, 4 steps (fractions 0, ¼, ½, ¾, 1), zero baseline, the evidence pixel ranked first:
# deletion [σ4, ½, ½, ½, ½], insertion [½, σ4, σ4, σ4, σ4] (trapezoids of width ¼)
DELETION = 0.25 * ((SIG4 + 0.5) / 2 + 3 * 0.5)
INSERTION = 0.25 * ((0.5 + SIG4) / 2 + 3 * SIG4)


class _OnePixel(nn.Module):
    """Class 1's logit is 4× the top-left pixel (a 1×1 convolution); class 0's is 0."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.fill_(4.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lit = self.conv(x)[:, 0, 0, 0]
        return torch.stack([torch.zeros_like(lit), lit], 1)


def _two_images() -> torch.Tensor:
    x = torch.zeros(2, 1, 2, 2)
    x[:, 0, 0, 0] = 1.0           # the evidence pixel: both images are class 1 (σ(4) against σ(0))
    x[1, 0, 1, 1] = 0.5           # a pixel the model ignores
    return x


def _line(capsys: pytest.CaptureFixture[str]) -> str:
    """The line printed by the last check (every check prints exactly one line)."""
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines and all(line.startswith(("✅ pass: ", "⏳ not yet: ")) for line in lines), lines
    return lines[-1]


# -- deletion / insertion ------------------------------------------------------------------------------
def test_deletion_insertion_known_by_hand(capsys: pytest.CaptureFixture[str]) -> None:
    model, x = _OnePixel(), _two_images()
    kw = {"method": "saliency", "steps": 4, "baseline": "zero"}
    assert check_deletion_insertion("d", DELETION, model, x, score="deletion", **kw) is True
    out = _line(capsys)
    assert out.startswith(f"✅ pass: d — saliency: deletion {DELETION:.3f} over 2 image(s)")
    assert f"insertion {INSERTION:.3f} − deletion {DELETION:.3f} = overall {INSERTION - DELETION:.3f}" in out
    assert check_deletion_insertion("i", INSERTION, model, x, score="insertion", **kw) is True
    assert check_deletion_insertion("o", INSERTION - DELETION, model, x, **kw) is True          # Overall by default
    assert check_deletion_insertion("o", [INSERTION - DELETION] * 2, model, x, **kw) is True    # one per image
    assert check_deletion_insertion("o", torch.tensor(INSERTION - DELETION + 0.005), model, x, **kw) is True
    assert check_deletion_insertion("o", INSERTION - DELETION + 0.05, model, x, **kw) is False
    out = _line(capsys)
    assert out.startswith("⏳ not yet: o — saliency: this overall score is not what the lab measures")
    assert f"{INSERTION - DELETION:.3f}" not in out and f"{INSERTION - DELETION:.2f}" not in out


@pytest.mark.parametrize("answer, score, reason", [
    (DELETION, "overall", "that is the deletion score, not the overall score"),
    (INSERTION, "deletion", "that is the insertion score, not the deletion score"),
    (DELETION - INSERTION, "overall", "it has the wrong sign"),
    (1.5, "deletion", "outside [0, 1]"),
    ([0.1, 0.2, 0.3], "overall", "it has 3 values for 2 image(s)"),
    ("high", "overall", "it is a str"),
    (None, "overall", "it is still None"),
])
def test_deletion_insertion_slips(answer: object, score: str, reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_deletion_insertion("s", answer, _OnePixel(), _two_images(), method="saliency", score=score,
                                    steps=4, baseline="zero") is False
    out = _line(capsys)
    assert out.startswith("⏳ not yet: s — ") and reason in out, out


def test_deletion_insertion_bad_arguments_are_not_yet(capsys: pytest.CaptureFixture[str]) -> None:
    model, x = _OnePixel(), _two_images()
    assert check_deletion_insertion("s", 0.1, model, x, score="area") is False
    assert "could not use this answer" in _line(capsys)
    assert check_deletion_insertion("s", 0.1, model, x, method="no-such-method") is False
    assert "could not use this answer" in _line(capsys)
    assert check_deletion_insertion("s", 0.1, None, None) is False
    assert "could not use this answer" in _line(capsys)


def test_a_wrong_step_count_is_hinted(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_deletion_insertion("s", 0.9, _OnePixel(), _two_images(), method="saliency", steps=4) is False
    assert "(hint: use steps=4 and the 'blur' baseline, as the exercise says)" in _line(capsys)


# -- the sanity check ----------------------------------------------------------------------------------------
def _small_cnn() -> nn.Module:
    from halign_widgets.models import SmallCNN

    torch.manual_seed(0)
    return SmallCNN(in_channels=1, num_classes=2, width=4, depth=2).eval()


def test_nothing_randomized_means_identical_maps(capsys: pytest.CaptureFixture[str]) -> None:
    model, x = _small_cnn(), torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    assert check_sanity_similarity("s", 1.0, model, x, method="saliency", layers=[]) is True
    assert "spearman 1.000 between the trained and the randomized model's maps (0 layer(s)" in _line(capsys)
    assert check_sanity_similarity("s", [1.0, 1.0, 1.0], model, x, method="saliency", layers=[]) is True
    assert check_sanity_similarity("s", 0.5, model, x, method="saliency", layers=[]) is False
    out = _line(capsys)
    assert out.startswith("⏳ not yet: s — saliency: this spearman similarity is not what the lab measures")
    assert "1.000" not in out


def test_full_randomization_agrees_with_the_labs_cascade(capsys: pytest.CaptureFixture[str]) -> None:
    from halign_widgets.explain.metrics import sanity_check

    model, x = _small_cnn(), torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    for method, similarity in (("gradcam", "spearman"), ("saliency", "ssim")):
        table = sanity_check(model, x, method, similarity=similarity, seed=0)
        expected = float(table[similarity].iloc[-1])
        assert check_sanity_similarity("s", expected, model, x, method=method, similarity=similarity) is True
        assert f"{len(table) - 1} layer(s) re-initialized, 3 image(s)" in _line(capsys)
        assert check_sanity_similarity("s", expected, model, x, method=method, similarity=similarity, seed=1) is False
        capsys.readouterr()


@pytest.mark.parametrize("answer, kwargs, reason", [
    (-0.5, {"similarity": "ssim"}, "outside [0, 1]"),
    (2.0, {}, "outside [-1, 1]"),
    (0.5, {"similarity": "pearson"}, "could not use this answer"),
    (0.5, {"layers": ["no.such.layer"]}, "could not use this answer"),
    (torch.ones(2, 2), {}, "it has 4 values for 3 image(s)"),
    (None, {}, "it is still None"),
])
def test_sanity_slips_and_bad_arguments(answer: object, kwargs: dict, reason: str,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    model, x = _small_cnn(), torch.rand(3, 1, 16, 16)
    assert check_sanity_similarity("s", answer, model, x, method="gradcam", **kwargs) is False
    out = _line(capsys)
    assert out.startswith("⏳ not yet: s — ") and reason in out, out


# -- localization, with and without masks ------------------------------------------------------------------------
def test_localization_with_masks_is_the_explanation_score(capsys: pytest.CaptureFixture[str]) -> None:
    from halign_widgets.explain import explain
    from halign_widgets.explain.metrics import relevance_mass

    model, x = _small_cnn(), torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    masks = torch.zeros(3, 1, 16, 16, dtype=torch.bool)
    masks[:, :, 4:10, 4:10] = True
    expected = float(relevance_mass(explain(model, x, "gradcam").maps, masks[:, 0]).nanmean())
    assert check_localization("m", expected, model, x, masks) is True
    assert _line(capsys).startswith("✅ pass: m — gradcam: mean relevance_mass")
    assert check_localization("m", expected + 0.2, model, x, masks) is False
    assert f"{expected:.3f}" not in _line(capsys)
    assert check_localization("m", None, model, x, masks) is False
    assert "still None" in _line(capsys)
    assert check_localization("m", expected, model, x, masks, method="no-such-method") is False
    assert "could not use this answer" in _line(capsys)


@pytest.mark.parametrize("answer", [None, 0.3, "abc"])
def test_localization_without_masks_says_skipped(answer: object, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_localization("gradcam_mass", answer, _small_cnn(), torch.rand(2, 1, 16, 16), None) is False
    out = _line(capsys)
    assert out.startswith("⏳ not yet: gradcam_mass — skipped: this data has no ground-truth masks")
    assert "DATA_OPTIONS['masks']" in out
    assert ("still None" in out) == (answer is None)


def test_the_skipped_stub_line_never_raises_even_on_a_broken_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("stdout is gone")

    monkeypatch.setattr(builtins, "print", broken)
    assert check_localization("m", None, None, None, None) is False
