"""Shared pytest setup for the whole suite (unit, widget, notebook and browser tiers).

- makes the repository importable even when the package is not pip-installed;
- uses matplotlib's Agg backend in the test process (no screen on CI);
- exposes ``repo_root`` and ``notebook_paths`` fixtures used by the notebook and browser tiers;
- ``smoke_run``: a chapter executed once per session with smoke parameters (papermill), shared by
  the notebook tier (``test_notebooks.py``) and the course kit's teacher-copy test
  (``test_course_copies.py``) — each chapter's smoke run is paid for once.

The browser tier has its own fixtures in ``tests/browser/conftest.py``.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "tools"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

# pytest draws with Agg (no screen on CI) — in this process only: notebook kernels started by the
# tests get the user's environment, as under `make lab`, so they use matplotlib's inline backend.
if "MPLBACKEND" not in os.environ:
    import matplotlib

    matplotlib.use("Agg")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder."""
    return ROOT


@pytest.fixture(scope="session")
def notebook_paths() -> list[Path]:
    """Every chapter notebook (``notebooks/*.ipynb``), sorted."""
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Any]:
    """``run(path)`` → the notebook executed with smoke parameters (an ``nbformat`` node).

    Executed once per session and notebook content (the cache key is the file's hash); a run that
    failed raises its error again for every test that asks, without running a second time.
    """
    import nbformat

    import nb_tool

    cache: dict[tuple[str, str], Path | BaseException] = {}

    def run(path: Path) -> Any:
        key = (str(path), hashlib.sha256(path.read_bytes()).hexdigest())
        if key not in cache:
            folder = tmp_path_factory.mktemp(f"smoke-{path.stem}")
            out = folder / path.name
            try:
                nb_tool.run_notebook(path, out, smoke=True, cwd=folder, timeout=600)
                cache[key] = out
            except Exception as exc:  # noqa: BLE001 - remembered and raised for every caller
                cache[key] = exc
        found = cache[key]
        if isinstance(found, BaseException):
            raise found
        return nbformat.read(found, as_version=4)

    return run
