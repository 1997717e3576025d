"""Text size and title overlap measured on the page a student sees (issue 13, "Legible figures").

The Python side (:func:`~halign_widgets.widgets.legibility.legibility_problems`, tests/test_plots.py and
tests/test_app_figures.py) checks a figure in its own units: fonts of at least 8 pt, no overlapping
titles. What reaches the eye also depends on how the page shows the PNG: a notebook column narrower
than the figure shrinks it, an image drawn at 72 dpi and stretched blurs it, a wrong aspect squashes it.
This test measures that in the lab started the way ``make lab`` starts it (the session's
``lab_server``): a small notebook draws, with the library's own calls,

- a static figure shown as a cell's last value (``plot_attributions`` of one image and five maps:
  two rows of crowded titles, a :class:`~halign_widgets.widgets.plots.NotebookFigure`),
- a static figure shown by ``plt.show()`` (the inline backend; ``plot_leaderboard``, a column-wide figure),
- an app (an ``AttributionExplorer`` with five methods: its map strip and its curves),
- a control figure built to be illegible (14 in wide, so the column shrinks its 8 pt text, and two
  titles drawn on top of each other), which the measurement must flag — so a pass means something.

The kernel reports every drawn text's box as fractions of the PNG it shows (matplotlib's text
extents, and for the static figures the ``bbox_inches="tight"`` crop that ``savefig`` uses). In the
page, each image's on-screen rectangle maps those fractions to screen pixels. The image's natural
size must match the size the kernel computed (else the mapping would be wrong); a ``NotebookFigure``
shown as a cell's value must come at twice its dpi, also after pyplot's inline backend registered
its own 1× printer for figures (the lab registers a sharper one for its figures); then every text's
font size on screen (its em, in CSS pixels at zoom 100 %) must be at least :data:`MIN_SCREEN_PX` and
no two titles of a figure may overlap on screen. A screenshot of the app goes to
``build/screenshots/legibility.png`` (``docs/images/`` with ``HALIGN_UPDATE_DOCS=1``), like the
other browser tests' pictures.
"""

from __future__ import annotations

import json
import time
from itertools import combinations
from typing import Any

import nbformat
import pytest

pytestmark = pytest.mark.browser

NOTEBOOK = "_legibility_check.ipynb"
#: Smallest font on screen, in CSS pixels. 8 pt (the Python check's minimum) is 10.7 px at 96 px per inch;
#: 9 px leaves room for a column that shrinks a figure by at most about 15 %. DESIGN.md states no pixel figure.
MIN_SCREEN_PX = 9.0
MARKER = "LEGIBILITY "

_SETUP = '''\
import json
import matplotlib.pyplot as plt
import pandas as pd
import torch
from matplotlib.transforms import Bbox
from halign_widgets.data import ImageDataset
from halign_widgets.explain import Explanation
from halign_widgets.models import SmallCNN
from halign_widgets.widgets import AttributionExplorer
from halign_widgets.widgets.legibility import _visible_texts
from halign_widgets.widgets.plots import NotebookFigure, plot_attributions, plot_leaderboard


def report(name, fig, *, tight, scale, selector):
    """Print every drawn text of fig as fractions of the PNG the page shows (tight: savefig's crop)."""
    fig.draw_without_rendering()          # lays the figure out (constrained layout) as a render would
    renderer = fig._get_renderer()
    dpi = fig.dpi
    if tight:
        page = fig.get_tightbbox(renderer).padded(plt.rcParams["savefig.pad_inches"])
    else:
        page = Bbox.from_bounds(0, 0, *fig.get_size_inches())
    titles = {id(t) for ax in fig.axes for t in (ax.title, ax._left_title, ax._right_title)}
    if fig._suptitle is not None:
        titles.add(id(fig._suptitle))
    texts = []
    for t in _visible_texts(fig):
        e = t.get_window_extent(renderer)
        texts.append({"text": " ".join(t.get_text().split())[:40], "pt": float(t.get_fontsize()),
                      "rotation": float(t.get_rotation()), "title": id(t) in titles,
                      "x0": (e.x0 / dpi - page.x0) / page.width, "x1": (e.x1 / dpi - page.x0) / page.width,
                      "y0": (page.y1 - e.y1 / dpi) / page.height, "y1": (page.y1 - e.y0 / dpi) / page.height})
    print("LEGIBILITY " + json.dumps({"name": name, "selector": selector, "width_in": page.width,
                                       "height_in": page.height, "dpis": [dpi * scale, dpi], "texts": texts}))
'''

