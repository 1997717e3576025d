"""Run every ``benchmarks/bench_*.py`` (its ``main()``, each in a fresh interpreter) and print
all their tables.

Usage::

    python benchmarks/run_all.py            # everything (make bench)
    python benchmarks/run_all.py -k notebooks  # only benchmarks whose file name contains 'notebooks'

Benchmarks never fail on time: the exit code is 0 unless a benchmark crashes (non-zero exit).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

_LAUNCH = """
import importlib.util, sys
sys.path[:0] = [{root!r}, {here!r}]
spec = importlib.util.spec_from_file_location("bench_module", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
result = module.main()
sys.exit(result if isinstance(result, int) else 0)
"""


def discover(keyword: str | None = None) -> list[Path]:
    """Every ``bench_*.py`` beside this file, optionally filtered by ``keyword``."""
    found = sorted(HERE.glob("bench_*.py"))
    return [p for p in found if keyword is None or keyword in p.name]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-k", dest="keyword", default=None, help="only files whose name contains this")
    args = parser.parse_args(argv)
    scripts = discover(args.keyword)
    if not scripts:
        print("no benchmarks/bench_*.py found")
        return 0
    env = dict(os.environ, MPLBACKEND="Agg",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    summary = []
    for script in scripts:
        print(f"\n=== {script.name} " + "=" * max(0, 70 - len(script.name)), flush=True)
        t0 = time.perf_counter()
        code = _LAUNCH.format(root=str(ROOT), here=str(HERE), path=str(script))
        proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env)
        summary.append((script.name, proc.returncode, time.perf_counter() - t0))
    print("\n=== summary " + "=" * 60)
    print(f"{'benchmark':40s} {'status':>10s} {'seconds':>9s}")
    for name, rc, seconds in summary:
        print(f"{name:40s} {'ok' if rc == 0 else f'CRASH({rc})':>10s} {seconds:9.1f}")
    crashed = [name for name, rc, _ in summary if rc != 0]
    if crashed:
        print(f"\n{len(crashed)} benchmark(s) crashed: {', '.join(crashed)}")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
