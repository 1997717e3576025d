"""Every app's summary / status line states facts that match its own data (issue 13, Deliver 3, 2 and 5).

Each test builds an app on tiny data (the builders' data of tests/test_app_lifecycle.py), triggers
its main action, reads the numbers and claims back out of the line the student sees, and checks
them against values computed directly from the library on the same inputs — never against the
app's own attributes alone. Also here: the clamp messages of out-of-range boxes, ActMax's step
counter and time left during a run, and the width of chapter 01's shortcut-detective table.

CrocodileLab's summary is checked the same way in tests/test_crocodile_lab.py::test_run_trains_and_fills_every_panel,
on the run that test pays for anyway (a second training here would cost 3–5 s).
"""

from __future__ import annotations

import html
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from halign_widgets.biovision import EDGES, ablate, get_area
from halign_widgets.causality import features_of
from halign_widgets.causality.scaffold import find_node
from halign_widgets.explain.actmax import activation_maximization
from halign_widgets.explain.suny import intervene, suny
from halign_widgets.models import SmallCNN
from halign_widgets.training import evaluate
from halign_widgets.widgets import (
    ActivationMaximizationStudio,
    AttributionExplorer,
    CausalityMapExplorer,
    ConnectomeExplorer,
    DatasetBrowser,
    ProtoPNetDashboard,
    PrototypeBrowser,
    ScaffoldMap,
    SunyExplorer,
    TrainingDashboard,
    actmax_studio,
)
from test_app_lifecycle import COCORECO, MODEL, PROTO, PWORLD, WORLD, WORLD32

NUMBER = r"[-+]?\d+(?:\.\d+)?"


def text(widget_or_html) -> str:
    """The plain text a student reads in an HTML widget (tags dropped, entities decoded)."""
    value = getattr(widget_or_html, "value", widget_or_html)
    return html.unescape(re.sub(r"<[^>]+>", "", value))


def match(pattern: str, line: str) -> re.Match[str]:
    found = re.search(pattern, line)
    assert found, f"{pattern!r} not in {line!r}"
    return found


