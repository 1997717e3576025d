"""CausalityModule and CausalCNN: classifier input sizes, settings, training, any backbone."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from halign_widgets.causality import SETTINGS, CausalClassifier, CausalCNN, CausalityModule, causality_map_of
from halign_widgets.errors import ConfigError, InputShapeError, UnknownNameError
from halign_widgets.models import SmallCNN

K, H, W = 6, 4, 5
EXPECTED_FLAT = {"baseline": K * H * W, "cat": K * H * W + K * K, "mul": K * H * W, "mulbool": K * H * W,
                 "mulcat": 2 * K * H * W, "mulcatbool": 2 * K * H * W}
EXPECTED_POOLED = {"baseline": K, "cat": K + K * K, "mul": K, "mulbool": K, "mulcat": 2 * K, "mulcatbool": 2 * K}


@pytest.mark.parametrize("setting", SETTINGS)
@pytest.mark.parametrize("pooled", [False, True])
def test_classifier_input_size(setting: str, pooled: bool) -> None:
    module = CausalityModule(setting, pooled=pooled)
    out = module(torch.rand(3, K, H, W))
    expected = (EXPECTED_POOLED if pooled else EXPECTED_FLAT)[setting]
    assert out.shape == (3, expected) == (3, module.output_size(K, H, W))


def test_mulcat_is_x_then_weighted_x() -> None:
    x = torch.rand(2, K, H, W)
    module = CausalityModule("mulcat", estimator="lehmer", p=2.0)
    w = module.explain(x)["factors"]
    out = module(x)
    assert torch.equal(out[:, : K * H * W], x.flatten(1))
    assert torch.allclose(out[:, K * H * W:], (x * w[:, :, None, None]).flatten(1))   # un-normalized X
    assert set(w.unique().tolist()) <= set(range(K))


def test_random_ablation_uses_random_factors() -> None:
    x = torch.rand(64, K, H, W)
    module = CausalityModule("mulbool", random=True)
    module.generator = torch.Generator().manual_seed(0)
    out = module(x).view(64, K, H, W)
    active = (out != 0).flatten(2).any(2).float()
    # Bernoulli(4/11)-like draws per sample, not a function of x: rows differ
    assert 0.1 < float(active.mean()) < 0.7 and active.std(0).sum() > 0
    with pytest.raises(ConfigError):
        CausalityModule("cat", random=True)


def test_module_typed_errors() -> None:
    with pytest.raises(UnknownNameError, match="mulcatbool"):
        CausalityModule("mulcats")
    with pytest.raises(UnknownNameError):
        CausalityModule(estimator="mean")
    with pytest.raises(UnknownNameError):
        CausalityModule(direction="sideways")
    with pytest.raises(InputShapeError):
        CausalityModule()(torch.rand(2, K * H * W))


@pytest.mark.parametrize("setting", SETTINGS)
def test_causal_cnn_forward_and_gradients(setting: str) -> None:
    torch.manual_seed(0)
    model = CausalCNN(width=4, depth=3, setting=setting, image_size=32)
    x = torch.rand(4, 1, 32, 32)
    logits = model(x)
    assert logits.shape == (4, 2)
    logits.sum().backward()
    assert model.features.conv1.conv.weight.grad.abs().sum() > 0
    flat = 16 * 8 * 8                                  # conv3 of width 4: 16 channels on an 8×8 grid
    expected = {"baseline": flat, "cat": flat + 16 * 16, "mul": flat, "mulbool": flat,
                "mulcat": 2 * flat, "mulcatbool": 2 * flat}[setting]
    assert model.classifier.in_features == expected
    assert model.last_conv_layer == "features.conv3"
    assert model.config["setting"] == setting


def test_causal_cnn_config_rebuilds_same_model() -> None:
    model = CausalCNN(width=4, depth=2, setting="cat", estimator="lehmer", p=3.0, image_size=(16, 24),
                      layer="conv1")
    cfg = dict(model.config)
    clone = CausalCNN(**{k: (tuple(v) if k == "image_size" else v) for k, v in cfg.items()})
    clone.load_state_dict(model.state_dict())
    x = torch.rand(2, 1, 16, 24)
    model.eval(), clone.eval()
    assert torch.equal(model(x), clone(x))
    assert model.last_conv_layer == "features.conv1" and model.feature_shape == (4, 16, 24)


def test_causal_cnn_trains_and_loss_decreases() -> None:
    torch.manual_seed(0)
    x = torch.rand(64, 1, 16, 16) * 0.2
    y = torch.randint(0, 2, (64,))
    x[y == 1, :, 4:10, 4:10] += 0.8                  # class 1 has a bright square
    model = CausalCNN(width=4, depth=2, setting="mulcatbool", image_size=16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_causal_cnn_with_trainer() -> None:
    from halign_widgets import training

    torch.manual_seed(0)
    x = torch.rand(48, 1, 16, 16) * 0.2
    y = torch.randint(0, 2, (48,))
    x[y == 1, :, 4:10, 4:10] += 0.8
    model = CausalCNN(width=4, depth=2, setting="mulcat", image_size=16)
    trainer = training.Trainer(model, (x, y), epochs=4, batch_size=16, lr=1e-2, progress=False, device="cpu")
    trainer.fit()
    hist = trainer.history
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]


def test_causal_classifier_on_any_backbone() -> None:
    backbone = nn.Sequential(nn.Conv2d(1, 5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(5, 7, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.LazyLinear(3))
    model = CausalClassifier(backbone, "4", num_classes=3, input_shape=(1, 12, 12), setting="mulcat")
    assert model.feature_shape == (7, 6, 6)
    assert model(torch.rand(2, 1, 12, 12)).shape == (2, 3)
    small = SmallCNN(width=4, depth=3)
    cc = CausalClassifier(small, "features.conv2", 2, (1, 32, 32), setting="cat", pooled=True)
    assert cc(torch.rand(2, 1, 32, 32)).shape == (2, 2) and cc.classifier.in_features == 8 + 64
    with pytest.raises(UnknownNameError):
        CausalClassifier(small, "features.conv9", 2, (1, 32, 32))


def test_causality_map_of_returns_consistent_views() -> None:
    model = CausalCNN(width=4, depth=3, setting="mulcat", estimator="lehmer", p=2.0, image_size=32)
    out = causality_map_of(model, torch.rand(3, 1, 32, 32))
    assert out["map"].shape == (3, 16, 16) and out["factors"].shape == (3, 16)
    assert torch.allclose(out["map"][:, :, 0], out["statistic"])          # Lehmer: C[i, j] = LM_p(F_i)
    assert model.training


def test_causal_cnn_checkpoint_round_trip(tmp_path) -> None:
    from halign_widgets.errors import CheckpointMismatchError
    from halign_widgets.training import load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    model = CausalCNN(width=2, depth=2, setting="mulcatbool", estimator="lehmer", p=2.0, image_size=16)
    path = save_checkpoint(tmp_path / "causal.pt", model)
    data = load_checkpoint(path)
    cfg = {k: (tuple(v) if k == "image_size" else v) for k, v in data["model_config"].items()}
    clone = CausalCNN(**cfg)
    load_checkpoint(path, clone)
    x = torch.rand(2, 1, 16, 16)
    model.eval(), clone.eval()
    assert torch.equal(model(x), clone(x))
    with pytest.raises(CheckpointMismatchError):
        load_checkpoint(path, CausalCNN(width=2, depth=2, setting="mulcat", image_size=16))
