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
