"""Sizes are checked before the work: requests that cannot fit in memory are refused with what would fit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import halign_widgets.data._memory as memory
from halign_widgets.data import load_folder, load_npz, make_world
from halign_widgets.data.registry import BYTES_PER_WORLD_PIXEL, WORLD_FIXED_BYTES, world_memory
from halign_widgets.errors import ConfigError


def budget(monkeypatch: pytest.MonkeyPatch, nbytes: int | None) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: nbytes)


def test_huge_world_refused_at_once() -> None:
    with pytest.raises(ConfigError, match=r"make_world\('masses', n=10,000,000, size=512\) would need about 252 TB "
                                          r"of memory, but this machine has only .* available; at most n=[\d,]+ "
                                          r"at size=512 would fit"):
        make_world("masses", 10**7, size=512)


def test_world_advice_fits_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    room = 200_000_000
    budget(monkeypatch, room)
    with pytest.raises(ConfigError, match=r"make_world\('masses', n=300, size=128\) would need about 606 MB of "
                                          r"memory, but this machine has only 200 MB available") as info:
        make_world("masses", 300, size=128)
    found = re.search(r"at most n=([\d,]+) at size=128 or size=(\d+) for n=300 would fit", str(info.value))
    assert found, str(info.value)
    n_fit, size_fit = int(found.group(1).replace(",", "")), int(found.group(2))
    assert world_memory(n_fit, 128) <= room < world_memory(n_fit + 1, 128)
    assert world_memory(300, size_fit) <= room < world_memory(300, size_fit + 1)
    assert len(make_world("masses", n_fit, size=128)) == n_fit              # the advice is accepted
    assert make_world("masses", 300, size=size_fit).images.shape[-1] == size_fit
    with pytest.raises(ConfigError):
        make_world("masses", n_fit + 1, size=128)
    budget(monkeypatch, None)                                                # nothing readable: no check
    assert len(make_world("logic", 10, size=16)) == 10


def test_world_estimate_bounds_the_measured_peak() -> None:
    """The estimate is an upper bound of the real peak (masses at 256 px had the highest bytes per pixel)."""
    if not Path("/proc/self/status").exists():
        pytest.skip("needs Linux's /proc/self/status (VmHWM: the peak resident memory of this process image)")
    code = ("import re; from pathlib import Path; from halign_widgets.data import make_world\n"
            "def hwm(): return int(re.search(r'VmHWM:\\s+(\\d+) kB', Path('/proc/self/status').read_text())[1])"
            " * 1024\n"
            "make_world('masses', 20, size=32); base = hwm()\n"      # ru_maxrss would carry the parent's peak
            "make_world('masses', 60, size=256); print(hwm() - base)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    grown = int(out.stdout.strip().splitlines()[-1])
    assert 0 < grown <= world_memory(60, 256), (grown, world_memory(60, 256))
    assert BYTES_PER_WORLD_PIXEL >= 5                                       # at least the images and masks
    assert world_memory(60, 256) - WORLD_FIXED_BYTES < grown * 1.6          # and not wildly above


def test_available_memory_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = memory.available_memory()
    assert system is not None and system > 0
    monkeypatch.setitem(sys.modules, "psutil", None)                        # psutil missing: /proc/meminfo
    meminfo = memory._system_available()
    assert meminfo is not None and meminfo > 0 and abs(meminfo - system) < 0.5 * system
    limit, usage, stat = tmp_path / "max", tmp_path / "current", tmp_path / "stat"
    limit.write_text("1000000000\n")
    usage.write_text("800000000\n")
    stat.write_text("anon 1\ninactive_file 300000000\nactive_file 5\n")
    monkeypatch.setattr(memory, "CGROUP_FILES", ((str(limit), str(usage), str(stat), "inactive_file"),))
    assert memory.available_memory() == min(meminfo, 500_000_000)           # limit - (usage - reclaimable cache)
    limit.write_text("max\n")                                                # cgroup v2: no limit
    assert memory._cgroup_room() is None
    monkeypatch.setattr(memory, "_system_available", lambda: None)
    assert memory.available_memory() is None


def crops(root: Path, n: int = 12) -> Path:
    rng = np.random.default_rng(0)
    for name in ("benign", "malignant"):
        (root / name).mkdir(parents=True)
        for i in range(n // 2):
            Image.fromarray(rng.integers(0, 65535, (40, 40)).astype(np.uint16)).save(root / name / f"{i}.png")
    return root


def test_folder_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = crops(tmp_path / "d")
    png = root / "malignant" / "5.png"
    png.write_bytes(png.read_bytes()[:200])                                 # header fine, pixels truncated
    budget(monkeypatch, 1_000_000)
    with pytest.raises(ConfigError, match=r"load_folder\('.*d'\) of 12 images at 512×512 would need about 12.6 MB "
                                          r"of memory, but this machine has only 1 MB available; pass size=(\d+) or "
                                          r"smaller\.$") as info:
        load_folder(root, size=512)                                          # not CorruptFileError: nothing decoded
    size_fit = int(re.search(r"size=(\d+) or smaller", str(info.value)).group(1))  # type: ignore[union-attr]
    png.unlink()
    assert load_folder(root, size=size_fit).images.shape == (11, 1, size_fit, size_fit)
    with pytest.raises(ConfigError):
        load_folder(root, size=size_fit + 10)
    budget(monkeypatch, 40 * 40 * 40 + 5 * 40 * 40 * 4 + 100)              # one decode + five 40×40 images
    with pytest.raises(ConfigError, match=r"of 11 images at 40×40 .*; load a subset of at most 5 images\.$"):
        load_folder(root, size=None)


def test_npz_refused_before_loading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    np.savez(tmp_path / "m.npz", train_images=np.zeros((50, 28, 28), np.uint8), train_labels=np.zeros(50, np.uint8))
    budget(monkeypatch, 10_000)
    with pytest.raises(ConfigError, match=r"load_npz\('.*m.npz', split=None, size=None\) would need about 666 KB.*"
                                          r"load one split at a time"):
        load_npz(tmp_path / "m.npz")
    budget(monkeypatch, 10_000_000)
    assert len(load_npz(tmp_path / "m.npz")) == 50
