"""One rank of the 2-process gloo runs of ``tests/test_distributed.py`` (started the way torchrun starts it).

``python tests/_ddp_worker.py SCENARIO OUT`` with ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``LOCAL_WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` in the environment. Each rank writes
what it saw to ``OUT/<scenario>_rank<r>.json`` (and its weights to ``.pt`` files); the test
compares the ranks with each other and with single-process runs of the same builders.

Scenarios: ``suite`` (training, resume, a stop request, a failing step, a failing data load,
a batch size that does not divide) and ``crash`` (rank 1 dies in the middle of a batch).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import Dataset  # noqa: E402

from halign_widgets.data.dataset import ImageDataset  # noqa: E402
from halign_widgets.models import SmallCNN  # noqa: E402

# SGD (momentum 0.9): its step is linear in the gradient, so two runs that differ by float rounding stay
# within rounding; Adam divides by the gradient RMS and can blow rounding up on near-zero gradients
KW: dict[str, Any] = dict(batch_size=16, progress=False, device="cpu", seed=1, lr=1e-2, optimizer="sgd")


def tiny_world(n: int = 80, size: int = 16) -> ImageDataset:
    """64 training images (a multiple of 2: no padding) and 16 validation images."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.rand(n, 1, size, size, generator=g) * 0.5
    x[y == 1, :, 4:12, 4:12] += 0.5
    return ImageDataset(x, y, ["off", "on"], splits={"train": torch.arange(64), "val": torch.arange(64, n)})


def tiny_model(seed: int = 0) -> SmallCNN:
    torch.manual_seed(seed)
    return SmallCNN(in_channels=1, num_classes=2, width=4, depth=2)


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def history(trainer: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k != "seconds"} for e in trainer.history]


class _FlakyData(Dataset):
    """A non-tensor dataset whose ``fail_at``-th item read raises on rank 1 (a corrupt file on one node)."""

    def __init__(self, base: ImageDataset, rank: int, fail_at: int) -> None:
        self.base, self.rank, self.fail_at, self.reads = base, rank, fail_at, 0

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.reads += 1
        if self.rank == 1 and self.reads == self.fail_at:
            raise OSError("cannot read image 37: damaged file (only on rank 1)")
        return self.base[i]


def _failure(run: Any) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        run()
    except Exception as exc:  # noqa: BLE001 - recorded for the test
        return {"type": type(exc).__name__, "message": str(exc), "seconds": time.perf_counter() - start}
    return {"type": None, "message": "", "seconds": time.perf_counter() - start}


def suite(rank: int, out: Path) -> dict[str, Any]:
    from halign_widgets.training import Callback, Trainer

    world = tiny_world()
    found: dict[str, Any] = {}
    # training, then resuming its checkpoint into a differently initialised model
    model = tiny_model()
    trainer = Trainer(model, world.train, world.val, epochs=2, distributed=True, dist_timeout=60,
                      checkpoint_dir=out / "ckpt", **KW)
    trainer.fit()
    torch.save(weights(model), out / f"train_rank{rank}.pt")
    found["train"] = {"history": history(trainer), "spread": trainer.rank_spread, "world": trainer.world_size,
                      "main": trainer.is_main, "steps": trainer.global_step, "state": trainer.state,
                      "checkpoint_written": (out / "ckpt" / "last.pt").is_file()}
    resumed = tiny_model(seed=99)
    again = Trainer(resumed, world.train, world.val, epochs=3, distributed=True, dist_timeout=60, **KW)
    again.fit(resume_from=out / "ckpt" / "last.pt")
    torch.save(weights(resumed), out / f"resume_rank{rank}.pt")
    found["resume"] = {"history": history(again), "spread": again.rank_spread}

    class StopAt(Callback):
        def on_batch_end(self, trainer: Any, step: int, logs: dict[str, Any]) -> None:
            if trainer.is_main and step == 6:   # epoch 2, batch 2 of 4
                trainer.request_stop()

    stopped = Trainer(tiny_model(), world.train, world.val, epochs=3, distributed=True, callbacks=[StopAt()],
                      dist_timeout=60, **KW)
    stopped.fit()
    found["stop"] = {"state": stopped.state, "steps": stopped.global_step, "epochs": len(stopped.history),
                     "spread": stopped.rank_spread}

    calls = {"n": 0}

    def failing_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Any:
        logits = model(x)
        calls["n"] += 1
        if rank == 1 and calls["n"] == 3:
            raise RuntimeError("the loss cannot be computed (only on rank 1)")
        return nn.functional.cross_entropy(logits, y), logits, {}

    failing = Trainer(tiny_model(), world.train, world.val, epochs=2, distributed=True, step_fn=failing_step,
                      dist_timeout=60, **KW)
    found["fail"] = {**_failure(failing.fit), "state": failing.state}
    flaky = Trainer(tiny_model(), _FlakyData(world.train, rank, fail_at=20), None, epochs=1, distributed=True,
                    dist_timeout=60, **KW)
    found["load"] = {**_failure(flaky.fit), "state": flaky.state}
    mixed = tiny_model()
    amp = Trainer(mixed, world.train, world.val, epochs=1, distributed=True, amp=True, dist_timeout=60, **KW)
    amp.fit()
    found["amp"] = {"spread": amp.rank_spread, "loss": amp.history[-1]["train_loss"], "state": amp.state}
    found["odd_batch"] = _failure(lambda: Trainer(tiny_model(), world.train, None, epochs=1, distributed=True,
                                                  **{**KW, "batch_size": 15}))
    # leaving together: rank 0 still works (as the command line's test evaluation does) while rank 1 is done
    from halign_widgets.training import finish_distributed

    if rank == 0:
        time.sleep(3.0)
    arrived = time.time()
    ended = finish_distributed()
    found["finish"] = {"arrived": arrived, "left": time.time(), "ended": ended, "again": finish_distributed()}
    return found


def crash(rank: int, out: Path) -> dict[str, Any]:
    from halign_widgets.training import Trainer

    world = tiny_world()
    calls = {"n": 0}

    def dying_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> Any:
        calls["n"] += 1
        if rank == 1 and calls["n"] == 2:
            os._exit(17)                     # killed in the middle of a batch (out of memory, a node lost)
        logits = model(x)
        return nn.functional.cross_entropy(logits, y), logits, {}

    trainer = Trainer(tiny_model(), world.train, None, epochs=1, distributed=True, step_fn=dying_step,
                      dist_timeout=30, **KW)
    return {"crash": _failure(trainer.fit)}


if __name__ == "__main__":
    scenario, folder = sys.argv[1], Path(sys.argv[2])
    rank = int(os.environ["RANK"])
    result = {"suite": suite, "crash": crash}[scenario](rank, folder)
    (folder / f"{scenario}_rank{rank}.json").write_text(json.dumps(result, indent=1))
