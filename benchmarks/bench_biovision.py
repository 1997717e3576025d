"""Benchmark CoCoReco against ScratchCNN, one forward pass, and chapter 06's time and memory.

Run ``python benchmarks/bench_biovision.py`` (``--quick`` for a shorter run, ``--no-chapter`` to skip
the notebook runs, ``--record`` to write every table, with its configuration, seeds and the machine's load
average, to ``benchmarks/results/biovision.json`` through ``benchmarks/_record.py``). Prints three tables;
never fails on time.

1. Training cost at 64 px (the issue's comparison) of ScratchCNN, CoCoReco without CAB and CoCoReco
   with CAB (with the ``L_mb`` terms of :class:`CoCoRecoStep`), each in a fresh process, as ratios to
   ScratchCNN: seconds and CPU seconds per epoch; memory as the bytes one training step of 64 images
   keeps for the backward pass (``saved MB``, exact, from autograd's saved-tensor hooks) and as the
   peak resident-set growth (``peak MB``, sampled every 2 ms by ``_memory.sampled`` — at this
   scale mostly allocator noise). With 1 and 2 torch threads (the chapter uses 1: these networks run
   hundreds of tiny operations per step, and on a shared 2-core machine two OpenMP threads made every
   step several times slower).
2. One forward pass (one image, eval mode), and forward + Grad-CAM at IT (the explorer's work).
3. The chapter, smoke and default parameters, through ``bench_notebooks.measure`` (papermill in a
   fresh kernel, kernel RSS polled every 50 ms). Budgets: default ≤ 180 s and ≤ 1.5 GB, smoke ≤ 30 s.
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

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]   # run from a checkout without installing

from _memory import sampled  # noqa: E402  (the one RSS sampler of the benchmarks)
from halign_widgets.biovision import CoCoRecoStep, build_model  # noqa: E402

VARIANTS = ("scratch", "cocoreco", "cocoreco_cab")
LABELS = {"scratch": "ScratchCNN", "cocoreco": "CoCoReco, no CAB", "cocoreco_cab": "CoCoReco + CAB"}


def _train_one(variant: str, width: int, size: int, n_images: int, epochs: int, threads: int) -> dict[str, float]:
    """Train ``variant`` in this (fresh) process: seconds/epoch, CPU seconds/epoch, params, peak RSS growth."""
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(n_images, 1, size, size, generator=g), torch.randint(0, 2, (n_images,), generator=g)
    model = build_model(variant, 1, 2, width, seed=0)
    step = CoCoRecoStep(cab_warmup=0)          # CABs on in every epoch: the cost of the full model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def train() -> None:
        model.train()
        for _ in range(epochs):
            for idx in torch.randperm(n_images, generator=g).split(64):
                loss, _, _ = step(model, x[idx], y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()

    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved[t.data_ptr()] = t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):   # what one step keeps for backward
        step(model, x[:64], y[:64])[0].backward()                        # (also the warm-up call)
    opt.zero_grad()
    cpu = time.process_time()
    seconds, mb, _ = sampled(train, 0.002)
    cpu = time.process_time() - cpu
    return {"seconds": seconds / epochs, "cpu": cpu / epochs, "params": sum(p.numel() for p in model.parameters()),
            "mb": mb, "saved_mb": sum(saved.values()) / 2**20}


def bench_training(width: int, size: int, n_images: int, epochs: int,
                   threads: tuple[int, ...]) -> list[dict[str, object]]:
    print(f"\nTraining cost, width divisor {width}, {size}×{size} px, {n_images} random images, batch 64, "
          f"{epochs} epoch(s); each row a fresh process; ratios to ScratchCNN with the same threads")
    print(f"{'model':>17} {'threads':>7} {'s/epoch':>8} {'CPU s/ep':>9} {'× wall':>7} {'× CPU':>6} {'params':>8} "
          f"{'saved MB':>9} {'× saved':>8} {'peak MB':>8}")
    rows: list[dict[str, object]] = []
    for t in threads:
        base: dict[str, float] | None = None
        for variant in VARIANTS:
            out = subprocess.run([sys.executable, __file__, "--train-one", variant, str(width), str(size),
                                  str(n_images), str(epochs), str(t)], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            base = r if base is None else base
            print(f"{LABELS[variant]:>17} {t:>7} {r['seconds']:>8.2f} {r['cpu']:>9.2f} "
                  f"{r['seconds'] / base['seconds']:>6.1f}× {r['cpu'] / base['cpu']:>5.1f}× {r['params']:>8} "
                  f"{r['saved_mb']:>9.1f} {r['saved_mb'] / base['saved_mb']:>7.1f}× {r['mb']:>8.1f}", flush=True)
            rows.append({"model": LABELS[variant], "variant": variant, "width": width, "size": size,
                         "n_images": n_images, "epochs": epochs, "threads": t, **r,
                         "wall_ratio": r["seconds"] / base["seconds"], "cpu_ratio": r["cpu"] / base["cpu"],
                         "saved_ratio": r["saved_mb"] / base["saved_mb"]})
    return rows


def bench_forward(width: int, sizes: tuple[int, ...], repeat: int = 20) -> list[dict[str, object]]:
    from halign_widgets.explain import explain

    torch.set_num_threads(1)
    print(f"\nOne image, eval mode, 1 thread, width divisor {width}: median ms over {repeat} calls "
          "(budget for gradient/CAM methods in an app: ≤ 150 ms)")
    print(f"{'model':>17} {'size':>5} {'forward ms':>11} {'+ Grad-CAM ms':>14}")
    rows: list[dict[str, object]] = []
    for size in sizes:
        x = torch.rand(1, 1, size, size)
        for variant in VARIANTS:
            model = build_model(variant, 1, 2, width, seed=0).eval()
            with torch.no_grad():
                model(x)
            fwd, cam = [], []
            for _ in range(repeat):
                t = time.perf_counter()
                with torch.no_grad():
                    model(x)
                fwd.append(time.perf_counter() - t)
                t = time.perf_counter()
                explain(model, x, "gradcam", target=0)
                cam.append(time.perf_counter() - t)
            print(f"{LABELS[variant]:>17} {size:>5} {statistics.median(fwd) * 1e3:>11.1f} "
                  f"{statistics.median(cam) * 1e3:>14.1f}", flush=True)
            rows.append({"model": LABELS[variant], "variant": variant, "width": width, "size": size,
                         "forward_ms": statistics.median(fwd) * 1e3, "gradcam_ms": statistics.median(cam) * 1e3})
    return rows


def bench_chapter(smoke_only: bool) -> dict[str, dict[str, object]]:
    import bench_notebooks

    notebook = ROOT / "notebooks" / "06_biovision_cocoreco.ipynb"
    print("\nChapter 06 (papermill, fresh kernel; kernel peak RSS)")
    print(f"{'mode':>8} {'seconds':>8} {'budget':>7} {'peak MB':>8} {'budget':>7}  status  slowest cell")
    out: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="halign-bench06-") as tmp:
        for mode in (("smoke",) if smoke_only else ("smoke", "default")):
            seconds, mb, code, tail = bench_notebooks.measure(notebook, mode == "smoke",
                                                             Path(tmp) / f"{notebook.stem}-{mode}.ipynb")
            over = seconds > bench_notebooks.BUDGET_SECONDS[mode] or mb > bench_notebooks.BUDGET_MB[mode]
            status = "CRASH" if code else ("OVER" if over else "ok")
            slow = bench_notebooks.slowest_cell(Path(tmp) / f"{notebook.stem}-{mode}.ipynb")
            print(f"{mode:>8} {seconds:>8.1f} {bench_notebooks.BUDGET_SECONDS[mode]:>7.0f} {mb:>8.0f} "
                  f"{bench_notebooks.BUDGET_MB[mode]:>7.0f}  {status:6s}  {slow}", flush=True)
            out[mode] = {"seconds": seconds, "peak_mb": mb, "status": status, "slowest_cell": slow,
                         "budget_seconds": bench_notebooks.BUDGET_SECONDS[mode],
                         "budget_mb": bench_notebooks.BUDGET_MB[mode]}
            if code:
                print(tail)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer images, one thread setting, smoke chapter only")
    parser.add_argument("--no-chapter", action="store_true", help="skip the notebook runs")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/biovision.json")
    parser.add_argument("--train-one", nargs=6, metavar="ARG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.train_one:
        variant, *nums = args.train_one
        print(json.dumps(_train_one(variant, *map(int, nums))))
        return
    print(f"torch {torch.__version__}; timings on a shared machine are inflated by contention (CPU seconds "
          "are less sensitive than wall seconds)")
    load_start = [round(v, 2) for v in os.getloadavg()]
    training = bench_training(width=32, size=64, n_images=128 if args.quick else 512, epochs=1 if args.quick else 2,
                              threads=(1,) if args.quick else (1, 2))
    if not args.quick:
        training += bench_training(width=16, size=64, n_images=512, epochs=1, threads=(1,))
    forward = bench_forward(width=32, sizes=(32, 64) if args.quick else (32, 64, 128))
    chapter = {} if args.no_chapter else bench_chapter(smoke_only=args.quick)
    if args.record:
        from _record import write_record

        write_record("biovision", {
            "quick": args.quick, "training": "random images torch.rand(n, 1, 64, 64), random labels, batch 64, "
            "Adam lr 1e-3, CoCoRecoStep(cab_warmup=0), one warm-up step (not timed), each row a fresh process",
            "forward": "one image torch.rand(1, 1, size, size), eval mode, 1 thread, median of 20 calls; "
                       "Grad-CAM at IT through halign_widgets.explain",
            "chapter": "skipped (--no-chapter)" if args.no_chapter else
                       ("smoke only (--quick)" if args.quick else "smoke and default parameters")},
            {"training": training, "forward": forward, "chapter": chapter}, seeds=[0],
            note="ratios are to ScratchCNN with the same threads; 'saved MB' is exact (autograd saved tensors), "
                 "'peak MB' is sampled RSS growth (mostly allocator noise at this scale); shared machine, noisy",
            extra={"load_average_at_start": load_start})


if __name__ == "__main__":
    main()
