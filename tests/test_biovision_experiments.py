"""The chapter's experiment helpers: scores, CAM localization, pathway drops, the three-way comparison."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from halign_widgets.biovision import (
    PATHWAYS,
    VARIANTS,
    CoCoReco,
    build_model,
    cam_scores,
    classification_scores,
    compare_models,
    pathway_drops,
    summarize_comparison,
    summarize_drops,
)
from halign_widgets.data import ImageDataset, make_world
from halign_widgets.errors import ConfigError, UnknownNameError


class _Brightness(nn.Module):
    """Logits (0.5, mean brightness): predicts class 1 for images brighter than 0.5."""

    in_channels = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean((1, 2, 3))
        return torch.stack([torch.full_like(m, 0.5), m], 1)


def test_classification_scores_on_a_hand_built_case() -> None:
    values = torch.tensor([0.1, 0.6, 0.4, 0.9])
    data = ImageDataset(values.view(4, 1, 1, 1).expand(4, 1, 4, 4).contiguous(), torch.tensor([0, 0, 1, 1]), ["a", "b"])
    scores = classification_scores(_Brightness(), data)
    # predictions 0, 1, 0, 1 → accuracy 0.5, macro-F1 0.5; positives (0.4, 0.9) beat 3 of 4 negative pairs
    assert scores == pytest.approx({"accuracy": 0.5, "macro_f1": 0.5, "auroc": 0.75})


@pytest.fixture(scope="module")
def world() -> ImageDataset:
    return make_world("context", 40, size=32, seed=0, decoy=0.0)


def test_cam_scores_and_pathway_drops_on_a_cocoreco(world: ImageDataset) -> None:
    torch.manual_seed(0)
    model = CoCoReco(width=32).eval()
    cams = cam_scores(model, world.test)
    assert 0.0 <= cams["relevance_mass"] <= 1.0 and 0.0 <= cams["energy_pointing"] <= 1.0
    assert cams["mask_area"] == pytest.approx(float(world.test.masks.float().mean()))
    bn_before = {k: v.clone() for k, v in model.state_dict().items()}
    drops = pathway_drops(model, world.test, recalibrate=world.train.images)
    assert set(drops) == set(PATHWAYS) | {"cab"}
    assert all(-1.0 <= d <= 1.0 for d in drops.values())
    after = model.state_dict()
    assert all(torch.equal(bn_before[k], after[k]) for k in bn_before), "recalibration was not undone"
    with pytest.raises(ConfigError, match="masks"):
        cam_scores(model, ImageDataset(world.images, world.labels, world.classes))


def test_compare_models_three_variants_on_one_world() -> None:
    lines: list[str] = []
    result = compare_models(("context",), seeds=(0,), n=40, size=32, width=32, epochs=1, progress=lines.append,
                            world_knobs={"context": {"decoy": 0.0}})
    table = result.table
    assert list(table["model"]) == list(VARIANTS) and len(lines) == 3 and "CoCoReco + CAB" in lines[-1]
    for col in ("accuracy", "macro_f1", "auroc", "relevance_mass", "energy_pointing", "params", "seconds_per_epoch"):
        assert table[col].notna().all()
    params = dict(zip(table["model"], table["params"], strict=True))
    assert params["scratch"] < params["cocoreco"] == params["cocoreco_cab"]
    assert table.loc[table["model"] == "scratch", "drop_ventral"].isna().all()
    assert table.loc[table["model"] == "cocoreco_cab", "drop_cab"].notna().all()
    assert set(result.models) == {("context", v, 0) for v in VARIANTS}
    summary = summarize_comparison(table)
    assert summary.loc[("context", "cocoreco_cab"), "seeds"] == 1
    assert "±" in summary.loc[("context", "scratch"), "accuracy"]
    drops = summarize_drops(table)
    assert set(drops["model"]) == {"cocoreco", "cocoreco_cab"} and "cab" in set(drops["pathway"])
    assert set(drops.loc[drops["model"] == "cocoreco", "pathway"]) == set(PATHWAYS)


def test_compare_models_refuses_bad_options() -> None:
    with pytest.raises(UnknownNameError, match="cocoreco_cab"):
        compare_models(("context",), variants=("coco",), n=40, epochs=1)
    with pytest.raises(ConfigError, match="seed"):
        compare_models(("context",), seeds=(), n=40, epochs=1)
    with pytest.raises(UnknownNameError):
        build_model("resnet")
    with pytest.raises(ConfigError, match="compare_models"):
        import pandas as pd

        summarize_comparison(pd.DataFrame({"world": []}))


def test_compare_models_runs_on_the_shared_runner_serial_equals_parallel(tmp_path) -> None:
    kwargs = dict(variants=("scratch", "cocoreco"), seeds=(0,), n=40, size=32, width=32, epochs=1, threads=1,
                  world_knobs={"context": {"decoy": 0.0}})
    serial = compare_models(("context",), **kwargs)
    parallel = compare_models(("context",), n_jobs=2, keep_models=False, results=tmp_path / "grid.jsonl", **kwargs)
    scores = ["accuracy", "macro_f1", "auroc", "relevance_mass", "energy_pointing"]
    assert serial.table[scores].equals(parallel.table[scores]) and parallel.models == {}
    from halign_widgets.biovision import classification_scores
    model = serial.models[("context", "cocoreco", 0)]         # the kept model is the one that was scored
    data = serial.datasets[("context", 0)]
    assert classification_scores(model, data.test)["accuracy"] == serial.table.loc[1, "accuracy"]
    again = compare_models(("context",), keep_models=False, results=tmp_path / "grid.jsonl", **kwargs)
    assert again.table[scores].equals(parallel.table[scores])   # resumed from the file: nothing retrained
