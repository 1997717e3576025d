"""Train a lab model outside a notebook: ``python -m halign_widgets.train DATA [options]``.

The same command trains in one process or data-parallel under ``torchrun``::

    python -m halign_widgets.train masses --epochs 5 --out runs/masses
    torchrun --nproc_per_node=4 -m halign_widgets.train /data/cbis_crops --model CausalCNN --out runs/cbis

``DATA`` is a world name (``masses``, ``domains`` …), a folder with one sub-folder per class, or
a MedMNIST-format ``.npz`` file. The run folder gets ``last.pt`` (an atomic, ``weights_only``
checkpoint, rewritten after every epoch) and ``history.json`` (per-epoch metrics and the run's
facts); ``halign_widgets.training.load_trained(folder)`` gives the model and its history back.
``--batch-size`` is the global batch: under ``torchrun`` each of the N processes takes 1/N of it,
so the same command gives the same model with any N (see
:mod:`halign_widgets.training.distributed`). SIGTERM (a cluster's pre-emption notice) stops every
rank after the current batch; ``--resume`` continues from the last completed epoch.
"""

from __future__ import annotations

import argparse
import ast
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from . import causality  # noqa: F401 - registers CausalCNN with the model registry
from .data import ImageDataset, list_worlds, load_folder, load_npz, make_world
from .errors import ConfigError, HalignError
from .training import Callback, Trainer, build_classifier, derive_seed, model_families, seeded
from .training.distributed import finish_distributed
from .training.registry import build_model

__all__ = ["main", "build_parser", "load_data", "make_model"]


