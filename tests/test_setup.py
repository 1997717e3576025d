"""The one setup path and the test command keep their promises (static checks, no installs).

``tools/setup.sh`` must never download a browser of its own or ask pip for an unpinned torch
before the pinned CPU build; ``.ci/run`` must run the README's test command (``make test``),
which sets up chromium and runs the whole suite in one pytest session.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "tools" / "setup.sh"


def _commands(path: Path) -> list[str]:
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()
            if ln.strip() and not ln.strip().startswith("#")]


def test_setup_script_is_valid_bash_and_strict() -> None:
    subprocess.run(["bash", "-n", str(SETUP)], check=True)
    assert "set -euo pipefail" in _commands(SETUP)


def test_setup_never_downloads_a_browser() -> None:
    for line in _commands(SETUP):
        assert not re.search(r"playwright\s+install", line), line


def test_setup_pins_torch_before_installing_the_package() -> None:
    lines = _commands(SETUP)
    torch_lines = [i for i, ln in enumerate(lines) if "install" in ln and "torch" in ln]
    package_line = next(i for i, ln in enumerate(lines) if re.search(r"install .*-e \"?\.\[test\]", ln))
    assert torch_lines and max(torch_lines) < package_line
    first = lines[torch_lines[0]]
    assert re.search(r"torch==\$TORCH_PIN|torch==\d", first), f"the first torch install must be pinned: {first}"
    unpinned = [lines[i] for i in torch_lines if re.search(r"install\s+['\"]?torch['\"]?(\s|$)", lines[i])]
    assert not unpinned, f"never install an unpinned torch: {unpinned}"


def test_setup_installs_debian_chromium_only_when_missing() -> None:
    text = SETUP.read_text(encoding="utf-8")
    assert "[ ! -x /usr/bin/chromium ]" in text
    assert re.search(r"apt-get install .*\bchromium\b", text)


def test_ci_runs_the_readme_test_command() -> None:
    ci = ROOT / ".ci" / "run"
    commands = _commands(ci)
    assert "set -euo pipefail" in commands and commands[-1] == "make test"
    assert "make test" in (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    target = re.search(r"^test: (.*)\n((?:\t.*\n)+)", makefile, re.M)
    assert target and "setup-browser" in target.group(1)
    recipe = target.group(2)
    assert "-m pytest" in recipe and not re.search(r"\s-m\s+[\"']", recipe), "make test must run the whole suite"


def test_make_lab_starts_the_lab_on_chapter_00_with_the_users_environment() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    # an exported MPLBACKEND reached the lab's kernels and hid every plt.show() figure
    assert not re.search(r"^\s*export\s+MPLBACKEND", makefile, re.M)
    recipe = re.search(r"^lab: (.*)\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe and "tools/lab.sh" in recipe.group(2)
    lab = (ROOT / "tools" / "lab.sh").read_text(encoding="utf-8")
    assert "LabApp.default_url=\"/lab/tree/$START\"" in lab and "00_start_here.ipynb" in lab
    subprocess.run(["bash", "-n", str(ROOT / "tools" / "lab.sh")], check=True)


def test_setup_asks_the_cpu_index_first_and_copes_without_apt() -> None:
    lines = _commands(SETUP)
    installs = [ln for ln in lines if " install " in ln and "torch==$TORCH_PIN" in ln and not ln.startswith("say")]
    assert installs and "--index-url \"$CPU_INDEX\"" in installs[0], "the CPU wheel index comes first"
    text = SETUP.read_text(encoding="utf-8")
    assert "command -v apt-get" in text and "HALIGN_CHROMIUM" in text


def test_license_file_and_spdx_license() -> None:
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^license = "MIT"$', pyproject, re.M) and "license-files" in pyproject
