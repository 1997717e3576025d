"""Lint and types run in CI: ruff and mypy are configured in ``pyproject.toml`` and ``make test`` runs
them before pytest (static checks on the configuration only; ruff and mypy themselves run in ``make lint``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict[str, Any]:
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        from pip._vendor import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _recipe(target: str) -> str:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    found = re.search(rf"^{target}: .*\n((?:\t.*\n)+)", makefile, re.M)
    assert found, f"the Makefile has no {target!r} target"
    return found.group(1)


def test_ruff_is_configured_for_the_code_as_written() -> None:
    ruff = _pyproject()["tool"]["ruff"]
    assert ruff["line-length"] == 120 and ruff["target-version"] == "py310"
    assert {"notebooks", ".venv"} <= set(ruff.get("exclude", []) + ruff.get("extend-exclude", []))
    assert {"E", "F", "W", "I", "B", "UP"} <= set(ruff["lint"]["select"])
    assert not ruff["lint"].get("ignore"), "fix the code instead of ignoring a rule everywhere"


def test_every_per_file_ignore_says_why() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^\[tool\.ruff\.lint\.per-file-ignores\]\n((?:(?!\[).*\n)*)", text, re.M)
    entries = [ln for ln in (block.group(1).splitlines() if block else []) if ln.strip() and not ln.startswith("#")]
    assert all("#" in ln for ln in entries), entries


def test_mypy_checks_the_package() -> None:
    mypy = _pyproject()["tool"]["mypy"]
    assert mypy["python_version"] == "3.10" and mypy["packages"] == ["halign_widgets"]
    assert mypy["warn_unused_ignores"] is True and mypy["check_untyped_defs"] is True
    assert not mypy.get("ignore_errors")
    assert not mypy.get("ignore_missing_imports"), "only per module, for libraries without stubs"
    missing = {m for o in mypy["overrides"] if o.get("ignore_missing_imports") for m in o["module"]}
    assert {"captum.*", "ipywidgets.*"} <= missing
    assert not any(m.startswith("halign_widgets") for m in missing)
    assert not any(o.get("ignore_errors") for o in mypy["overrides"])


def test_the_test_command_lints_before_pytest() -> None:
    recipe = _recipe("test").splitlines()
    ruff = next(i for i, ln in enumerate(recipe) if "-m ruff check" in ln)
    mypy = next(i for i, ln in enumerate(recipe) if "-m mypy" in ln)
    pytest = next(i for i, ln in enumerate(recipe) if "-m pytest" in ln)
    assert ruff < pytest and mypy < pytest
    lint = _recipe("lint")
    assert "-m ruff check" in lint and "-m mypy" in lint
    paths = re.search(r"^LINT_PATHS := (.*)$", (ROOT / "Makefile").read_text(encoding="utf-8"), re.M)
    assert paths and set(paths.group(1).split()) == {"halign_widgets", "tools", "benchmarks", "tests"}
    extras = _pyproject()["project"]["optional-dependencies"]["test"]
    assert any(d.startswith("ruff") for d in extras) and any(d.startswith("mypy") for d in extras)
    assert "make lint" in (ROOT / "README.md").read_text(encoding="utf-8")
