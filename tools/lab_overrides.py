"""Write JupyterLab's ``overrides.json`` with the lab's defaults.

Usage: ``python tools/lab_overrides.py SETTINGS_DIR`` (e.g. ``$PREFIX/share/jupyter/lab/settings``).

- ``fetchNews: "false"`` — no news toast asking to fetch announcements (it covers the page in
  browser tests and needs the internet);
- ``windowingMode: "defer"`` — cells out of view stay in the page, so widget outputs stay rendered
  (JupyterLab 4's default ``full`` virtualizes them away).

Used by ``tools/setup.sh``, ``binder/postBuild`` and the browser tests, so there is one source.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OVERRIDES: dict[str, dict[str, str]] = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false"},
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "defer"},
}


def write(settings_dir: str | Path) -> Path:
    """Merge :data:`OVERRIDES` into ``settings_dir/overrides.json`` and return its path."""
    folder = Path(settings_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "overrides.json"
    current: dict = {}
    if path.exists():
        try:
            current = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            current = {}
    for plugin, values in OVERRIDES.items():
        current.setdefault(plugin, {}).update(values)
    path.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/lab_overrides.py SETTINGS_DIR")
    print(f"wrote {write(sys.argv[1])}")
