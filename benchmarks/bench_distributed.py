"""Benchmark: data-parallel training on the CPU — 2 processes (torchrun, gloo) vs 1 process.

The same training (SmallCNN on ``masses``, same seed, same global batch, same epochs) run as

1. one process with the Trainer's default threads (the usable cores not busy with other work when it
   starts, at least 1: on a loaded machine that may be a single thread);
2. one process with a single thread (the per-core baseline);
3. ``torchrun --nproc_per_node=2``: two processes of one thread each, gloo, synchronised batch
   norm (the default), each taking half of every global batch;
4. the same with per-rank batch norm (``sync_bn=False``: plain DDP, one collective fewer per
   batch-norm layer and pass, no longer equal to the single-process run).

Reported per variant (median over ``--repeats``): the training time (``fit`` on rank 0, without
process start-up), training images per second, the speed-up over variant 1, and the wall time of
the whole command including start-up. On a small CPU the two processes compete with everything
else on the machine; the numbers are reported, never judged.

Run: ``python benchmarks/bench_distributed.py [--images 1200] [--size 32] [--epochs 2] [--batch-size 64]
[--repeats 2] [--record]``; ``--record`` writes ``benchmarks/results/distributed.json`` (docs/scale.md's
numbers are rendered from it by ``tools/readme_numbers.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]   # _record, the lab


def _train(args: argparse.Namespace, out: Path | None) -> dict[str, Any]:
    from halign_widgets.data import make_world
    from halign_widgets.training import Trainer, build_classifier, usable_cpus

    world = make_world("masses", args.images, size=args.size, seed=0)
    train = world.train.subset(range(len(world.train) // 2 * 2))  # a multiple of 2: the same images either way
    model = build_classifier(train, width=args.width, seed=0)
    trainer = Trainer(model, train, None, epochs=args.epochs, batch_size=args.batch_size, seed=0, progress=False,
                      device="cpu", precise_bn=0, sync_bn=not args.no_sync_bn)
    start = time.perf_counter()
    trainer.fit()
    seconds = time.perf_counter() - start
    import torch

    result = {"seconds": seconds, "images": len(train) * args.epochs, "world": trainer.world_size,
              "threads": torch.get_num_threads(), "usable": usable_cpus(),
              "loss": trainer.history[-1]["train_loss"]}
    if out is not None and trainer.is_main:
        out.write_text(json.dumps(result))
    return result


def _command(args: argparse.Namespace, nproc: int | None, threads: int | None, out: Path,
             sync_bn: bool = True) -> tuple[dict[str, Any], float]:
    base = [f"--images={args.images}", f"--size={args.size}", f"--epochs={args.epochs}",
            f"--batch-size={args.batch_size}",
            f"--width={args.width}", "--worker", str(out)] + ([] if sync_bn else ["--no-sync-bn"])
    me = str(Path(__file__).resolve())
    cmd = ([sys.executable, me, *base] if nproc is None else
           [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", me, *base])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if threads is not None:
        env["HALIGN_THREADS"] = str(threads)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(out.read_text()), wall


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=1200, help="images in the world (70 %% train)")
    p.add_argument("--size", type=int, default=32, help="image side")
    p.add_argument("--width", type=int, default=16, help="SmallCNN width")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64, help="global batch")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--record", action="store_true", help="write benchmarks/results/distributed.json")
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--no-sync-bn", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv if argv is not None else sys.argv[1:] if __name__ == "__main__" else [])
    if args.worker is not None:
        _train(args, args.worker)
        return 0
    variants = [("1 process, the Trainer's default threads", None, None), ("1 process, 1 thread", None, 1),
                ("2 processes (torchrun, gloo), 1 thread each", 2, 1),
                ("2 processes, per-rank batch norm (sync_bn=False)", 2, 1)]
    found: dict[str, list[tuple[dict[str, Any], float]]] = {name: [] for name, _, _ in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            order = variants[repeat % len(variants):] + variants[:repeat % len(variants)]  # rotate: spread drift
            for name, nproc, threads in order:
                found[name].append(_command(args, nproc, threads, Path(tmp) / f"r{repeat}.json",
                                            sync_bn="per-rank" not in name))
    base = statistics.median(r["seconds"] for r, _ in found[variants[0][0]])
    print(f"\nDistributed training on the CPU: masses n={args.images} ({args.size}px), SmallCNN width {args.width}, "
          f"{args.epochs} epochs, global batch {args.batch_size}, median of {args.repeats} (noisy on a shared machine)")
    print(f"{'variant':<50} {'threads':>7} {'fit s':>7} {'img/s':>8} {'speed-up':>8} {'wall s':>7} {'final loss':>10}")
    for name, _, _ in variants:
        runs = found[name]
        fit = statistics.median(r["seconds"] for r, _ in runs)
        wall = statistics.median(w for _, w in runs)
        first = runs[0][0]
        print(f"{name:<50} {first['threads']:>7} {fit:>7.2f} {first['images'] / fit:>8.0f} {base / fit:>7.2f}× "
              f"{wall:>7.1f} {first['loss']:>10.4f}")
    print(f"(usable CPU cores here: {found[variants[0][0]][0][0]['usable']}; rows 1–3 end at the same loss: same "
          "global batch, same order, batch norm over the global batch)")
    if args.record:
        from _record import write_record

        rows = []
        for name, nproc, _threads in variants:
            runs = found[name]
            fit = statistics.median(r["seconds"] for r, _ in runs)
            rows.append({"variant": name, "processes": nproc or 1, "threads": runs[0][0]["threads"],
                         "sync_bn": "per-rank" not in name, "fit_seconds": fit,
                         "images_per_second": runs[0][0]["images"] / fit, "speedup": base / fit,
                         "wall_seconds": statistics.median(w for _, w in runs), "final_loss": runs[0][0]["loss"]})
        first = found[variants[0][0]][0][0]
        config = {"world": "masses", "images": args.images, "train_images": first["images"] // args.epochs,
                  "size": args.size, "model": "SmallCNN", "width": args.width, "epochs": args.epochs,
                  "global_batch": args.batch_size, "repeats": args.repeats, "usable_cpus": first["usable"],
                  "optimizer": "the Trainer's default (Adam)"}
        write_record("distributed", config, rows, seeds=[0],
                     note="fit seconds on rank 0 (no process start-up), median over repeats; wall includes start-up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
