"""Wall time and peak kernel memory of every chapter, with smoke and default parameters.

Usage::

    python benchmarks/bench_notebooks.py                 # every notebook, smoke + default
    python benchmarks/bench_notebooks.py --smoke-only    # quick: smoke runs only
    python benchmarks/bench_notebooks.py 00_start_here   # notebooks whose name contains this
    python benchmarks/bench_notebooks.py --conditions idle,load,onecore   # the three class settings
    python benchmarks/bench_notebooks.py --conditions idle,load,onecore --record --keep build/bench/runs

Conditions (the same machine in three situations a course meets, issue 13):

- ``idle`` — nothing else runs;
- ``load`` — ``--load N`` competing processes (default 2, one per core of the 2-core course
  machine) run small torch operations in a loop the whole time, like other students' notebooks
  on a shared hub;
- ``onecore`` — the run (and its kernel) is pinned to one CPU with ``sched_setaffinity``, like a
  Binder or hub session with a one-CPU quota.

Each run is ``python tools/nb_tool.py run`` (papermill on a kernel running this interpreter) in a
fresh process; the kernel's resident memory is polled with psutil every 50 ms and its peak is
reported. Budgets (DESIGN.md): default run <= 3 min and <= 1.5 GB; smoke run <= 30 s. Over-budget
rows are flagged OVER; the script never fails on time (exit 1 only when a notebook crashes).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _load import competing_load  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEEDS_NOTE = "each chapter's own, from its parameters cell (seed 0; three seeds where a chapter compares over seeds)"
BUDGET_SECONDS = {"smoke": 30.0, "default": 180.0}
BUDGET_MB = {"smoke": 1536.0, "default": 1536.0}


def _kernel_rss(proc: psutil.Process) -> float:
    """Resident memory (bytes) of the largest descendant running ipykernel (0 when none yet)."""
    best = 0.0
    try:
        children = proc.children(recursive=True)
    except psutil.Error:
        return 0.0
    for child in children:
        try:
            if "ipykernel" in " ".join(child.cmdline()):
                best = max(best, float(child.memory_info().rss))
        except psutil.Error:
            continue
    return best


def slowest_cell(executed: Path) -> str:
    """``"cell N: S s"`` for the slowest cell of a papermill output notebook ('' if unreadable)."""
    try:
        import nbformat

        nb = nbformat.read(executed, as_version=4)
    except Exception:  # noqa: BLE001 - a crashed run may leave no notebook
        return ""
    durations = [(float(c.metadata.get("papermill", {}).get("duration") or 0.0), i)
                 for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    if not durations:
        return ""
    seconds, index = max(durations)
    return f"cell {index}: {seconds:.1f} s"


def check_lines(executed: Path) -> list[str]:
    """The ``✅ pass`` / ``⏳ not yet`` lines the exercises' check cells printed ([] if unreadable)."""
    try:
        import nbformat

        nb = nbformat.read(executed, as_version=4)
    except Exception:  # noqa: BLE001 - a crashed run may leave no notebook
        return []
    lines = []
    for cell in nb.cells:
        if cell.cell_type == "code" and "check" in cell.metadata.get("tags", []):
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            lines += [ln for ln in text.splitlines() if ln.startswith(("✅ pass:", "⏳ not yet:"))]
    return lines


def run_name(notebook: Path, mode: str, condition: str) -> str:
    """File name of one run's executed notebook."""
    return f"{notebook.stem}-{mode}-{condition}.ipynb"


