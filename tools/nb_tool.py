"""Keep the chapter notebooks clean, run them, and render the course handouts.

Usage (from the repository root, with the venv's python)::

    python tools/nb_tool.py strip [NOTEBOOK ...] [--check]   # clear outputs except nbval cells
    python tools/nb_tool.py fill  [NOTEBOOK ...]             # run with HALIGN_SMOKE=1, store
                                                             # outputs of nbval cells only
    python tools/nb_tool.py verify [NOTEBOOK ...]            # default parameters: nbval cells
                                                             # must print what is stored
    python tools/nb_tool.py run NOTEBOOK OUT [--smoke]       # papermill, venv kernel
          [--kernel-python PY] [--no-repo-path]              # (a kernel of another environment)
    python tools/nb_tool.py student [--out build]            # student + teacher copies (make student)
    python tools/nb_tool.py course [--out handouts] [--smoke]  # both copies executed + HTML (make course)
    python tools/nb_tool.py checks NOTEBOOK ... [--run]      # what each exercise's check printed
    python tools/nb_tool.py clean-filter < in.ipynb > out.ipynb  # git's clean filter (.gitattributes)

Without a notebook argument, ``strip`` and ``fill`` act on every ``notebooks/*.ipynb``.

Conventions (the team brief, "Notebook conventions"): notebooks are committed without outputs
and with ``execution_count`` null, except code cells tagged ``nbval-check-output``, whose stored
output (and execution count: nbval ignores a reference cell without one) is what
``pytest --nbval-lax`` compares against. The first code cell is tagged ``parameters``.

The kernel is always the interpreter running this tool (:func:`venv_kernel` writes a temporary
kernelspec for ``sys.executable``), so a stray user-level ``python3`` kernelspec cannot make a
run use another environment — or, with ``--kernel-python``, the one named (``tools/binder_check.py``
runs the chapters in the Binder environment that way).

Course copies (:mod:`course_copies`, DESIGN.md "Exercises"): ``student`` writes
``<out>/student/<chapter>.ipynb`` (every ``solution`` cell replaced by a stub that sets the answer
names to ``None``; nothing of a solution left) and ``<out>/teacher/<chapter>.ipynb`` (everything);
``course`` executes both with default parameters (``--smoke`` for a quick rehearsal) and exports
each to offline HTML beside it: the teacher copy's checks pass, the student copy's say "not yet".
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat

import course_copies

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CHECK_TAG = "nbval-check-output"
PARAMS_TAG = "parameters"
KERNEL_NAME = "halign-venv"
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"
# cell metadata written by papermill / nbclient / JupyterLab that must not be committed
VOLATILE_CELL_META = ("execution", "papermill")  # run records; UI state (jupyter.source_hidden …) is kept
VOLATILE_NB_META = ("papermill", "widgets")
# kernels draw with matplotlib's inline backend, as in JupyterLab: plt.show() puts a PNG in the
# output (with MPLBACKEND=Agg inherited from a Makefile it silently showed nothing)
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def all_notebooks() -> list[Path]:
    """Every chapter notebook, sorted by name."""
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _pythonpath() -> str:
    """``PYTHONPATH`` with the repository first, so kernels import this checkout's package."""
    return os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))


def tags(cell: Any) -> list[str]:
    """The tags of a cell (empty list when none)."""
    return list(cell.get("metadata", {}).get("tags", []))


