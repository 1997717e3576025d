"""Training: one seeded, resumable, stoppable Trainer for every model of the lab.

- :class:`Trainer` — the loop (devices, seeds, history, early stopping, callbacks, checkpoints,
  background thread, mixed precision, data-parallel training under ``torchrun``);
- :func:`init_distributed`, :func:`finish_distributed`, :func:`shard_order` — the distributed plumbing the Trainer uses
  (see :mod:`~halign_widgets.training.distributed`);
- :func:`predict`, :func:`evaluate` — outputs and scores of any model on its own device and dtype;
- :func:`load_trained`, :func:`register_model`, :func:`model_families` — a trained model and its
  history back from a checkpoint in one call (the command line ``python -m halign_widgets.train``
  writes them);
- :func:`fit_classifier` / :func:`build_classifier` — the notebook one-liner;
- :class:`Callback`, :class:`ProgressBar` — hooks into the loop;
- :func:`save_checkpoint`, :func:`load_checkpoint` — atomic, ``weights_only`` checkpoints;
- :class:`History` — per-epoch records;
- :func:`recompute_bn_stats`, :func:`recalibrate_batchnorm` — precise batch-norm statistics (run by the Trainer after
  each epoch);
- :func:`resolve_device`, :func:`derive_seed` — devices and seeds;
- :func:`start_compute_thread` — how apps run tensor work off the notebook's main thread;
- :func:`choose_threads`, :func:`apply_threads` — torch threads from the CPUs this process may
  really use and how many of them other work keeps busy (chosen once, when this package is
  imported, and kept); :func:`sized_for` — fewer of them for work too small to share (every
  training run, activation maximization and SUNY size their steps this way).
- :func:`run_grid`, :func:`grid_cells` — the shared experiment runner (seeds × configurations,
  progress, resume from a results file, parallel worker processes), :func:`standard_error`.
"""

from ._openmp import start_compute_thread
from .callbacks import Callback, ProgressBar
from .checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from .device import resolve_device
from .distributed import DistributedContext, finish_distributed, init_distributed, shard_order
from .experiments import grid_cells, read_results, run_grid, standard_error
from .fit import build_classifier, fit_classifier
from .history import History
from .inference import evaluate, predict
from .metrics import accuracy, confusion_matrix, multilabel_accuracy, probabilities
from .precise_bn import recalibrate_batchnorm, recompute_bn_stats
from .registry import build_model, load_trained, model_families, register_model
from .seeding import derive_seed, seeded
from .threads import apply_threads, choose_threads, sized_for, usable_cpus
from .trainer import StepFn, Trainer

apply_threads()

__all__ = [
    "Callback",
    "DistributedContext",
    "History",
    "ProgressBar",
    "StepFn",
    "Trainer",
    "accuracy",
    "apply_threads",
    "build_classifier",
    "build_model",
    "choose_threads",
    "confusion_matrix",
    "derive_seed",
    "evaluate",
    "fit_classifier",
    "grid_cells",
    "finish_distributed",
    "init_distributed",
    "load_checkpoint",
    "load_trained",
    "model_families",
    "multilabel_accuracy",
    "predict",
    "probabilities",
    "read_checkpoint",
    "read_results",
    "recalibrate_batchnorm",
    "recompute_bn_stats",
    "register_model",
    "resolve_device",
    "run_grid",
    "save_checkpoint",
    "seeded",
    "standard_error",
    "shard_order",
    "sized_for",
    "start_compute_thread",
    "usable_cpus",
]