def measure(notebook: Path, smoke: bool, out: Path, cpus: set[int] | None = None) -> tuple[float, float, int, str]:
    """Run ``notebook`` once into ``out`` (on ``cpus`` only, if given); return (seconds, peak MB, exit code, stderr)."""
    cmd = [sys.executable, str(ROOT / "tools" / "nb_tool.py"), "run", str(notebook), str(out)]
    if smoke:
        cmd.append("--smoke")
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    if not smoke:
        env.pop("HALIGN_SMOKE", None)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
        popen = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err, preexec_fn=pin)
        ps = psutil.Process(popen.pid)
        peak = 0.0
        while popen.poll() is None:
            peak = max(peak, _kernel_rss(ps))
            time.sleep(0.05)
        seconds = time.perf_counter() - t0
        err.seek(0)
        tail = err.read().decode(errors="replace")[-1500:]
    return seconds, peak / 2**20, popen.returncode, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="only notebooks whose file name contains one of these")
    parser.add_argument("--smoke-only", action="store_true", help="skip the default-parameter runs")
    parser.add_argument("--conditions", default="idle",
                        help="comma-separated: idle, load, onecore (see the module docstring); default idle")
    parser.add_argument("--load", type=int, default=2, help="competing processes under 'load' (default 2)")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/notebooks.json (the README's "
                        "and docs/teaching.md's timing tables: tools/readme_numbers.py --write)")
    parser.add_argument("--keep", type=Path, help="keep the executed notebooks in this folder (their numbers)")
    args = parser.parse_args(argv)
    conditions = [c.strip() for c in args.conditions.split(",") if c.strip()]
    unknown = sorted(set(conditions) - {"idle", "load", "onecore"})
    if unknown:
        parser.error(f"unknown condition(s) {unknown}; use idle, load, onecore")
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if args.names:
        notebooks = [p for p in notebooks if any(n in p.name for n in args.names)]
    modes = ["smoke"] if args.smoke_only else ["smoke", "default"]
    rows, crashed = [], 0
    checks: dict[str, list[str]] = {}    # the exercises' check lines of each chapter's first default run
    first_cpu = sorted(os.sched_getaffinity(0))[0]
    with tempfile.TemporaryDirectory(prefix="halign-bench-") as tmp:
        for condition in conditions:
            cpus = {first_cpu} if condition == "onecore" else None
            with competing_load(args.load) if condition == "load" else contextlib.nullcontext():
                for nb in notebooks:
                    # smoke runs are a CI budget: timed under the first condition only
                    for mode in (modes if condition == conditions[0] else [m for m in modes if m != "smoke"]):
                        out = (args.keep or Path(tmp)) / run_name(nb, mode, condition)
                        out.parent.mkdir(parents=True, exist_ok=True)
                        seconds, peak_mb, code, tail = measure(nb, mode == "smoke", out, cpus)
                        if code != 0:
                            crashed += 1
                            print(f"CRASH {nb.name} ({mode}, {condition}):\n{tail}", flush=True)
                        over = seconds > BUDGET_SECONDS[mode] or peak_mb > BUDGET_MB[mode]
                        status = "CRASH" if code else ("OVER" if over else "ok")
                        slow = slowest_cell(out)
                        if mode == "default" and condition == conditions[0]:
                            checks[nb.stem] = check_lines(out)
                        rows.append((nb.stem, mode, condition, seconds, BUDGET_SECONDS[mode], peak_mb, BUDGET_MB[mode],
                                     status, slow))
                        print(f"  {nb.stem} [{mode}, {condition}] {seconds:.1f} s, {peak_mb:.0f} MB -> {status}",
                              flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nNotebooks ({psutil.cpu_count()} CPU cores; 'load' = {args.load} competing processes; load average "
          f"now {load:.1f}; kernel peak RSS polled every 50 ms)")
    print(f"{'notebook':34s} {'mode':8s} {'condition':9s} {'seconds':>8s} {'budget':>7s} {'peak MB':>8s} "
          f"{'budget':>7s}  {'status':6s}  slowest cell")
    for name, mode, condition, sec, bsec, mb, bmb, status, slow in rows:
        print(f"{name:34s} {mode:8s} {condition:9s} {sec:8.1f} {bsec:7.0f} {mb:8.0f} {bmb:7.0f}  {status:6s}  {slow}")
    if args.record:
        from _record import write_record

        keys = ("notebook", "mode", "condition", "seconds", "budget_seconds", "peak_mb", "budget_mb", "status",
                "slowest_cell")
        write_record("notebooks", {"conditions": conditions, "load_processes": args.load, "modes": modes,
                                   "notebooks": [p.stem for p in notebooks]},
                     [dict(zip(keys, row, strict=True)) for row in rows],
                     extra={"exercise_checks": checks, "seeds_note": SEEDS_NOTE},
                     note="one run per notebook, mode and condition; papermill in a fresh process each")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
