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
    families = ["train ProtoPNet (1 joint epoch + push)", "train CrocodileNet (1 epoch, full objective)",
                "train ScratchCNN (1 epoch)", "train CoCoReco + CAB (1 epoch)"]    # chapters 03, 05, 06
    assert set(families) <= set(rows)
    for name in families:    # CPU against CPU from the same weights and seed: the very same losses
        assert rows[name]["agreement"].startswith("max |Δ train loss| 0.0e+00"), rows[name]
        assert rows[name]["cpu_s"] > 0 and rows[name]["gpu_s"] > 0
    ddp = [r for name, r in rows.items() if name.startswith("DDP 2 ranks, gloo")]
    assert len(ddp) == 1 and "ranks max |Δ| 0.0e+00" in ddp[0]["agreement"]
    assert all(r["ok"] for r in rows.values())
    assert "skipped: pass --chapters" in out and "27 of 27 rows agree" in out


def test_a_family_row_fails_when_the_losses_part_and_chapters_say_how_they_pick_the_device(tmp_path: Path) -> None:
    row = gpu_check._loss_row("train X", ([0.70, 0.50], 1.0), ([0.70, 0.53], 0.5))
    assert not row.ok and "3.0e-02" in row.agreement                   # 0.03 > the 0.02 allowed
    assert gpu_check._loss_row("train X", ([0.70, 0.50], 1.0), ([0.71, 0.49], 0.5)).ok
    short = gpu_check._loss_row("train X", ([0.70, 0.50], 1.0), ([0.70], 0.5))
    assert not short.ok and "epochs differ" in short.agreement
    import json

    def notebook(source: str) -> Path:
        path = tmp_path / f"nb{len(list(tmp_path.iterdir()))}.ipynb"
        path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["DEVICE = 1"]},
                                              {"cell_type": "code", "metadata": {"tags": ["parameters"]},
                                               "source": source.splitlines(keepends=True)}]}))
        return path

    assert gpu_check.device_parameter(notebook('SMOKE = False\nDEVICE = "auto"  # where to train\n')) == "DEVICE"
    assert gpu_check.device_parameter(notebook("SMOKE = False\n# DEVICE = 'auto'\nDEVICES = 2\n")) is None
    chapters = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert len(chapters) >= 7 and all(gpu_check.device_parameter(nb) is None for nb in chapters)  # all use "auto"
