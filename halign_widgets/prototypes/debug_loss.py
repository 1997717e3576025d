"""ProtoPDebug's forgetting and remembering losses: keep prototypes away from (or close to) given patches.

After A. Bontempelli, S. Teso, K. Tentori, F. Giunchiglia, A. Passerini, "Concept-level Debugging of
Part-Prototype Networks", ICLR 2023. A user marks patches of training images as concepts the model
must not use for their class (*forget*) or must keep using (*remember*); fine-tuning adds

- ``L_forget = mean over forgotten patches f of Σ_{p of class(f)} s(p, z_f)``, minimised, and
- ``L_remember = mean over remembered patches r of Σ_{p of class(r)} s(p, z_r)``, maximised,

to ProtoPNet's loss, where ``z_f`` is the patch's latent vector recomputed with the current trunk
(so the trunk learns to make the concept unlike the prototypes, not just the prototypes to move) and
``s`` is ProtoPNet's log similarity. Choices **[ours]**: the patches' latents are computed with
batch norm in eval mode (the statistics of a handful of similar patches would distort them), and
switched-off prototypes are left out, and each training step uses a random subset of at most
``per_step`` patches (deterministic for ``seed``), so forgetting a concept from many examples costs
no more per step than from a few.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..models import eval_mode, model_device
from .model import ProtoOutput, ProtoPNet, l2_distances, log_similarity
from .push import Patch

__all__ = ["PatchSimilarity"]


class PatchSimilarity:
    """An extra loss term for :class:`~halign_widgets.prototypes.ProtoPNetLoss`: own-class similarity to patches.

    Parameters
    ----------
    images, labels:
        The training images and labels the patches refer to.
    patches:
        ``(image_index, row, col)`` patches.
    weight:
        Multiplies the term in the loss: positive to forget (``λ_forget``), negative to remember
        (``−λ_remember``).
    per_step:
        Patches drawn (without replacement) for each step; all of them when there are fewer.
    seed:
        Seed of those draws.
    """

    def __init__(self, images: Tensor, labels: Tensor, patches: Sequence[Patch], weight: float,
                 per_step: int = 32, seed: int = 0) -> None:
        index = torch.tensor([p[0] for p in patches], dtype=torch.long)
        self.images = images[index].float()
        self.classes = labels[index].long()
        self.rows = torch.tensor([p[1] for p in patches], dtype=torch.long)
        self.cols = torch.tensor([p[2] for p in patches], dtype=torch.long)
        self.weight = float(weight)
        self.per_step = int(per_step)
        self.generator = torch.Generator().manual_seed(int(seed))

    def similarity(self, model: ProtoPNet, subset: bool = True) -> Tensor:
        """Mean over patches of the summed similarity of their class's active prototypes (with gradients).

        ``subset`` uses a fresh random draw of ``per_step`` patches; ``False`` uses them all.
        """
        device = model_device(model)
        pick = torch.arange(self.images.shape[0])
        if subset and pick.numel() > self.per_step:
            pick = torch.randperm(pick.numel(), generator=self.generator)[:self.per_step].sort().values
        with eval_mode(model):
            z = model.latent(self.images[pick].to(device))
        zf = z[torch.arange(z.shape[0], device=device), :, self.rows[pick].to(device), self.cols[pick].to(device)]
        s = log_similarity(l2_distances(zf[..., None, None], model.prototype_vectors)[..., 0, 0], model.epsilon)
        own = (model.prototype_class[None, :] == self.classes[pick].to(device)[:, None]).to(s.dtype)
        return (s * own * model.prototype_active[None, :].to(s.dtype)).sum(1).mean()

    def __call__(self, model: ProtoPNet, out: ProtoOutput, x: Tensor, y: Tensor) -> tuple[float, Tensor]:
        return self.weight, self.similarity(model)
