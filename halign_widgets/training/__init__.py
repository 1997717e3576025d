"""Training: one seeded, resumable, stoppable Trainer for every model of the lab.

- :class:`Trainer` — the loop (devices, seeds, history, early stopping, callbacks, checkpoints,
  background thread);
- :func:`fit_classifier` / :func:`build_classifier` — the notebook one-liner;
- :class:`Callback`, :class:`ProgressBar` — hooks into the loop;
- :func:`save_checkpoint`, :func:`load_checkpoint` — atomic, ``weights_only`` checkpoints;
- :class:`History` — per-epoch records;
- :func:`recompute_bn_stats`, :func:`recalibrate_batchnorm` — precise batch-norm statistics (run by the Trainer after each epoch);
- :func:`resolve_device`, :func:`derive_seed` — devices and seeds;
- :func:`start_compute_thread` — how apps run tensor work off the notebook's main thread.
"""

from .callbacks import Callback, ProgressBar
from .checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from .device import resolve_device
from .fit import build_classifier, fit_classifier
from .history import History
from ._openmp import start_compute_thread
from .metrics import accuracy, confusion_matrix, multilabel_accuracy, probabilities
from .precise_bn import recalibrate_batchnorm, recompute_bn_stats
from .seeding import derive_seed, seeded
from .trainer import StepFn, Trainer

__all__ = [
    "Callback",
    "History",
    "ProgressBar",
    "StepFn",
    "Trainer",
    "accuracy",
    "build_classifier",
    "confusion_matrix",
    "derive_seed",
    "fit_classifier",
    "load_checkpoint",
    "multilabel_accuracy",
    "probabilities",
    "read_checkpoint",
    "recalibrate_batchnorm",
    "recompute_bn_stats",
    "resolve_device",
    "save_checkpoint",
    "seeded",
    "start_compute_thread",
]
