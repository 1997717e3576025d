"""CausalityMapExplorer and ScaffoldMap driven from Python (no browser)."""

from __future__ import annotations

import pytest
import torch

from halign_widgets.causality import CausalCNN, causality_map_of, iter_nodes
from halign_widgets.errors import UnknownNameError
from halign_widgets.widgets import CausalityMapExplorer, ScaffoldMap
from halign_widgets.widgets.legibility import legibility_problems


@pytest.fixture(scope="module")
def model_and_images() -> tuple[CausalCNN, torch.Tensor]:
    torch.manual_seed(0)
    return CausalCNN(width=2, depth=2, setting="mulcat", image_size=16), torch.rand(4, 1, 16, 16)


def test_explorer_select_updates_state_and_figure(model_and_images) -> None:
    model, images = model_and_images
    app = CausalityMapExplorer(model, images, key="test-cexp")
    renders = app.view.renders
    assert app.result["k"] == 4 and app.result["map"].shape == (4, 4) and app.last_error is None
    app.select(index=2, estimator="lehmer", p=3.0, direction="effects", channel=1, setting="mulcatbool")
    assert app.view.renders == renders + 1                       # one recompute for many controls
    r = app.result
    expected = causality_map_of(model, images[2:3], "lehmer", 3.0, "effects", "mulcatbool")
    assert torch.allclose(r["map"], expected["map"][0]) and torch.equal(r["factors"], expected["factors"][0])
    assert set(r["factors"].unique().tolist()) <= {0.0, 1.0}
    assert r["total_order"] and torch.equal(torch.tril(r["sorted_adjacency"]), torch.zeros(4, 4))
    assert "Lehmer" in app.info.value and r["channel"] == 1
    assert len(app.view.figure.axes) >= 6
    assert all(r["adjacency"][i, j] == 1 for i, j in app.graph_edges)
    app.select(p=50.0)                                          # beyond the slider: range widens, stays finite
    assert app.p.value == 50.0 and torch.isfinite(app.result["map"]).all()
    app.p.value = 0.0                                            # a control change recomputes on its own
    assert app.result["p"] == 0.0
    app.close()


def test_explorer_errors_inline_and_stays_usable(model_and_images) -> None:
    model, images = model_and_images
    app = CausalityMapExplorer(model, images, key="test-cexp")
    app.select(estimator="median")
    assert isinstance(app.last_error, UnknownNameError) and "lehmer" in app.error_box.value
    app.select(index=99)
    assert app.last_error is not None
    app.select(index=1, estimator="max")
    assert app.last_error is None and app.result["stat_name"].startswith("mass")
    app.close()


def test_explorer_replaces_app_with_same_key(model_and_images) -> None:
    model, images = model_and_images
    first = CausalityMapExplorer(model, images, key="test-cexp-key")
    second = CausalityMapExplorer(model, images, key="test-cexp-key")
    assert first.closed and not second.closed
    second.close()


def test_scaffold_map_navigation_and_figure() -> None:
    app = ScaffoldMap(key="test-scaffold")
    app.open("causality-for-xai/concepts")
    assert app.current == "causality-for-xai/concepts"
    assert app._accordions[""].selected_index == 2 and app._accordions["causality-for-xai"].selected_index == 0
    assert "02_explainability_suny.ipynb" in app.detail.value and "halign_widgets.explain.suny" in app.detail.value
    app.open("causality-for-xai/causal-model")
    assert "05_causality_crocodile" in app.detail.value and "halign_widgets.causality" in app.detail.value
    app._buttons["critiques/optimal"].click()
    assert app.current == "critiques/optimal"
    app.open("no/such/path")
    assert isinstance(app.last_error, UnknownNameError) and app.current == "critiques/optimal"
    fig = app.render()
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    leaves = [n for _, n in iter_nodes() if n.is_leaf]
    assert all(n.title in texts for n in leaves) and "SunyExplorer" in texts
    assert app.handout.renders == 2                  # once at start, once on render()
    app.close()


def test_explorer_summary_line_matches_its_own_numbers(model_and_images) -> None:
    model, images = model_and_images
    app = CausalityMapExplorer(model, images, key="test-cexp-summary")
    try:
        for estimator, p in (("max", 1.0), ("lehmer", 2.0), ("lehmer", -12.0)):
            app.select(estimator=estimator, p=p)
            r, text = app.result, app.info.value
            assert r["edges"] == int(r["adjacency"].sum())
            assert (f"{r['edges']} edge(s)" in text) if r["edges"] else ("no edge" in text)
            assert r["distinct"] == int(torch.unique(r["statistic"]).numel())
            if r["distinct"] == 1:
                assert r["edges"] == 0 and "no edge" in text and "total order" not in text
            elif r["distinct"] < r["k"]:
                assert "with ties" in text and "total order" not in text
            else:
                assert "total order" in text
        app.select(estimator="lehmer", p=-12.0)        # every Lehmer mean tends to the clamp: all tie
        assert app.result["distinct"] == 1 and "all 4 channels tie" in app.info.value
    finally:
        app.close()


def test_explorer_disables_p_under_max_and_reports_a_clamped_index(model_and_images) -> None:
    model, images = model_and_images
    app = CausalityMapExplorer(model, images, key="test-cexp-controls")
    try:
        app.select(estimator="max")
        assert app.p.disabled
        app.select(estimator="lehmer")
        assert not app.p.disabled
        app.index.value = 9999                           # as if typed into the box
        assert app.index.value == 3 and "image 9999 is outside 0–3: showing image 3" in app.status.value
        assert app.last_error is None and torch.equal(app.result["features"], app._feats(3)[0])
    finally:
        app.close()


def test_scaffold_card_follows_the_branch_the_user_opens() -> None:
    app = ScaffoldMap(key="test-scaffold-follow", show_figure=False)
    try:
        from halign_widgets.causality import find_node

        app._accordions[""].selected_index = 1              # the user opens the second branch
        assert app.current == "xai-for-causality"
        assert find_node("xai-for-causality").title in app.detail.value
        app._accordions["causality-for-xai"].selected_index = 0     # a sub-branch of another branch
        assert app.current == "causality-for-xai/concepts"
        app._accordions[""].selected_index = None           # closing the top branch: back to the root card
        assert app.current == "" and find_node("").title in app.detail.value
    finally:
        app.close()


def test_channel_overlay_has_a_colour_bar_of_the_feature_map(model_and_images) -> None:
    """Issue 13, Deliver 4: every map has a colour bar — the channel overlay too, on the channel's own range."""
    model, images = model_and_images
    app = CausalityMapExplorer(model, images, key="test-cexp-overlay")
    try:
        for channel in (0, 2):
            app.select(channel=channel)
            overlay_ax = app.view.figure.axes[0]
            overlay = overlay_ax.images[-1]          # drawn over the grey image
            assert overlay.colorbar is not None, "the channel overlay has no colour bar"
            bar = overlay.colorbar
            fmap = app.result["features"][channel]
            assert bar.ax in app.view.figure.axes and overlay_ax.get_title().endswith(f"channel {channel}: activation")
            assert bar.vmin == pytest.approx(float(fmap.min())) and bar.vmax == pytest.approx(float(fmap.max()))
        # the causality map keeps its own bar: two bars in all
        assert sum(im.colorbar is not None for ax in app.view.figure.axes for im in ax.images) == 2
        assert not legibility_problems(app.view.figure)
    finally:
        app.close()
