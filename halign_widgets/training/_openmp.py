"""Hand the CPU cores to a background training thread (private).

Why this module exists — measured on the 2-core CI machine with ``benchmarks/bench_trainer.py``
and documented in the README: PyTorch's Linux CPU builds run intra-op parallelism on GNU OpenMP
(libgomp).  libgomp keeps one pool of worker threads *per OS thread* that has ever entered a
parallel region.  A notebook's main thread owns such a pool as soon as the user ran any tensor
operation; when a training thread then builds its own pool, libgomp manages more threads than
there are CPUs and, from then on, lets every idle worker spin only ~100 times before sleeping
on a futex (its "throttled" spin count).  Every one of the thousands of parallel regions of a
training run then waits for a futex wake-up: the same bare PyTorch loop ran 6–80 % slower in a
thread than in the main thread (five runs of 3–5 epochs), with ~5,000 extra voluntary context
switches per two epochs, at nearly the same CPU time.

``omp_pause_resource_all`` (OpenMP 5.0, exported by libgomp) releases the *calling* thread's idle
pool, so the training thread's pool is the only one and keeps its normal spin-then-sleep policy.
The caller's pool is rebuilt transparently the next time that thread runs a parallel operation;
if the user computes in the notebook *while* a run trains, both pools exist again and the
throttling is back until the run ends — libgomp offers no per-pool setting to avoid that.
No library wraps this call (PyTorch exposes thread counts, not pool release), hence ``ctypes``.

Everything here is best effort: on other platforms, other OpenMP runtimes or without OpenMP the
function does nothing and returns ``False``; it never raises.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import torch

__all__ = ["loaded_libgomp", "release_idle_openmp_pool", "start_compute_thread"]

_OMP_PAUSE_SOFT = 1  # omp_pause_resource_t: omp_pause_soft
_lock = threading.Lock()
_cache: dict[str, ctypes.CDLL | None] = {}


def loaded_libgomp() -> ctypes.CDLL | None:
    """The GNU OpenMP runtime already loaded by PyTorch (the same instance, not a second copy), or ``None``."""
    with _lock:
        if "lib" in _cache:
            return _cache["lib"]
        lib = None
        if sys.platform.startswith("linux") and "parallel backend: OpenMP" in torch.__config__.parallel_info():
            try:
                with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
                    paths = {line.split()[-1] for line in maps if "libgomp" in line and "/" in line}
                for path in sorted(paths):
                    if os.path.basename(path).startswith("libgomp"):
                        candidate = ctypes.CDLL(path)  # already loaded: dlopen returns the same handle
                        if hasattr(candidate, "omp_pause_resource_all"):
                            lib = candidate
                            break
            except OSError:
                lib = None
        _cache["lib"] = lib
        return lib


def release_idle_openmp_pool() -> bool:
    """Release the calling thread's idle OpenMP worker pool; ``True`` if it was released.

    Call it from the thread that is about to hand the computation to another thread (the
    notebook's main thread, just before a background training run starts).  Harmless when the
    caller has no pool; refused by libgomp (``False``) inside a parallel region.
    """
    lib = loaded_libgomp()
    if lib is None:
        return False
    try:
        return int(lib.omp_pause_resource_all(ctypes.c_int(_OMP_PAUSE_SOFT))) == 0
    except (OSError, AttributeError):
        return False


def start_compute_thread(target: Callable[..., Any], *args: Any, name: str | None = None) -> threading.Thread:
    """Start ``target(*args)`` in a daemon thread after releasing the caller's idle OpenMP pool.

    The way every app runs tensor work off the notebook's main thread (training, activation
    maximization, SUNY), so that work gets the machine's cores (see the module docstring).
    Torch's thread count is the one the lab chose for this process (chosen here if it was not
    yet, see :func:`~halign_widgets.training.threads.apply_threads`).
    """
    from .threads import apply_threads

    apply_threads()          # process-wide; a no-op once chosen, so the new thread starts at once
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    release_idle_openmp_pool()
    thread.start()
    return thread
