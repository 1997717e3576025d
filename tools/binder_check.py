"""Rehearse a Binder launch: build the environment as repo2docker does, run the chapters in Binder's limits.

Usage (from the repository root; ``make binder-check`` runs the first line)::

    python tools/binder_check.py --fresh                 # rebuild the env, every chapter, default parameters
    python tools/binder_check.py --reuse --smoke         # the cached env, smoke parameters
    python tools/binder_check.py --reuse 04_causality_maps 06   # chapters whose name contains these

What it does, step by step:

1. **The environment, as repo2docker builds it** from ``binder/``: a fresh virtual environment
   with the Python of ``runtime.txt``; ``pip install -r binder/requirements.txt`` (nothing else:
   not the test extras, not this machine's venv); then ``binder/postBuild`` run with that
   environment first on ``PATH`` (``NB_PYTHON_PREFIX`` = the environment, as on Binder), in a copy
   of the working tree made of the files git would clone (tracked, plus untracked files git does
   not ignore: ``git ls-files -co --exclude-standard``) — so an ignored file cannot make the
   rehearsal pass. The environment lives in ``build/binder/env-<hash of binder/>``: ``--fresh``
   deletes and rebuilds it, ``--reuse`` (the default) builds it only when ``binder/`` changed.
2. **Every chapter inside Binder's limits**: papermill (from this venv, a client only) executes
   the chapter on a kernel of the Binder environment with no ``PYTHONPATH`` (it imports the package
   postBuild installed), pinned to **one CPU** (``taskset -c 0`` for the whole process tree, so the
   lab's thread choice sees one CPU as on Binder), while the **resident memory of the kernel's
   process tree** (kernel and its children, psutil, every 50 ms) is watched: above the cap
   (``--memory-mb``, default 2000 MB, Binder's 2 GB) the run is killed and reported ``OVER``.
   ``RLIMIT_AS`` would not do: torch reserves far more address space than it uses.
3. **A table**: per chapter, wall and CPU seconds, peak memory and the outcome, with the date, the
   machine's load average before and after, and the build time; also written to
   ``build/binder/report.md``. Exit status 1 when a chapter crashed or went over the cap (time is
   reported, never failed on).

Hand-written because repo2docker itself needs Docker; this reproduces its two build steps for a
``requirements.txt`` + ``postBuild`` repository and nothing more (no apt.txt, no environment.yml).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
BINDER = ROOT / "binder"
WORK = ROOT / "build" / "binder"
MEMORY_MB = 2000.0
CPU = "0"


def binder_hash() -> str:
    """A short hash of every file in ``binder/`` (names and contents): the cached environment's key."""
    digest = hashlib.sha256()
    for path in sorted(p for p in BINDER.rglob("*") if p.is_file()):
        digest.update(path.relative_to(BINDER).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def runtime_python() -> str:
    """The interpreter ``binder/runtime.txt`` asks for (``python-3.11`` → ``python3.11`` on PATH)."""
    wanted = (BINDER / "runtime.txt").read_text(encoding="utf-8").strip().removeprefix("python-")
    major_minor = ".".join(wanted.split(".")[:2])
    found = shutil.which(f"python{major_minor}")
    if not found:
        raise SystemExit(f"binder/runtime.txt asks for Python {major_minor}, but python{major_minor} is not on PATH; "
                         "install it (e.g. with your distribution or pyenv) to rehearse the Binder build.")
    return found


def env_dir() -> Path:
    return WORK / f"env-{binder_hash()}"


def sync_repo_copy(dest: Path) -> Path:
    """Copy the files a fresh clone would have (tracked + untracked-not-ignored) into ``dest``."""
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    if dest.exists():
        shutil.rmtree(dest)
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file() and not src.is_symlink():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


def build_env(target: Path, repo: Path, log) -> float:  # noqa: ANN001 - a text file
    """repo2docker's two steps into a new venv at ``target``; return the seconds it took."""
    if target.exists():
        shutil.rmtree(target)
    t0 = time.perf_counter()
    subprocess.run([runtime_python(), "-m", "venv", str(target)], check=True, stdout=log, stderr=subprocess.STDOUT)
    env = dict(os.environ, PATH=f"{target / 'bin'}{os.pathsep}{os.environ['PATH']}", NB_PYTHON_PREFIX=str(target),
               VIRTUAL_ENV=str(target))
    env.pop("PYTHONPATH", None)
    # an index that does not answer at all (a machine without access to download.pytorch.org, whose
    # torch CPU wheel comes from a local wheel folder) would cost pip's five retries per package
    env.setdefault("PIP_RETRIES", "1")
    subprocess.run([str(target / "bin" / "python"), "-m", "pip", "install", "--no-input", "-r",
                    str(repo / "binder" / "requirements.txt")], cwd=repo, env=env, check=True, stdout=log,
                   stderr=subprocess.STDOUT)
    subprocess.run([str(repo / "binder" / "postBuild")], cwd=repo, env=env, check=True, stdout=log,
                   stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    (target / ".binder-complete").write_text(f"{seconds:.1f}\n", encoding="utf-8")
    return seconds


def ensure_env(fresh: bool = False, quiet: bool = False) -> tuple[Path, Path, float | None]:
    """The Binder environment and the repository copy it was installed from.

    Returns ``(env, repo_copy, build_seconds)``; ``build_seconds`` is ``None`` when a complete
    cached environment was reused. The repository copy is refreshed every time (the editable
    install of postBuild points at it, so chapters run the current code).
    """
    WORK.mkdir(parents=True, exist_ok=True)
    repo = sync_repo_copy(WORK / "repo")
    target = env_dir()
    if not fresh and (target / ".binder-complete").exists():
        return target, repo, None
    for stale in WORK.glob("env-*"):
        if stale != target:
            shutil.rmtree(stale, ignore_errors=True)
    log_path = WORK / "build.log"
    with open(log_path, "w", encoding="utf-8") as log:
        if not quiet:
            print(f"building the Binder environment in {target} (log: {log_path}) ...", flush=True)
        try:
            seconds = build_env(target, repo, log)
        except subprocess.CalledProcessError as exc:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(f"the Binder build failed ({exc}):\n{tail}") from None
    if not quiet:
        print(f"built in {seconds:.0f} s", flush=True)
    return target, repo, seconds


@dataclass
class Row:
    """One chapter's run: name, mode, wall and CPU seconds, peak MB, outcome and a message."""

    chapter: str
    mode: str
    seconds: float
    cpu_seconds: float
    peak_mb: float
    status: str
    message: str = ""


def _tree(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return [proc] + proc.children(recursive=True)
    except psutil.Error:
        return []


def _kernel_tree_rss(root: psutil.Process) -> tuple[float, float]:
    """(RSS, CPU seconds) of every ipykernel process under ``root`` and their descendants."""
    rss = cpu = 0.0
    for proc in _tree(root):
        try:
            if "ipykernel" not in " ".join(proc.cmdline()):
                continue
            for member in _tree(proc):
                rss += member.memory_info().rss
                times = member.cpu_times()
                cpu += times.user + times.system
        except psutil.Error:
            continue
    return rss, cpu


def run_chapter(env: Path, repo: Path, chapter: Path, smoke: bool, memory_mb: float = MEMORY_MB,
                timeout: float = 1800.0, cpu: str = CPU) -> Row:
    """Execute ``chapter`` (of the repository copy) on the Binder environment's kernel, in the limits."""
    mode = "smoke" if smoke else "default"
    out_dir = WORK / "runs"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{chapter.stem}-{mode}.ipynb"
    cmd = ["taskset", "-c", cpu, sys.executable, str(ROOT / "tools" / "nb_tool.py"), "run", str(chapter), str(out),
           "--kernel-python", str(env / "bin" / "python"), "--no-repo-path"] + (["--smoke"] if smoke else [])
    child_env = dict(os.environ)
    for key in ("PYTHONPATH", "HALIGN_SMOKE", "MPLBACKEND", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        child_env.pop(key, None)
    t0 = time.perf_counter()
    peak = cpu_seconds = 0.0
    status, message = "ok", ""
    with tempfile.TemporaryFile() as err:
        popen = subprocess.Popen(cmd, cwd=out_dir, env=child_env, stdout=subprocess.DEVNULL, stderr=err,
                                 start_new_session=True)
        root = psutil.Process(popen.pid)
        while popen.poll() is None:
            rss, used = _kernel_tree_rss(root)
            peak, cpu_seconds = max(peak, rss), max(cpu_seconds, used)
            if peak > memory_mb * 2**20:
                status, message = "OVER", f"kernel tree above {memory_mb:.0f} MB: killed"
                os.killpg(popen.pid, signal.SIGKILL)
                break
            if time.perf_counter() - t0 > timeout:
                status, message = "TIMEOUT", f"still running after {timeout:.0f} s: killed"
                os.killpg(popen.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        popen.wait()
        seconds = time.perf_counter() - t0
        if status == "ok" and popen.returncode != 0:
            err.seek(0)
            lines = [ln for ln in err.read().decode(errors="replace").splitlines() if ln.strip()]
            status, message = "CRASH", " | ".join(lines[-3:])[:500]
    return Row(chapter.stem, mode, seconds, cpu_seconds, peak / 2**20, status, message)


def environment_facts(env: Path) -> str:
    """Versions the Binder kernel really sees (torch, the package's location), for the report."""
    probe = ("import sys, torch, halign_widgets; from halign_widgets.training import usable_cpus; "
             "print(sys.version.split()[0], torch.__version__, halign_widgets.__file__, usable_cpus())")
    proc = subprocess.run(["taskset", "-c", CPU, str(env / "bin" / "python"), "-c", probe], capture_output=True,
                          text=True, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, cwd=WORK)
    if proc.returncode != 0:
        return f"(the environment does not import: {proc.stderr.strip()[-300:]})"
    version, torch_version, location, cpus = proc.stdout.split()
    return f"Python {version}, torch {torch_version}, halign_widgets from {location}, usable CPUs {cpus}"


def table(rows: list[Row]) -> str:
    lines = ["| chapter | mode | wall s | CPU s | peak MB | result |", "|---|---|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| `{r.chapter}` | {r.mode} | {r.seconds:.0f} | {r.cpu_seconds:.0f} | {r.peak_mb:.0f} | "
                     f"{r.status}{' — ' + r.message if r.message else ''} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="only chapters whose file name contains one of these")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--fresh", action="store_true", help="delete and rebuild the Binder environment")
    group.add_argument("--reuse", action="store_true", help="reuse the cached environment (the default)")
    parser.add_argument("--smoke", action="store_true", help="smoke parameters instead of the defaults")
    parser.add_argument("--memory-mb", type=float, default=MEMORY_MB, help="memory cap of the kernel tree (MB)")
    parser.add_argument("--record", action="store_true", help="write benchmarks/results/binder.json (the README's "
                        "and docs/teaching.md's Binder table: tools/readme_numbers.py --write)")
    args = parser.parse_args(argv)

    started = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    load_before = os.getloadavg()
    env, repo, build_seconds = ensure_env(fresh=args.fresh)
    facts = environment_facts(env)
    print(facts, flush=True)
    chapters = sorted((repo / "notebooks").glob("*.ipynb"))
    if args.names:
        chapters = [p for p in chapters if any(n in p.name for n in args.names)]
    rows = []
    for chapter in chapters:
        row = run_chapter(env, repo, chapter, args.smoke, args.memory_mb)
        rows.append(row)
        print(f"  {row.chapter} [{row.mode}] {row.seconds:.0f} s, {row.peak_mb:.0f} MB -> {row.status} {row.message}",
              flush=True)
    load_after = os.getloadavg()
    built = ("reused the cached environment" if build_seconds is None
             else f"environment built in {build_seconds:.0f} s")
    header = (f"Binder rehearsal, {started}: {built}; one CPU (taskset -c {CPU}), memory cap "
              f"{args.memory_mb:.0f} MB on the kernel's process tree; machine: {psutil.cpu_count()} cores, "
              f"load average {load_before[0]:.1f} before / {load_after[0]:.1f} after.\n{facts}.")
    report = f"{header}\n\n{table(rows)}\n"
    (WORK / "report.md").write_text(report, encoding="utf-8")
    print("\n" + report)
    if args.record:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from _record import write_record

        write_record("binder", {"cpu": CPU, "memory_mb": args.memory_mb, "smoke": args.smoke,
                                "build_seconds": build_seconds, "environment": facts,
                                "load_average_before": round(load_before[0], 2)},
                     [{"chapter": r.chapter, "mode": r.mode, "seconds": r.seconds, "cpu_seconds": r.cpu_seconds,
                       "peak_mb": r.peak_mb, "status": r.status, "message": r.message} for r in rows],
                     note="the environment as repo2docker builds it from binder/, each chapter on one CPU",
                     extra={"seeds_note": "each chapter's own, from its parameters cell"})
    return 1 if any(r.status != "ok" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
