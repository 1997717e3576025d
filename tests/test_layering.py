"""The layers of DESIGN.md hold: method code stays GUI-free and nothing imports upward.

Layers, bottom to top (a module may import its own layer and the layers below)::

    0  errors, data
    1  models
    2  training
    3  explain, causality, prototypes, crocodile, biovision   (the methods), course (their checks)
    4  widgets

Any other subpackage is treated as a method-layer package (pure torch, rank 3).
Two checks: a static one (``ast`` over every ``.py`` file) and a dynamic one (import the pure
subpackages in a fresh interpreter and look at ``sys.modules``, which also catches GUI libraries
pulled in by a third-party dependency at import time).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "halign_widgets"
TOP = "halign_widgets"
GUI = ("ipywidgets", "IPython", "matplotlib")
RANK = {"errors": 0, "validation": 0, "_lazy": 0, "data": 0, "models": 1, "training": 2,
        "explain": 3, "causality": 3, "prototypes": 3, "crocodile": 3, "biovision": 3, "course": 3,
        "widgets": 4}
METHOD_RANK = 3
PURE_NAMED = ["data", "models", "training", "explain", "causality", "prototypes", "crocodile", "biovision"]


def _rank(part: str) -> int:
    return RANK.get(part, METHOD_RANK)


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _subpackages() -> list[str]:
    return sorted(p.name for p in PKG.iterdir() if p.is_dir() and _python_files(p))


def _pure_subpackages() -> list[str]:
    return [name for name in _subpackages() if _rank(name) < RANK["widgets"]]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """Absolute names of every module ``path`` imports (relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found.append((node.lineno, base))
            if base == TOP:  # `from .. import training` names subpackages
                found += [(node.lineno, f"{TOP}.{alias.name}") for alias in node.names]
    return found


def _layer_of_file(path: Path) -> str:
    rel = path.relative_to(PKG).parts
    return rel[0] if len(rel) > 1 else Path(rel[0]).stem


ALL_FILES = _python_files(PKG)
PURE_FILES = [p for p in ALL_FILES
              if p != PKG / "__init__.py" and _rank(_layer_of_file(p)) < RANK["widgets"]]


def test_package_has_the_layers() -> None:
    subs = _subpackages()
    for needed in ("data", "models", "training", "widgets"):
        assert needed in subs, f"halign_widgets/{needed}/ holds no python file"


@pytest.mark.parametrize("path", PURE_FILES, ids=[str(p.relative_to(PKG)) for p in PURE_FILES])
def test_method_code_never_imports_gui_libraries(path: Path) -> None:
    bad = [(line, name) for line, name in _imports(path) if name.split(".")[0] in GUI]
    assert not bad, (f"{path.relative_to(ROOT)} imports {bad}: method code is pure PyTorch; "
                     "put drawing and widgets in halign_widgets/widgets/")


@pytest.mark.parametrize("path", ALL_FILES, ids=[str(p.relative_to(PKG)) for p in ALL_FILES])
def test_nothing_imports_upward(path: Path) -> None:
    if path.parent == PKG and path.name == "__init__.py":
        return  # the top-level package may re-export anything
    own = _layer_of_file(path)
    upward = []
    for line, name in _imports(path):
        parts = name.split(".")
        if parts[0] != TOP or len(parts) < 2:
            continue
        target = parts[1]
        if target != own and _rank(target) > _rank(own):
            upward.append((line, name))
    assert not upward, (f"{path.relative_to(ROOT)} (layer {own!r}, rank {_rank(own)}) imports upward: {upward}. "
                        "Arrows point down only: data < models < training < methods < widgets.")


_PROBE = r"""
import importlib, json, sys, traceback
GUI = {gui!r}
culprits = {{}}

class Spy:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in GUI and top not in culprits:
            stack = [f"{{f.filename}}:{{f.lineno}}" for f in traceback.extract_stack()
                     if "importlib" not in f.filename and "<frozen" not in f.filename][-6:]
            culprits[top] = stack
        return None

sys.meta_path.insert(0, Spy())
errors = {{}}
for name in {names!r}:
    try:
        importlib.import_module(name)
    except Exception as exc:
        errors[name] = f"{{type(exc).__name__}}: {{exc}}"
print(json.dumps({{"loaded": sorted(m for m in GUI if m in sys.modules), "culprits": culprits,
                  "errors": errors}}))
"""


def test_importing_method_layers_loads_no_gui_library() -> None:
    names = [f"{TOP}.{sub}" for sub in _pure_subpackages() if (PKG / sub / "__init__.py").exists()]
    assert names, "no pure subpackage found"
    probe = _PROBE.format(gui=("ipywidgets", "matplotlib"), names=names)
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"the import probe crashed:\n{proc.stderr[-3000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not report["errors"], f"subpackages fail to import: {report['errors']}"
    assert not report["loaded"], (
        f"`import {', '.join(names)}` loads {report['loaded']}. Method code must run in a script or a "
        "worker thread without GUI libraries; if a dependency (e.g. captum.attr, which imports "
        "matplotlib) pulls them in, import it lazily inside the function that needs it. "
        f"First import chain: {json.dumps(report['culprits'], indent=1)}")


def test_named_layers_without_code_are_only_planned() -> None:
    """A layer folder that exists must hold python files with an ``__init__`` (or not exist)."""
    for sub in PURE_NAMED + ["widgets"]:
        folder = PKG / sub
        if folder.is_dir() and _python_files(folder):
            assert (folder / "__init__.py").exists(), f"halign_widgets/{sub}/ has modules but no __init__.py"
