"""ProtoPNet's loss terms by hand, push exactness, the staged schedule through the Trainer, resume, checkpoints."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from halign_widgets.data import ImageDataset, make_world
from halign_widgets.errors import CheckpointMismatchError, ConfigError, LabelMismatchError, UnknownNameError
from halign_widgets.prototypes import (
    ProtoPNet,
    ProtoPNetLoss,
    PushResult,
    Schedule,
    cluster_separation,
    high_activation_box,
    load_protopnet,
    push_prototypes,
    save_protopnet,
    train_protopnet,
    wrong_class_l1,
)
from halign_widgets.training import Callback, Trainer


@pytest.fixture(scope="module")
def world() -> ImageDataset:
    return make_world("masses", 48, size=16, seed=0)


def tiny(seed: int = 0, m: int = 2) -> ProtoPNet:
    torch.manual_seed(seed)
    return ProtoPNet(1, 2, m, 4, width=4, depth=2)


# -- loss terms by hand ----------------------------------------------------------------------------
def test_cluster_and_separation_by_hand() -> None:
    d = torch.tensor([[1.0, 4.0, 2.0, 9.0],      # image of class 0
                      [3.0, 0.5, 7.0, 6.0]])     # image of class 1
    cls = torch.tensor([0, 0, 1, 1])
    clst, sep = cluster_separation(d, torch.tensor([0, 1]), cls)
    assert float(clst) == pytest.approx((1.0 + 6.0) / 2) and float(sep) == pytest.approx((2.0 + 0.5) / 2)
    # switched-off prototypes are left out; an image whose class has none left drops out of that mean
    clst, sep = cluster_separation(d, torch.tensor([0, 1]), cls, torch.tensor([0.0, 1.0, 0.0, 0.0]))
    assert float(clst) == pytest.approx(4.0) and float(sep) == pytest.approx(0.5)   # image 0 / image 1 only


def test_wrong_class_l1_at_initialisation_is_half_per_wrong_connection() -> None:
    model = ProtoPNet(1, 3, 2, 4, width=4, depth=2)
    assert float(wrong_class_l1(model).detach()) == pytest.approx(6 * 2 * 0.5)


def test_loss_combines_the_terms_with_the_defaults_and_the_last_layer_stage_drops_clst_sep(world) -> None:
    model = tiny().eval()
    x, y = world.images[:6], world.labels[:6]
    loss_fn = ProtoPNetLoss()
    loss, logits, terms = loss_fn(model, x, y)
    loss = loss.detach()
    with torch.no_grad():
        out = model.forward_parts(x)
        ce = F.cross_entropy(out.logits, y)
        clst, sep = cluster_separation(out.min_distances, y, model.prototype_class)
        l1 = wrong_class_l1(model)
    assert float(loss) == pytest.approx(float(ce + 0.8 * clst - 0.08 * sep + 1e-4 * l1), rel=1e-6)
    assert {k: float(v) for k, v in terms.items()} == pytest.approx(
        {"ce": float(ce), "clst": float(clst), "sep": float(sep), "l1": float(l1)}, rel=1e-6)
    assert torch.equal(logits.detach(), out.logits)
    loss_fn.stage = "last layer"
    loss, _, terms = loss_fn(model, x, y)
    loss = loss.detach()
    assert float(loss) == pytest.approx(float(ce + 1e-4 * l1), rel=1e-6) and set(terms) == {"ce", "clst", "sep", "l1"}
    with pytest.raises(UnknownNameError, match="last layer"):
        loss_fn.stage = "final"


# -- push -----------------------------------------------------------------------------------------------
def test_push_makes_every_prototype_its_recorded_latent_patch_exactly(world) -> None:
    model = tiny().eval()
    train = world.train
    with torch.no_grad():
        d = model.distances(train.images)
    result = push_prototypes(model, train)
    assert len(result) == model.num_prototypes
    for r in result.records:
        patch = model.latent(train.images[r.image_index:r.image_index + 1])[0, :, r.row, r.col]
        assert torch.equal(model.prototype_vectors[r.prototype, :, 0, 0], patch)
        assert int(train.labels[r.image_index]) == r.cls == int(model.prototype_class[r.prototype])
        own = train.labels == r.cls
        assert r.distance_before == pytest.approx(float(d[own, r.prototype].min()), rel=1e-4, abs=1e-6)
        assert 0.0 <= r.distance_after <= 1e-5
        y0, y1, x0, x1 = r.box
        assert 0 <= y0 < y1 <= 16 and 0 <= x0 < x1 <= 16
    again = PushResult.from_dict(result.to_dict())
    assert again.records == result.records and again.table().shape[0] == model.num_prototypes


def test_push_can_only_locate_and_respects_excluded_patches(world) -> None:
    model = tiny().eval()
    before = model.prototype_vectors.detach().clone()
    located = push_prototypes(model, world.train, update=False)
    assert torch.equal(model.prototype_vectors, before)
    banned = [located[0].patch]
    moved = push_prototypes(model, world.train, update=False, exclude=banned)
    assert moved[0].patch != located[0].patch
    assert moved[0].distance_before >= located[0].distance_before


def test_push_can_exclude_patches_similar_to_the_forgotten_ones(world) -> None:
    model = tiny().eval()
    train = world.train
    located = push_prototypes(model, train, update=False)
    banned = [located[0].patch, located[1].patch]
    with torch.no_grad():
        z = model.latent(train.images)
        vectors = torch.stack([z[i, :, r, c] for i, r, c in banned])
        radius = float(((vectors[0] - vectors[1]) ** 2).sum())     # the median of one pair
        near = (((z[:, None] - vectors[None, :, :, None, None]) ** 2).sum(2).amin(1) <= radius)   # N×n×n
    moved = push_prototypes(model, train, update=False, exclude=banned, exclude_similar=True)
    for r in moved.records:
        assert not bool(near[r.image_index, r.row, r.col]) and r.patch not in banned


def test_push_set_missing_a_class_is_a_typed_error(world) -> None:
    model = tiny()
    benign = world.train.subset((world.train.labels == 0).nonzero()[:, 0])
    with pytest.raises(LabelMismatchError, match="no image of class 1"):
        push_prototypes(model, benign)


def test_high_activation_box_of_a_hand_made_map() -> None:
    heat = torch.zeros(10, 10)
    heat[2:4, 5:8] = 1.0                      # 6 of 100 pixels: the 95th percentile keeps them
    assert high_activation_box(heat) == (2, 4, 5, 8)
    heat[9, 0] = 0.5                          # a stray pixel above the percentile widens the box
    assert high_activation_box(heat) == (2, 4, 5, 8)
    assert high_activation_box(heat, 93.0) == (2, 10, 0, 8)
    assert high_activation_box(heat, 50.0) == (0, 10, 0, 10)   # ties at the threshold: the whole image


# -- the staged schedule --------------------------------------------------------------------------------
def test_schedule_stages_and_validation() -> None:
    s = Schedule(warmup_epochs=1, joint_epochs=2, last_layer_epochs=1, cycles=2)
    assert [st.label for st in s.stages()] == ["warm-up", "joint", "push 1", "last layer · push 1", "joint", "push 2",
                                               "last layer · push 2"]
    assert s.total_epochs == 1 + 2 * 3
    with pytest.raises(ConfigError, match="cycles"):
        Schedule(cycles=0)
    with pytest.raises(ConfigError, match="joint_lr"):
        Schedule(joint_lr=0.0)
    with pytest.raises(UnknownNameError, match="patches"):
        Schedule(init="zeros")


def test_staged_run_records_every_term_and_stage_and_keeps_pushed_patches_exact(world) -> None:
    model = tiny()
    schedule = Schedule(warmup_epochs=1, joint_epochs=1, last_layer_epochs=1)
    before_trunk = None
    seen: list[str] = []

    def on_stage(stage, push):  # noqa: ANN001
        nonlocal before_trunk
        seen.append(stage.label)
        if stage.kind == "last layer":
            before_trunk = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("last_layer")}

    run = train_protopnet(model, world.train, world.val, schedule=schedule, batch_size=16, progress=False,
                          on_stage=on_stage)
    assert run.state == "finished" and seen == ["warm-up", "joint", "push 1", "last layer · push 1"]
    assert [h["stage"] for h in run.history] == ["warm-up", "joint", "last layer · push 1"]
    for key in ("train_ce", "train_clst", "train_sep", "train_l1", "val_ce", "val_clst", "val_sep", "val_l1"):
        assert all(isinstance(h[key], float) for h in run.history), key
    after = {k: v for k, v in model.state_dict().items() if not k.startswith("last_layer")}
    assert all(torch.equal(before_trunk[k], after[k]) for k in after), "the last-layer stage changed the features"
    model.eval()
    for r in run.push.records:      # still exact after the last-layer stage
        z = model.latent(world.train.images[r.image_index:r.image_index + 1])[0, :, r.row, r.col]
        assert torch.equal(model.prototype_vectors[r.prototype, :, 0, 0], z)
    assert not model.features_frozen


class StopAt(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer, epoch, logs):  # noqa: ANN001
        if epoch == self.epoch:
            trainer.request_stop()


def test_a_stopped_run_resumes_to_the_same_weights(world, tmp_path) -> None:
    schedule = Schedule(warmup_epochs=1, joint_epochs=2, last_layer_epochs=1)
    full = train_protopnet(tiny(), world.train, world.val, schedule=schedule, batch_size=16, progress=False)
    ckpt = tmp_path / "run.pt"
    part = train_protopnet(tiny(), world.train, world.val, schedule=schedule, batch_size=16, progress=False,
                           checkpoint=ckpt, callbacks=[StopAt(2)])
    assert part.state == "stopped" and len(part.history) == 2 and part.position == (1, 1)
    resumed = train_protopnet(tiny(seed=5), world.train, world.val, schedule=schedule, batch_size=16,
                              progress=False, resume_from=ckpt)
    assert resumed.state == "finished" and len(resumed.history) == 4
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert [r.patch for r in resumed.push.records] == [r.patch for r in full.push.records]
    with pytest.raises(ConfigError, match="schedule"):
        train_protopnet(tiny(), world.train, world.val, schedule=Schedule(joint_epochs=5), resume_from=ckpt,
                        progress=False)


def test_checkpoint_round_trip_and_another_prototype_count_is_refused(world, tmp_path) -> None:
    run = train_protopnet(tiny(), world.train, schedule=Schedule(0, 1, 1), batch_size=16, progress=False)
    path = save_protopnet(tmp_path / "p.pt", run.model, trainer=run.trainer, pushes=run.pushes,
                          schedule=run.schedule, position=run.position)
    loaded = load_protopnet(path)
    assert isinstance(loaded.model, ProtoPNet) and loaded.push.records == run.push.records
    assert torch.equal(loaded.model.prototype_vectors, run.model.prototype_vectors)
    assert [h["stage"] for h in loaded.history] == [h["stage"] for h in run.history]
    with pytest.raises(CheckpointMismatchError, match="holds 4 prototypes .* has 6"):
        load_protopnet(path, tiny(m=3))


def test_train_protopnet_refuses_what_it_cannot_train(world) -> None:
    with pytest.raises(ConfigError, match="ProtoPNet"):
        train_protopnet(None, world.train)
    cnn_trainer = Trainer(tiny(), world.train, step_fn=lambda m, x, y: (m(x).sum(), m(x), {}), progress=False)
    with pytest.raises(ConfigError, match="ProtoPNetLoss"):
        train_protopnet(trainer=cnn_trainer)