_STATIC = '''\
g = torch.Generator().manual_seed(0)
names = ["saliency", "integrated_gradients", "gradcam", "gradcam++", "scorecam"]
maps = {n: Explanation(maps=torch.randn(1, 16, 16, generator=g), method=n, target=torch.tensor([1])) for n in names}
fig = plot_attributions(maps, torch.rand(1, 1, 16, 16, generator=g), image_titles=["#3 malignant · pred benign"])
report("attributions (cell value)", fig, tight=True, scale=2, selector=".jp-RenderedImage img")
fig
'''

_PYPLOT = '''\
rows = []
for k, name in enumerate(["saliency", "integrated_gradients", "gradcam", "gradcam++", "scorecam", "rise"]):
    row = {"method": name}
    for metric in ("deletion", "insertion", "overall", "pointing", "relevance_mass", "sanity_spearman"):
        row[metric], row[metric + "_std"] = 0.1 * k, 0.02
    rows.append(row)
fig = plt.figure()
plot_leaderboard(pd.DataFrame(rows), fig=fig)
report("leaderboard (plt.show)", fig, tight=True, scale=1, selector=".jp-RenderedImage img")
plt.show()
'''

_APP = '''\
g = torch.Generator().manual_seed(0)
images = 0.2 + 0.1 * torch.rand(4, 1, 32, 32, generator=g)
images[:, :, 6:16, 6:16] = 0.9
world = ImageDataset(images=images, labels=torch.tensor([0, 1, 0, 1]), classes=["benign", "malignant"])
torch.manual_seed(0)
app = AttributionExplorer(SmallCNN(width=4, depth=3).eval(), world, key="legibility",
                          methods=["gradcam", "saliency", "input_x_gradient", "gradcam++", "layercam"], steps=4)
assert app.last_error is None, app.last_error
for i, view in enumerate(app._figures):
    view.image.add_class(f"halign-legibility-{i}")
    report(f"app figure {i}", view.figure, tight=False, scale=view.scale, selector=f".halign-legibility-{i}")
app
'''

_CONTROL = '''\
bad = NotebookFigure(figsize=(14, 2.2), dpi=100)
ax = bad.subplots()
ax.set_title("the centre title", fontsize=8)
ax.set_title("a left title " + 12 * "that runs on ", fontsize=8, loc="left")   # past the middle of the axes
ax.plot([0, 1], [0, 1])
ax.tick_params(labelsize=8)
report("control", bad, tight=True, scale=2, selector=".jp-RenderedImage img")
bad
'''

# For every cell with a LEGIBILITY record: the record and the on-screen rectangle and natural size of each
# image it names (scrolled into view first, so a deferred cell is laid out).
_MEASURE_JS = """
(marker) => {
  const out = [];
  for (const cell of document.querySelectorAll('.jp-CodeCell')) {
    const lines = [...cell.querySelectorAll('.jp-OutputArea-output')].flatMap(o => o.innerText.split('\\n'));
    for (const line of lines.filter(l => l.startsWith(marker))) {
      const record = JSON.parse(line.slice(marker.length));
      const images = [...cell.querySelectorAll(record.selector)]
        .map(el => el.tagName === 'IMG' ? el : el.querySelector('img')).filter(Boolean);
      record.images = images.map(img => {
        img.scrollIntoView({block: 'center'});
        const r = img.getBoundingClientRect();
        return {left: r.left, top: r.top, width: r.width, height: r.height,
                naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight, complete: img.complete};
      });
      out.push(record);
    }
  }
  return out;
}
"""


def _notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (_SETUP, _STATIC, _PYPLOT, _APP, _CONTROL)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return nb


