"""Binder configuration agrees with pyproject.toml, sets the lab up correctly, and builds and runs (rehearsed)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"


def _load_toml(path: Path) -> dict:
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # pragma: no cover - Python 3.10
        from pip._vendor import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _pyproject_requirements() -> dict[str, Requirement]:
    deps = _load_toml(ROOT / "pyproject.toml")["project"]["dependencies"]
    return {canonicalize_name(r.name): r for r in map(Requirement, deps)}


def _binder_lines() -> list[str]:
    lines = []
    for raw in (BINDER / "requirements.txt").read_text(encoding="utf-8").splitlines():
        line = raw.split(" #")[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _binder_requirements() -> dict[str, Requirement]:
    reqs = [Requirement(line) for line in _binder_lines() if not line.startswith("-")]
    return {canonicalize_name(r.name): r for r in reqs}


def test_binder_has_exactly_the_runtime_dependencies() -> None:
    binder, project = set(_binder_requirements()), set(_pyproject_requirements())
    assert binder == project, f"missing in binder: {sorted(project - binder)}; extra: {sorted(binder - project)}"


def test_binder_pins_satisfy_pyproject_ranges() -> None:
    project = _pyproject_requirements()
    for name, req in _binder_requirements().items():
        pins = [s for s in req.specifier if s.operator == "=="]
        assert len(pins) == 1 and len(req.specifier) == 1, f"{req}: pin one exact version with =="
        version = Version(pins[0].version)
        assert project[name].specifier.contains(version, prereleases=True), (
            f"binder pins {name}=={version}, outside pyproject's range {project[name].specifier}")


def test_binder_torch_is_the_cpu_build() -> None:
    lines = _binder_lines()
    torch = _binder_requirements()["torch"]
    assert str(torch.specifier).endswith("+cpu"), "pin torch to a +cpu build (Binder has no GPU)"
    assert any(line.startswith(("--extra-index-url", "--index-url")) and "download.pytorch.org/whl/cpu" in line
               for line in lines), "the CPU wheel index must be given"


def test_binder_requirements_do_not_install_the_local_package() -> None:
    for line in _binder_lines():
        assert not re.match(r"^(-e|--editable)\b", line), line
        assert line not in {".", "./"} and not line.startswith(("./", "file:", "/")), line
        assert "halign" not in line.lower(), line


def test_binder_python_version() -> None:
    runtime = (BINDER / "runtime.txt").read_text(encoding="utf-8").strip()
    major_minor = tuple(int(x) for x in runtime.removeprefix("python-").split(".")[:2])
    assert major_minor >= (3, 10)


def test_postbuild_installs_without_deps_and_stops_on_error() -> None:
    post = BINDER / "postBuild"
    text = post.read_text(encoding="utf-8")
    assert text.startswith("#!"), "postBuild needs a shebang"
    assert os.access(post, os.X_OK), "postBuild must be executable (git mode 755)"
    commands = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    assert re.match(r"^set -[a-z]*e", commands[0]), "the first command of postBuild must be `set -e…`"
    installs = [c for c in commands if "pip install" in c]
    assert installs and all("--no-deps" in c for c in installs)
    assert any("tools/lab_overrides.py" in c for c in commands)


def test_postbuild_overrides_are_valid_json_with_both_settings(tmp_path: Path) -> None:
    settings = tmp_path / "share" / "jupyter" / "lab" / "settings"
    settings.mkdir(parents=True)
    # an existing overrides file is merged into, not clobbered
    (settings / "overrides.json").write_text(json.dumps({"@jupyterlab/apputils-extension:themes":
                                                         {"theme": "JupyterLab Dark"}}), encoding="utf-8")
    env = dict(os.environ, NB_PYTHON_PREFIX=str(tmp_path))
    line = next(c for c in (BINDER / "postBuild").read_text().splitlines() if "lab_overrides.py" in c)
    line = line.replace("python ", f"{sys.executable} ", 1)
    subprocess.run(["bash", "-c", line], cwd=ROOT, env=env, check=True, capture_output=True)
    data = json.loads((settings / "overrides.json").read_text(encoding="utf-8"))
    assert data["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    assert data["@jupyterlab/notebook-extension:tracker"]["windowingMode"] == "defer"
    assert data["@jupyterlab/apputils-extension:themes"]["theme"] == "JupyterLab Dark"


# -- the Binder build, rehearsed (tools/binder_check.py; `make binder-check` runs every chapter) -----------
@pytest.mark.notebook
def test_binder_environment_runs_a_chapter_in_binders_limits() -> None:
    """Build the environment as repo2docker does (cached under build/binder/ by the hash of binder/:
    a cold build takes about 100 s here), then run chapter 00 in smoke mode on its kernel, on one
    CPU, with the kernel tree's memory watched against 2 GB."""
    sys.path.insert(0, str(ROOT / "tools"))
    import binder_check

    env, repo, _ = binder_check.ensure_env(quiet=True)
    facts = binder_check.environment_facts(env)
    pins = {r.name: str(r.specifier).removeprefix("==") for r in _binder_requirements().values()}
    assert f"torch {pins['torch']}" in facts, facts
    assert str(repo / "halign_widgets") in facts, f"the kernel must import what postBuild installed: {facts}"
    assert facts.endswith("usable CPUs 1"), facts
    row = binder_check.run_chapter(env, repo, repo / "notebooks" / "00_start_here.ipynb", smoke=True)
    assert row.status == "ok", f"{row.status}: {row.message}"
    assert 0 < row.peak_mb < binder_check.MEMORY_MB
