"""The figure helpers of the widgets layer, and the legibility checker they are held to.

Every helper of :mod:`halign_widgets.widgets.plots` and every app figure it draws must pass
:func:`legibility_problems` (≤ 10 in wide, fonts ≥ 8 pt, no overlapping titles, nothing cut off);
the checker itself is tested on figures built to fail.
"""

from __future__ import annotations

import math
import struct
from types import SimpleNamespace

import pandas as pd
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from _figure_checks import assert_legible, colour_bars
from halign_widgets.causality import summarize
from halign_widgets.causality.experiments import COLUMNS
from halign_widgets.data import ImageDataset
from halign_widgets.errors import ConfigError, InputShapeError, UnknownNameError
from halign_widgets.explain import Explanation
from halign_widgets.models import SmallCNN
from halign_widgets.training import confusion_matrix
from halign_widgets.widgets import AttributionExplorer, ScaffoldMap, SunyExplorer
from halign_widgets.widgets.legibility import legibility_problems
from halign_widgets.widgets.plots import (
    NotebookFigure,
    plot_attributions,
    plot_confusion,
    plot_deletion_insertion,
    plot_experiment_table,
    plot_images,
    plot_leaderboard,
    plot_suny,
)
from halign_widgets.widgets.scaffold_map import scaffold_figure


def agg_figure(w: float = 6.0, h: float = 3.0) -> Figure:
    fig = Figure(figsize=(w, h), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def explanation(maps: torch.Tensor, method: str = "saliency", target: int = 1) -> Explanation:
    return Explanation(maps=maps, method=method, target=torch.full((maps.shape[0],), target))


def panels(fig: Figure) -> list:
    """Image / map axes (colour bars and the legend square hold no AxesImage with a title)."""
    return [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]


def rows_of(axes: list) -> set[int]:
    """Grid rows the axes occupy."""
    return {ax.get_subplotspec().rowspan.start for ax in axes}


# -- the checker -----------------------------------------------------------------------------------
def test_checker_passes_a_clean_figure_and_reports_each_kind_of_problem() -> None:
    fig = agg_figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    ax.set_title("fine", fontsize=9)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    assert legibility_problems(fig) == []

    small = agg_figure()
    small.add_subplot().set_title("tiny", fontsize=6)
    assert any("'tiny' is 6.0 pt" in p for p in legibility_problems(small))

    wide = agg_figure(14.0, 3.0)
    assert any("14.0 in wide" in p for p in legibility_problems(wide))

    crowded = agg_figure(5.0, 2.0)
    for k, ax in enumerate(crowded.subplots(1, 5)):
        ax.set_title(f"a rather long panel title {k}", fontsize=9)
        ax.tick_params(labelsize=8)
    found = legibility_problems(crowded)
    assert any("overlaps" in p and "long panel title" in p for p in found), found

    cut = agg_figure()
    cut.text(0.9, 0.5, "this sentence runs off the right edge", fontsize=10)
    assert any("sticks out" in p for p in legibility_problems(cut))


def test_checker_ignores_tick_labels_that_are_not_drawn() -> None:
    fig = agg_figure()
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1])
    ax.set_xticks([-5, 0, 1, 50])          # -5 and 50 lie outside the view once the limits are set
    ax.set_xlim(0, 1)
    ax.tick_params(labelsize=8)
    fig.tight_layout()
    assert legibility_problems(fig) == []


