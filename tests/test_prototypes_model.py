"""ProtoPNet's network: distances by the expansion, similarities, last layer, trunk and bad input."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from halign_widgets.errors import ConfigError, InputShapeError, UnknownNameError
from halign_widgets.explain import activation_maximization, explain
from halign_widgets.models import SmallCNN
from halign_widgets.prototypes import ProtoPNet, l2_distances, log_similarity


def tiny(**kw) -> ProtoPNet:
    torch.manual_seed(0)
    return ProtoPNet(1, 2, kw.pop("m", 2), kw.pop("d", 4), width=4, depth=kw.pop("depth", 2), **kw).eval()


def test_distance_expansion_equals_the_direct_squared_distance() -> None:
    g = torch.Generator().manual_seed(1)
    z = torch.rand(3, 5, 4, 6, generator=g)
    p = torch.rand(7, 5, 1, 1, generator=g)
    direct = ((z[:, None] - p[None, :, :, 0, 0, None, None]) ** 2).sum(2)     # B×P×n×m
    assert torch.allclose(l2_distances(z, p), direct, atol=1e-5)
    p[2, :, 0, 0] = z[1, :, 3, 5]                                            # a prototype equal to a patch
    d = l2_distances(z, p)
    assert float(d.min()) >= 0.0 and float(d[1, 2, 3, 5]) <= 1e-5


def test_similarity_is_log_ratio_and_forward_uses_the_switches() -> None:
    d = torch.tensor([0.0, 1.0, 3.0])
    assert torch.allclose(log_similarity(d, 1e-4), torch.log((d + 1) / (d + 1e-4)))
    model = tiny()
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    out = model.forward_parts(x)
    assert out.distances.shape == (2, 4, 8, 8) and out.min_distances.shape == (2, 4)
    assert torch.equal(out.min_distances, model.distances(x).flatten(2).amin(2))
    assert torch.allclose(out.similarities, log_similarity(out.min_distances, model.epsilon))
    assert torch.allclose(model.similarities(x), out.similarities)
    assert torch.allclose(out.logits, out.similarities @ model.last_layer.weight.t())
    with torch.no_grad():
        model.prototype_active[1] = 0.0
    masked = out.similarities.clone()
    masked[:, 1] = 0.0
    assert torch.allclose(model(x), masked @ model.last_layer.weight.t())
    z = model.latent(x)
    assert z.shape == (2, 4, 8, 8) and float(z.detach().min()) >= 0.0 and float(z.detach().max()) <= 1.0


def test_last_layer_starts_plus_one_to_own_class_and_minus_half_to_others() -> None:
    model = ProtoPNet(1, 3, 2, 4, width=4, depth=2)
    assert model.prototype_class.tolist() == [0, 0, 1, 1, 2, 2]
    assert model.prototype_class.dtype == torch.long
    expected = torch.full((3, 6), -0.5)
    for j in range(6):
        expected[j // 2, j] = 1.0
    assert torch.equal(model.last_layer.weight.detach(), expected)
    assert model.last_layer.bias is None
    assert model.prototype_vectors.shape == (6, 4, 1, 1)
    assert float(model.prototype_vectors.detach().min()) >= 0 and float(model.prototype_vectors.detach().max()) <= 1


def test_receptive_fields_of_the_smallcnn_trunk_by_hand() -> None:
    # conv3 k3 p1 → pool2 → conv → pool → conv → pool → conv: sizes 3, 4, 8, 10, 18, 22, 38
    m4 = ProtoPNet(1, 2, 1, 4, width=4, depth=4)
    assert (m4.rf.size, m4.rf.jump, m4.rf.start) == (38.0, 8.0, 3.5)
    m3 = ProtoPNet(1, 2, 1, 4, width=4, depth=4, layer="features.conv3")
    assert (m3.rf.size, m3.rf.jump, m3.rf.start) == (18.0, 4.0, 1.5)
    assert m3.rf.box(0, 0, 64, 64) == (0, 11, 0, 11)        # pixels −7..10, clipped
    assert m3.rf.box(8, 4, 64, 64) == (25, 43, 9, 27)
    assert m3.grid_size((64, 64)) == (16, 16) and m3.last_conv_layer == "features.conv3"
    assert [n for n, _ in m3.features.named_children()] == ["conv1", "pool1", "conv2", "pool2", "conv3"]


def test_trunk_of_a_trained_backbone_is_copied_not_shared() -> None:
    torch.manual_seed(0)
    cnn = SmallCNN(1, 2, width=4, depth=3)
    model = ProtoPNet(1, 2, 2, 8, backbone=cnn, add_on="bottleneck")
    assert torch.equal(model.features.conv1.conv.weight, cnn.features.conv1.conv.weight)
    with torch.no_grad():
        model.features.conv1.conv.weight.add_(1.0)
    assert not torch.equal(model.features.conv1.conv.weight, cnn.features.conv1.conv.weight)
    assert model.config["width"] == 4 and model.config["depth"] == 3
    assert isinstance(model.add_on[-1], nn.Sigmoid) and model.add_on[-2].out_channels == 8
    assert model.add_on[0].in_channels == 16 and model.add_on[0].out_channels == 8


def test_bad_configuration_and_input_raise_typed_errors_with_a_fix() -> None:
    with pytest.raises(ConfigError, match="prototypes_per_class must be an integer ≥ 1"):
        ProtoPNet(1, 2, 0)
    with pytest.raises(ConfigError, match="num_classes"):
        ProtoPNet(1, 1, 2)
    with pytest.raises(UnknownNameError, match="features.conv2"):
        ProtoPNet(1, 2, 2, width=4, depth=2, layer="features.conv9")
    with pytest.raises(UnknownNameError, match="add-on"):
        ProtoPNet(1, 2, 2, add_on="wide")
    with pytest.raises(ConfigError, match="features"):
        ProtoPNet(1, 2, 2, backbone=nn.Linear(3, 3))
    with pytest.raises(ConfigError, match="in_channels=1"):
        ProtoPNet(3, 2, 2, backbone=SmallCNN(1, 2, width=4, depth=2))
    model = tiny()
    with pytest.raises(InputShapeError, match="3 channel"):
        model(torch.rand(1, 3, 16, 16))
    with pytest.raises(InputShapeError, match="x\\[None\\]"):
        model.latent(torch.rand(1, 16, 16))


def test_a_protopnet_works_with_explain_and_activation_maximization() -> None:
    model = tiny()
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(3))
    cam = explain(model, x, "gradcam")
    assert cam.layer == "features.conv2" and cam.maps.shape == (2, 16, 16)
    sal = explain(model, x, "saliency", target=1)
    assert sal.maps.shape == (2, 16, 16) and sal.target.tolist() == [1, 1]
    result = activation_maximization(model, "class:1", steps=3, size=16, seed=0)
    assert result.image.shape == (1, 1, 16, 16) and len(result.trajectory) == 3
