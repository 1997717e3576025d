"""Run control shared by the Trainer: state machine, stop requests, background thread (private)."""

from __future__ import annotations

import threading
from typing import Any

from ..errors import TrainingBusyError
from ._openmp import start_compute_thread

__all__ = ["RunControl", "STATES"]

STATES = ("idle", "running", "stopping", "stopped", "finished", "failed")


class RunControl:
    """State and threading of one training run at a time.

    ``state`` moves ``idle → running → (stopping →) stopped | finished | failed``; a finished,
    stopped or failed trainer can run again.  Subclasses implement ``_begin(**kw)`` (synchronous
    preparation, may raise) and ``_run(reraise)`` (the loop, which sets the final state).
    """

    def _init_control(self) -> None:
        self.state: str = "idle"
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None
        self._stop_event = threading.Event()
        self._state_lock = threading.Lock()

    # -- state ---------------------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        """True while a run is in progress (``"running"`` or ``"stopping"``)."""
        return self.state in ("running", "stopping")

    @property
    def stop_requested(self) -> bool:
        """True once :meth:`request_stop` was called during the current run."""
        return self._stop_event.is_set()

    def _claim(self) -> None:
        """Atomically move to ``"running"``, refusing if a run is already in progress."""
        with self._state_lock:
            if self.state in ("running", "stopping"):
                raise TrainingBusyError(
                    f"a training run is already in progress (state {self.state!r}); call "
                    "trainer.request_stop() and trainer.wait() before starting another one.")
            self.state = "running"
            self.error = None
            self._stop_event.clear()

    def _finish(self, state: str) -> None:
        with self._state_lock:
            self.state = state

    def request_stop(self) -> None:
        """Ask the run to stop; honoured after the current batch (the partial epoch is not recorded)."""
        self._stop_event.set()
        with self._state_lock:
            if self.state == "running":
                self.state = "stopping"

    # -- background ----------------------------------------------------------------------------
    def start_background(self, epochs: int | None = None, *, resume_from: Any = None) -> threading.Thread:
        """Run :meth:`fit` in a daemon thread and return the thread immediately.

        Errors in the thread do not propagate: they are stored in ``trainer.error`` (state
        ``"failed"``) and reported to the callbacks' ``on_exception``.  Preparation errors
        (bad checkpoint, busy trainer) are raised here, synchronously.

        The calling thread's idle OpenMP worker pool is released first, so that on a machine
        with few cores the training thread's pool does not compete with it (measured: 6–80 %
        of wall time on 2 cores; see :mod:`halign_widgets.training._openmp`).

        Raises
        ------
        TrainingBusyError
            A run is already in progress.
        """
        self._begin(epochs=epochs, resume_from=resume_from)  # type: ignore[attr-defined]
        run = self._run  # type: ignore[attr-defined]
        self.thread = start_compute_thread(run, False, name=f"halign-trainer-{id(self):x}")
        return self.thread

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the background run; return ``True`` if it has ended (``False`` on timeout)."""
        thread = self.thread
        if thread is None or thread is threading.current_thread():
            return not self.is_running
        thread.join(timeout)
        return not thread.is_alive()
