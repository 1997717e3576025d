"""One runner for every chapter's experiment grid: cells of seeds × configurations, resumable, parallel.

A *cell* is a dict of parameters (a configuration plus its ``seed``); a *cell function*
``fn(cell, **fixed)`` trains and tests one cell and returns a row (a dict of plain numbers and
strings) or a list of rows. :func:`run_grid` runs every cell and returns one tidy
:class:`pandas.DataFrame` (one row per returned row, the cell's parameters first):

- **progress**: a printed line per finished cell (or your ``progress(done, total, row)``);
- **resume**: with ``results=path`` every finished cell is appended at once to a JSON-lines
  file; running the same grid again skips the cells already there, so a stopped or crashed grid
  continues where it stopped. A file written by *another* grid (other cells, other fixed
  parameters, another function) is refused with
  :class:`~halign_widgets.errors.CheckpointMismatchError`; the finished table is also written as
  CSV beside it;
- **parallel**: ``n_jobs > 1`` runs cells in worker processes (joblib's ``loky`` backend). The
  numbers are exactly those of the serial run: every cell runs with torch's global generator
  seeded from the cell alone and with the same number of intra-op threads (``threads``, default 1),
  whatever process runs it; only wall-clock columns (names ending in ``seconds``) differ.

Hand-written rather than taken from a sweep framework (Hydra, Ray Tune, submitit): a few dozen
small CPU runs need neither a launcher nor a scheduler, and the whole runner reads in class.
Used by chapter 04 (:func:`halign_widgets.causality.run_experiments`) and chapter 05
(:func:`halign_widgets.crocodile.run_ladder`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CheckpointMismatchError, ConfigError, CorruptFileError
from ..validation import check_int
from .seeding import derive_seed, seeded
from .threads import pinned_threads

if TYPE_CHECKING:  # pandas is imported lazily
    import pandas as pd

__all__ = ["grid_cells", "grid_fingerprint", "read_results", "run_grid", "standard_error", "Progress"]

Progress = Callable[[int, int, dict[str, Any]], Any]
_FORMAT = 1


def grid_cells(configs: Iterable[Mapping[str, Any]], seeds: Iterable[int],
               seed_key: str = "seed") -> list[dict[str, Any]]:
    """Seeds × configurations, seed-major: every configuration of the first seed, then the next seed …

    Seed-major order means a grid stopped half-way still holds a complete, comparable set of
    configurations for its first seeds.
    """
    configs, seeds = [dict(c) for c in configs], [int(s) for s in seeds]
    if not configs or not seeds:
        raise ConfigError("an experiment grid needs at least one configuration and one seed.")
    return [{**c, seed_key: s} for s in seeds for c in configs]


def _plain(value: Any) -> Any:
    """JSON-able form of numbers from numpy / torch (others as their repr)."""
    if hasattr(value, "item") and callable(value.item):
        try:
            return value.item()
        except (ValueError, RuntimeError):
            pass
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    return repr(value)


def grid_fingerprint(fn: Callable[..., Any], cells: Sequence[Mapping[str, Any]], fixed: Mapping[str, Any]) -> str:
    """A short hash of the cell function's name, the cells and the fixed parameters."""
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    text = json.dumps({"fn": name, "cells": list(cells), "fixed": dict(fixed)}, sort_keys=True, default=_plain)
    return hashlib.blake2b(text.encode(), digest_size=10).hexdigest()


