"""The shared argument checks (``halign_widgets.validation``, issue 14 item 3) and the checks built on them.

``check_int`` / ``check_real`` / ``check_fraction`` / ``check_choice`` are the lab's one way to
check an argument: a bool is never a number, NumPy and torch scalars are the numbers they hold,
ranges are inclusive, and the message names the argument, its range, the value given and a hint.
The last tests take a few of the functions whose inline copies were replaced and check they still
refuse what they refused (and now also ``True``, which some copies let through).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch

from halign_widgets.errors import ConfigError, UnknownNameError
from halign_widgets.validation import check_choice, check_fraction, check_int, check_real

# -- check_int -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [3, np.int64(3), np.int8(3), torch.tensor(3)])
def test_check_int_gives_a_python_int_for_every_kind_of_integer(value: object) -> None:
    out = check_int("n", value, 1)
    assert out == 3 and type(out) is int


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 2.0, 2.5, math.nan, "3", None, torch.tensor(2.0),
                                   torch.tensor([1, 2])])
def test_check_int_refuses_bools_floats_and_other_types(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^n must be an integer, got "):
        check_int("n", value)


def test_check_int_ranges_are_inclusive_and_the_message_says_which() -> None:
    assert check_int("k", 1, 1, 5) == 1 and check_int("k", 5, 1, 5) == 5
    assert check_int("k", -7) == -7                               # no bounds: any integer
    with pytest.raises(ConfigError, match=r"^k must be an integer between 1 and 5, got 6\.$"):
        check_int("k", 6, 1, 5)
    with pytest.raises(ConfigError, match=r"^k must be an integer between 1 and 5, got 0\.$"):
        check_int("k", 0, 1, 5)
    with pytest.raises(ConfigError, match=r"^k must be an integer ≥ 2, got 1\.$"):
        check_int("k", 1, 2)
    with pytest.raises(ConfigError, match=r"^k must be an integer ≤ 3, got 4\.$"):
        check_int("k", 4, high=3)


def test_check_int_message_carries_the_hint_and_the_repr_of_the_value() -> None:
    with pytest.raises(ConfigError, match=r"^size must be an integer ≥ 4, got '8' \(pixels per side\)\.$") as info:
        check_int("size", "8", 4, hint="pixels per side")
    assert isinstance(info.value, ValueError)                     # except ValueError keeps working
    with pytest.raises(ConfigError, match=r"got True \(images per page\)"):
        check_int("n", True, 1, 64, hint="images per page")


# -- check_real / check_fraction --------------------------------------------------------------------


@pytest.mark.parametrize("value", [2, 2.0, np.float32(2.0), np.int64(2)])
def test_check_real_gives_a_python_float(value: object) -> None:
    out = check_real("lr", value, 0.0, strict=True)
    assert out == 2.0 and type(out) is float


@pytest.mark.parametrize("value", [True, math.nan, math.inf, -math.inf, "1.0", None, 1j])
def test_check_real_refuses_bools_non_finite_and_non_numbers(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^lr must be a finite number, got "):
        check_real("lr", value)


def test_check_real_bounds_strict_and_not() -> None:
    assert check_real("w", 0.0, 0.0) == 0.0                       # ≥ 0 takes 0 …
    with pytest.raises(ConfigError, match=r"^w must be a finite number > 0, got 0\.0\.$"):
        check_real("w", 0.0, 0.0, strict=True)                    # … > 0 does not
    with pytest.raises(ConfigError, match=r"^w must be a finite number ≥ 0 and ≤ 2, got 2\.5 \(a weight\)\.$"):
        check_real("w", 2.5, 0.0, 2.0, hint="a weight")
    with pytest.raises(ConfigError, match=r"^w must be a finite number ≤ 1, got 3\.$"):
        check_real("w", 3, high=1.0)


def test_check_fraction_is_the_closed_unit_interval() -> None:
    assert check_fraction("share", 0) == 0.0 and check_fraction("share", 1) == 1.0
    for bad in (-0.01, 1.01, True, math.nan):
        with pytest.raises(ConfigError, match=r"^share must be a finite number ≥ 0 and ≤ 1, got "):
            check_fraction("share", bad)


# -- check_choice ----------------------------------------------------------------------------------


def test_check_choice_returns_the_value_or_lists_the_choices_and_the_closest() -> None:
    assert check_choice("estimator", "max", ("max", "lehmer")) == "max"
    assert check_choice("estimator", "lehmer", (c for c in ("max", "lehmer"))) == "lehmer"   # any iterable
    with pytest.raises(UnknownNameError, match=r"^unknown estimator 'lehmr'; valid choices: 'lehmer', 'max' "
                                               r"\(did you mean 'lehmer'\?\)\.$") as info:
        check_choice("estimator", "lehmr", ("max", "lehmer"))
    assert isinstance(info.value, LookupError)
    with pytest.raises(UnknownNameError, match=r"unknown grid '3'; valid choices: '2', '4'\.$"):
        check_choice("grid", 3, (2, 4))


# -- the checks built on it ------------------------------------------------------------------------


def test_the_former_inline_copies_refuse_what_they_refused_with_their_hints() -> None:
    from halign_widgets.data._loading import check_size_channels
    from halign_widgets.explain._suny.causes import patch_regions
    from halign_widgets.explain._suny.render import suny_legend
    from halign_widgets.prototypes.prune import prune_rule

    with pytest.raises(ConfigError, match=r"size must be an integer between 4 and 1024, got 3 \(pixels per side"):
        check_size_channels(3, 1)
    with pytest.raises(ConfigError, match=r"size must be an integer between 4 and 1024, got True"):
        check_size_channels(True, 1)
    with pytest.raises(ConfigError, match=r"grid must be an integer between 1 and 8, got 9"):
        patch_regions(8, 8, 9)
    assert patch_regions(8, 8, np.int64(2)).shape == (4, 8, 8)    # a NumPy integer is an integer
    with pytest.raises(ConfigError, match=r"size must be an integer ≥ 2, got 1"):
        suny_legend(1)
    labels, classes = torch.tensor([[0, 0, 1]]), torch.tensor([0])
    with pytest.raises(ConfigError, match=r"threshold must be an integer between 0 and 3, got 4 \(k = 3 neighbours"):
        prune_rule(labels, classes, 4)


def test_checks_that_used_to_let_true_through_now_refuse_it() -> None:
    from halign_widgets.explain._suny.shapley import exact_shapley
    from halign_widgets.explain.cam import ScoreCAM
    from halign_widgets.explain.metrics import pointing_game
    from halign_widgets.models import SmallCNN

    with pytest.raises(ConfigError, match=r"width must be an integer ≥ 1, got True"):
        SmallCNN(width=True)
    with pytest.raises(ConfigError, match=r"tolerance must be an integer ≥ 0, got True \(pixels\)"):
        pointing_game(torch.rand(1, 4, 4), torch.ones(1, 4, 4), tolerance=True)
    with pytest.raises(ConfigError, match=r"the number of players must be an integer ≥ 1, got True"):
        exact_shapley(lambda c: c.float().sum(1), True)
    model = SmallCNN(width=2, depth=1)
    with pytest.raises(ConfigError, match=r"batch_size must be an integer ≥ 1, got True"):
        ScoreCAM(model, model.features[0], batch_size=True)


def test_check_real_open_upper_bound() -> None:
    assert check_real("dropout", 0.0, 0.0, 1.0, strict_high=True) == 0.0
    assert check_real("dropout", 0.999, 0.0, 1.0, strict_high=True) == 0.999
    with pytest.raises(ConfigError, match=r"^dropout must be a finite number ≥ 0 and < 1, got 1\.0\.$"):
        check_real("dropout", 1.0, 0.0, 1.0, strict_high=True)
    with pytest.raises(ConfigError, match=r"^eps must be a finite number > 0 and < 1, got 0 \(keeps it finite\)\.$"):
        check_real("eps", 0, 0.0, 1.0, strict=True, strict_high=True, hint="keeps it finite")


# -- the real-number checks that replaced inline copies --------------------------------------------

_BAD_REALS = (True, math.nan, math.inf, "0.1")


def _real_call_sites() -> dict[str, tuple[Callable[[object], object], str]]:
    """``what → (call taking the bad value, the message it must match)`` for each converted call site."""
    from halign_widgets.biovision import CoCoReco, CoCoRecoStep, ScratchCNN
    from halign_widgets.biovision.wiring import check_gain
    from halign_widgets.causality import causality_map
    from halign_widgets.crocodile import LossConfig
    from halign_widgets.crocodile.baselines import CORALObjective, GroupDROObjective
    from halign_widgets.data._intensity import check_intensity
    from halign_widgets.explain._baselines import check_baseline, make_baseline
    from halign_widgets.prototypes import ProtoPNet, ProtoPNetLoss, Schedule
    from halign_widgets.prototypes.push import high_activation_box
    from halign_widgets.training.distributed import init_distributed

    x, feats = torch.zeros(1, 1, 8, 8), torch.rand(1, 3, 2, 2)
    sites = [
        ("crocodile loss weight", lambda v: LossConfig(weights={"task": v}),
         r"the weight of 'task' must be a finite number ≥ 0, got "),
        ("CORAL penalty", lambda v: CORALObjective(v), r"the CORAL penalty weight must be a finite number ≥ 0"),
        ("GroupDRO eta", lambda v: GroupDROObjective(2, v), r"eta must be a finite number > 0, got .* \(GroupDRO's"),
        ("distributed timeout", lambda v: init_distributed(False, timeout=v),
         r"the distributed timeout must be a finite number > 0, got .* \(a positive number of seconds\)"),
        ("L_mb weight", lambda v: CoCoRecoStep({"v1": 1.0, "it": v}), r"an L_mb weight must be a finite number ≥ 0"),
        ("CoCoReco dropout", lambda v: CoCoReco(dropout=v), r"dropout must be a finite number ≥ 0 and < 1"),
        ("ScratchCNN dropout", lambda v: ScratchCNN(dropout=v), r"dropout must be a finite number ≥ 0 and < 1"),
        ("connectome gain", lambda v: check_gain("v1->v3", v),
         r"the gain of v1->v3 must be a finite number ≥ 0, got .* \(connectome gains scale a projection"),
        ("Lehmer p", lambda v: causality_map(feats, "lehmer", p=v), r"^p must be a finite number, got "),
        ("causality eps", lambda v: causality_map(feats, "max", eps=v), r"eps must be a finite number > 0"),
        ("intensity", check_intensity, r"must be 'dtype', 'minmax' or the maximum pixel value as a number > 0"),
        ("baseline value", check_baseline,
         r"baseline must be (a finite number, got .* \(use e\.g\. 0\.0 or 'mean'\)|one of .*got True)"),
        ("blur sigma", lambda v: make_baseline(x, "blur", sigma=v),
         r"sigma \(blur std in pixels\) must be a finite number ≥ 0"),
        ("ProtoPNet epsilon", lambda v: ProtoPNet(epsilon=v), r"epsilon must be a finite number > 0 and < 1"),
        ("ProtoPNet λ", lambda v: ProtoPNetLoss(clst=v), r"λ_clst must be a finite number, got "),
        ("learning rate", lambda v: Schedule(joint_lr=v),
         r"joint_lr must be a finite number > 0, got .* \(a positive learning rate such as 1e-3\)"),
        ("percentile", lambda v: high_activation_box(torch.rand(4, 4), v),
         r"percentile must be a finite number ≥ 0 and < 100"),
    ]
    return {what: (call, message) for what, call, message in sites}


_SITES = ("crocodile loss weight", "CORAL penalty", "GroupDRO eta", "distributed timeout", "L_mb weight",
          "CoCoReco dropout", "ScratchCNN dropout", "connectome gain", "Lehmer p", "causality eps", "intensity",
          "baseline value", "blur sigma", "ProtoPNet epsilon", "ProtoPNet λ", "learning rate", "percentile")
_NAMES_TAKE_STRINGS = {"intensity", "baseline value"}        # a string there is a mode / baseline name


def test_every_converted_real_site_is_checked() -> None:
    assert set(_real_call_sites()) == set(_SITES)


@pytest.mark.parametrize("what", _SITES)
def test_converted_real_checks_refuse_bools_nan_inf_and_strings_with_their_message(what: str) -> None:
    call, message = _real_call_sites()[what]
    for bad in _BAD_REALS:
        if isinstance(bad, str) and what in _NAMES_TAKE_STRINGS:
            continue
        with pytest.raises(ConfigError, match=message):
            call(bad)


def test_converted_real_checks_keep_their_ranges() -> None:
    from halign_widgets.biovision.wiring import check_gain
    from halign_widgets.crocodile import LossConfig
    from halign_widgets.prototypes import ProtoPNet, Schedule
    from halign_widgets.prototypes.push import high_activation_box

    assert check_gain("v1->v3", 0) == 0.0 and check_gain("v1->v3", np.float32(2.5)) == 2.5
    with pytest.raises(ConfigError, match=r"got -0\.5 .*use 0 \(or cut the edge\) to silence it"):
        check_gain("v1->v3", -0.5)
    assert LossConfig(weights={"task": 0}).weight("task") == 0.0
    with pytest.raises(ConfigError, match=r"weight of 'task' must be a finite number ≥ 0, got -1"):
        LossConfig(weights={"task": -1})
    for eps in (0.0, 1.0):
        with pytest.raises(ConfigError, match="epsilon"):
            ProtoPNet(epsilon=eps)
    for lr in (0, -1e-3):
        with pytest.raises(ConfigError, match="warmup_lr must be a finite number > 0"):
            Schedule(warmup_lr=lr)
    assert high_activation_box(torch.arange(16.0).reshape(4, 4), 0.0) == (0, 4, 0, 4)
    with pytest.raises(ConfigError, match=r"percentile must be a finite number ≥ 0 and < 100, got 100"):
        high_activation_box(torch.rand(4, 4), 100)
