"""CROCODILE's loss terms: exact values on hand-made cases, switches, the prior through the causality module."""

from __future__ import annotations

import math

import pytest
import torch

import halign_widgets.causality as causality
import halign_widgets.crocodile.losses as losses_module
from halign_widgets.crocodile import (
    TERMS,
    BaselineNet,
    CORALObjective,
    CrocodileNet,
    CrocodileObjective,
    GroupDROObjective,
    LossConfig,
    RelationalScorer,
    asymmetric_loss,
    classification_loss,
    consistency_loss,
    coral_penalty,
    kl_to_uniform,
    prior_loss,
    relational_contrastive_loss,
    task_causality_map,
)
from halign_widgets.errors import ConfigError, UnknownNameError

K, D = 4, 3
GRAPH = torch.tensor([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=torch.float32)


def _batch(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(n, 1, 32, 32, generator=g)
    findings = (torch.rand(n, K, generator=g) > 0.5).float()
    source = torch.arange(n) % D
    return x, torch.cat([findings, torch.nn.functional.one_hot(source, D).float()], 1)


def test_kl_to_uniform_is_zero_for_uniform_logits_and_exact_otherwise() -> None:
    assert float(kl_to_uniform(torch.full((3, 4), 2.5))) == pytest.approx(0.0, abs=1e-7)
    z = torch.tensor([[0.0, math.log(3.0)]])            # softmax (1/4, 3/4)
    assert float(kl_to_uniform(z)) == pytest.approx(0.5 * math.log(4 / 3), abs=1e-6)


def test_consistency_is_zero_for_identical_same_label_features() -> None:
    labels = torch.tensor([[0, 1], [0, 1], [1, 0], [1, 0]])
    causal = torch.randn(2, 2, 5)[labels[:, 0]]          # the same feature for every sample of a label
    causal[:, 1] = causal[:, 0] * 2
    spurious = torch.randn(1, 2, 5).expand(4, -1, -1)    # the same for everyone: no label information
    pull, push = consistency_loss(causal, spurious, labels)
    assert float(pull) == pytest.approx(0.0, abs=1e-7) and float(push) == pytest.approx(0.0, abs=1e-7)


def test_consistency_groups_per_label_on_a_hand_made_case() -> None:
    labels = torch.tensor([[0], [0], [1]])
    causal = torch.tensor([[[1.0]], [[3.0]], [[5.0]]])
    spurious = torch.tensor([[[0.0]], [[2.0]], [[4.0]]])
    pull, push = consistency_loss(causal, spurious, labels)
    assert float(pull) == pytest.approx(2 / 3)           # to the same-label means 2, 2, 5
    assert float(push) == pytest.approx(29 / 3)          # to the other-label means 4, 4, 1
    # a source index (domain branch) is grouped the same way for every query
    pull_d, _ = consistency_loss(causal.expand(-1, 2, -1), spurious.expand(-1, 2, -1), torch.tensor([0, 0, 1]))
    assert float(pull_d) == pytest.approx(2 / 3)
    # a label no other sample shares leaves its push term out instead of dividing by zero
    _, lonely = consistency_loss(causal[:2], spurious[:2], labels[:2])
    assert float(lonely) == 0.0


def test_asl_without_focusing_or_clipping_is_bce_and_names_are_checked() -> None:
    z, y = torch.randn(6, 4), (torch.rand(6, 4) > 0.5).float()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
    assert torch.allclose(asymmetric_loss(z, y, 0.0, 0.0, 0.0), bce, atol=1e-6)
    assert float(classification_loss(z, y, "asl")) < float(bce)        # focusing down-weights easy negatives
    with pytest.raises(UnknownNameError, match="'bce'"):
        classification_loss(z, y, "focal")


def test_prior_loss_uses_the_causality_module_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    assert losses_module.causality_map is causality.causality_map      # imported, not copied
    q = torch.randn(5, K, 16)
    expected_map = causality.causality_map(torch.relu(q).unsqueeze(-1), "max")
    assert torch.equal(task_causality_map(q), expected_map)
    off = ~torch.eye(K, dtype=torch.bool)
    expected = ((expected_map - GRAPH) ** 2)[:, off].mean()
    assert torch.allclose(prior_loss(q, GRAPH), expected)
    calls = []
    monkeypatch.setattr(losses_module, "causality_map",
                        lambda f, est: calls.append(est) or causality.causality_map(f, est))
    prior_loss(q, GRAPH)
    assert calls == ["max"]
    with pytest.raises(ConfigError, match="4×4"):
        prior_loss(q, torch.zeros(3, 3))


def test_relational_contrastive_loss_targets_cross_pairs() -> None:
    scorer = RelationalScorer(6)
    torch.nn.init.zeros_(scorer.mlp[2].weight)
    torch.nn.init.zeros_(scorer.mlp[2].bias)             # every score is σ(0) = 0.5
    feats = [torch.randn(4, 3, 6) for _ in range(4)]
    with torch.no_grad():
        assert float(relational_contrastive_loss(scorer, *feats)) == pytest.approx(0.25)
        torch.nn.init.constant_(scorer.mlp[2].bias, 30.0)    # every score ≈ 1: right on the 2 cross pairs only
        assert float(relational_contrastive_loss(scorer, *feats)) == pytest.approx(0.5, abs=1e-6)


def _grads(net: torch.nn.Module, objective: CrocodileObjective) -> tuple[torch.Tensor, dict]:
    net.zero_grad()
    x, y = _batch()
    loss, _, terms = objective(net, x, y)
    loss.backward()
    grads = [p.grad.flatten() if p.grad is not None else torch.zeros(p.numel()) for p in net.parameters()]
    return torch.cat(grads), terms


@pytest.mark.parametrize("term", TERMS)
def test_a_switched_off_term_contributes_no_gradient(term: str) -> None:
    torch.manual_seed(0)
    net = CrocodileNet(1, K, D).eval()                   # eval: no dropout, a fixed permutation
    everything = LossConfig(frozenset(TERMS))
    g_on, terms_on = _grads(net, CrocodileObjective(everything, GRAPH))
    off = everything.switched(off=[term])
    g_off, terms_off = _grads(net, CrocodileObjective(off, GRAPH))
    g_off_heavy, _ = _grads(net, CrocodileObjective(off.weighted(**{term: 50.0}), GRAPH))
    assert torch.equal(g_off, g_off_heavy), f"the weight of the switched-off {term!r} still matters"
    assert not torch.allclose(g_on, g_off), f"switching {term!r} on changes nothing"
    assert terms_off[term] == 0.0 and float(terms_on[term].detach()) > 0.0
    assert set(terms_on) == set(TERMS)


def test_loss_config_refuses_impossible_and_bad_settings() -> None:
    with pytest.raises(ConfigError, match="domain branch"):
        LossConfig(frozenset(["task", "contrastive"])).check(domain_branch=False)
    with pytest.raises(UnknownNameError):
        LossConfig(frozenset(["tsk"]))
    with pytest.raises(ConfigError, match="finite"):
        LossConfig(weights={"task": float("nan")})
    with pytest.raises(ConfigError, match="prior graph"):
        CrocodileObjective(LossConfig(frozenset(["task", "prior"])), prior=None)
    net = CrocodileNet(1, K, D, domain_branch=False)
    with pytest.raises(ConfigError, match="domain branch"):
        CrocodileObjective(LossConfig(frozenset(["task", "contrastive"])))(net, *_batch())


def test_groupdro_raises_the_weight_of_the_worst_source_only_while_training() -> None:
    torch.manual_seed(0)
    net = BaselineNet(1, K, D)
    dro = GroupDROObjective(D, eta=1.0)
    x, y = _batch(9)
    first = y[:, K] == 1                                  # the images of source 0
    with torch.no_grad():
        y[first, :K] = (net(x)[first, :K] < 0).float()    # source 0 gets confidently wrong targets
    net.eval()
    dro(net, x, y)
    assert torch.equal(dro.q, torch.full((D,), 1 / D)), "evaluation moved the group weights"
    net.train()
    dro(net, x, y)
    assert float(dro.q.sum()) == pytest.approx(1.0) and int(dro.q.argmax()) == 0


def test_coral_penalty_is_zero_for_matching_sources_and_exact_on_a_hand_case() -> None:
    f = torch.randn(4, 3)
    assert float(coral_penalty(torch.cat([f, f]), torch.tensor([0] * 4 + [1] * 4))) == pytest.approx(0.0, abs=1e-7)
    a = torch.tensor([[0.0], [2.0]])                      # mean 1, variance 2
    b = torch.tensor([[3.0], [3.0]])                      # mean 3, variance 0
    assert float(coral_penalty(torch.cat([a, b]), torch.tensor([0, 0, 1, 1]))) == pytest.approx(4.0 + 4.0)
    assert float(coral_penalty(a, torch.tensor([0, 0]))) == 0.0
    net = BaselineNet(1, K, D)
    loss, out, terms = CORALObjective(penalty=2.0)(net, *_batch())
    assert torch.allclose(loss, terms["task"] + 2.0 * terms["coral"]) and out.shape == (8, K + D)
