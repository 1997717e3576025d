"""Every chapter runs top to bottom on a researcher's own data (issue 17), in smoke mode.

Each chapter's parameters cell takes ``DATA`` (a world's name or a path) and ``DATA_OPTIONS``
(passed to :func:`halign_widgets.data.load_data`). Here each chapter gets one kind of real-looking
data written by ``tests/real_data.py`` — a folder of 16-bit PNG crops (with or without its
parallel mask folder) or a MedMNIST-format ``.npz`` with masks — so that across the chapters both
loaders, with and without masks, are exercised. A section that needs what the data lacks (masks, a
world's metadata such as its domains or its context) must say so in a printed line containing
"skipped" and go on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

import nb_tool
from real_data import write_crops, write_npz

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

# chapter → (kind of data, masks given?, a "skipped" line expected?)
PLAN: dict[str, tuple[str, bool, bool]] = {
    "00_start_here": ("npz", True, False),
    "01_explainability_visualization": ("folder", True, False),
    "02_explainability_suny": ("npz", True, False),
    "03_explainability_prototypes": ("folder", True, False),
    "04_causality_maps": ("folder", False, True),        # no masks: the localization sections skip
    "05_causality_crocodile": ("npz", True, True),       # no acquisition sources: the OOD protocol skips
    "06_biovision_cocoreco": ("folder", False, True),    # no context metadata, no masks
}


def _stream_text(nb: Any) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if o.get("output_type") == "stream")


def test_every_chapter_has_a_plan() -> None:
    assert sorted(PLAN) == [p.stem for p in NOTEBOOKS]


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_chapter_runs_on_your_own_data(path: Path, tmp_path: Path) -> None:
    kind, with_masks, expect_skip = PLAN[path.stem]
    if kind == "folder":
        images, masks = write_crops(tmp_path / "crops", n=48, size=32)
        data, options = str(images), ({"size": 32, "masks": str(masks)} if with_masks else {"size": 32})
    else:
        data, options = str(write_npz(tmp_path / "mine.npz", n=60, size=28)), {"size": 28}
    out = tmp_path / "run" / path.name
    nb_tool.run_notebook(path, out, smoke=True, cwd=out.parent, timeout=600,
                         parameters={"DATA": data, "DATA_OPTIONS": options})
    text = _stream_text(nbformat.read(out, as_version=4))
    if expect_skip:
        assert "skipped" in text.lower(), f"{path.name}: say in a printed line what is skipped on this data"