def softmax(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.softmax(model.eval()(x).float(), 1)[0]


def test_attribution_explorer_counts_its_maps_and_names_the_prediction() -> None:
    app = AttributionExplorer(MODEL, WORLD, key="sum-attr", methods=["gradcam", "saliency"], steps=2)
    try:
        app.select(index=3)
        status = text(app.status)
        assert int(match(r"(\d+) map\(s\)", status).group(1)) == 2 == len(app.explanations)
        timing = text(app.timing)
        for e in app.explanations.values():
            assert f"{e.label} {e.seconds * 1000:.0f} ms" in timing
        probs = softmax(MODEL, WORLD.images[3][None])
        pred = int(probs.argmax())
        title = f"#3 {WORLD.classes[int(WORLD.labels[3])]} · pred {WORLD.classes[pred]} ({float(probs[pred]):.2f})"
        titles = [t.get_text() for ax in app.maps_view.figure.axes for t in (ax.title, *ax.texts)]
        assert title in titles, titles
    finally:
        app.close()


def test_suny_explorer_reports_the_models_probability_and_the_intervention() -> None:
    app = SunyExplorer(MODEL, WORLD, key="sum-suny")
    try:
        app.select(index=2, causes="patches", pool=4, grid=2)
        status = text(app.status)
        x = WORLD.images[2][None]
        probs = softmax(MODEL, x)
        found = match(rf"p\(class (\d+)\) = ({NUMBER})", status)
        assert int(found.group(1)) == int(probs.argmax())
        assert float(found.group(2)) == pytest.approx(float(probs.max()), abs=5e-4)
        direct = suny(MODEL, x, causes="patches", pool=4, grid=2)
        assert int(match(r"\((\d+) forwards", status).group(1)) == direct.forwards
        assert ("exact" in status) == bool(direct.exact)
        cause = app.cause.value
        after = app.intervene(None, "remove")
        line = text(app.prob)
        found = match(rf"p\(class (\d+)\) = ({NUMBER}) before → ({NUMBER}) after removing patch (\d+)", line)
        expected = intervene(MODEL, x, direct, cause, "remove")
        assert int(found.group(4)) == cause
        assert float(found.group(2)) == pytest.approx(float(probs.max()), abs=5e-4)
        assert float(found.group(3)) == pytest.approx(expected.after, abs=5e-4) == pytest.approx(after, abs=5e-4)
    finally:
        app.close()


def test_causality_explorer_info_line_matches_the_features() -> None:
    app = CausalityMapExplorer(MODEL, WORLD, key="sum-causality")
    try:
        app.select(index=5, estimator="max")
        info = text(app.info)
        feats = features_of(MODEL, WORLD.images[5:6])
        k, h, w = feats.shape[1:]
        found = match(r"(\d+) channels on a (\d+)×(\d+) grid", info)
        assert tuple(int(g) for g in found.groups()) == (k, h, w)
        assert "estimator max" in info and "p=" not in info
        assert text(app.status) == f"image 5, label {int(WORLD.labels[5])}"
        stats = app.result["statistic"]
        distinct = len(torch.unique(stats))
        if distinct == k:
            assert f"a total order of all {k} channels" in info
        else:
            assert "total order" not in info
        for channel in (0, 1):  # the overlay's title says when a channel is constant (its colour bar then says little)
            app.select(channel=channel)
            fmap = feats[0, channel]
            title = app.view.figure.axes[0].get_title()
            assert title.startswith(f"image 5, channel {channel}: activation")
            assert ("constant" in title) == bool(fmap.min() == fmap.max())
    finally:
        app.close()


def test_scaffold_map_status_names_the_node_its_card_shows() -> None:
    app = ScaffoldMap(key="sum-scaffold", show_figure=False)
    try:
        root = find_node("")
        path = f"{root.children[0].key}/{root.children[0].children[0].key}"
        app.open(path)
        assert text(app.status) == f"showing: {path}"
        assert html.escape(find_node(path).title) in app.detail.value
        assert root.children[1].title not in app.detail.value
    finally:
        app.close()


def test_dataset_browser_counts_the_images_of_the_filter() -> None:
    app = DatasetBrowser(WORLD, n=2, key="sum-browser")
    try:
        app.class_picker.value = WORLD.classes[1]
        app.split_picker.value = "train"
        expected = [i for i in WORLD.splits["train"].tolist() if int(WORLD.labels[i]) == 1]
        assert text(app.status) == f"showing {min(2, len(expected))} of {len(expected)} image(s)"
        pages = math.ceil(len(expected) / 2)
        assert text(app.page_label) == f"page 1/{pages} · {len(expected)} image(s)"
        assert app.indices_shown == expected[:2]
    finally:
        app.close()


def test_training_dashboard_reports_the_epochs_and_the_validation_accuracy() -> None:
    dash = TrainingDashboard(lambda: SmallCNN(width=4, depth=2), WORLD, epochs=2, key="sum-dash")
    try:
        dash.run()
        status = text(dash.status)
        found = match(rf"finished: (\d+) epoch\(s\) · val acc ({NUMBER})", status)
        assert int(found.group(1)) == 2 == dash.epochs_box.value
        direct = evaluate(dash.model, WORLD.split("val"))["accuracy"]
        assert float(found.group(2)) == pytest.approx(direct, abs=5e-4)
        assert f"after {found.group(1)} epoch(s)" in dash.log.outputs[-1]["text"]
    finally:
        dash.close()


def test_protopnet_dashboard_reports_the_epochs_it_trained() -> None:
    from halign_widgets.prototypes import ProtoPNet

    dash = ProtoPNetDashboard(lambda: ProtoPNet(1, 2, 1, 4, width=4, depth=2), WORLD, key="sum-proto-dash")
    try:
        dash.epochs_box.value = 1
        dash.run()
        status = text(dash.status)
        found = match(rf"finished: (\d+) epoch\(s\) · val acc ({NUMBER})", status)
        assert int(found.group(1)) == len(dash.history) == dash.current_schedule().total_epochs
        direct = evaluate(dash.model, WORLD.split("val"))["accuracy"]
        assert float(found.group(2)) == pytest.approx(direct, abs=5e-4)
    finally:
        dash.close()


def test_actmax_studio_reports_the_steps_and_the_units_value() -> None:
    studio = ActivationMaximizationStudio(MODEL, key="sum-actmax", size=16)
    try:
        studio.steps.value, studio.lr.value = 10, 0.5    # a step size at which the value moves within 10 steps
        result = studio.run()
        status = text(studio.status)
        found = match(rf"done: (\d+) steps in {NUMBER} s, unit value ({NUMBER})", status)
        assert int(found.group(1)) == 10 == len(result.trajectory)
        # the same run straight from the library (deterministic for a seed): its last unit value is the line's
        direct = activation_maximization(MODEL, studio.unit(), **studio.options())
        assert studio.unit() == ("class", int(studio.klass.value)) and len(direct.trajectory) == 10
        assert float(found.group(2)) == pytest.approx(direct.trajectory[-1], abs=5e-4)
        assert abs(direct.trajectory[-1] - direct.trajectory[0]) > 5e-3   # so the line could not show the first one
    finally:
        studio.close()


def test_actmax_studio_counts_steps_and_time_left_while_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    studio = ActivationMaximizationStudio(MODEL, key="sum-actmax-steps", size=16)
    lines: list[str] = []
    monkeypatch.setattr(studio, "set_status", lines.append)
    clock = iter(range(0, 10_000))    # the studio's clock advances 1 s per reading: every step is reported
    monkeypatch.setattr(actmax_studio, "time", SimpleNamespace(perf_counter=lambda: float(next(clock))))
    try:
        studio.steps.value = 20
        studio.run()
        ticks = [match(rf"step (\d+)/(\d+) · unit value {NUMBER} · ({NUMBER}) s, about (\d+) s left", line)
                 for line in lines if line.startswith("step ")]
        assert len(ticks) >= 3, lines
        steps = [int(t.group(1)) for t in ticks]
        assert steps == sorted(steps) and steps[-1] == 20 and {int(t.group(2)) for t in ticks} == {20}
        lefts = [int(t.group(4)) for t in ticks]
        assert lefts[-1] == 0 and lefts[0] > 0 and lefts == sorted(lefts, reverse=True)
        for t in ticks:   # time left = time per step so far × steps to go
            k, elapsed = int(t.group(1)), float(t.group(3))
            assert int(t.group(4)) == round(elapsed / k * (20 - k))
        assert lines[-1].startswith("done: 20 steps")
    finally:
        studio.close()


def test_prototype_browser_names_the_models_prediction() -> None:
    app = PrototypeBrowser(PROTO, PWORLD, key="sum-protos", k=2)
    try:
        test = PWORLD.split("test")
        for index in range(len(test)):
            app.select(index=index)
            probs = softmax(PROTO, test.images[index][None])
            pred = int(probs.argmax())
            found = match(rf"image (\d+): predicted (.+) \(({NUMBER})\) in \d+ ms", text(app.status))
            assert int(found.group(1)) == index
            assert found.group(2) == app._class_name(pred) and PWORLD.classes[pred] in found.group(2)
            assert float(found.group(3)) == pytest.approx(float(probs[pred]), abs=5e-3)
    finally:
        app.close()


def test_connectome_explorer_reports_the_prediction_and_the_cuts() -> None:
    app = ConnectomeExplorer(COCORECO, WORLD32, key="sum-connectome")
    try:
        x = WORLD32.images[1:2]
        intact = softmax(COCORECO, x)
        app.select(index=1, edge="lgn->v1", cut_edge=True)
        app.select(edge="v8->it", gain=40.0)
        with ablate(COCORECO, edges=["lgn->v1"], gains={"v8->it": 40.0}):
            cut = softmax(COCORECO, x)
            n_cut = len(COCORECO.cut_edges())
        assert f"{float(cut.max()):.3f}" != f"{float(intact.max()):.3f}"   # the line can tell the two apart
        info, status = text(app.info), text(app.status)
        names = WORLD32.classes
        found = match(rf"prediction (\S+) \(p = ({NUMBER})\); intact model: (\S+) \(p = ({NUMBER})\)", info)
        assert found.group(1) == names[int(cut.argmax())]
        assert float(found.group(2)) == pytest.approx(float(cut.max()), abs=5e-4)
        assert found.group(3) == names[int(intact.argmax())]
        assert float(found.group(4)) == pytest.approx(float(intact.max()), abs=5e-4)
        assert f"true class {names[int(WORLD32.labels[1])]}" in info
        assert "cut edges: lgn->v1" in info and "gains: v8->it = 40" in info
        assert status == f"image 1 · area {get_area(app.area.value).label} · {n_cut} of {len(EDGES)} edges cut"
        assert n_cut >= 1
    finally:
        app.close()


# -- say what was done: out-of-range boxes are clamped, and the line says so ------------------------------
@pytest.mark.parametrize("name", ["AttributionExplorer", "SunyExplorer"])
def test_an_image_index_out_of_range_goes_to_the_last_image_and_says_so(name: str) -> None:
    app = (AttributionExplorer(MODEL, WORLD, key="sum-clamp-a", methods=["gradcam"], steps=2)
           if name == "AttributionExplorer" else SunyExplorer(MODEL, WORLD, key="sum-clamp-s"))
    try:
        last = len(WORLD) - 1
        app.index.value = 9999
        assert app.index.value == last
        assert text(app.status) == f"image 9999 is outside 0–{last}: showing image {last}"
        app.index.value = -5
        assert app.index.value == 0 and text(app.status) == f"image -5 is outside 0–{last}: showing image 0"
        assert app.last_error is None
    finally:
        app.close()


def test_a_channel_out_of_range_goes_to_the_layers_last_channel_and_says_so() -> None:
    studio = ActivationMaximizationStudio(MODEL, key="sum-clamp-actmax", size=16)
    try:
        studio.kind.value = "channel"
        layer = studio.layer.value
        last = int(studio.shapes[layer][0]) - 1
        studio.channel.value = 999
        assert studio.channel.value == last and studio.unit() == ("channel", layer, last)
        assert text(studio.status) == f"channel 999 is outside 0–{last}: showing channel {last}"
        other = [n for n in studio.shapes if n != layer and int(studio.shapes[n][0]) - 1 != last]
        if other:    # another layer has another number of channels: the range follows it
            studio.layer.value = other[0]
            studio.channel.value = 999
            assert studio.channel.value == int(studio.shapes[other[0]][0]) - 1
    finally:
        studio.close()


# -- the shortcut-detective table of chapter 01 fits a notebook column -------------------------------------
def _chapter_cell(repo_root: Path, needle: str) -> str:
    nb = json.loads((repo_root / "notebooks" / "01_explainability_visualization.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code" and needle in "".join(c["source"])]
    assert len(cells) == 1, f"one chapter cell builds {needle!r}"
    return cells[0]


def test_the_shortcut_table_of_chapter_01_fits_a_column(repo_root: Path) -> None:
    import pandas as pd

    from halign_widgets.explain import shortcut_detective

    cell = _chapter_cell(repo_root, "shares = detective.pivot")
    table_code = cell[cell.index("shares = detective.pivot"):]
    from halign_widgets.data import make_world

    world = make_world("masses", 24, size=16, seed=0, shortcut=0.9)
    torch.manual_seed(0)
    models = {"shortcut": SmallCNN(width=4, depth=2).eval(), "clean": SmallCNN(width=4, depth=2).eval()}
    methods = ["gradcam", "integrated_gradients", "saliency"]
    detective = shortcut_detective(models, world, {"gradcam": {}, "integrated_gradients": {"n_steps": 2},
                                                   "saliency": {}}, n_images=2, which="all")
    scope: dict = {"detective": detective}
    exec(compile(table_code, "chapter-01-shortcut-table", "exec"), scope)
    shares = scope["shares"]
    assert isinstance(shares, pd.DataFrame)
    assert list(shares.index) == sorted(methods) and shares.shape == (3, 4)   # 2 shares × 2 models
    # the 9-column table chapter 01 showed before (29de538^) was 133 characters wide on this data; this one is 98
    widest = max(len(line) for line in shares.to_string().splitlines())
    assert widest <= 100, f"the table is {widest} characters wide:\n{shares.to_string()}"
    assert max(len(str(c)) for c in shares.columns) <= 20