def _screen_boxes(record: dict[str, Any], image: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's texts in screen pixels, each with its font size on screen (``px``)."""
    sx, sy = image["width"] / record["width_in"], image["height"] / record["height_in"]  # CSS px per inch
    out = []
    for t in record["texts"]:
        # the font's em runs across the baseline: vertical for horizontal text, horizontal for rotated text
        per_inch = sy if abs(t["rotation"]) % 180 < 45 else sx
        out.append({**t, "px": t["pt"] / 72.0 * per_inch,
                    "box": (image["left"] + t["x0"] * image["width"], image["top"] + t["y0"] * image["height"],
                            image["left"] + t["x1"] * image["width"], image["top"] + t["y1"] * image["height"])})
    return out


def _overlaps(a: tuple[float, ...], b: tuple[float, ...], tolerance: float = 1.0) -> bool:
    return min(a[2], b[2]) - max(a[0], b[0]) > tolerance and min(a[3], b[3]) - max(a[1], b[1]) > tolerance


def _problems(record: dict[str, Any], image: dict[str, Any]) -> list[str]:
    """What the screen shows wrong in one figure: text under MIN_SCREEN_PX, titles on top of each other."""
    texts = _screen_boxes(record, image)
    small = [f"{t['text']!r} is {t['px']:.1f} px on screen" for t in texts if t["px"] < MIN_SCREEN_PX]
    titles = [t for t in texts if t["title"]]
    crossed = [f"titles {a['text']!r} and {b['text']!r} overlap on screen" for a, b in combinations(titles, 2)
               if _overlaps(a["box"], b["box"])]
    return small + crossed


def test_figures_and_app_images_keep_their_text_legible_on_screen(lab: Any) -> None:
    started = time.monotonic()
    nbformat.write(_notebook(), lab.server.root_dir / NOTEBOOK)
    lab.open_notebook(NOTEBOOK)
    state = lab.run_all(timeout=120)
    assert state["pending"] == 0 and not state["errors"], state
    lab.page.wait_for_function(   # static PNGs and the app's widget images have arrived and decoded
        "() => [...document.querySelectorAll('.jp-RenderedImage img, [class*=halign-legibility-]')]"
        ".filter(i => i.complete && i.naturalWidth > 0).length >= 5", timeout=30_000)
    records = lab.page.evaluate(_MEASURE_JS, MARKER)
    names = [r["name"] for r in records]
    assert names == ["attributions (cell value)", "leaderboard (plt.show)", "app figure 0", "app figure 1",
                     "control"], names

    measured: dict[str, dict[str, Any]] = {}
    for record in records:
        assert len(record["images"]) == 1, f"{record['name']}: {record['images']}"
        image = record["images"][0]
        # the PNG is the one the kernel measured: its pixel size is the (cropped) figure at the PNG's dpi —
        # twice the figure's for the lab's figures, the figure's own for what pyplot shows
        fits = [d for d in record["dpis"] if abs(image["naturalWidth"] - record["width_in"] * d) <= 3
                and abs(image["naturalHeight"] - record["height_in"] * d) <= 3]
        assert fits, f"{record['name']}: PNG {image['naturalWidth']}×{image['naturalHeight']}, the kernel's figure " \
                     f"{record['width_in']:.2f}×{record['height_in']:.2f} in at {record['dpis']} dpi: the text " \
                     "boxes would not map onto it"
        if record["name"] in ("attributions (cell value)", "control"):   # NotebookFigures shown as cell values
            assert fits[0] == record["dpis"][0], f"{record['name']} came at {fits[0]} dpi, not sharp (2×)"
        texts = _screen_boxes(record, image)
        measured[record["name"]] = {
            "shown": f"{image['width']:.0f}×{image['height']:.0f} px of {image['naturalWidth']}×"
                     f"{image['naturalHeight']} at {fits[0]:g} dpi",
            "smallest_px": round(min(t["px"] for t in texts), 2),
            "titles": sum(t["title"] for t in texts), "problems": _problems(record, image)}

    # the control shows that the measurement sees both problems on this page
    control = measured.pop("control")
    assert any("px on screen" in p for p in control["problems"]), control
    assert any("overlap on screen" in p for p in control["problems"]), control
    crowded = [m["titles"] for name, m in measured.items() if name != "app figure 1"]   # (1: the curves' title)
    assert min(crowded) >= 5, f"a crowded figure has too few titles to compare: {measured}"
    bad = {name: m for name, m in measured.items() if m["problems"]}
    assert not bad, json.dumps(bad, indent=1)

    lab.page.set_viewport_size({"width": 1280, "height": 1500})   # the whole app fits on screen
    app = lab.widget_area("halign-AttributionExplorer").first
    app.scroll_into_view_if_needed()
    lab.page.wait_for_timeout(300)
    shot = lab.screenshot(lab.shot_path("legibility.png"), app)
    assert shot.stat().st_size > 10_000
    print(f"legibility measured in {time.monotonic() - started:.1f} s:", json.dumps(measured))