# -- images and attribution maps -------------------------------------------------------------------
def test_plot_images_rows_titles_and_masks() -> None:
    images = torch.rand(10, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    masks = torch.zeros(10, 16, 16, dtype=torch.bool)
    masks[:, 4:8, 4:8] = True
    fig = plot_images(images, [f"A={k % 2} B={k % 3}" for k in range(10)], masks=masks, max_cols=5)
    assert isinstance(fig, NotebookFigure) and len(panels(fig)) == 10
    assert len(rows_of(panels(fig))) == 2        # two rows of 5
    assert [ax.get_title() for ax in panels(fig)][:2] == ["A=0 B=0", "A=1 B=1"]
    assert all(ax.collections for ax in panels(fig))                              # mask contours
    assert_legible(fig)
    with pytest.raises(ConfigError):
        plot_images(images, ["only one title"])


def test_attributions_one_image_wraps_into_rows_of_four_with_one_colour_bar() -> None:
    g = torch.Generator().manual_seed(1)
    names = ["saliency", "integrated_gradients", "gradcam", "gradcam++", "scorecam"]
    exps = {n: explanation(torch.randn(1, 16, 16, generator=g), n) for n in names}
    fig = plot_attributions(exps, torch.rand(1, 1, 16, 16, generator=g), image_titles=["#3 benign · pred benign"])
    maps = panels(fig)
    assert len(maps) == 6 and len(colour_bars(fig)) == 1
    assert len(rows_of(maps)) == 2               # 4 + 2 panels
    assert "Integrated Gradients (c=1)" in maps[2].get_title().replace("\n", " ")
    assert all(im.get_clim() == (-1.0, 1.0) for ax in maps[1:] for im in ax.images)
    assert_legible(fig)


def test_shared_scale_says_which_map_it_hides() -> None:
    strong = torch.zeros(1, 8, 8)
    strong[0, 2, 2] = 4.0
    faint = torch.zeros(1, 8, 8)
    faint[0, 5, 5] = 0.1                                                           # 40× smaller
    exps = [explanation(strong, "gradcam"), explanation(faint, "saliency")]
    image = torch.rand(1, 1, 8, 8)
    shared = plot_attributions(exps, image, scale="shared")
    titles = [ax.get_title().replace("\n", " ") for ax in panels(shared)]
    assert "×40 smaller: invisible on the shared scale" in titles[2]
    assert "smaller" not in titles[1]
    assert "shared scale (4)" in colour_bars(shared)[0].get_ylabel().replace("\n", " ")
    per_map = plot_attributions(exps, image, scale="per-map")
    assert not any("smaller" in ax.get_title() for ax in panels(per_map))
    zero = plot_attributions([explanation(torch.zeros(1, 8, 8))], image)
    assert "zero everywhere" in panels(zero)[1].get_title()
    assert_legible(shared)


def test_attribution_grid_of_several_images_titles_the_top_row_only() -> None:
    g = torch.Generator().manual_seed(2)
    names = ["saliency", "integrated_gradients", "smoothgrad", "gradcam", "gradcam++", "scorecam"]
    exps = {n: explanation(torch.randn(4, 16, 16, generator=g), n) for n in names}
    masks = torch.zeros(4, 1, 16, 16, dtype=torch.bool)
    masks[:, :, 5:9, 5:9] = True
    fig = plot_attributions(exps, torch.rand(4, 1, 16, 16, generator=g), masks, image_titles=["benign"] * 4)
    axes = panels(fig)
    assert len(axes) == 4 * 7 and len(colour_bars(fig)) == 1
    assert [ax.get_title() for ax in axes[7:14]] == ["benign"] + [""] * 6
    assert_legible(fig)


def test_attribution_input_errors() -> None:
    e = explanation(torch.rand(2, 8, 8))
    with pytest.raises(InputShapeError, match="2 map"):
        plot_attributions([e], torch.rand(3, 1, 8, 8))
    with pytest.raises(UnknownNameError):
        plot_attributions([e], torch.rand(2, 1, 8, 8), scale="log")
    with pytest.raises(ConfigError):
        plot_attributions([e], torch.rand(2, 1, 8, 8), width=14)


def test_deletion_insertion_curves_draw_on_a_given_figure() -> None:
    curve = torch.linspace(1, 0, 9)[None]
    result = SimpleNamespace(deletion_curve=curve, insertion_curve=curve.flip(1), deletion_auc=torch.tensor([0.5]),
                             insertion_auc=torch.tensor([0.5]), overall=torch.tensor([0.0]))
    fig = agg_figure(6.0, 2.4)
    out = plot_deletion_insertion(result, "Grad-CAM", 1, fig=fig)
    assert out is fig and out.get_figwidth() == 6.0
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["deletion (AUC 0.50)", "insertion (AUC 0.50)"]
    assert_legible(fig)


# -- SUNY ------------------------------------------------------------------------------------------
def test_plot_suny_has_a_colour_bar_per_map_and_the_legend() -> None:
    n = torch.zeros(1, 16, 16)
    n[0, :8] = 0.5
    s = torch.zeros(1, 16, 16)
    s[0, :, :8] = 2.0
    result = SimpleNamespace(necessity=n, sufficiency=s, p_full=torch.tensor([0.83]))
    fig = plot_suny(torch.rand(1, 1, 16, 16), result, title="malignant #4")
    bars = colour_bars(fig)
    assert len(bars) == 2
    assert [round(b.get_ylim()[1], 3) for b in bars] == [0.5, 2.0]                 # each map's own range
    titles = [ax.get_title() for ax in fig.axes]
    assert {"malignant #4", "necessity N", "sufficiency S", "N (blue) + S (red)"} <= set(titles)
    assert plot_suny(torch.rand(1, 16, 16), result).axes[0].get_title() == "image · p = 0.83"
    assert fig.get_figwidth() <= 9.5
    assert_legible(fig)


# -- confusion matrix ------------------------------------------------------------------------------
def test_confusion_matrix_counts_and_errors() -> None:
    cm = confusion_matrix(torch.tensor([0, 0, 1, 1, 1, 2]), torch.tensor([0, 1, 1, 1, 0, 2]))
    assert cm.tolist() == [[1, 1, 0], [1, 2, 0], [0, 0, 1]]
    assert confusion_matrix(torch.tensor([0]), torch.tensor([0]), 3).shape == (3, 3)
    with pytest.raises(InputShapeError):
        confusion_matrix(torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ConfigError):
        confusion_matrix(torch.tensor([0, 4]), torch.tensor([0, 1]), num_classes=2)


def test_plot_confusion_writes_counts_shares_and_recall() -> None:
    fig = plot_confusion(torch.tensor([0, 0, 1, 1, 1]), torch.tensor([0, 1, 1, 1, 0]), ["benign", "malignant"])
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == sorted(["1\n50 %", "1\n50 %", "1\n33 %", "2\n67 %"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["benign\nrecall 0.50", "malignant\nrecall 0.67"]
    assert ax.get_title() == "accuracy 0.600 on 5 images" and len(colour_bars(fig)) == 1
    assert_legible(fig)


# -- leaderboard and experiment tables -------------------------------------------------------------
def leaderboard_table() -> pd.DataFrame:
    rows = []
    for k, name in enumerate(["saliency", "integrated_gradients", "gradcam", "gradcam++", "scorecam", "rise",
                              "my_method"]):
        row = {"method": name}
        for metric in ("deletion", "insertion", "overall", "pointing", "relevance_mass", "sanity_spearman"):
            row[metric], row[f"{metric}_std"] = 0.1 * k, 0.01
        row["energy_pointing"] = row["energy_pointing_std"] = float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def test_plot_leaderboard_one_panel_per_metric_best_on_top() -> None:
    fig = plot_leaderboard(leaderboard_table())
    axes = fig.axes
    assert len(axes) == 6 and len(rows_of(axes)) == 2
    assert axes[0].get_title() == "deletion\n(lower is better)" and axes[2].get_title() == "overall\n(higher is better)"
    labels = [t.get_text() for t in axes[0].get_yticklabels()]
    assert labels[-1] == "my_method" and labels[0] == "Saliency"                  # barh: best Overall on top
    assert all(t.get_text() == "" for t in axes[1].get_yticklabels())
    assert fig.get_figwidth() <= 9.5
    assert_legible(fig)
    with pytest.raises(UnknownNameError):
        plot_leaderboard(leaderboard_table(), order_by="nope")


def experiment_rows(accs: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = []
    for (world, setting), values in accs.items():
        for seed, acc in enumerate(values):
            est = "none" if setting == "baseline" else "max"
            rows.append(dict(world=world, setting=setting, estimator=est, p=None, direction="none" if est == "none"
                             else "causes", random=False, seed=seed, test_acc=acc, train_seconds=1.0, params=10))
    return pd.DataFrame(rows, columns=COLUMNS)


def test_plot_experiment_table_limits_follow_the_data() -> None:
    # the smoke bar chart of chapter 04 fixed ylim(0.4, 1.0) and hid a bar at 0.35
    table = summarize(experiment_rows({("cooccurrence", "baseline"): [0.35, 0.45, 0.40],
                                       ("cooccurrence", "mulcat"): [0.97, 0.99, 0.98],
                                       ("digits", "baseline"): [0.90, 0.92, 0.94],
                                       ("digits", "mulcat"): [0.80, 0.85, 0.90]}))
    fig = plot_experiment_table(table)
    ax = fig.axes[0]
    lo, hi = ax.get_ylim()
    tops = table["mean"] + table["std"]
    bottoms = table["mean"] - table["std"]
    assert lo <= float(bottoms.min()) and hi >= float(tops.max())
    assert lo >= 0.0 and "3 seeds" in ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["baseline", "mulcat\nmax"]
    assert len([ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]) == 2     # one baseline per world
    assert_legible(fig)


def test_experiment_table_with_one_seed_says_so() -> None:
    table = summarize(experiment_rows({("cooccurrence", "baseline"): [0.5], ("cooccurrence", "mulcat"): [0.72]}))
    assert table["test_acc"].tolist() == ["0.500 ± n/a (1 seed)", "0.720 ± n/a (1 seed)"]
    assert table["std"].isna().all()
    fig = plot_experiment_table(table)
    assert "one seed" in fig.axes[0].get_title()
    assert_legible(fig)
    with pytest.raises(ConfigError):
        plot_experiment_table(pd.DataFrame({"mean": [1.0]}))


# -- display ---------------------------------------------------------------------------------------
def test_notebook_figure_renders_a_sharp_png_at_its_own_size() -> None:
    fig = plot_images(torch.rand(2, 1, 8, 8), ["a", "b"], width=4.0)
    data, meta = fig._repr_png_()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = struct.unpack(">II", data[16:24])
    assert meta == {"width": w // 2, "height": h // 2}
    assert math.isclose(meta["width"], 400, rel_tol=0.1)                         # 4 in at 100 dpi, tight bbox


def test_notebook_figure_stays_sharp_after_pyplot_registered_its_figure_printer() -> None:
    from IPython.core.formatters import DisplayFormatter
    from matplotlib.figure import Figure

    from halign_widgets.widgets._plotting import register_sharp_png

    formatter = DisplayFormatter()
    png = formatter.formatters["image/png"]
    png.for_type(Figure, lambda fig: b"1x")               # what the inline backend does for every Figure
    fig = plot_images(torch.rand(2, 1, 8, 8), ["a", "b"], width=4.0)
    assert formatter.format(fig)[0]["image/png"] == b"1x"   # without the lab's printer: the soft 1x picture
    assert register_sharp_png(png) is True
    data, meta = formatter.format(fig)
    w, _ = struct.unpack(">II", data["image/png"][16:24])
    assert meta["image/png"]["width"] == w // 2 and math.isclose(w / 2, 400, rel_tol=0.1)
    assert register_sharp_png() is False                   # no IPython shell running in the test


# -- scaffold and the apps' figures ----------------------------------------------------------------
@pytest.mark.parametrize("width", [9.5, 6.0])
def test_scaffold_handout_fits_a_column(width: float) -> None:
    fig = scaffold_figure(width=width)
    assert fig.get_figwidth() == width
    assert min(t.get_fontsize() for t in fig.axes[0].texts) >= 9
    assert_legible(fig)


def test_scaffold_app_handout_is_legible() -> None:
    app = ScaffoldMap(key="plots-scaffold")
    try:
        assert_legible(app.handout.figure)
    finally:
        app.close()


@pytest.fixture(scope="module")
def small_world() -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    images = 0.2 + 0.1 * torch.rand(4, 1, 32, 32, generator=g)
    images[:, :, 6:16, 6:16] = 0.9
    masks = torch.zeros(4, 1, 32, 32, dtype=torch.bool)
    masks[:, :, 6:16, 6:16] = True
    return ImageDataset(images=images, labels=torch.tensor([0, 1, 0, 1]), classes=["benign", "malignant"],
                        masks=masks)


def test_attribution_explorer_figures_are_legible_with_five_methods(small_world: ImageDataset) -> None:
    torch.manual_seed(0)
    app = AttributionExplorer(SmallCNN(width=4, depth=3), small_world, key="plots-attr",
                              methods=["gradcam", "saliency", "input_x_gradient", "gradcam++", "layercam"], steps=4)
    try:
        assert app.last_error is None
        assert len(panels(app.maps_view.figure)) == 6 and len(colour_bars(app.maps_view.figure)) == 1
        assert_legible(app.maps_view.figure)
        assert_legible(app.curves_view.figure)
        app.scale.value = "shared"
        assert "shared scale" in colour_bars(app.maps_view.figure)[0].get_ylabel().replace("\n", " ")
        assert_legible(app.maps_view.figure)
    finally:
        app.close()


def test_suny_explorer_maps_are_legible(small_world: ImageDataset) -> None:
    torch.manual_seed(0)
    app = SunyExplorer(SmallCNN(width=4, depth=3).eval(), small_world, key="plots-suny")
    try:
        app.select(index=1, causes="patches", pool=4, grid=2)
        assert app.last_error is None
        fig = app.maps_view.figure
        assert len(colour_bars(fig)) == 2 and fig.get_figwidth() <= 9.5
        assert_legible(fig)
    finally:
        app.close()