def build_parser() -> argparse.ArgumentParser:
    """The command line's arguments (``--help`` explains each)."""
    p = argparse.ArgumentParser(
        prog="python -m halign_widgets.train",
        description="Train one of the lab's models on a ground-truth world, a folder of images or an .npz file. "
                    "Runs the same under `torchrun --nproc_per_node=N` (data-parallel; --batch-size stays the "
                    "global batch). Writes OUT/last.pt and OUT/history.json; load them back with "
                    "halign_widgets.training.load_trained(OUT).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("data", help=f"a world name ({', '.join(list_worlds())}), a folder with one sub-folder of images "
                                "per class, or a MedMNIST-format .npz file")
    d = p.add_argument_group("data")
    d.add_argument("--images", type=int, default=2000, help="images to generate (worlds only)")
    d.add_argument("--size", type=int, default=64, help="image side in pixels: worlds are drawn at it, folders and "
                                                         ".npz files resized to it (0 keeps the files' own size)")
    d.add_argument("--channels", type=int, default=1, choices=(1, 3), help="channels to load from a folder")
    d.add_argument("--knob", action="append", default=[], metavar="NAME=VALUE",
                   help="a world knob, e.g. --knob shortcut=0.9 (repeatable; values are Python literals)")
    d.add_argument("--data-seed", type=int, default=None,
                   help="seed of the world and of the train/val/test split (default: --seed)")
    m = p.add_argument_group("model")
    m.add_argument("--model", default="SmallCNN", help="model family: SmallCNN, CausalCNN, or any registered class")
    m.add_argument("--width", type=int, default=16, help="channels of the first conv block (doubling per block)")
    m.add_argument("--depth", type=int, default=4, help="conv blocks (reduced for SmallCNN when the images are small)")
    m.add_argument("--dropout", type=float, default=0.0, help="dropout before the classifier")
    m.add_argument("--setting", default="mulcat", help="CausalCNN: causality-module setting (mulcat, mulcatbool, "
                                                        "cat, baseline …)")
    m.add_argument("--estimator", default="max", help="CausalCNN: causality-map estimator (max or lehmer)")
    m.add_argument("--model-config", default="{}", metavar="JSON",
                   help="further constructor arguments as a JSON object, overriding the ones above")
    t = p.add_argument_group("training")
    t.add_argument("--epochs", type=int, default=5, help="epochs in total (with --resume: the missing ones run)")
    t.add_argument("--batch-size", type=int, default=64, help="global batch: under torchrun each of the N processes "
                                                               "takes batch-size/N (must divide)")
    t.add_argument("--lr", type=float, default=1e-3, help="learning rate")
    t.add_argument("--weight-decay", type=float, default=0.0, help="weight decay")
    t.add_argument("--optimizer", default="adam", choices=("adam", "adamw", "sgd"), help="optimiser")
    t.add_argument("--seed", type=int, default=0, help="seed of the initial weights, the shuffling and dropout")
    t.add_argument("--early-stopping", type=int, default=None, metavar="PATIENCE",
                   help="stop when the validation loss has not improved for this many epochs")
    t.add_argument("--precise-bn", type=int, default=128, help="images used to re-estimate batch-norm statistics "
                                                                "after each epoch (0: off)")
    t.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cuda or cpu; under torchrun "
                                                     "each rank uses cuda:LOCAL_RANK or the CPU")
    t.add_argument("--amp", action="store_true", help="mixed precision: float16 + loss scaling on CUDA, bfloat16 on "
                                                       "the CPU")
    t.add_argument("--no-sync-bn", action="store_true", help="under torchrun, keep per-process batch-norm statistics "
                                                              "(plain DDP) instead of global-batch ones")
    t.add_argument("--timeout", type=float, default=300.0, help="seconds a process waits for the others before "
                                                                "failing (torchrun runs)")
    o = p.add_argument_group("output")
    o.add_argument("--out", default=None, help="run folder for last.pt and history.json "
                                               "(default: runs/<data>-<model>-seed<seed>)")
    o.add_argument("--resume", action="store_true", help="continue the run in --out from its last completed epoch")
    o.add_argument("--resume-if-any", action="store_true", help="continue the run in --out if there is one, else "
                                                                "start it (for cluster jobs that may be requeued)")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _knobs(pairs: Sequence[str]) -> dict[str, Any]:
    knobs: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise ConfigError(f"--knob takes NAME=VALUE, got {pair!r}; e.g. --knob shortcut=0.9.")
        try:
            knobs[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            knobs[name] = text  # a bare word is a string
    return knobs


def load_data(args: argparse.Namespace) -> tuple[ImageDataset, str]:
    """The dataset ``args.data`` names and a short name for it."""
    seed = args.seed if args.data_seed is None else args.data_seed
    size = None if args.size == 0 else args.size
    path = Path(args.data)
    if path.is_dir():
        return load_folder(path, size=size, channels=args.channels, seed=seed), path.name
    if path.suffix == ".npz" or path.is_file():
        return load_npz(path, size=size), path.stem
    if args.data not in list_worlds():
        raise ConfigError(f"{args.data!r} is neither a folder, an .npz file nor a world; give an existing path or "
                          f"one of the worlds {list_worlds()}.")
    return make_world(args.data, args.images, size=size or 64, seed=seed, **_knobs(args.knob)), args.data


def make_model(args: argparse.Namespace, dataset: ImageDataset) -> Any:
    """The model ``args.model`` for ``dataset``, initialised from ``--seed``."""
    try:
        extra = json.loads(args.model_config)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--model-config must be a JSON object, e.g. '{{\"depth\": 3}}'; got "
                          f"{args.model_config!r} ({exc.msg}).") from exc
    if not isinstance(extra, dict):
        raise ConfigError(f"--model-config must be a JSON object, got {args.model_config!r}.")
    if args.model == "SmallCNN" and not extra:
        return build_classifier(dataset, width=args.width, depth=args.depth, dropout=args.dropout, seed=args.seed)
    config: dict[str, Any] = dict(in_channels=dataset.channels, num_classes=dataset.num_classes, width=args.width,
                                  depth=args.depth, dropout=args.dropout)
    if args.model == "CausalCNN":
        config.update(setting=args.setting, estimator=args.estimator, image_size=list(dataset.image_size))
    config.update(extra)
    if args.model not in model_families():
        raise ConfigError(f"unknown model {args.model!r}; choose one of {sorted(model_families())}.")
    with seeded(derive_seed(args.seed, "init")):
        return build_model(args.model, config)


