"""Per-epoch training history: a list of plain dicts with a few read helpers."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import CheckpointError

__all__ = ["History", "monitor_mode", "HISTORY_FORMAT"]

HISTORY_FORMAT = "halign_widgets.history/1"


def monitor_mode(monitor: str, mode: str = "auto") -> str:
    """Return ``"min"`` or ``"max"``: ``"auto"`` minimises losses and maximises everything else."""
    if mode in ("min", "max"):
        return mode
    return "min" if "loss" in monitor else "max"


class History(list):
    """A list of per-epoch dicts, one per completed epoch.

    Each entry holds ``epoch`` (1-based), ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``
    (``None`` without validation data), ``seconds``, ``lr`` and the extra loss terms of a
    ``step_fn`` averaged over the epoch (``train_<term>``, ``val_<term>``).  Entries are plain
    Python numbers, so a history pickles into a ``weights_only`` checkpoint and prints nicely.

    Examples
    --------
    >>> h = History([{"epoch": 1, "val_loss": 0.9}, {"epoch": 2, "val_loss": 0.7}])
    >>> h.column("val_loss")
    [0.9, 0.7]
    >>> h.best("val_loss")["epoch"]
    2
    """

    def __init__(self, entries: Iterable[dict[str, Any]] = ()) -> None:
        super().__init__(dict(e) for e in entries)

    @property
    def last(self) -> dict[str, Any] | None:
        """The most recent epoch, or ``None`` before the first one."""
        return self[-1] if self else None

    def column(self, key: str) -> list[Any]:
        """Values of ``key`` across epochs (``None`` where an epoch lacks it)."""
        return [e.get(key) for e in self]

    def best(self, monitor: str = "val_loss", mode: str = "auto") -> dict[str, Any] | None:
        """The epoch with the best finite value of ``monitor`` (first one on ties)."""
        sign = 1.0 if monitor_mode(monitor, mode) == "min" else -1.0
        best: dict[str, Any] | None = None
        for entry in self:
            value = entry.get(monitor)
            if value is None or not math.isfinite(value):
                continue
            if best is None or sign * value < sign * best[monitor]:
                best = entry
        return best

    def epochs_since_best(self, monitor: str = "val_loss", mode: str = "auto", min_delta: float = 0.0) -> int:
        """Completed epochs after the best one (how long ``monitor`` has not improved by ``min_delta``).

        Computed from the history alone, so early stopping resumes exactly from a checkpoint.
        """
        sign = 1.0 if monitor_mode(monitor, mode) == "min" else -1.0
        best_value: float | None = None
        best_index = -1
        for i, entry in enumerate(self):
            value = entry.get(monitor)
            if value is None or not math.isfinite(value):
                continue
            if best_value is None or sign * value < sign * best_value - min_delta:
                best_value, best_index = value, i
        return len(self) - 1 - best_index if best_index >= 0 else len(self)

    def save(self, path: str | os.PathLike[str], **run: Any) -> Path:
        """Write the history as JSON, atomically: ``{"format", "history": [...], "run": {...}}``.

        ``run`` holds any plain facts about the run (arguments, world size, device); read it back
        with :meth:`read_run`.
        """
        from ._atomic import atomic_write

        target = Path(path)
        text = json.dumps({"format": HISTORY_FORMAT, "history": list(self), "run": run}, indent=1, default=str)
        with atomic_write(target) as handle:
            handle.write(text.encode("utf-8"))
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> History:
        """Read a history written by :meth:`save` (or a plain JSON list of per-epoch dicts)."""
        data = _read_json(Path(path))
        entries = data.get("history") if isinstance(data, dict) else data
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise CheckpointError(f"{path} is not a training history (expected a list of per-epoch dicts under "
                                  "'history'); write it with History.save or python -m halign_widgets.train.")
        return cls(entries)

    @staticmethod
    def read_run(path: str | os.PathLike[str]) -> dict[str, Any]:
        """The ``run`` facts stored by :meth:`save` (empty for a plain list)."""
        data = _read_json(Path(path))
        run = data.get("run") if isinstance(data, dict) else None
        return dict(run) if isinstance(run, dict) else {}

    def to_dataframe(self) -> Any:
        """The history as a :class:`pandas.DataFrame` (one row per epoch)."""
        import pandas as pd

        return pd.DataFrame(list(self))

    def __repr__(self) -> str:
        if not self:
            return "History([])"
        last = self[-1]
        parts = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in last.items() if v is not None)
        return f"History({len(self)} epoch(s); last: {parts})"


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"no history file at {path}; python -m halign_widgets.train writes history.json "
                              "next to last.pt in its --out folder.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read the history file {path} ({type(exc).__name__}: {exc}); it is damaged — "
                              "the checkpoint holds the same history (load_trained(path)).") from exc
