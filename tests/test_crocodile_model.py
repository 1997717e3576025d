"""CROCODILE's model: disentangled attention, the decoder, group-wise heads, the intervention, the readout."""

from __future__ import annotations

import pytest
import torch

from halign_widgets.crocodile import (
    BaselineNet,
    CrocodileNet,
    DisentangledDecoderLayer,
    GroupLinear,
    disentangled_attention,
)
from halign_widgets.errors import ConfigError, InputShapeError


def test_causal_plus_spurious_is_the_sum_of_values_for_every_query() -> None:
    g = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(3, 5, 8, generator=g), torch.randn(3, 7, 8, generator=g), torch.randn(3, 7, 6, generator=g)
    causal, spurious, a = disentangled_attention(q * 4, k, v)     # a sharp attention, far from uniform
    assert a.shape == (3, 5, 7) and torch.allclose(a.sum(-1), torch.ones(3, 5))
    assert float(a.max()) > 0.5
    total = v.sum(1, keepdim=True).expand(-1, 5, -1)
    assert torch.allclose(causal + spurious, total, atol=1e-5)
    assert torch.allclose(causal, a @ v) and torch.allclose(spurious, (1 - a) @ v)


def test_attention_on_a_hand_made_case() -> None:
    q = torch.tensor([[[0.0, 0.0]]])                       # zero query: uniform attention over 2 keys
    k = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    v = torch.tensor([[[2.0], [4.0]]])
    causal, spurious, a = disentangled_attention(q, k, v)
    assert a.tolist() == [[[0.5, 0.5]]]
    assert causal.item() == pytest.approx(3.0) and spurious.item() == pytest.approx(3.0)


def test_attention_refuses_bad_shapes() -> None:
    with pytest.raises(InputShapeError, match="B×tokens×dim"):
        disentangled_attention(torch.zeros(2, 3), torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))
    with pytest.raises(InputShapeError, match="do not fit"):
        disentangled_attention(torch.zeros(2, 3, 4), torch.zeros(2, 5, 3), torch.zeros(2, 5, 4))


def test_decoder_streams_have_their_own_blocks() -> None:
    torch.manual_seed(0)
    layer = DisentangledDecoderLayer(4, 8).eval()
    out = layer(torch.randn(2, 9, 8))
    assert out.causal.shape == out.spurious.shape == (2, 4, 8) and out.attention.shape == (2, 4, 9)
    assert layer.causal_block.proj is not layer.spurious_block.proj
    causal_params = {id(p) for p in layer.causal_block.parameters()}
    assert not causal_params & {id(p) for p in layer.spurious_block.parameters()}


def test_group_linear_reads_only_its_own_query() -> None:
    torch.manual_seed(0)
    head = GroupLinear(3, 4)
    h = torch.randn(2, 3, 4)
    z = head(h)
    assert torch.allclose(z[:, 1], h[:, 1] @ head.weight[1] + head.bias[1])
    h2 = h.clone()
    h2[:, 0] += 5.0
    z2 = head(h2)
    assert torch.equal(z2[:, 1:], z[:, 1:]) and not torch.equal(z2[:, 0], z[:, 0])


def test_intervened_logits_differ_from_causal_ones_only_through_the_permuted_spurious_queries() -> None:
    torch.manual_seed(0)
    net = CrocodileNet(1, 4, 3).eval()                     # eval: the intervention's dropout is off
    x = torch.rand(5, 1, 32, 32)
    perm = torch.tensor([2, 0, 4, 1, 3])
    out = net.forward_all(x, perm=perm).task
    head = net.task.causal_head
    expected = out.z + (out.spurious[perm] * head.weight).sum(-1)
    assert torch.allclose(out.z_intervened, expected, atol=1e-5)
    same = net.forward_all(x, perm=torch.arange(5)).task      # sample b gets its own spurious queries
    other = net.forward_all(x, perm=perm).task
    assert torch.allclose(same.z, other.z)                    # z_x does not depend on the permutation
    assert not torch.allclose(same.z_intervened, other.z_intervened)
    # another image 2 (drawn on by row 0, since perm[0] = 2) moves row 0 of z_ĉ, not of z_x
    x2 = x.clone()
    x2[2] = torch.rand(1, 32, 32)
    changed = net.forward_all(x2, perm=perm).task
    assert torch.allclose(changed.z[0], out.z[0], atol=1e-6)
    assert not torch.allclose(changed.z_intervened[0], out.z_intervened[0], atol=1e-4)
    assert torch.allclose(changed.z_intervened[1], out.z_intervened[1], atol=1e-6)   # row 1 draws on image 0


def test_readout_is_findings_then_sources() -> None:
    torch.manual_seed(0)
    x = torch.rand(2, 1, 32, 32)
    full = CrocodileNet(1, 4, 3).eval()
    assert full(x).shape == (2, 7) and full.num_classes == 7
    assert torch.allclose(full(x)[:, :4], full.task(x).z) and torch.allclose(full(x)[:, 4:], full.domain(x).z)
    task_only = CrocodileNet(1, 4, 3, domain_branch=False).eval()
    assert task_only.domain is None and task_only.scorer is None
    assert torch.equal(task_only(x)[:, 4:], torch.zeros(2, 3))
    base = BaselineNet(1, 4, 3).eval()
    assert base(x).shape == (2, 7) and torch.equal(base(x)[:, 4:], torch.zeros(2, 3))
    with pytest.raises(ConfigError):
        CrocodileNet(1, 0, 3)
