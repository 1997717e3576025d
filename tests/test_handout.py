"""Offline handouts (tools/handout.py) and the git clean filter (tools/nb_tool.py clean-filter).

The browser tier opens a real handout offline (tests/browser/test_handout_offline.py); here the
pieces are checked without a browser on a notebook whose widget state comes from a live app.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import nbformat
import torch
from ipywidgets.embed import embed_data

import handout
import nb_tool
from halign_widgets.data import ImageDataset
from halign_widgets.widgets import DatasetBrowser

ROOT = Path(__file__).resolve().parents[1]


def _notebook_with_app() -> tuple[nbformat.NotebookNode, bytes]:
    g = torch.Generator().manual_seed(0)
    ds = ImageDataset(torch.rand(4, 1, 16, 16, generator=g), torch.tensor([0, 1, 0, 1]), ["a", "b"])
    app = DatasetBrowser(ds, n=4, key="handout-test")
    try:
        data = embed_data(views=[app.ui])
        png = app.view.image.value
    finally:
        app.close()
    nb = nbformat.v4.new_notebook()
    md = nbformat.v4.new_markdown_cell("# A chapter\nThe game $E_N(S) = 1 - E_S(F \\setminus S)$ is dual.")
    code = nbformat.v4.new_code_cell("app")
    code.outputs = [nbformat.v4.new_output("display_data", data={
        handout.WIDGET_VIEW_MIME: data["view_specs"][0], "text/plain": "DatasetBrowser(...)"})]
    nb.cells = [md, code]
    nb.metadata["widgets"] = {handout.WIDGET_STATE_MIME: data["manager_state"]}
    return nb, png


def test_freeze_turns_widget_views_into_static_html_with_the_figures() -> None:
    nb, png = _notebook_with_app()
    frozen, count = handout.freeze_widgets(nb)
    assert count == 1 and "widgets" not in frozen.metadata and "widgets" in nb.metadata   # a copy
    html = frozen.cells[1].outputs[0]["data"]["text/html"]
    assert handout.WIDGET_VIEW_MIME not in frozen.cells[1].outputs[0]["data"]
    assert handout.SNAPSHOT_CLASS in html and "snapshot of the app" in html
    assert base64.b64encode(png).decode() in html, "the app's figure is embedded as a data: PNG"
    assert "<select disabled>" in html and "page 1/1" in html      # controls and HTML text kept


def test_exported_page_fetches_nothing_and_inlines_mathjax() -> None:
    nb, _ = _notebook_with_app()
    body, report = handout.export_html(nb)
    assert report["snapshots"] == 1 and report["needs_math"] and report["mathjax"]
    assert report["external"] == [] and handout.external_resources(body) == []
    assert not [t for t in handout.re.findall(r"<script[^>]*>", body) if "src=" in t], "no script is loaded"
    assert "MathJax" in body and "inlineMath" in body


def test_external_resources_finds_what_a_page_would_fetch() -> None:
    page = ("<script src='https://cdn.example/x.js'></script><link href=\"//fonts.example/f.css\">"
            "<img src='data:image/png;base64,AAAA'><a href='https://example.org'>a link is fine</a>")
    found = handout.external_resources(page)
    assert len(found) == 2 and "cdn.example" in found[0] and "fonts.example" in found[1]


def test_clean_filter_strips_outputs_but_keeps_checked_cells() -> None:
    nb = nbformat.v4.new_notebook()
    checked = nbformat.v4.new_code_cell("print(1)")
    checked.metadata["tags"] = [nb_tool.CHECK_TAG]
    checked.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    checked.execution_count = 3
    plain = nbformat.v4.new_code_cell("x")
    plain.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "2"}, execution_count=4)]
    plain.execution_count = 4
    nb.cells = [checked, plain]
    nb.metadata["widgets"] = {"state": {}}
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "nb_tool.py"), "clean-filter"],
                          input=nbformat.writes(nb), capture_output=True, text=True, check=True)
    cleaned = nbformat.reads(proc.stdout, as_version=4)
    assert nb_tool.is_clean(cleaned) == []
    assert cleaned.cells[0].outputs[0]["text"] == "1\n" and cleaned.cells[1].outputs == []
    assert nb_tool.clean_filter(proc.stdout) == proc.stdout          # idempotent
    assert nb_tool.clean_filter("<<<<<<< not a notebook") == "<<<<<<< not a notebook"


def test_gitattributes_routes_the_chapters_through_the_filter() -> None:
    text = (ROOT / ".gitattributes").read_text(encoding="utf-8")
    assert "notebooks/*.ipynb filter=nbclean" in text
    setup = (ROOT / "tools" / "setup.sh").read_text(encoding="utf-8")
    assert "filter.nbclean.clean" in setup and "clean-filter" in setup


def test_checks_of_a_notebook_that_is_not_there_say_so(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "submitted" / "*.ipynb"        # a shell pattern that matched no file
    assert nb_tool.main(["checks", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "no such notebook" in err and str(missing) in err
