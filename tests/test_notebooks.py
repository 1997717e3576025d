"""Notebook tier: every chapter runs with smoke parameters, and is committed clean.

For each ``notebooks/*.ipynb``:

- structure: the first cell is the chapter's title, the first code cell is tagged ``parameters`` and
  assigns ``SMOKE`` and ``DATA`` (a world, or the path of your own data); at least
  one code cell is tagged ``nbval-check-output``; no outputs or execution counts are *committed*
  except in those cells (``python tools/nb_tool.py strip`` / ``fill`` fix this; the git filter of
  ``.gitattributes`` keeps a teacher's saved run out of commits, and the check reads what git has,
  not the working file);
- papermill executes it with ``SMOKE=True`` (env ``HALIGN_SMOKE=1``, matplotlib's inline backend as
  in JupyterLab) on a kernel running this interpreter, into a temporary folder, failing on any
  cell error; a chapter that calls ``plt.show()`` must produce figures;
- the tagged cells' output of that smoke run equals the committed one (what ``--nbval-lax``
  compares); nbval itself (``pytest --nbval-lax``, the way a user runs it) re-runs the start
  chapter — one execution, not one per chapter, to keep the test command within its budget
  (``nb_tool verify`` checks that the tagged outputs are the same with default parameters).

``nb_tool`` itself is tested on a tiny synthetic notebook.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

import nb_tool

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ holds no chapter (*.ipynb)"
    assert (ROOT / "notebooks" / "00_start_here.ipynb") in NOTEBOOKS


def _assigned_names(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Name):
                    names.add(sub.id)
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_structure(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("# "), (
        f"{path.name}: the first cell must be the chapter's title (a markdown cell starting with '# ')")
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert "parameters" in nb_tool.tags(first), f"{path.name}: the first code cell must be tagged 'parameters'"
    names = _assigned_names(first.source)
    assert "SMOKE" in names, f"{path.name}: the parameters cell must define SMOKE"
    assert "DATA" in names, f"{path.name}: the parameters cell must define DATA (a world, or the path of your data)"
    checked = [c for c in nb.cells if c.cell_type == "code" and nb_tool.CHECK_TAG in nb_tool.tags(c)]
    assert checked, f"{path.name}: tag at least one code cell {nb_tool.CHECK_TAG!r}"


def _committed(path: Path) -> nbformat.NotebookNode:
    """The notebook as git has it in HEAD (the working file when it is new or not in a git checkout)."""
    rel = path.relative_to(ROOT).as_posix()
    proc = subprocess.run(["git", "-C", str(ROOT), "show", f"HEAD:{rel}"], capture_output=True, text=True)
    if proc.returncode == 0:
        return nbformat.reads(proc.stdout, as_version=4)
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_is_clean(path: Path) -> None:
    problems = nb_tool.is_clean(_committed(path))
    assert not problems, (f"{path.name} is not clean; run `python tools/nb_tool.py fill {path.relative_to(ROOT)}`:\n"
                          + "\n".join(problems))


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_papermill_smoke(path: Path, smoke_run: Any) -> None:
    executed = smoke_run(path)   # tests/conftest.py: one smoke run per chapter and session
    injected = [c for c in executed.cells if "injected-parameters" in nb_tool.tags(c)]
    assert injected and "SMOKE = True" in injected[0].source
    errors = [o for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    if any("plt.show()" in c.source for c in executed.cells if c.cell_type == "code"):
        figures = [o for c in executed.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
        assert figures, "plt.show() displayed nothing: the kernel did not use the inline backend"


def _checked_outputs(nb: Any) -> list[list[str]]:
    """Per ``nbval-check-output`` cell: its stream texts and plain-text results (what nbval compares)."""
    found = []
    for cell in nb.cells:
        if cell.cell_type == "code" and nb_tool.CHECK_TAG in nb_tool.tags(cell):
            texts: list[str] = []
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream":      # consecutive stream chunks are one text (as in nbval)
                    if texts and texts[-1].startswith("stream:"):
                        texts[-1] += out.get("text", "")
                    else:
                        texts.append("stream:" + out.get("text", ""))
                elif "text/plain" in out.get("data", {}):
                    texts.append("result:" + out["data"]["text/plain"])
            found.append(texts)
    return found


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_checked_cells_print_what_is_committed(path: Path, smoke_run: Any) -> None:
    committed = _checked_outputs(_committed(path))
    assert committed and all(committed), f"{path.name}: a tagged cell has no committed output (run nb_tool fill)"
    assert _checked_outputs(smoke_run(path)) == committed, (
        f"{path.name}: a cell tagged {nb_tool.CHECK_TAG!r} printed something else than its committed output")


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS[:1], ids=IDS[:1])
def test_nbval_lax(path: Path, tmp_path: Path) -> None:
    # a copy in a temp folder: the kernel's working directory (checkpoints, …) stays out of the repo
    shutil.copy(path, tmp_path / path.name)
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts =\n", encoding="utf-8")
    env = dict(os.environ, HALIGN_SMOKE="1", MPLBACKEND=nb_tool.INLINE_BACKEND,
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
           "-c", str(tmp_path / "pytest.ini"), "--nbval-lax", "--nbval-current-env",
           "--nbval-cell-timeout=600", str(tmp_path / path.name)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=840)
    assert proc.returncode == 0, f"nbval failed on {path.name}:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    assert " passed" in proc.stdout


# -- the tool that keeps notebooks clean ------------------------------------------------------------
def _toy_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    p = nbformat.v4.new_code_cell('import os\nSMOKE = os.environ.get("HALIGN_SMOKE", "0") == "1"')
    p.metadata["tags"] = ["parameters"]
    checked = nbformat.v4.new_code_cell("print('smoke' if SMOKE else 'full', 6 * 7)")
    checked.metadata["tags"] = [nb_tool.CHECK_TAG]
    plain = nbformat.v4.new_code_cell("x = list(range(3))\nx")
    nb.cells = [p, nbformat.v4.new_markdown_cell("# toy"), checked, plain]
    return nb


def test_strip_keeps_only_tagged_outputs(tmp_path: Path) -> None:
    nb = _toy_notebook()
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="smoke 42\n")]
    nb.cells[2].execution_count = 2
    nb.cells[3].outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "[0, 1, 2]"},
                                                  execution_count=4)]
    nb.cells[3].execution_count = 4
    nb.metadata["widgets"] = {"x": 1}
    path = tmp_path / "toy.ipynb"
    nbformat.write(nb, path)
    assert nb_tool.is_clean(nbformat.read(path, as_version=4))
    assert nb_tool.strip([path], check=True) == 1
    assert nb_tool.strip([path]) == 1
    stripped = nbformat.read(path, as_version=4)
    assert nb_tool.is_clean(stripped) == []
    assert stripped.cells[2].outputs[0]["text"] == "smoke 42\n"
    assert stripped.cells[2].execution_count is not None  # nbval skips "unrun" reference cells
    assert stripped.cells[3].outputs == [] and stripped.cells[3].execution_count is None
    assert nb_tool.strip([path], check=True) == 0


@pytest.mark.notebook
def test_fill_stores_smoke_outputs_of_tagged_cells_only(tmp_path: Path) -> None:
    path = tmp_path / "toy.ipynb"
    nbformat.write(_toy_notebook(), path)
    nb_tool.fill([path])
    filled = nbformat.read(path, as_version=4)
    assert nb_tool.is_clean(filled) == []
    assert [o.get("text") for o in filled.cells[2].outputs] == ["smoke 42\n"]
    assert filled.cells[2].execution_count == 2
    assert filled.cells[3].outputs == []
