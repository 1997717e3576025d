"""Checkpoints are all-or-nothing, clean up after killed saves and get the user's permissions (issue 12)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from halign_widgets.errors import CheckpointMismatchError
from halign_widgets.models import SmallCNN
from halign_widgets.training import _atomic, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def small(seed: int = 0) -> SmallCNN:
    torch.manual_seed(seed)
    return SmallCNN(in_channels=1, num_classes=2, width=4, depth=2)


def trained_adam(model: nn.Module, params=None) -> torch.optim.Adam:
    opt = torch.optim.Adam(model.parameters() if params is None else params, lr=1e-3)
    model(torch.rand(4, 1, 8, 8)).sum().backward()
    opt.step()
    return opt


def frozen(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_bitwise(model: nn.Module, before: dict[str, torch.Tensor]) -> None:
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_a_mismatched_optimizer_leaves_the_model_unchanged_bit_for_bit(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", small(seed=0), trained_adam(small(seed=0)))
    target = small(seed=5)
    partial = trained_adam(target, target.classifier.parameters())   # 1 group of 2 parameters, not 8
    before = frozen(target)
    opt_before = {k: v.clone() for k, v in partial.state_dict()["state"][0].items()}
    with pytest.raises(CheckpointMismatchError, match=r"parameters per group.*set_trainable"):
        load_checkpoint(path, target, partial)
    assert_bitwise(target, before)
    for key, value in partial.state_dict()["state"][0].items():
        assert torch.equal(value, opt_before[key])


def test_optimizer_state_of_other_shapes_is_refused_before_loading(tmp_path):
    # same number of parameters, other order: torch's load_state_dict would accept it and the next
    # step would fail with a size mismatch deep inside Adam
    source = nn.Sequential(nn.Linear(3, 4))
    path = save_checkpoint(tmp_path / "s.pt", source, trained_adam_linear(source))
    target = nn.Sequential(nn.Linear(3, 4))
    before = frozen(target)
    swapped = torch.optim.Adam([target[0].bias, target[0].weight])
    with pytest.raises(CheckpointMismatchError, match=r"'exp_avg' of parameter 0 has shape \(4, 3\) but the "
                                                      r"parameter has shape \(4,\)"):
        load_checkpoint(path, target, swapped)
    assert_bitwise(target, before)
    assert swapped.state_dict()["state"] == {}


def trained_adam_linear(model: nn.Sequential) -> torch.optim.Adam:
    opt = torch.optim.Adam(model.parameters())
    model(torch.rand(2, 3)).sum().backward()
    opt.step()
    return opt


def test_a_failure_while_writing_rolls_model_and_optimizer_back(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "r.pt", small(seed=0), trained_adam(small(seed=0)))
    target = small(seed=7)
    opt = trained_adam(target)
    before = frozen(target)
    opt_before = {i: {k: v.clone() for k, v in s.items()} for i, s in opt.state_dict()["state"].items()}

    real_load, calls = opt.load_state_dict, []

    def broken_once(state_dict):  # the load itself fails after validation; the rollback works
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("simulated failure after validation")
        real_load(state_dict)

    monkeypatch.setattr(opt, "load_state_dict", broken_once)
    with pytest.raises(CheckpointMismatchError, match="model and optimiser are unchanged"):
        load_checkpoint(path, target, opt)
    monkeypatch.undo()
    assert_bitwise(target, before)
    for i, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            assert torch.equal(value, opt_before[i][key])


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_stale_temporaries_of_the_target_are_removed_on_the_next_save(tmp_path):
    path = tmp_path / "last.pt"
    stale = [tmp_path / ".last.pt.k3j_x9a2.tmp", tmp_path / ".last.pt.0123abcd.tmp"]  # mkstemp / ours
    for p in stale:
        p.write_bytes(b"x" * 1000)
        _age(p, 3600)
    fresh = tmp_path / ".last.pt.ffff0000.tmp"       # might be a writer that is just starting
    fresh.write_bytes(b"y")
    others = [tmp_path / ".other.pt.aaaa1111.tmp", tmp_path / ".last.pt.notes.txt", tmp_path / "last.pt.tmp"]
    for p in others:
        p.write_bytes(b"z")
        _age(p, 3600)
    save_checkpoint(path, small(), epoch=1)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert not any(p.exists() for p in stale)
    assert left == sorted(["last.pt", fresh.name] + [p.name for p in others])


@pytest.mark.skipif(_atomic.fcntl is None, reason="file locks are POSIX-only; Windows uses the age rule")
def test_a_live_writer_keeps_its_temporary_and_a_killed_one_loses_it(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    script = textwrap.dedent(f"""
        import sys, time, torch
        sys.path.insert(0, {str(ROOT)!r})
        from halign_widgets.models import SmallCNN
        from halign_widgets.training import checkpoint
        def slow_save(obj, handle, *a, **k):
            handle.write(b"half a checkpoint"); handle.flush()
            print("writing", flush=True)
            time.sleep(120)
        checkpoint.torch.save = slow_save
        checkpoint.save_checkpoint({str(path)!r}, SmallCNN(width=2, depth=1))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        (temp,) = [p for p in tmp_path.iterdir() if p.name.startswith(".last.pt.")]
        monkeypatch.setattr(_atomic, "STALE_GRACE_SECONDS", 0.0)
        _age(temp, 3600)                    # old, but its writer is alive and holds the lock
        save_checkpoint(path, small(), epoch=1)
        assert temp.exists()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        save_checkpoint(path, small(), epoch=2)   # the writer died: its lock is gone
        assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
        assert load_checkpoint(path)["epoch"] == 2
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_checkpoints_get_the_permissions_of_a_normal_file(tmp_path, mask):
    old = os.umask(mask)
    try:
        path = save_checkpoint(tmp_path / "perm.pt", small())
        normal = tmp_path / "normal.bin"
        with open(normal, "wb") as handle:
            handle.write(b"x")
    finally:
        os.umask(old)
    assert (path.stat().st_mode & 0o777) == (normal.stat().st_mode & 0o777) == (0o666 & ~mask)