# -- kernel and environment ----------------------------------------------------------------------
@contextlib.contextmanager
def venv_kernel(python: str | None = None) -> Iterator[str]:
    """Provide a kernelspec named :data:`KERNEL_NAME` that runs ``python`` (default: this one).

    The spec lives in a temporary ``JUPYTER_PATH`` entry, which takes precedence over user and
    system kernelspecs. Yields the kernel name to pass to papermill / nbclient.
    """
    with tempfile.TemporaryDirectory(prefix="halign-kernel-") as tmp:
        spec_dir = Path(tmp) / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        spec = {"argv": [python or sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python (halign_widgets venv)", "language": "python"}
        (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
        old = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = tmp + (os.pathsep + old if old else "")
        try:
            yield KERNEL_NAME
        finally:
            if old is None:
                os.environ.pop("JUPYTER_PATH", None)
            else:
                os.environ["JUPYTER_PATH"] = old


@contextlib.contextmanager
def patched_env(**values: str | None) -> Iterator[None]:
    """Set (or, with ``None``, unset) environment variables for the duration of the block."""
    old = {k: os.environ.get(k) for k in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_notebook(src: Path, out: Path, *, smoke: bool, cwd: Path | None = None,
                 timeout: int = 900, parameters: dict[str, Any] | None = None,
                 kernel_python: str | None = None, repo_path: bool = True) -> float:
    """Execute ``src`` with papermill into ``out`` on the venv kernel; return the wall time (s).

    ``smoke`` injects ``SMOKE=True`` and sets ``HALIGN_SMOKE=1``; otherwise ``HALIGN_SMOKE`` is
    removed from the environment so the chapter runs with its default parameters.
    ``kernel_python`` runs the kernel with another interpreter (default: this one); with
    ``repo_path=False`` the kernel gets no ``PYTHONPATH`` at all, so it imports the package its own
    environment installed rather than this checkout.
    Raises ``papermill.PapermillExecutionError`` when a cell fails.
    """
    import papermill as pm

    params = dict(parameters or {})
    if smoke:
        params.setdefault("SMOKE", True)
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with venv_kernel(kernel_python) as kernel, patched_env(HALIGN_SMOKE="1" if smoke else None,
                                                           MPLBACKEND=INLINE_BACKEND,
                                                           PYTHONPATH=_pythonpath() if repo_path else None):
        pm.execute_notebook(str(src), str(out), parameters=params, kernel_name=kernel,
                            cwd=str(cwd or out.parent), progress_bar=False,
                            execution_timeout=timeout, log_output=False)
    return time.perf_counter() - t0


# -- cleaning ----------------------------------------------------------------------------------------
def clean_copy(nb: Any, outputs_from: Any | None = None) -> Any:
    """Return a cleaned copy of ``nb``: outputs only in ``nbval-check-output`` cells.

    With ``outputs_from`` (an executed version of the same notebook, same cell order), the kept
    outputs are taken from it instead of from ``nb``.
    """
    new = copy.deepcopy(nb)
    for key in VOLATILE_NB_META:
        new.metadata.pop(key, None)
    for i, cell in enumerate(new.cells):
        for key in VOLATILE_CELL_META:
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            continue
        if CHECK_TAG in tags(cell):
            source_cell = outputs_from.cells[i] if outputs_from is not None else cell
            kept = copy.deepcopy(source_cell.get("outputs", []))
            # nbval refuses a reference cell with outputs but no execution count ("unrun")
            count = source_cell.get("execution_count") if kept else None
            for out in kept:
                if "execution_count" in out:
                    out["execution_count"] = count
                if isinstance(out.get("metadata"), dict):
                    out["metadata"] = {}
            cell.outputs, cell.execution_count = kept, count
        else:
            cell.outputs, cell.execution_count = [], None
    return new


def is_clean(nb: Any) -> list[str]:
    """List the problems that make ``nb`` not clean (empty list when clean)."""
    problems = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        tagged = CHECK_TAG in tags(cell)
        if not tagged and cell.get("execution_count") is not None:
            problems.append(f"cell {i}: execution_count {cell.execution_count} (should be null)")
        if tagged and cell.get("outputs") and cell.get("execution_count") is None:
            problems.append(f"cell {i}: tagged {CHECK_TAG!r} with outputs but no execution_count (nbval "
                            "skips it as unrun; run `fill`)")
        if cell.get("outputs") and CHECK_TAG not in tags(cell):
            problems.append(f"cell {i}: has stored outputs but is not tagged {CHECK_TAG!r}")
        if CHECK_TAG in tags(cell) and not cell.get("outputs"):
            problems.append(f"cell {i}: tagged {CHECK_TAG!r} but has no stored output (run `fill`)")
    for key in VOLATILE_NB_META:
        if key in nb.metadata:
            problems.append(f"notebook metadata {key!r} should not be committed")
    return problems


def strip(paths: list[Path], check: bool = False) -> int:
    """Strip ``paths`` in place (or with ``check`` only report); return the number not clean."""
    dirty = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        cleaned = clean_copy(nb)
        changed = nbformat.writes(cleaned) != nbformat.writes(nb)
        if check:
            problems = is_clean(nb) or (["outputs or run metadata to strip"] if changed else [])
            if problems:
                dirty += 1
                print(f"{path}: not clean\n  " + "\n  ".join(problems))
        elif changed:
            dirty += 1
            nbformat.write(cleaned, path)
            print(f"{path}: stripped")
    return dirty


def fill(paths: list[Path]) -> None:
    """Execute each notebook with ``HALIGN_SMOKE=1`` and store outputs of tagged cells only."""
    from nbclient import NotebookClient

    for path in paths:
        nb = nbformat.read(path, as_version=4)
        executed = copy.deepcopy(nb)
        with tempfile.TemporaryDirectory(prefix="halign-fill-") as tmp, venv_kernel() as kernel, \
                patched_env(HALIGN_SMOKE="1", MPLBACKEND=INLINE_BACKEND, PYTHONPATH=_pythonpath()):
            t0 = time.perf_counter()
            NotebookClient(executed, kernel_name=kernel, timeout=900,
                           resources={"metadata": {"path": tmp}}).execute()
        nbformat.write(clean_copy(nb, outputs_from=executed), path)
        print(f"{path}: filled in {time.perf_counter() - t0:.1f} s")


def _comparable(outputs: list[Any]) -> list[Any]:
    """What nbval compares in an output list: stream text and text/plain results, in order."""
    out = []
    for o in outputs:
        if o.get("output_type") == "stream":
            out.append((o.get("name"), o.get("text")))
        elif "data" in o:
            out.append(("data", o["data"].get("text/plain")))
    return out


def verify_default(paths: list[Path]) -> int:
    """Run each notebook with DEFAULT parameters and compare its tagged cells with the stored output.

    The convention: ``nbval-check-output`` cells print the same thing whether SMOKE is on or off.
    Returns the number of notebooks whose tagged outputs differ (or that fail to run).
    """
    bad = 0
    for path in paths:
        stored = nbformat.read(path, as_version=4)
        with tempfile.TemporaryDirectory(prefix="halign-verify-") as tmp:
            out = Path(tmp) / path.name
            try:
                run_notebook(path, out, smoke=False, cwd=Path(tmp))
            except Exception as exc:  # noqa: BLE001 - report and go on
                print(f"{path.name}: default run failed: {type(exc).__name__}: {str(exc)[:500]}")
                bad += 1
                continue
            executed = nbformat.read(out, as_version=4)
        ran = [c for c in executed.cells if "injected-parameters" not in tags(c)]
        pairs = [(c, e) for c, e in zip(stored.cells, ran, strict=False) if CHECK_TAG in tags(c)]
        diffs = [i for i, (c, e) in enumerate(pairs) if _comparable(c.outputs) != _comparable(e.outputs)]
        if diffs:
            bad += 1
            print(f"{path.name}: {len(diffs)} tagged cell(s) print something else with default parameters")
        else:
            print(f"{path.name}: {len(pairs)} tagged cell(s) identical with default parameters")
    return bad


# -- course handouts -----------------------------------------------------------------------------------
def has_widget_views(nb: Any) -> bool:
    """True when some output of ``nb`` displays a widget."""
    return any(WIDGET_VIEW_MIME in out.get("data", {})
               for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", []))


def write_copies(out_dir: Path, notebooks: list[Path] | None = None) -> list[tuple[Path, Path]]:
    """Write ``out_dir/student/<chapter>.ipynb`` and ``out_dir/teacher/<chapter>.ipynb`` for each chapter.

    Returns the ``(student, teacher)`` paths. A chapter without exercises gets two equal copies.
    Raises :class:`course_copies.ExerciseFormatError` for a malformed exercise (nothing is written
    for that chapter: a broken triple could leak its solution).
    """
    written = []
    for src in notebooks or all_notebooks():
        nb = nbformat.read(src, as_version=4)
        student, teacher = course_copies.student_copy(nb), course_copies.teacher_copy(nb)
        paths = (out_dir / "student" / src.name, out_dir / "teacher" / src.name)
        for copy_nb, path in zip((student, teacher), paths, strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(copy_nb, path)
        written.append(paths)
        count = len(course_copies.exercises(nb))
        print(f"{src.name}: {count} exercise(s) -> {paths[0].relative_to(out_dir)}, {paths[1].relative_to(out_dir)}")
    return written


def export_handout(executed: Path) -> tuple[list[str], dict[str, Any]]:
    """Export an executed notebook to offline HTML beside it; return (problems, export report)."""
    import handout

    nb = nbformat.read(executed, as_version=4)
    body, report = handout.export_html(nb)
    html_path = executed.with_suffix(".html")
    html_path.write_text(body, encoding="utf-8")
    problems = []
    if WIDGET_VIEW_MIME in body:
        problems.append("a widget view was not frozen")
    if report["external"]:
        problems.append(f"fetches from the internet: {report['external'][:3]}")
    if report["needs_math"] and not report["mathjax"]:
        problems.append("has math but MathJax is not installed (pip install django-static-mathjax)")
    report["figures"] = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    report["megabytes"] = html_path.stat().st_size / 1e6
    return problems, report


def check_lines(nb: Any) -> tuple[int, int]:
    """``(passes, not_yets)`` printed by the ``check`` cells of an executed notebook."""
    passes = not_yet = 0
    for cell in nb.cells:
        if course_copies.CHECK_TAG in tags(cell):
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            passes += text.count("✅ pass:")
            not_yet += text.count("⏳ not yet:")
    return passes, not_yet


def check_report(path: Path, run: bool = False, smoke: bool = False) -> tuple[int, int]:
    """Print each exercise's check line of ``path`` (executing a copy first with ``run``); return (pass, not yet).

    For collecting students' copies: ``checks submitted/*.ipynb --run`` executes each one (in a
    temporary folder; the submission is not changed) and lists what its checks say.
    """
    with tempfile.TemporaryDirectory(prefix="halign-checks-") as tmp:
        target = path
        if run:
            target = Path(tmp) / path.name
            try:
                run_notebook(path, target, smoke=smoke, cwd=Path(tmp))
            except Exception as exc:  # noqa: BLE001 - a submission that fails is reported, not fatal
                print(f"{path.name}: the run failed: {type(exc).__name__}: {str(exc)[:300]}")
                if not target.exists():
                    return 0, 0
        nb = nbformat.read(target, as_version=4)
    print(f"{path.name}:")
    for cell in nb.cells:
        if course_copies.CHECK_TAG in tags(cell):
            text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
            lines = [ln for ln in text.splitlines() if ln.startswith(("✅ pass:", "⏳ not yet:"))]
            print("  " + (lines[-1] if lines else "(this check did not run)"))
    passes, not_yet = check_lines(nb)
    print(f"  {passes} pass, {not_yet} not yet")
    return passes, not_yet


def course(out_dir: Path, notebooks: list[Path] | None = None, smoke: bool = False,
           copies: tuple[str, ...] = ("teacher", "student")) -> int:
    """Write both copies of every chapter, execute them into ``out_dir`` and export offline HTML.

    Layout: ``out_dir/teacher/<chapter>.ipynb|.html`` (solutions and passing checks) and
    ``out_dir/student/<chapter>.ipynb|.html`` (stubs; the checks say "not yet"). Default
    parameters unless ``smoke``. Each handout is self-contained (:mod:`handout`): the apps' last
    state is frozen into static HTML with their figures embedded, and nothing is fetched from the
    internet, so it opens offline. Returns the number of failures (a run that fails, a widget left
    unfrozen, a page that would still fetch something, math without MathJax, a teacher check that
    does not pass, a student copy that leaks a solution line).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = notebooks or all_notebooks()
    written = write_copies(out_dir, sources)
    failures = 0
    rows = []
    for i, src in enumerate(sources):
        solution_text = course_copies.solution_lines(nbformat.read(src, as_version=4))
        for which in copies:
            path = written[i][0 if which == "student" else 1]
            try:
                seconds = run_notebook(path, path, smoke=smoke, cwd=path.parent)
            except Exception as exc:  # noqa: BLE001 - report every chapter, then fail
                print(f"FAILED {which}/{src.name}: {type(exc).__name__}: {str(exc)[:2000]}")
                failures += 1
                continue
            problems, report = export_handout(path)
            passes, not_yet = check_lines(nbformat.read(path, as_version=4))
            if which == "teacher" and not_yet:
                problems.append(f"{not_yet} check(s) of the teacher copy say 'not yet'")
            if which == "student":
                leaked = course_copies.leaked_lines(path.read_text(encoding="utf-8"), solution_text)
                leaked += course_copies.leaked_lines(path.with_suffix(".html").read_text(encoding="utf-8"),
                                                     solution_text)
                if leaked:
                    problems.append(f"solution text in the student copy: {leaked[:3]}")
            for problem in problems:
                print(f"FAILED {which}/{src.name}: {problem}")
            failures += bool(problems)
            rows.append((f"{which}/{src.name}", seconds, report["snapshots"], report["figures"], passes, not_yet,
                         report["megabytes"]))
    print(f"\n{'notebook':48s} {'seconds':>8s} {'apps':>5s} {'figures':>8s} {'pass':>5s} {'not yet':>8s} {'MB':>6s}")
    for name, seconds, apps, figures, passes, not_yet, size in rows:
        print(f"{name:48s} {seconds:8.1f} {apps:5d} {figures:8d} {passes:5d} {not_yet:8d} {size:6.1f}")
    print(f"\noffline HTML handouts in {out_dir}/teacher/ and {out_dir}/student/"
          + (" (SMOKE parameters: a rehearsal, not the handouts)" if smoke else ""))
    return failures


def clean_filter(source: str) -> str:
    """git's clean filter: the notebook text with outputs kept only in nbval-checked cells.

    Anything that does not parse as a notebook passes through unchanged (a filter must not fail).
    """
    try:
        nb = nbformat.reads(source, as_version=4)
    except Exception:  # noqa: BLE001 - not a notebook (or a merge conflict): leave it alone
        return source
    out = nbformat.writes(clean_copy(nb))
    return out if out.endswith("\n") else out + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_strip = sub.add_parser("strip", help="clear outputs except cells tagged nbval-check-output")
    p_strip.add_argument("notebooks", nargs="*", type=Path)
    p_strip.add_argument("--check", action="store_true", help="only report; exit 1 if not clean")
    p_fill = sub.add_parser("fill", help="run with HALIGN_SMOKE=1 and store tagged outputs")
    p_fill.add_argument("notebooks", nargs="*", type=Path)
    p_run = sub.add_parser("run", help="execute one notebook with papermill on the venv kernel")
    p_run.add_argument("notebook", type=Path)
    p_run.add_argument("out", type=Path)
    p_run.add_argument("--smoke", action="store_true")
    p_run.add_argument("--kernel-python", help="run the kernel with this interpreter (default: this one)")
    p_run.add_argument("--no-repo-path", action="store_true",
                       help="give the kernel no PYTHONPATH (it imports the package its environment installed)")
    p_verify = sub.add_parser("verify", help="run with default parameters; tagged outputs must match")
    p_verify.add_argument("notebooks", nargs="*", type=Path)
    p_student = sub.add_parser("student", help="write student and teacher copies of every chapter")
    p_student.add_argument("--out", type=Path, default=ROOT / "build")
    p_student.add_argument("notebooks", nargs="*", type=Path)
    p_course = sub.add_parser("course", help="both copies of every chapter executed (defaults) and exported to HTML")
    p_course.add_argument("--out", type=Path, default=ROOT / "handouts")
    p_course.add_argument("--smoke", action="store_true", help="smoke parameters (a quick rehearsal)")
    p_course.add_argument("--only", choices=("teacher", "student"), help="execute only one of the copies")
    p_course.add_argument("notebooks", nargs="*", type=Path)
    p_checks = sub.add_parser("checks", help="list what each exercise's check printed (collecting copies)")
    p_checks.add_argument("notebooks", nargs="+", type=Path)
    p_checks.add_argument("--run", action="store_true", help="execute a copy of each notebook first")
    p_checks.add_argument("--smoke", action="store_true", help="with --run: smoke parameters")
    sub.add_parser("clean-filter", help="git clean filter: notebook on stdin, clean notebook on stdout")
    args = parser.parse_args(argv)

    if args.cmd == "strip":
        dirty = strip(args.notebooks or all_notebooks(), check=args.check)
        return 1 if (args.check and dirty) else 0
    if args.cmd == "fill":
        fill(args.notebooks or all_notebooks())
        return 0
    if args.cmd == "verify":
        return 1 if verify_default(args.notebooks or all_notebooks()) else 0
    if args.cmd == "clean-filter":
        sys.stdout.write(clean_filter(sys.stdin.read()))
        return 0
    if args.cmd == "run":
        seconds = run_notebook(args.notebook, args.out, smoke=args.smoke, kernel_python=args.kernel_python,
                               repo_path=not args.no_repo_path)
        print(f"{args.notebook} -> {args.out} in {seconds:.1f} s")
        return 0
    if args.cmd == "student":
        write_copies(args.out, args.notebooks or None)
        print(f"student copies in {args.out}/student/, teacher copies in {args.out}/teacher/")
        return 0
    if args.cmd == "checks":
        missing = [str(p) for p in args.notebooks if not Path(p).is_file()]
        if missing:
            print(f"error: no such notebook: {', '.join(missing)}; give the paths of .ipynb files (a shell "
                  "pattern that matched nothing is passed on as it is).", file=sys.stderr)
            return 2
        for path in args.notebooks:
            check_report(path, run=args.run, smoke=args.smoke)
        return 0
    copies = (args.only,) if args.only else ("teacher", "student")
    return 1 if course(args.out, args.notebooks or None, smoke=args.smoke, copies=copies) else 0


if __name__ == "__main__":
    sys.exit(main())
