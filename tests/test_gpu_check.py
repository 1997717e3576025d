"""``tools/gpu_check.py`` on a machine without a GPU: it says so, its arguments, its CPU self-test (issue 15, item 5).

The CUDA path itself needs a GPU; ``--device cpu`` runs the very same checks CPU against CPU, so
every line of them (explain, training, amp, the torchrun/DDP worker, the table) runs here too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import gpu_check  # noqa: E402


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the check would really run")
def test_without_cuda_it_says_so_and_exits_0() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py")], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0
    assert "no CUDA GPU is visible" in proc.stdout and "nothing was checked" in proc.stdout
    assert "agree" not in proc.stdout                              # no table pretending to be a result


def test_arguments_and_the_download_commands(capsys) -> None:
    assert gpu_check.main(["--print-download"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all("pip download --only-binary=:all:" in line for line in lines)
    assert "--no-deps" in lines[1] and "captum" in lines[1] and "torch" not in " ".join(lines)
    assert "scikit-learn" in lines[0] and "papermill" in lines[0]
    text = gpu_check.build_parser().format_help()
    for option in ("--wheels", "--device", "--quick", "--skip-ddp", "--chapters", "--json", "--venv", "--setup-only"):
        assert option in text
    assert gpu_check._without(["--wheels", "w", "--quick", "--venv=v", "--json", "x"], ("--wheels", "--venv")) == \
        ["--quick", "--json", "x"]
    with pytest.raises(SystemExit, match="no such folder; fill it with"):
        gpu_check.prepare(ROOT / "no-such-wheels", chapters=False)
    assert gpu_check.missing(["numpy", "surely-not-a-module-xyz"]) == ["surely-not-a-module-xyz"]


def test_the_wheel_folder_setup_uses_this_machines_torch(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()                        # everything is already importable here: nothing to install from it
    venv = tmp_path / "venv"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gpu_check.py"), "--wheels", str(wheels), "--venv",
                           str(venv), "--setup-only"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    python = proc.stdout.strip().splitlines()[-1]
    probe = subprocess.run([python, "-c", "import sys, torch, captum; print(torch.__file__); print(sys.prefix)"],
                           capture_output=True, text=True, timeout=120)
    torch_file, prefix = probe.stdout.split()
    assert Path(torch_file) == Path(torch.__file__) and Path(prefix) == venv


def test_the_cpu_self_test_runs_every_check_and_agrees(tmp_path: Path, capsys) -> None:
    rc = gpu_check.main(["--device", "cpu", "--quick", "--json", str(tmp_path / "rows.json")])
    out = capsys.readouterr().out
    assert rc == 0, out
    import json

    rows = {r["check"]: r for r in json.loads((tmp_path / "rows.json").read_text())}
    from halign_widgets.explain import list_methods

    assert {f"explain {m}" for m in list_methods()} <= set(rows)
    assert {"train SmallCNN (2 epochs)", "train CausalCNN (2 epochs)", "train SmallCNN amp=True"} <= set(rows)
    ddp = [r for name, r in rows.items() if name.startswith("DDP 2 ranks, gloo")]
    assert len(ddp) == 1 and "ranks max |Δ| 0.0e+00" in ddp[0]["agreement"]
    assert all(r["ok"] for r in rows.values())
    assert "skipped: pass --chapters" in out and "23 of 23 rows agree" in out
