"""CAM family: closed forms computed by hand, batched Score-CAM = per-channel loop, hook hygiene."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from halign_widgets.explain import explain, list_methods
from halign_widgets.explain.cam import GradCAMPlusPlus, LayerCAM, ScoreCAM, channel_masks


def tiny_net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 3, padding=1), nn.ReLU(),          # "4": the explained layer, 5×4×4 on 8×8
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 3),
    ).eval()


def by_hand_acts(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    return net[4](net[3](net[2](net[1](net[0](x)))))


def test_gradcam_equals_hand_closed_form() -> None:
    net = tiny_net()
    x = torch.rand(2, 1, 8, 8)
    target = torch.tensor([0, 2])
    acts = by_hand_acts(net, x)
    logits = net[7](net[6](net[5](acts)))
    grads = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), acts)[0]
    weights = grads.mean(dim=(2, 3))                                     # spatial mean of ∂y_c/∂X
    cam = torch.relu((weights[:, :, None, None] * acts).sum(1))          # ReLU of the weighted sum
    expected = F.interpolate(cam[:, None], size=(8, 8), mode="bilinear", align_corners=False)[:, 0]
    # With a GAP + linear head the gradient is W[c, k] / n² everywhere: check that too.
    w_head = net[7].weight.detach()[target] / 16.0
    assert torch.allclose(weights, w_head, atol=1e-6)
    got = explain(net, x, "gradcam", target=target, layer="4")
    assert got.maps.shape == (2, 8, 8)
    assert torch.allclose(got.maps, expected.detach(), atol=1e-6)
    assert got.layer == "4" and got.target.tolist() == [0, 2]


def test_gradcam_pp_and_layercam_closed_forms() -> None:
    net = tiny_net(1)
    x = torch.rand(1, 1, 8, 8)
    t = torch.tensor([1])
    acts = by_hand_acts(net, x)
    g = torch.autograd.grad(net[7](net[6](net[5](acts)))[0, 1], acts)[0]
    a = acts.detach()
    denom = 2 * g ** 2 + a.sum(dim=(2, 3), keepdim=True) * g ** 3
    alpha = torch.where(denom != 0, g ** 2 / denom, torch.zeros_like(g))
    w = (alpha * torch.relu(g)).sum(dim=(2, 3), keepdim=True)
    pp = torch.relu((w * a).sum(1))
    lc = torch.relu((torch.relu(g) * a).sum(1))
    up = lambda m: F.interpolate(m[:, None], size=(8, 8), mode="bilinear", align_corners=False)[:, 0]  # noqa: E731
    assert torch.allclose(GradCAMPlusPlus(net, net[4])(x, t), up(pp), atol=1e-6)
    assert torch.allclose(LayerCAM(net, net[4])(x, t), up(lc), atol=1e-6)


def test_batched_scorecam_equals_per_channel_loop() -> None:
    net = tiny_net(2)
    x = torch.rand(3, 1, 8, 8)
    target = torch.tensor([0, 1, 2])
    with torch.no_grad():
        acts = by_hand_acts(net, x)
        maps = []
        for b in range(3):
            scores = []
            for k in range(acts.shape[1]):           # the slow loop: one forward per channel
                m = F.interpolate(acts[b:b + 1, k:k + 1], size=(8, 8), mode="bilinear", align_corners=False)
                m = (m - m.min()) / (m.max() - m.min()) if m.max() > m.min() else torch.zeros_like(m)
                scores.append(net(x[b:b + 1] * m)[0, target[b]])
            w = torch.softmax(torch.stack(scores), 0)
            cam = torch.relu((w[:, None, None] * acts[b]).sum(0))
            maps.append(F.interpolate(cam[None, None], size=(8, 8), mode="bilinear", align_corners=False)[0, 0])
        expected = torch.stack(maps)
    for batch_size in (1, 4, 64):
        got = ScoreCAM(net, net[4], batch_size=batch_size)(x, target)
        assert torch.allclose(got, expected, atol=1e-5)


def test_scorecam_uses_few_forward_passes() -> None:
    net = tiny_net(3)
    calls = []
    net[0].register_forward_hook(lambda *a: calls.append(a[1][0].shape[0]))
    explain(net, torch.rand(2, 1, 8, 8), "scorecam", layer="4", batch_size=64)
    # prediction, activations, the black image once per image (shared by all-zero channel masks),
    # then ONE batch with every live channel's masked image: 4 passes, whatever the channel count
    assert len(calls) == 4 and calls[:3] == [2, 2, 2]
    assert 1 <= calls[3] <= 10


def test_channel_masks_are_min_max_normalized() -> None:
    acts = torch.rand(2, 3, 4, 4)
    acts[1, 2] = 0.7                                  # a constant channel becomes an all-zero mask
    masks = channel_masks(acts, (8, 8))
    assert masks.shape == (2, 3, 8, 8)
    assert torch.allclose(masks[0].amax(dim=(1, 2)), torch.ones(3))
    assert torch.allclose(masks[0].amin(dim=(1, 2)), torch.zeros(3))
    assert float(masks[1, 2].abs().max()) == 0.0


def count_hooks(model: nn.Module) -> int:
    total = 0
    for m in model.modules():
        for attr in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks"):
            total += len(getattr(m, attr, {}))
    return total


class Flaky(nn.Module):
    """Raises in the head on demand, after the hooked layer has run."""

    def __init__(self) -> None:
        super().__init__()
        self.net = tiny_net(4)
        self.fail_after = 10 ** 9
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        acts = by_hand_acts(self.net, x)
        if self.calls > self.fail_after:
            raise RuntimeError("boom")
        return self.net[7](self.net[6](self.net[5](acts)))


def test_hooks_do_not_accumulate_over_100_calls_even_when_raising() -> None:
    model = Flaky()
    before = count_hooks(model)
    x = torch.rand(1, 1, 8, 8)
    for i in range(100):
        method = ("gradcam", "gradcam++", "layercam", "scorecam")[i % 4]
        explain(model, x, method, layer="net.4")
        model.calls, model.fail_after = 0, 1     # the prediction passes, the hooked forward raises
        with pytest.raises(RuntimeError, match="boom"):
            explain(model, x, method, layer="net.4")
        model.fail_after = 10 ** 9
    assert count_hooks(model) == before
    for method in ("guided_backprop", "deeplift", "saliency"):
        for _ in range(3):
            explain(model, x, method)
            model.calls, model.fail_after = 0, 1
            with pytest.raises(RuntimeError):
                explain(model, x, method)
            model.fail_after = 10 ** 9
    assert count_hooks(model) == before


def test_cam_methods_registered() -> None:
    assert {"gradcam", "gradcam++", "scorecam", "layercam"} <= set(list_methods("cam"))
