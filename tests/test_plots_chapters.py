"""The chapter figures of chapters 03, 05 and 06 (:mod:`halign_widgets.widgets.plots`): what each draws, legibly.

Each helper replaced a matplotlib recipe cell of a chapter; the tests build the smallest real
inputs (untrained models, tiny worlds, hand-made summary tables) and check the panels, titles,
colour bars and :func:`legibility_problems`.
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from _figure_checks import assert_legible, colour_bars
from halign_widgets.crocodile import LADDER, CrocodileNet, domain_splits
from halign_widgets.data import make_world
from halign_widgets.errors import ConfigError
from halign_widgets.explain import explain
from halign_widgets.models import SmallCNN
from halign_widgets.prototypes import ProtoPNet, explain_prototypes, push_prototypes
from halign_widgets.widgets.plots import (
    NotebookFigure,
    plot_attention_examples,
    plot_ladder,
    plot_lesions,
    plot_model_cams,
    plot_sources,
    plot_three_views,
)


def panels(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.get_visible()]


def titles(fig: Figure) -> list[str]:
    return [ax.get_title() for ax in panels(fig)]


# -- chapter 03 ------------------------------------------------------------------------------------
def test_three_views_draws_actmax_cam_prototype_and_its_source() -> None:
    torch.manual_seed(0)
    world = make_world("masses", 24, seed=1)
    model = ProtoPNet(in_channels=1, num_classes=2, prototypes_per_class=2, latent_depth=8,
                      layer="features.conv3").eval()
    push = push_prototypes(model, world)
    x = world.images[:1]
    synth = SimpleNamespace(image=torch.rand(1, 1, 64, 64))   # an ActMaxResult's image (actmax itself costs 2 s)
    cam = explain(model, x, "gradcam", target=1)
    proto = explain_prototypes(model, x, target=1)[0]
    fig = plot_three_views(x, synth, cam, proto, push, world.images, mask=world.masks[0, 0], class_name="malignant")
    assert isinstance(fig, NotebookFigure)
    j = proto.top(1)[0]
    shown = titles(fig)
    assert len(panels(fig)) == 4
    assert "malignant" in shown[0] and "Grad-CAM" in shown[1].replace("\n", " ")
    assert f"p{j}" in shown[2] and f"training image {push[j].image_index}" in shown[3].replace("\n", " ")
    assert len(colour_bars(fig)) == 2                        # the CAM and the similarity map
    assert len(panels(fig)[3].patches) == 1                  # the prototype's box on its source
    assert all(len(ax.get_xticks()) == 0 for ax in panels(fig))
    assert_legible(fig)


# -- chapter 05 ------------------------------------------------------------------------------------
def test_plot_sources_titles_each_image_with_its_source_and_findings() -> None:
    world = make_world("domains", 64, size=32, seed=0)
    fig = plot_sources(world)
    shown = titles(fig)
    assert len(shown) == 16 and all(t.startswith("src ") for t in shown)
    first = int(torch.nonzero(torch.as_tensor(world.meta["source"]) == 0)[0, 0])
    codes = "".join("MCDH"[k] for k in range(4) if world.labels[first, k]) or "none"
    assert shown[0] == f"src 0: {codes}"
    assert "four images per source" in fig.get_suptitle()
    assert_legible(fig)


def test_plot_sources_on_data_without_sources_shows_classes() -> None:
    world = make_world("masses", 40, seed=0)
    fig = plot_sources(world, per_source=2)
    assert titles(fig) == [world.classes[int(c)][:12] for c in world.labels[:8]]
    assert "your data" in fig.get_suptitle()
    assert_legible(fig)


def _ladder_summary() -> pd.DataFrame:
    configs = list(LADDER) + ["erm", "groupdro", "coral"]
    rows = []
    for k, c in enumerate(configs):
        rows.append({"config": c, "label": c.replace("_", " ") + " configuration", "id_map": 0.84 + 0.003 * k,
                     "id_map_se": 0.01, "ood_map": 0.78 - 0.01 * k, "ood_map_se": 0.03,
                     "drop_map": 0.06 + 0.013 * k, "drop_map_se": 0.04})
    return pd.DataFrame(rows)


def test_plot_ladder_three_panels_ladder_blue_baselines_grey() -> None:
    summary = _ladder_summary()
    fig = plot_ladder(summary)
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == ["ID test mAP", "OOD test mAP", "drop (ID − OOD)"]
    bars = axes[1].patches
    assert len(bars) == len(summary)
    assert [round(b.get_height(), 6) for b in bars] == [round(v, 6) for v in summary["ood_map"]]
    blue, grey = bars[0].get_facecolor(), bars[-1].get_facecolor()
    assert blue != grey and all(b.get_facecolor() == blue for b in bars[:len(LADDER)])
    assert axes[0].get_ylim()[0] < float(summary["id_map"].min() - summary["id_map_se"].max())
    assert_legible(fig)
    with pytest.raises(ConfigError, match="summarize_ladder"):
        plot_ladder(summary.drop(columns=["ood_map_se"]))


def test_attention_examples_three_panels_per_example_with_colour_bars() -> None:
    world = make_world("domains", 64, size=32, seed=0)
    splits = domain_splits(world, seed=0)
    torch.manual_seed(0)
    model = CrocodileNet(1, num_findings=4, num_sources=len(splits.sources)).eval()
    parts = [(name, splits.dataset.subset(splits.parts[part])) for name, part in (("ID", "test"), ("OOD", "ood_test"))]
    fig = plot_attention_examples(model, parts, splits.findings)
    shown = [t.replace("\n", " ") for t in titles(fig)]
    assert sum(t.startswith("ID #") for t in shown) == 2 and sum(t.startswith("OOD #") for t in shown) == 2
    assert sum(t.startswith("causal: finding") for t in shown) == 4
    assert sum(t.startswith("spurious: finding") for t in shown) == 4
    assert len(colour_bars(fig)) == 8                        # one per attention map
    assert_legible(fig)
    with pytest.raises(ConfigError):
        plot_attention_examples(model, [], splits.findings)


# -- chapter 06 ------------------------------------------------------------------------------------
def test_plot_model_cams_one_column_per_model_one_row_per_image() -> None:
    world = make_world("context", 40, size=32, seed=0)
    torch.manual_seed(0)
    models = {"ScratchCNN": SmallCNN(in_channels=1, num_classes=2).eval(),
              "other": SmallCNN(in_channels=1, num_classes=2).eval()}
    fig = plot_model_cams(models, world.test, n=3)
    maps = [ax for ax in panels(fig) if ax.images]
    assert len(maps) == 3 * 3                                # image + two maps per row
    top = [ax.get_title() for ax in maps[:3]]
    assert top[1:] == ["ScratchCNN", "other"] and top[0].startswith("#0: ")
    assert len(colour_bars(fig)) == 1
    assert all(ax.collections for ax in maps)              # every panel carries its image's mask contour
    assert_legible(fig)
    with pytest.raises(ConfigError):
        plot_model_cams({}, world.test)


def _drops() -> pd.DataFrame:
    rows = []
    for world in ("context", "masses"):
        for k, p in enumerate(("ventral", "dorsal", "sc_pulvinar", "pfc", "feedback", "cab")):
            rows.append({"world": world, "model": "cocoreco_cab", "pathway": p, "drop_mean": 0.05 * k,
                         "drop_std": 0.01, "drop": "", "recal_mean": 0.03 * k, "recal_std": 0.02, "recalibrated": ""})
            rows.append({"world": world, "model": "cocoreco", "pathway": p, "drop_mean": 0.1, "drop_std": 0.0,
                         "drop": "", "recal_mean": float("nan"), "recal_std": float("nan"), "recalibrated": ""})
    return pd.DataFrame(rows)


def test_plot_lesions_one_panel_per_world_two_bars_per_pathway() -> None:
    drops = _drops()
    fig = plot_lesions(drops)
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == ["CoCoReco + CAB, context", "CoCoReco + CAB, masses"]
    assert len(axes[0].patches) == 12
    widths = sorted(round(b.get_width(), 6) for b in axes[1].patches)
    assert widths == sorted([round(0.05 * k, 6) for k in range(6)] + [round(0.03 * k, 6) for k in range(6)])
    assert [t.get_text() for t in axes[0].get_yticklabels()][:2] == ["ventral", "dorsal"]
    assert axes[0].get_legend() is not None
    assert_legible(fig)
    assert_legible(plot_lesions(drops, "cocoreco"))          # no recalibration measured: still drawn
    with pytest.raises(ConfigError, match="cocoreco_cab"):
        plot_lesions(drops, "scratch")
