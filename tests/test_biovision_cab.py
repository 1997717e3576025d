"""The Contextual Attention Block and the L_mb loss (halign_widgets.biovision)."""

from __future__ import annotations

import pytest
import torch

from halign_widgets.biovision import CoCoReco, ContextualAttention, alignment_loss
from halign_widgets.biovision.attention import minmax
from halign_widgets.causality import causality_factors, causality_map
from halign_widgets.errors import InputShapeError, LabelMismatchError


def test_cab_has_no_parameters_and_adds_none_to_the_model() -> None:
    assert list(ContextualAttention().parameters()) == [] and list(ContextualAttention().buffers()) == []
    with_cab, without = CoCoReco(width=32), CoCoReco(width=32, cab_areas=())
    assert sum(p.numel() for p in with_cab.parameters()) == sum(p.numel() for p in without.parameters())


def test_cab_lies_between_identity_and_doubling() -> None:
    x = torch.rand(4, 12, 5, 5, generator=torch.Generator().manual_seed(0))
    out = ContextualAttention().attend(x)
    ratio = out.features / x
    assert bool((ratio >= 1 - 1e-6).all()) and bool((ratio <= 2 + 1e-6).all())
    assert out.factors.shape == (4, 12) and float(out.factors.min()) == 0.0
    assert torch.allclose(out.factors.amax(1), torch.ones(4), atol=1e-6)      # the top channel is doubled
    top = out.factors.argmax(1)
    assert torch.allclose(out.features[torch.arange(4), top], 2 * x[torch.arange(4), top], atol=1e-5)


def test_cab_is_the_identity_when_all_channels_are_alike() -> None:
    x = torch.rand(2, 1, 4, 4).expand(2, 6, 4, 4).contiguous()
    out = ContextualAttention().attend(x)
    assert torch.equal(out.factors, torch.zeros(2, 6)) and torch.equal(out.features, x)


def test_cab_on_a_hand_built_case() -> None:
    # one cell per channel, maxima 4, 3, 2, 1: the Max map's columns rescale to m = (1, 2/3, 1/3, 0), so
    # channel i "causes" every channel with a smaller peak: o − ι = (3, 1, −1, −3) → ReLU (3, 1, 0, 0)
    x = torch.tensor([4.0, 3.0, 2.0, 1.0]).view(1, 4, 1, 1)
    out = ContextualAttention().attend(x)
    assert torch.allclose(out.map[0], torch.tensor([1.0, 2 / 3, 1 / 3, 0.0])[:, None].expand(4, 4), atol=1e-6)
    assert torch.allclose(out.factors[0], torch.tensor([1.0, 1 / 3, 0.0, 0.0]), atol=1e-6)
    assert torch.allclose(out.features.flatten(), torch.tensor([8.0, 4.0, 2.0, 1.0]), atol=1e-5)


def test_cab_is_computed_with_the_labs_causality_maps_and_factors() -> None:
    x = torch.relu(torch.randn(3, 10, 4, 4, generator=torch.Generator().manual_seed(2)))
    cmap = minmax(causality_map(x, "max"), dim=1)
    w = minmax(causality_factors(cmap, "mulcat"), dim=1)
    out = ContextualAttention().attend(x)
    assert torch.allclose(out.map, cmap) and torch.allclose(out.factors, w)
    assert torch.allclose(out.features, x * (1 + w[:, :, None, None]))


def test_cab_passes_gradients_to_the_features() -> None:
    x = torch.rand(2, 6, 4, 4, requires_grad=True)
    ContextualAttention()(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and float(x.grad.abs().sum()) > 0


def test_cab_refuses_non_feature_input() -> None:
    with pytest.raises(InputShapeError, match="B×k×h×w"):
        ContextualAttention()(torch.rand(4, 4))


# -- L_mb ----------------------------------------------------------------------------------------------
def test_lmb_is_zero_when_same_class_maps_are_equal() -> None:
    a, b = torch.rand(5, 5), torch.rand(5, 5)
    maps = torch.stack([a, b, a, a, b])
    assert float(alignment_loss(maps, torch.tensor([0, 1, 0, 0, 1]))) == 0.0
    assert float(alignment_loss(maps, torch.tensor([0, 1, 1, 0, 1]))) > 0.0
    assert float(alignment_loss(torch.rand(3, 4, 4), torch.tensor([0, 1, 2]))) == 0.0   # one sample per class


def test_lmb_exact_value_and_gradient() -> None:
    maps = torch.stack([torch.eye(2), torch.eye(2), torch.zeros(2, 2)]).requires_grad_(True)
    labels = torch.tensor([0, 1, 1])
    loss = alignment_loss(maps, labels)
    assert float(loss.detach()) == pytest.approx(0.25 / 3)  # class 1 mean 0.5·I; 2 of 4 entries off by 0.5
    loss.backward()
    mean1 = 0.5 * torch.eye(2)
    expected = torch.stack([torch.zeros(2, 2), 2 * (torch.eye(2) - mean1), 2 * (torch.zeros(2, 2) - mean1)]) / 12
    assert torch.allclose(maps.grad, expected)              # ∂/∂C_b = 2(C_b − C̄_y)/(B·k²)


def test_lmb_refuses_multilabel_targets() -> None:
    with pytest.raises(LabelMismatchError, match="one class index"):
        alignment_loss(torch.rand(3, 4, 4), torch.ones(3, 2))
