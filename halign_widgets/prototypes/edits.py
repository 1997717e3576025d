"""Editing a trained ProtoPNet with a human in the loop: switch prototypes off and on, prune, forget, remember.

Every edit is a layer over the trained weights (DESIGN.md): it records what it changed, the current
image's prediction and the test accuracy before and after, and a snapshot that :meth:`undo` restores
bit for bit; the weights as trained are kept (:attr:`PrototypeEditor.base_state`) and saved with the
edit log in the checkpoint, so nothing that was trained is ever lost. *Forget* and *remember* follow
ProtoPDebug (Bontempelli et al., ICLR 2023): a short fine-tune through the lab's Trainer with the
forgetting / remembering losses (:mod:`~halign_widgets.prototypes.debug_loss`), then a push that may
not use the forgotten patches, then the last layer.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import ConfigError, TrainingBusyError, UnknownNameError
from ..models import eval_mode, model_input
from ..validation import check_int, check_real
from .debug_loss import PatchSimilarity
from .loss import ExtraTerm, ProtoPNetLoss
from .model import ProtoPNet
from .push import Patch, PushResult, dataset_tensors
from .schedule import Schedule, train_protopnet

__all__ = ["EDIT_KINDS", "EditRecord", "PrototypeEditor"]

EDIT_KINDS = ("disable", "enable", "prune", "forget", "remember", "reset")


@dataclass
class EditRecord:
    """One edit and its effect.

    ``probabilities_*`` are the current image's class probabilities (when an image was given),
    ``accuracy_*`` the accuracy on the editor's test data (when it has some). ``applied`` is False
    for a fine-tune that was stopped (the model was then put back as it was).
    """

    kind: str
    prototypes: list[int] = field(default_factory=list)
    patches: list[Patch] = field(default_factory=list)
    accuracy_before: float | None = None
    accuracy_after: float | None = None
    probabilities_before: list[float] | None = None
    probabilities_after: list[float] | None = None
    note: str = ""
    seconds: float = 0.0
    applied: bool = True

    def summary(self, classes: Sequence[str] | None = None) -> str:
        """One line: what was edited, how the current prediction and the test accuracy moved."""
        what = (", ".join(f"p{j}" for j in self.prototypes) or (f"{len(self.patches)} patch(es)" if self.patches
                                                                  else "nothing"))
        parts = [f"{self.kind} {what}"]
        if self.probabilities_before is not None and self.probabilities_after is not None:
            b, a = self.probabilities_before, self.probabilities_after
            kb, ka = max(range(len(b)), key=b.__getitem__), max(range(len(a)), key=a.__getitem__)
            def name(k: int) -> str:
                return classes[k] if classes is not None and k < len(classes) else str(k)

            parts.append(f"this image: {name(kb)} {b[kb]:.2f} → {name(ka)} {a[ka]:.2f}")
        if self.accuracy_before is not None and self.accuracy_after is not None:
            parts.append(f"test accuracy {self.accuracy_before:.3f} → {self.accuracy_after:.3f}")
        if self.note:
            parts.append(self.note)
        return " · ".join(parts)


def _clone_state(model: ProtoPNet) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class PrototypeEditor:
    """Undoable edits of a trained ProtoPNet (module docstring).

    Parameters
    ----------
    model:
        The trained ProtoPNet (edited in place).
    train:
        Training data (needed by :meth:`forget`, :meth:`remember` and :meth:`prune`; patches index it).
    test:
        Data on which every edit reports accuracy before and after.
    push:
        The model's push records (updated by forget / remember, restored by undo).
    val:
        Validation data for the fine-tunes.
    trainer:
        A Trainer of the model: edits are refused while it trains.

    Examples
    --------
    >>> editor = PrototypeEditor(run.model, world.train, world.test, push=run.push)      # doctest: +SKIP
    >>> editor.disable([3], image=world.test.images[:1]).summary(world.classes)          # doctest: +SKIP
    >>> editor.undo()                                                                    # doctest: +SKIP
    """

    def __init__(self, model: ProtoPNet, train: Any = None, test: Any = None, *, push: PushResult | None = None,
                 val: Any = None, trainer: Any = None) -> None:
        if not isinstance(model, ProtoPNet):
            raise ConfigError(f"the editor edits a ProtoPNet, got a {type(model).__name__}.")
        self.model, self.train, self.test, self.val, self.trainer = model, train, test, val, trainer
        self.push = push
        self.base_state = _clone_state(model)
        self.base_push = push
        self.records: list[EditRecord] = []
        self._snapshots: list[dict[str, Any]] = []
        self.forget_set: list[Patch] = []
        self.remember_set: list[Patch] = []
        self._busy = False

    # -- checks ---------------------------------------------------------------------------------------
    def _require_idle(self, action: str) -> None:
        running = getattr(self.trainer, "is_running", False)
        if self._busy or running:
            raise TrainingBusyError(f"cannot {action} while the model is training (a fine-tune or a run is in "
                                    "progress); wait for it to end or stop it, then edit again.")

    def check_prototypes(self, prototypes: Iterable[int]) -> list[int]:
        """The prototype indices as ints; an unknown index raises :class:`~halign_widgets.errors.UnknownNameError`."""
        out = []
        for j in ([prototypes] if isinstance(prototypes, int) else prototypes):
            if isinstance(j, Tensor) and j.numel() == 1:
                j = int(j)
            j = check_int("a prototype index", j)
            if not 0 <= j < self.model.num_prototypes:
                raise UnknownNameError(f"unknown prototype index {j}; this ProtoPNet has prototypes 0..."
                                       f"{self.model.num_prototypes - 1} (p0–p{self.model.num_prototypes - 1}).")
            out.append(j)
        if not out:
            raise ConfigError("give at least one prototype index to edit, e.g. editor.disable([3]).")
        return out

    def check_patches(self, patches: Iterable[Sequence[int]]) -> list[Patch]:
        """The patches as ``(image_index, row, col)``; out-of-range ones raise a typed error."""
        if self.train is None:
            raise ConfigError("forget / remember need the training data; build the editor with "
                              "PrototypeEditor(model, train=world.train, ...).")
        images, _ = dataset_tensors(self.train, "training data")
        n, m = self.model.grid_size((images.shape[-2], images.shape[-1]))
        out: list[Patch] = []
        for p in patches:
            if len(p) != 3:
                raise ConfigError(f"a patch is (image_index, row, col), got {p!r}.")
            i, r, c = (int(v) for v in p)
            if not (0 <= i < images.shape[0] and 0 <= r < n and 0 <= c < m):
                raise UnknownNameError(f"patch {(i, r, c)} is outside the training data ({images.shape[0]} images, "
                                       f"latent grid {n}×{m}); give image indices 0..{images.shape[0] - 1} and cells "
                                       f"0..{n - 1} × 0..{m - 1}.")
            out.append((i, r, c))
        if not out:
            raise ConfigError("give at least one patch (image_index, row, col).")
        return out

    # -- effect of an edit ------------------------------------------------------------------------------
    def _measure(self, image: Tensor | None) -> tuple[list[float] | None, float | None]:
        from .compare import classification_scores

        probs = None
        if image is not None:
            with torch.no_grad(), eval_mode(self.model):
                x = image if image.dim() == 4 else image[None]
                probs = torch.softmax(self.model(model_input(self.model, x)), 1)[0].cpu().tolist()
        acc = classification_scores(self.model, self.test)["accuracy"] if self.test is not None else None
        return probs, acc

    def _snapshot(self, full: bool) -> dict[str, Any]:
        return {"state": _clone_state(self.model) if full else None,
                "active": self.model.prototype_active.detach().clone(),
                "push": self.push, "forget_set": list(self.forget_set), "remember_set": list(self.remember_set)}

    def _restore(self, snap: dict[str, Any]) -> None:
        with torch.no_grad():
            if snap["state"] is not None:
                self.model.load_state_dict(snap["state"])
            self.model.prototype_active.copy_(snap["active"])
        self.push = snap["push"]
        self.forget_set, self.remember_set = list(snap["forget_set"]), list(snap["remember_set"])

    def _edit(self, kind: str, apply: Any, *, image: Tensor | None, full: bool, prototypes: Sequence[int] = (),
              patches: Sequence[Patch] = ()) -> EditRecord:
        self._require_idle(kind)
        start = time.perf_counter()
        probs_before, acc_before = self._measure(image)
        snap = self._snapshot(full)
        self._busy = True
        try:
            note = apply() or ""
        except BaseException:
            self._restore(snap)
            raise
        finally:
            self._busy = False
        record = EditRecord(kind, list(prototypes), list(patches), probabilities_before=probs_before,
                            accuracy_before=acc_before, note=note)
        if note.startswith("stopped"):
            self._restore(snap)
            record.applied = False
        record.probabilities_after, record.accuracy_after = self._measure(image)
        record.seconds = time.perf_counter() - start
        if record.applied:
            self.records.append(record)
            self._snapshots.append(snap)
        return record

    # -- the edits -----------------------------------------------------------------------------------
    def disable(self, prototypes: Iterable[int], *, image: Tensor | None = None) -> EditRecord:
        """Switch prototypes off: their similarity no longer reaches the logits."""
        return self._switch("disable", prototypes, 0.0, image)

    def enable(self, prototypes: Iterable[int], *, image: Tensor | None = None) -> EditRecord:
        """Switch prototypes (back) on."""
        return self._switch("enable", prototypes, 1.0, image)

    def _switch(self, kind: str, prototypes: Iterable[int], active: float, image: Tensor | None) -> EditRecord:
        chosen = self.check_prototypes(prototypes)

        def apply() -> str:
            with torch.no_grad():
                self.model.prototype_active[chosen] = active
            return ""

        return self._edit(kind, apply, image=image, full=False, prototypes=chosen)

    def prune(self, k: int = 6, threshold: int = 3, *, image: Tensor | None = None) -> EditRecord:
        """Chen et al.'s pruning (:func:`~halign_widgets.prototypes.prune_prototypes`) as an undoable edit."""
        from .prune import prune_prototypes

        if self.train is None:
            raise ConfigError("pruning needs the training data; build the editor with train=world.train.")
        found: dict[str, Any] = {}

        def apply() -> str:
            result = prune_prototypes(self.model, self.train, k, threshold)
            found["pruned"] = result.pruned
            return result.summary()

        record = self._edit("prune", apply, image=image, full=False)
        record.prototypes = list(found.get("pruned", []))
        return record

    def reset(self, *, image: Tensor | None = None) -> EditRecord:
        """Go back to the weights as trained (itself an edit, so it can be undone)."""
        def apply() -> str:
            with torch.no_grad():
                self.model.load_state_dict(self.base_state)
            self.push, self.forget_set, self.remember_set = self.base_push, [], []
            return "back to the weights as trained"

        return self._edit("reset", apply, image=image, full=True)

    def forget(self, patches: Iterable[Sequence[int]], *, image: Tensor | None = None, **options: Any) -> EditRecord:
        """Fine-tune so that no prototype of their class resembles these training patches (ProtoPDebug).

        ``options`` go to :meth:`fine_tune` (``epochs``, ``strength``, ``callbacks`` …).
        """
        chosen = self.check_patches(patches)
        return self._edit("forget", lambda: self.fine_tune(forget=chosen, **options), image=image, full=True,
                          patches=chosen)

    def remember(self, patches: Iterable[Sequence[int]], *, image: Tensor | None = None, **options: Any) -> EditRecord:
        """Fine-tune so that prototypes of their class keep resembling these training patches (ProtoPDebug)."""
        chosen = self.check_patches(patches)
        return self._edit("remember", lambda: self.fine_tune(remember=chosen, **options), image=image, full=True,
                          patches=chosen)

    def fine_tune(self, forget: Sequence[Patch] = (), remember: Sequence[Patch] = (), *, epochs: int = 3,
                  last_layer_epochs: int = 2, strength: float = 0.3, lr: float = 3e-3, trunk: bool = False,
                  exclude_similar: bool = True,
                  batch_size: int = 32, seed: int = 0, callbacks: Sequence[Any] = (), progress: bool = False,
                  device: str = "auto") -> str:
        """The debugging fine-tune (used by :meth:`forget` / :meth:`remember`; not an edit on its own).

        Adds the patches to the editor's forget / remember sets, then trains ``epochs`` epochs with
        ProtoPNet's loss plus ``strength`` × the forgetting loss and − ``strength`` × the remembering
        loss over *all* patches in the sets, pushes (no forgotten patch allowed, nor — with
        ``exclude_similar`` — any patch as close to them as they are to each other) and trains the
        last layer. By default the trunk stays frozen — only the add-on layers and prototypes move
        (``trunk=True`` trains it too) **[ours]**: on *masses* with the corner-marker shortcut,
        fine-tuning the trunk with the forgetting loss drove validation accuracy to chance, while with
        the trunk frozen the marker stopped mattering and accuracy on the shortcut-free test set rose
        (measured on one seed; forget many examples of the concept, e.g. a prototype's 60 nearest
        patches of its class).
        Returns a note (``"stopped …"`` when a callback stopped the run).
        """
        strength = check_real("strength", strength, 0.0, hint="the weight of the forgetting / remembering losses")
        images, labels = dataset_tensors(self.train, "training data")
        self.forget_set += [p for p in forget if p not in self.forget_set]
        self.remember_set += [p for p in remember if p not in self.remember_set]
        extra: dict[str, ExtraTerm] = {}
        if self.forget_set:
            extra["forget"] = PatchSimilarity(images, labels, self.forget_set, float(strength))
        if self.remember_set:
            extra["remember"] = PatchSimilarity(images, labels, self.remember_set, -float(strength))
        if trunk:
            schedule = Schedule(warmup_epochs=0, joint_epochs=epochs, last_layer_epochs=last_layer_epochs, joint_lr=lr,
                                init="uniform")
        else:
            schedule = Schedule(warmup_epochs=epochs, joint_epochs=0, last_layer_epochs=last_layer_epochs,
                                warmup_lr=lr, init="uniform")
        run = train_protopnet(self.model, self.train, self.val, schedule=schedule, loss=ProtoPNetLoss(extra=extra),
                              push_exclude=self.forget_set, push_exclude_similar=exclude_similar,
                              batch_size=batch_size, seed=seed, callbacks=list(callbacks),
                              progress=progress, device=device)
        if run.state == "stopped":
            return "stopped before the fine-tune finished; the model was put back as it was"
        self.push = run.push
        assert run.push is not None  # a finished run ends with a push
        before = self.base_push.records if self.base_push else []
        moved = sum(1 for a, b in zip(before, run.push.records, strict=False) if a.patch != b.patch)
        return (f"fine-tuned {epochs}+{last_layer_epochs} epoch(s); "
                f"{moved} prototype(s) now on other patches than as trained")

    # -- undo and persistence -------------------------------------------------------------------------------
    def undo(self) -> EditRecord:
        """Undo the last edit exactly (weights, switches, pushes and patch sets); return its record."""
        self._require_idle("undo")
        if not self.records:
            raise ConfigError("nothing to undo: no edit has been made (or all were undone).")
        self._restore(self._snapshots.pop())
        return self.records.pop()

    def state_dict(self) -> dict[str, Any]:
        """Plain data of the editor for a checkpoint: the trained weights, the edit log and the undo snapshots."""
        def snap(s: dict[str, Any]) -> dict[str, Any]:
            return {**s, "push": None if s["push"] is None else s["push"].to_dict(),
                    "forget_set": [list(p) for p in s["forget_set"]],
                    "remember_set": [list(p) for p in s["remember_set"]]}

        return {"base_state": self.base_state,
                "base_push": None if self.base_push is None else self.base_push.to_dict(),
                "records": [asdict(r) for r in self.records], "snapshots": [snap(s) for s in self._snapshots],
                "forget_set": [list(p) for p in self.forget_set], "remember_set": [list(p) for p in self.remember_set]}

    def load_state_dict(self, data: dict[str, Any]) -> None:
        """Restore the edit log and undo snapshots written by :meth:`state_dict` (the model's weights come
        from the checkpoint itself)."""
        def push(d: Any) -> PushResult | None:
            return None if d is None else PushResult.from_dict(d)

        def patches(v: Any) -> list[Patch]:
            return [tuple(int(x) for x in p) for p in v]  # type: ignore[misc]

        self.base_state = {k: v.clone() for k, v in data["base_state"].items()}
        self.base_push = push(data.get("base_push"))
        self.records = [EditRecord(**{**r, "patches": patches(r["patches"])}) for r in data.get("records", [])]
        self._snapshots = [{**s, "push": push(s["push"]), "forget_set": patches(s["forget_set"]),
                            "remember_set": patches(s["remember_set"])} for s in data.get("snapshots", [])]
        self.forget_set, self.remember_set = patches(data.get("forget_set", [])), patches(data.get("remember_set", []))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the edited model with its push records and the whole edit log (atomically)."""
        from .checkpoint import save_protopnet

        return save_protopnet(path, self.model, pushes=[self.push] if self.push is not None else [],
                              edits=self.state_dict())

    @classmethod
    def load(cls, path: str | os.PathLike[str], train: Any = None, test: Any = None,
             model: ProtoPNet | None = None) -> PrototypeEditor:
        """Rebuild an editor (model, pushes, edit log, undo history) from :meth:`save`'s checkpoint."""
        from .checkpoint import load_protopnet

        loaded = load_protopnet(path, model)
        editor = cls(loaded.model, train, test, push=loaded.push)
        if loaded.edits:
            editor.load_state_dict(loaded.edits)
            editor.push = loaded.push
        return editor
