"""Data-parallel training on the CPU (gloo): two real processes, compared with one (issue 15).

The 2-process runs start ``tests/_ddp_worker.py`` twice with the environment ``torchrun`` sets
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` …), or the command line under a real
``torchrun``. What they show:

- both ranks end with *identical* parameters, and the run equals the single-process run with the
  same global batch up to float rounding (synchronised batch norm, same seeded order, gradient
  averaging; the dataset size is a multiple of 2, so no sample is repeated);
- a checkpoint written by the 2-process run resumes to the single-process result;
- a stop request on rank 0 stops both ranks after the same batch;
- a rank whose step or data load fails makes the other stop at once with a message naming it;
  a rank that dies makes the other stop with "lost contact" instead of hanging;
- more processes than devices, a batch that does not divide, ``distributed=True`` without a
  launcher: typed errors with the fix.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from halign_widgets.errors import ConfigError
from halign_widgets.training import Trainer, load_trained, shard_order
from halign_widgets.training import distributed as dist_module
from halign_widgets.training.distributed import check_processes, finish_distributed, init_distributed

ROOT = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("_ddp_worker.py")
_spec = importlib.util.spec_from_file_location("_ddp_worker", WORKER)
worker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)  # type: ignore[union-attr]
LAUNCH_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_ENV}
    # one torch thread per rank; run two ranks even where the test machine grants a single core
    env.update(PYTHONPATH=str(ROOT), HALIGN_THREADS="1", HALIGN_OVERSUBSCRIBE="1", **extra)
    return env


def launch(scenario: str, out: Path, world: int = 2, timeout: float = 240) -> list[tuple[int, str]]:
    """Start ``world`` worker ranks like torchrun does; return each rank's (exit code, stderr)."""
    port = str(_free_port())
    procs = [subprocess.Popen([sys.executable, str(WORKER), scenario, str(out)], cwd=ROOT, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=_env(RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE=str(world),
                                       LOCAL_WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1", MASTER_PORT=port))
             for r in range(world)]
    results = []
    for p in procs:
        try:
            _, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            pytest.fail(f"the {scenario!r} ranks did not finish within {timeout} s (a hang)")
        results.append((p.returncode, err))
    return results


def _read(out: Path, scenario: str, rank: int) -> dict[str, Any]:
    return json.loads((out / f"{scenario}_rank{rank}.json").read_text())


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())


def single_process(epochs: int) -> tuple[dict[str, torch.Tensor], list[dict[str, Any]]]:
    world = worker.tiny_world()
    model = worker.tiny_model()
    trainer = Trainer(model, world.train, world.val, epochs=epochs, distributed=False, **worker.KW)
    trainer.fit()
    return worker.weights(model), worker.history(trainer)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ddp")
    results = launch("suite", out)
    for rank, (code, err) in enumerate(results):
        assert code == 0, f"rank {rank} exited with {code}:\n{err[-3000:]}"
    return out


# -- equivalence --------------------------------------------------------------------------------

def test_two_ranks_end_identical_and_match_one_process(suite: Path) -> None:
    ranks = [torch.load(suite / f"train_rank{r}.pt") for r in (0, 1)]
    assert max_difference(ranks[0], ranks[1]) == 0.0             # bit for bit
    found = [_read(suite, "suite", r)["train"] for r in (0, 1)]
    assert [f["spread"] for f in found] == [0.0, 0.0] and [f["world"] for f in found] == [2, 2]
    assert [f["main"] for f in found] == [True, False] and [f["steps"] for f in found] == [8, 8]
    weights, history = single_process(epochs=2)
    assert max_difference(weights, ranks[0]) < 1e-6  # float rounding of sums in another order (6e-8 measured)
    assert found[0]["history"] == found[1]["history"]            # the metrics are agreed, not per rank
    for mine, theirs in zip(found[0]["history"], history, strict=True):
        assert mine.keys() == theirs.keys()
        for key, value in theirs.items():
            assert mine[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


def test_a_two_rank_checkpoint_resumes_to_the_single_process_run(suite: Path) -> None:
    ranks = [torch.load(suite / f"resume_rank{r}.pt") for r in (0, 1)]
    assert max_difference(ranks[0], ranks[1]) == 0.0
    weights, history = single_process(epochs=3)
    assert max_difference(weights, ranks[0]) < 1e-6
    resumed = _read(suite, "suite", 0)["resume"]["history"]
    assert [e["epoch"] for e in resumed] == [1, 2, 3]
    assert resumed[-1]["val_loss"] == pytest.approx(history[-1]["val_loss"], rel=1e-5)
    model, saved = load_trained(suite / "ckpt")                  # rank 0 wrote it; it loads in one call
    assert len(saved) == 2 and max_difference(worker.weights(model), torch.load(suite / "train_rank0.pt")) == 0


# -- stop and failures ------------------------------------------------------------------------------

def test_a_stop_request_on_rank_0_stops_both_after_the_same_batch(suite: Path) -> None:
    found = [_read(suite, "suite", r)["stop"] for r in (0, 1)]
    assert [f["state"] for f in found] == ["stopped", "stopped"]
    assert found[0]["steps"] == found[1]["steps"] == 7            # asked after step 6, agreed at step 7
    assert [f["epochs"] for f in found] == [1, 1] and [f["spread"] for f in found] == [0.0, 0.0]


def test_a_failing_step_stops_the_other_rank_at_once_with_its_name(suite: Path) -> None:
    mine, other = (_read(suite, "suite", r)["fail"] for r in (1, 0))
    assert mine["type"] == "RuntimeError" and "only on rank 1" in mine["message"]
    assert other["type"] == "DistributedError" and other["state"] == "failed"
    assert "rank 1 of 2 failed at epoch 1, batch 3" in other["message"] and "resume" in other["message"]
    assert other["seconds"] < 30                                   # not the 60 s timeout


def test_a_failing_data_load_on_one_rank_stops_both(suite: Path) -> None:
    mine, other = (_read(suite, "suite", r)["load"] for r in (1, 0))
    assert mine["type"] == "OSError" and "damaged file" in mine["message"]
    assert other["type"] == "DistributedError" and "rank 1 of 2 failed at loading epoch 1" in other["message"]


def test_mixed_precision_under_ddp_keeps_the_ranks_identical(suite: Path) -> None:
    found = [_read(suite, "suite", r)["amp"] for r in (0, 1)]
    assert [f["state"] for f in found] == ["finished", "finished"] and [f["spread"] for f in found] == [0.0, 0.0]
    _, history = single_process(epochs=1)
    assert found[0]["loss"] == pytest.approx(history[0]["train_loss"], abs=0.05)   # bfloat16: close, not equal


def test_a_global_batch_that_does_not_divide_is_refused(suite: Path) -> None:
    found = _read(suite, "suite", 0)["odd_batch"]
    assert found["type"] == "ConfigError" and "multiple of 2" in found["message"] and "use 14 or 16" in found["message"]


def test_a_rank_that_dies_does_not_leave_the_other_hanging(tmp_path: Path) -> None:
    results = launch("crash", tmp_path, timeout=120)
    assert results[1][0] == 17 and results[0][0] == 0, results[0][1][-2000:]
    found = _read(tmp_path, "crash", 0)["crash"]
    assert found["type"] == "DistributedError" and "lost contact" in found["message"]
    assert found["seconds"] < 30


# -- the command line under torchrun ----------------------------------------------------------------

CLI = ["masses", "--images", "80", "--size", "16", "--width", "4", "--depth", "2", "--epochs", "2",
       "--batch-size", "16", "--lr", "1e-2", "--optimizer", "sgd", "--no-progress"]


def test_the_ranks_leave_the_process_group_together(suite: Path) -> None:
    # a rank that tore its connections down while rank 0 still worked sometimes aborted in gloo's teardown
    finish = [_read(suite, "suite", r)["finish"] for r in (0, 1)]
    assert [f["ended"] for f in finish] == [True, True] and [f["again"] for f in finish] == [False, False]
    assert finish[1]["arrived"] < finish[0]["arrived"] - 1.0    # rank 1 got there first (rank 0 slept 3 s) …
    assert finish[1]["left"] >= finish[0]["arrived"] - 0.05    # … and waited for rank 0 before leaving


def test_the_command_line_under_torchrun_matches_one_process(tmp_path: Path) -> None:
    from halign_widgets.train import main

    assert main([*CLI, "--out", str(tmp_path / "one")]) == 0
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "halign_widgets.train", *CLI, "--out", str(tmp_path / "two")]
    proc = subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "on 2 process(es)" in proc.stdout and proc.stdout.count("finished:") == 1   # rank 0 alone reports
    one, history_one = load_trained(tmp_path / "one")
    two, history_two = load_trained(tmp_path / "two")
    assert max_difference(worker.weights(one), worker.weights(two)) < 1e-6
    run = json.loads((tmp_path / "two" / "history.json").read_text())["run"]
    assert run["world_size"] == 2 and run["rank_spread"] == 0.0 and run["state"] == "finished"
    assert [e["val_loss"] for e in history_two] == pytest.approx([e["val_loss"] for e in history_one], rel=1e-5)


# -- shards and bad launches (in this process) ---------------------------------------------------------

def test_shards_are_equal_length_and_rebuild_each_global_batch() -> None:
    order = torch.randperm(11, generator=torch.Generator().manual_seed(0))
    shards = [shard_order(order, r, 3) for r in range(3)]
    assert [len(s) for s in shards] == [4, 4, 4]
    assert sorted(torch.cat(shards).tolist()) == sorted(order.tolist() + order[:1].tolist())  # 1 repeated
    even = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    per_rank = [shard_order(even, r, 2) for r in (0, 1)]
    for k in range(2):                                             # global batch 6 = two rank batches of 3
        together = torch.cat([s[3 * k:3 * k + 3] for s in per_rank])
        assert sorted(together.tolist()) == sorted(even[6 * k:6 * k + 6].tolist())


def test_more_processes_than_cores_or_gpus_is_refused_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HALIGN_OVERSUBSCRIBE", raising=False)
    for key, value in dict(RANK="0", LOCAL_RANK="0", WORLD_SIZE="3", LOCAL_WORLD_SIZE="3").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(dist_module, "usable_cpus", lambda: 2)
    world = worker.tiny_world()
    with pytest.raises(ConfigError, match=r"3 CPU training processes .* only 2 CPU core.*--nproc_per_node=2"):
        Trainer(worker.tiny_model(), world.train, epochs=1, device="cpu", progress=False)
    with pytest.raises(ConfigError, match=r"4 training processes but sees 2 CUDA GPU.*--nproc_per_node=2"):
        check_processes("cuda", 3, 4, gpus=2)
    with pytest.raises(ConfigError, match=r"sees 0 CUDA GPU.*device='cpu'"):
        check_processes("cuda", 0, 1, gpus=0)
    with pytest.raises(ConfigError, match="CUDA .* or the CPU"):
        init_distributed(True, device="mps")


def test_finish_ends_only_the_group_the_lab_started(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch.distributed as dist

    assert finish_distributed() is False                           # nothing started: nothing to end
    env = dict(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(_free_port()))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    context = init_distributed(True, device="cpu", timeout=30)
    assert context is not None and context.world_size == 1 and dist.is_initialized()
    assert finish_distributed() is True and not dist.is_initialized()
    assert finish_distributed() is False
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1)
    try:
        assert init_distributed(True, device="cpu") is not None
        assert finish_distributed() is False and dist.is_initialized()   # the caller's group stays theirs
    finally:
        dist.destroy_process_group()


def test_distributed_true_without_a_launcher_says_how_to_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in LAUNCH_ENV:
        monkeypatch.delenv(key, raising=False)
    world = worker.tiny_world()
    with pytest.raises(ConfigError, match="torchrun --nproc_per_node=2"):
        Trainer(worker.tiny_model(), world.train, epochs=1, device="cpu", distributed=True, progress=False)
    with pytest.raises(ConfigError, match="'auto', True or False"):
        init_distributed("yes")
    with pytest.raises(ConfigError, match="positive number of seconds"):
        init_distributed(True, timeout=0)
    assert init_distributed("auto") is None                      # not launched: one process, as before
