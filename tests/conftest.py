"""Shared pytest setup for the whole suite (unit, widget, notebook and browser tiers).

- makes the repository importable even when the package is not pip-installed;
- uses matplotlib's Agg backend in the test process (no screen on CI);
- exposes ``repo_root`` and ``notebook_paths`` fixtures used by the notebook and browser tiers.

The browser tier has its own fixtures in ``tests/browser/conftest.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

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
