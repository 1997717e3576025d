"""``python -m halign_widgets.train``: data sources, models, outputs that load back, bad input, SIGTERM.

The 2-process ``torchrun`` form is in ``tests/test_distributed.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from halign_widgets.causality import CausalCNN
from halign_widgets.models import SmallCNN
from halign_widgets.train import build_parser, main
from halign_widgets.training import History, load_trained, predict

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--images", "60", "--size", "16", "--width", "4", "--depth", "2", "--epochs", "1", "--batch-size", "16",
        "--no-progress", "--device", "cpu"]


def test_help_explains_every_option() -> None:
    text = build_parser().format_help()
    for option in ("--images", "--size", "--knob", "--model", "--width", "--depth", "--setting", "--model-config",
                   "--epochs", "--batch-size", "--lr", "--seed", "--amp", "--device", "--out", "--resume",
                   "--timeout", "--no-sync-bn", "--resume-if-any"):
        assert option in text, option
    assert "torchrun" in text and "global batch" in text and "load_trained" in text
    for action in build_parser()._actions:
        assert action.help, f"{action.dest} has no help"


def test_a_world_run_writes_a_checkpoint_and_a_history_that_load_back(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["masses", *TINY, "--epochs", "2", "--knob", "shortcut=0.5", "--out", str(out)]) == 0
    assert "finished: SmallCNN on masses, 2 epoch(s) on 1 process(es)" in capsys.readouterr().out
    model, history = load_trained(out)
    assert isinstance(model, SmallCNN) and not model.training and len(history) == 2
    assert History.load(out / "history.json") == history          # the JSON holds the same epochs
    run = History.read_run(out / "history.json")
    assert run["world_size"] == 1 and run["state"] == "finished" and 0.0 <= run["test"]["accuracy"] <= 1.0
    assert run["model_config"] == model.config
    data = torch.load(out / "last.pt", weights_only=True)        # a plain, code-free checkpoint
    assert data["model_class"] == "SmallCNN" and data["epoch"] == 2


def test_causal_cnn_from_an_npz_file_and_resume(tmp_path: Path) -> None:
    g = np.random.default_rng(0)
    arrays = {f"{s}_images": g.integers(0, 255, (n, 16, 16), dtype=np.uint8) for s, n in (("train", 40), ("val", 8))}
    arrays.update({f"{s}_labels": g.integers(0, 2, (n, 1)) for s, n in (("train", 40), ("val", 8))})
    np.savez(tmp_path / "tiny.npz", **arrays)
    out = tmp_path / "causal"
    args = [str(tmp_path / "tiny.npz"), *TINY, "--model", "CausalCNN", "--setting", "mulcatbool", "--out", str(out)]
    assert main(args) == 0
    model, history = load_trained(out)
    assert isinstance(model, CausalCNN) and model.config["setting"] == "mulcatbool" and len(history) == 1
    assert main([*args, "--epochs", "2", "--resume-if-any"]) == 0  # one more epoch, from the checkpoint
    again, history = load_trained(out)
    assert [e["epoch"] for e in history] == [1, 2]
    assert predict(again, torch.rand(2, 1, 16, 16)).shape == (2, 2)


def test_resume_if_any_starts_a_missing_run(tmp_path: Path) -> None:
    assert main(["masses", *TINY, "--resume-if-any", "--out", str(tmp_path / "new")]) == 0
    assert [e["epoch"] for e in load_trained(tmp_path / "new")[1]] == [1]


def test_a_folder_of_images(tmp_path: Path) -> None:
    from PIL import Image

    g = np.random.default_rng(1)
    for cls in ("benign", "malignant"):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(20):
            Image.fromarray(g.integers(0, 255, (20, 20), dtype=np.uint8)).save(tmp_path / "data" / cls / f"{i}.png")
    out = tmp_path / "folder-run"
    assert main([str(tmp_path / "data"), *TINY, "--out", str(out)]) == 0
    run = History.read_run(out / "history.json")
    assert run["train_images"] == 28 and run["model_config"]["num_classes"] == 2


@pytest.mark.parametrize("args, message", [
    (["no-such-world"], "neither a folder, an .npz file nor a world"),
    (["masses", "--model", "ResNet"], "unknown model 'ResNet'"),
    (["masses", "--model-config", "{depth: 3}"], "--model-config must be a JSON object"),
    (["masses", "--knob", "shortcut"], "--knob takes NAME=VALUE"),
    (["masses", "--knob", "colour=3"], "'colour'; valid choices: 'noise', 'shortcut'"),
    (["masses", "--epochs", "0"], "epochs must be an integer"),
    (["masses", "--resume"], "does not exist; drop --resume"),
])
def test_bad_input_exits_2_with_the_fix(args, message, tmp_path: Path, capsys) -> None:
    assert main([*args, *TINY[:4], "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err


def test_an_existing_run_is_not_overwritten(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["masses", *TINY, "--out", str(out)]) == 0
    stamp = (out / "last.pt").stat().st_mtime_ns
    assert main(["masses", *TINY, "--out", str(out)]) == 2
    assert "pass --resume to continue it" in capsys.readouterr().err and (out / "last.pt").stat().st_mtime_ns == stamp


def test_sigterm_stops_after_the_current_batch_and_the_run_resumes(tmp_path: Path) -> None:
    out = tmp_path / "pre-empted"
    args = [sys.executable, "-m", "halign_widgets.train", "masses", "--images", "200", "--size", "16", "--width", "4",
            "--depth", "2", "--epochs", "200", "--batch-size", "8", "--no-progress", "--device", "cpu",
            "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HALIGN_THREADS": "1"}
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "history.json").is_file() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr[-2000:]
    assert "stop requested (signal 15)" in stderr and stdout.startswith("stopped:")
    run = History.read_run(out / "history.json")
    assert run["state"] == "stopped" and 1 <= run["completed_epochs"] < 200
    done = run["completed_epochs"]
    assert main(["masses", *TINY[:4], "--width", "4", "--depth", "2", "--batch-size", "8", "--no-progress",
                 "--device", "cpu", "--epochs", str(done + 1), "--resume", "--out", str(out)]) == 0
    assert [e["epoch"] for e in load_trained(out)[1]] == list(range(1, done + 2))
    assert json.loads((out / "history.json").read_text())["run"]["state"] == "finished"