def read_results(path: str | os.PathLike[str], fingerprint: str | None = None) -> dict[int, list[dict[str, Any]]]:
    """The finished cells stored in a results file: ``{cell index: rows}``.

    A truncated last line (a run killed while writing) is ignored, so that cell runs again.

    Raises
    ------
    CheckpointMismatchError
        ``fingerprint`` is given and the file belongs to another grid.
    CorruptFileError
        The file is not a results file of this runner.
    """
    path = Path(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        return {}
    try:
        header = json.loads(lines[0])
        if header.get("format") != _FORMAT or "grid" not in header:
            raise ValueError
    except (ValueError, AttributeError):
        raise CorruptFileError(f"{path} is not a results file of the experiment runner (bad first line); delete it "
                               "or pass another results path.") from None
    if fingerprint is not None and header["grid"] != fingerprint:
        raise CheckpointMismatchError(
            f"{path} holds results of another grid ({header.get('name')!r}, {header.get('cells')} cells, id "
            f"{header['grid']}), not of this one (id {fingerprint}): the configurations, seeds, fixed parameters "
            "or cell function differ. Pass another results path, delete the file to start afresh, or run the "
            "grid it belongs to.")
    done: dict[int, list[dict[str, Any]]] = {}
    for number, line in enumerate(lines[1:], 2):
        try:
            record = json.loads(line)
            done[int(record["cell"])] = list(record["rows"])
        except (ValueError, KeyError, TypeError):
            if number == len(lines):
                break   # the last line was cut short by an interrupted write: redo that cell
            raise CorruptFileError(f"{path}, line {number}, is not a results record; delete the file to start "
                                   "afresh.") from None
    return done


def _run_cell(index: int, fn: Callable[..., Any], cell: Mapping[str, Any], fixed: dict[str, Any],
              threads: int | None) -> tuple[int, list[dict[str, Any]], float]:
    """Run one cell with its own seed and thread count (in this process or a worker)."""
    seed = derive_seed(int(cell.get("seed", 0)), json.dumps(cell, sort_keys=True, default=_plain))
    start = time.perf_counter()
    with pinned_threads(threads) if threads is not None else contextlib.nullcontext(), seeded(seed):
        out = fn(dict(cell), **fixed)
    rows = [out] if isinstance(out, Mapping) else list(out) if isinstance(out, (list, tuple)) else None
    if rows is None or not all(isinstance(r, Mapping) for r in rows):
        raise ConfigError("the cell function must return a dict (one row) or a list of dicts, "
                          f"got {type(out).__name__}.")
    return index, [{**cell, **dict(r)} for r in rows], time.perf_counter() - start


def _label(cell: Mapping[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in cell.items() if v is not None and v is not False and v != "none")


def _printer(total: int, started: float, first_done: int) -> Progress:
    def show(done: int, _total: int, row: dict[str, Any]) -> None:
        elapsed = time.perf_counter() - started
        ran = done - first_done
        eta = elapsed / ran * (total - done) if ran else float("nan")
        left = f", ~{eta:.0f} s left" if math.isfinite(eta) and done < total else ""
        print(f"[{done}/{total}] {row.get('_label', '')} ({elapsed:.0f} s{left})", flush=True)
    return show


def run_grid(fn: Callable[..., Any], cells: Sequence[Mapping[str, Any]], *, fixed: Mapping[str, Any] | None = None,
             name: str = "grid", results: str | os.PathLike[str] | None = None, n_jobs: int = 1,
             threads: int | None = 1, progress: bool | Progress | None = True,
             should_stop: Callable[[], bool] | None = None, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Run ``fn(cell, **fixed)`` for every cell and return the tidy table of all rows, in cell order.

    Parameters
    ----------
    fn:
        The cell function (a module-level function, so worker processes can import it).
    cells:
        Parameter dicts, e.g. from :func:`grid_cells`; each should hold a ``seed``.
    fixed:
        Keyword arguments of every call (sizes, epochs …); part of the grid's identity.
    name:
        Shown in messages and stored in the results file.
    results:
        JSON-lines file recording finished cells (resume); the table is also written to the same
        path with the suffix ``.csv`` once every cell has run.
    n_jobs:
        Worker processes (1 = run here, serially; -1 = one per CPU core).
    threads:
        Torch intra-op threads of every cell (``None`` leaves the count alone; identical numbers
        between serial and parallel runs need the same integer).
    progress:
        ``True`` prints one line per finished cell; a callable gets ``(done, total, row)``;
        ``False``/``None`` is silent.
    should_stop:
        Polled before each cell (serial) or after each finished cell (parallel); ``True`` stops and
        returns the rows finished so far (they stay in the results file).
    columns:
        Column order of the table (every row must have them); default: the order of appearance.
    """
    import pandas as pd

    cells = [dict(c) for c in cells]
    fixed = dict(fixed or {})
    n_jobs = check_int("n_jobs", n_jobs, -1, hint="a positive number of processes, or -1 for one per core")
    if n_jobs == 0:
        raise ConfigError("n_jobs must be a positive number of processes or -1 (one per core), got 0.")
    if threads is not None:
        threads = check_int("threads", threads, 1, hint="or None: the default")
    fingerprint = grid_fingerprint(fn, cells, fixed)
    path = None if results is None else Path(results)
    done: dict[int, list[dict[str, Any]]] = {}
    if path is not None and path.exists() and path.stat().st_size:
        done = {i: rows for i, rows in read_results(path, fingerprint).items() if i < len(cells)}
    elif path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"format": _FORMAT, "grid": fingerprint, "name": name, "cells": len(cells)})
                        + "\n", encoding="utf-8")
    total, started = len(cells), time.perf_counter()
    report: Progress | None = progress if callable(progress) else (_printer(total, started, len(done))
                                                                    if progress else None)
    if report is not None and progress is True and done:
        print(f"{name}: resuming, {len(done)} of {total} cells already in {path}", flush=True)

    def record(index: int, rows: list[dict[str, Any]]) -> None:
        done[index] = rows
        if path is not None:
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"cell": index, "rows": rows}, default=_plain) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        if report is not None:
            shown = dict(rows[-1]) if rows else dict(cells[index])
            if progress is True:
                shown["_label"] = _label(cells[index])
            report(len(done), total, shown)

    pending = [i for i in range(total) if i not in done]
    if n_jobs == 1 or len(pending) <= 1:
        for i in pending:
            if should_stop is not None and should_stop():
                break
            record(*_run_cell(i, fn, cells[i], fixed, threads)[:2])
    elif pending and not (should_stop is not None and should_stop()):
        from joblib import Parallel, delayed

        jobs = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator_unordered")(
            delayed(_run_cell)(i, fn, cells[i], fixed, threads) for i in pending)
        try:
            for index, rows, _ in jobs:
                record(index, rows)
                if should_stop is not None and should_stop():
                    break
        finally:
            close = getattr(jobs, "close", None)
            if close is not None:
                close()
    table = pd.DataFrame([row for i in sorted(done) for row in done[i]])
    if columns is not None:
        table = table.reindex(columns=list(columns)) if table.empty else table[list(columns)]
    if path is not None and len(done) == total:
        table.to_csv(path.with_suffix(".csv"), index=False)
    return table


def standard_error(values: Sequence[float]) -> float:
    """Standard error of the mean, ``std(ddof=1) / √n`` (0 for a single value, NaN for none)."""
    v = [float(x) for x in values if x == x]
    if not v:
        return float("nan")
    if len(v) == 1:
        return 0.0
    mean = sum(v) / len(v)
    return math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1) / len(v))