class _HistoryFile(Callback):
    """Rewrite ``history.json`` after every epoch (rank 0 only)."""

    def __init__(self, path: Path, run: dict[str, Any]) -> None:
        self.path, self.run = path, run

    def on_epoch_end(self, trainer: Trainer, epoch: int, logs: dict[str, Any]) -> None:
        if trainer.is_main:
            trainer.history.save(self.path, **self.run, world_size=trainer.world_size)


def _splits(dataset: ImageDataset) -> tuple[ImageDataset, ImageDataset | None, ImageDataset | None]:
    splits = dataset.splits or {}
    if "train" not in splits:
        return dataset, None, None
    def pick(name: str) -> ImageDataset | None:
        return dataset.split(name) if name in splits and len(splits[name]) else None

    return dataset.split("train"), pick("val"), pick("test")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train as ``args`` says; return the run's facts (also stored in ``history.json``)."""
    dataset, name = load_data(args)
    out = Path(args.out or f"runs/{name}-{args.model}-seed{args.seed}")
    last = out / "last.pt"
    if args.resume_if_any:
        args.resume = last.is_file()
    if args.resume and not last.is_file():
        raise ConfigError(f"--resume but {last} does not exist; drop --resume to start a new run there.")
    if not args.resume and last.is_file():
        raise ConfigError(f"{out} already holds a run ({last}); pass --resume to continue it, or choose another --out.")
    train, val, test = _splits(dataset)
    model = make_model(args, dataset)
    facts: dict[str, Any] = {"data": args.data, "model": type(model).__name__, "model_config": model.config,
                             "epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
                             "train_images": len(train), "val_images": len(val) if val is not None else 0}
    trainer = Trainer(model, train, val, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      weight_decay=args.weight_decay, optimizer=args.optimizer, seed=args.seed,
                      device=args.device, early_stopping=args.early_stopping, checkpoint_dir=out,
                      progress=not args.no_progress, precise_bn=args.precise_bn, amp=args.amp,
                      sync_bn=not args.no_sync_bn, dist_timeout=args.timeout,
                      monitor="val_loss" if val is not None else "train_loss",
                      callbacks=[_HistoryFile(out / "history.json", facts)])

    def stop(signum: int, frame: FrameType | None) -> None:
        print(f"[rank {trainer.rank}] stop requested (signal {signum}): finishing the current batch; resume with "
              "--resume.", file=sys.stderr, flush=True)
        trainer.request_stop()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        trainer.fit(resume_from=last if args.resume else None)
    finally:
        signal.signal(signal.SIGTERM, previous)
    facts.update(world_size=trainer.world_size, device=str(trainer.device), state=trainer.state,
                 completed_epochs=trainer.completed_epochs, rank_spread=trainer.rank_spread)
    if test is not None and trainer.is_main:
        facts["test"] = trainer.evaluate(test)
    if trainer.is_main:
        trainer.history.save(out / "history.json", **facts)
        final = trainer.history.last or {}
        shown = ", ".join(f"{k} {final[k]:.3f}" for k in ("train_loss", "val_loss", "val_acc")
                          if isinstance(final.get(k), float))
        test_note = f"; test accuracy {facts['test']['accuracy']:.3f}" if "test" in facts else ""
        print(f"{trainer.state}: {facts['model']} on {name}, {trainer.completed_epochs} epoch(s) on "
              f"{trainer.world_size} process(es) ({trainer.device}): {shown}{test_note}. Wrote {last} and "
              f"{out / 'history.json'}.")
    finish_distributed()  # every rank leaves together, after rank 0's test evaluation and files
    return facts


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input, with the typed error's message)."""
    args = build_parser().parse_args(argv)
    try:
        run(args)
    except HalignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
