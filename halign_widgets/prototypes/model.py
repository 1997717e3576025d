"""ProtoPNet: "this looks like that" — a classifier that decides by similarity to learned prototypical parts.

After C. Chen, O. Li, D. Tao, A. Barnett, C. Rudin, J. Su, "This Looks Like That: Deep Learning for
Interpretable Image Recognition", NeurIPS 2019 (METHODS.md §1.5). A conv trunk of the lab, add-on
1×1 layers ending in a sigmoid give a latent grid ``z ∈ [0,1]^{D×n×n}``; each of the ``m`` prototypes
per class is a ``D×1×1`` vector; the logits are a linear map of the prototypes' similarity scores.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import ConfigError, InputShapeError, unknown_name
from ..models import ConfigFacts, SmallCNN, eval_mode
from ..validation import check_int, check_real
from ._trunk import ReceptiveField, cut_trunk, receptive_field, trunk_channels

__all__ = ["ADD_ONS", "ProtoOutput", "ProtoPNet", "l2_distances", "log_similarity"]

ADD_ONS = ("regular", "bottleneck")


def l2_distances(z: Tensor, prototypes: Tensor) -> Tensor:
    """Squared L2 distance of every latent patch to every prototype, ``B×P×n×m``.

    Uses ``‖z − p‖² = ‖z‖² − 2 z·p + ‖p‖²`` with ``z·p`` as a 1×1 convolution (one pass for all
    prototypes, as in Chen et al.'s code), clamped at 0 against rounding below zero.

    Parameters
    ----------
    z:
        Latent grid ``B×D×n×m``.
    prototypes:
        ``P×D×1×1`` (or ``P×D``) prototype vectors.
    """
    p = prototypes.reshape(prototypes.shape[0], -1, 1, 1)
    z2 = (z * z).sum(1, keepdim=True)
    p2 = (p * p).sum((1, 2, 3)).view(1, -1, 1, 1)
    return (z2 - 2.0 * F.conv2d(z, p) + p2).clamp_min(0.0)


def log_similarity(distances: Tensor, epsilon: float = 1e-4) -> Tensor:
    """ProtoPNet's similarity ``log((d + 1) / (d + ε))``: large for a close patch, → 0 for a far one."""
    return torch.log((distances + 1.0) / (distances + epsilon))


class ProtoOutput(NamedTuple):
    """Everything one forward pass computes (what the loss and the explanations need).

    ``logits`` ``B×K``; ``min_distances`` and ``similarities`` ``B×P``; ``distances`` ``B×P×n×n``.
    """

    logits: Tensor
    min_distances: Tensor
    similarities: Tensor
    distances: Tensor


def _add_on(channels: int, depth: int, kind: str) -> nn.Sequential:
    """Add-on layers: 1×1 conv, ReLU, 1×1 conv, Sigmoid (``regular``), or halving 1×1 blocks down to ``depth``
    (``bottleneck``, as in Chen et al.'s code)."""
    if kind == "regular":
        return nn.Sequential(nn.Conv2d(channels, depth, 1), nn.ReLU(), nn.Conv2d(depth, depth, 1), nn.Sigmoid())
    layers: list[nn.Module] = []
    current = channels
    while True:
        out = max(depth, current // 2)
        layers += [nn.Conv2d(current, out, 1), nn.ReLU(), nn.Conv2d(out, out, 1)]
        if out == depth:
            layers.append(nn.Sigmoid())
            return nn.Sequential(*layers)
        layers.append(nn.ReLU())
        current = out


class ProtoPNet(ConfigFacts, nn.Module):
    """A prototypical part network on a conv trunk of the lab.

    Parameters
    ----------
    in_channels, num_classes:
        Input channels and classes (≥ 2).
    prototypes_per_class:
        ``m`` prototypes per class (≥ 1); prototype ``j`` belongs to class ``j // m``.
    latent_depth:
        ``D``, channels of the latent grid and length of each prototype vector.
    backbone:
        A model with an ``nn.Sequential`` called ``features`` (a trained or fresh
        :class:`~halign_widgets.models.SmallCNN`); copied. Default: a fresh
        ``SmallCNN(in_channels, num_classes, width, depth)``.
    layer:
        Trunk layer whose output feeds the add-on layers (default the backbone's last conv block);
        a later layer gives a coarser grid with larger receptive fields.
    add_on:
        ``"regular"`` or ``"bottleneck"``.
    width, depth:
        Size of the default SmallCNN trunk (ignored when ``backbone`` is given).
    epsilon:
        ``ε`` of the similarity ``log((d + 1) / (d + ε))``.

    Attributes
    ----------
    prototype_vectors:
        ``P×D×1×1`` parameter, initialised uniformly in ``[0, 1]`` (Chen et al.).
    prototype_class:
        ``P`` long buffer: the class of each prototype (fixed).
    prototype_active:
        ``P`` float buffer of 1/0: 0 switches a prototype off (its similarity does not reach the
        logits). Edits and pruning write it; it is saved with the weights.
    last_layer:
        ``Linear(P, K, bias=False)``, initialised +1 to the own class and −0.5 to the others.

    Examples
    --------
    >>> model = ProtoPNet(in_channels=1, num_classes=2, prototypes_per_class=3, latent_depth=16)
    >>> model.latent(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 16, 8, 8])
    >>> model(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 2])
    """

    prototype_class: Tensor  # buffers (register_buffer below), typed for the checker
    prototype_active: Tensor

    def __init__(self, in_channels: int = 1, num_classes: int = 2, prototypes_per_class: int = 5,
                 latent_depth: int = 32, *, backbone: nn.Module | None = None, layer: str | None = None,
                 add_on: str = "regular", width: int = 8, depth: int = 4, epsilon: float = 1e-4) -> None:
        super().__init__()
        for name, value, low in (("in_channels", in_channels, 1), ("num_classes", num_classes, 2),
                                 ("prototypes_per_class", prototypes_per_class, 1), ("latent_depth", latent_depth, 1)):
            check_int(name, value, low,
                      hint="each class needs at least one prototype" if name == "prototypes_per_class" else "")
        if add_on not in ADD_ONS:
            raise unknown_name("add-on variant", str(add_on), ADD_ONS)
        check_real("epsilon", epsilon, 0.0, 1.0, strict=True, strict_high=True,
                   hint="it keeps the log-similarity finite")
        if backbone is None:
            backbone = SmallCNN(in_channels, num_classes, width=width, depth=depth)
        else:
            cfg = getattr(backbone, "config", {}) or {}
            width, depth = int(cfg.get("width", width)), int(cfg.get("depth", depth))
            if cfg.get("in_channels", in_channels) != in_channels:
                raise ConfigError(f"the backbone takes {cfg['in_channels']} input channel(s) but in_channels="
                                  f"{in_channels}; build the ProtoPNet with in_channels={cfg['in_channels']}.")
        self.features, layer = cut_trunk(backbone, layer)
        self.config: dict[str, Any] = dict(in_channels=in_channels, num_classes=num_classes,
                                           prototypes_per_class=prototypes_per_class, latent_depth=latent_depth,
                                           layer=layer, add_on=add_on, width=width, depth=depth,
                                           epsilon=float(epsilon))
        self.add_on = _add_on(trunk_channels(self.features), latent_depth, add_on)
        p = num_classes * prototypes_per_class
        self.prototype_vectors = nn.Parameter(torch.rand(p, latent_depth, 1, 1))
        self.register_buffer("prototype_class", torch.arange(p) // prototypes_per_class)
        self.register_buffer("prototype_active", torch.ones(p))
        self.last_layer = nn.Linear(p, num_classes, bias=False)
        self.set_last_layer_incorrect_connection(-0.5)
        self.epsilon = float(epsilon)
        self.trunk_frozen = self.add_on_frozen = False
        self.rf: ReceptiveField = receptive_field(self.features)

    # -- facts --------------------------------------------------------------------------------
    @property
    def num_prototypes(self) -> int:
        """``P = K · m``."""
        return int(self.prototype_vectors.shape[0])

    @property
    def last_conv_layer(self) -> str:
        """Dotted name of the trunk's last conv block (default layer of CAM methods on this model)."""
        return str(self.config["layer"])

    @property
    def prototype_class_identity(self) -> Tensor:
        """``P×K`` one-hot matrix of prototype classes."""
        return F.one_hot(self.prototype_class, self.num_classes).to(self.last_layer.weight.dtype)

    def set_last_layer_incorrect_connection(self, strength: float = -0.5) -> None:
        """Set the last layer to +1 from each prototype to its class and ``strength`` to the others."""
        with torch.no_grad():
            identity = self.prototype_class_identity.t()
            self.last_layer.weight.copy_(identity + strength * (1.0 - identity))

    # -- frozen parts (warm-up and last-layer stages) ------------------------------------------
    def freeze_features(self, trunk: bool = True, add_on: bool = True) -> None:
        """Keep the trunk (and the add-on layers) in eval mode even while the model trains [ours].

        Used by the stages that do not train them (warm-up: the trunk; last layer: both), so their
        batch-norm statistics — hence the latent patches the prototypes were pushed onto — do not
        drift. ``freeze_features(False, False)`` releases them.
        """
        self.trunk_frozen, self.add_on_frozen = bool(trunk), bool(add_on)
        self.train(self.training)

    @property
    def features_frozen(self) -> bool:
        """True while trunk or add-on layers are held in eval mode."""
        return self.trunk_frozen or self.add_on_frozen

    def train(self, mode: bool = True) -> ProtoPNet:
        super().train(mode)
        if self.trunk_frozen:
            self.features.eval()
        if self.add_on_frozen:
            self.add_on.eval()
        return self

    # -- computation --------------------------------------------------------------------------
    def _check(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.dim() != 4:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise InputShapeError(f"images must be a B×C×H×W tensor, got {shape}; add a batch dimension with x[None].")
        if x.shape[1] != self.in_channels:
            raise InputShapeError(f"images have {x.shape[1]} channel(s) but this ProtoPNet expects {self.in_channels}; "
                                  f"convert them (x.mean(1, keepdim=True) for grayscale) or build the model with "
                                  f"in_channels={x.shape[1]}.")

    def latent(self, x: Tensor) -> Tensor:
        """Latent grid ``B×D×n×n`` in ``[0, 1]`` (trunk → add-on layers)."""
        self._check(x)
        return self.add_on(self.features(x))

    def distances_from_latent(self, z: Tensor) -> Tensor:
        """``B×P×n×n`` squared distances of latent patches ``z`` to every prototype."""
        return l2_distances(z, self.prototype_vectors)

    def distances(self, x: Tensor) -> Tensor:
        """``B×P×n×n`` squared distance of every latent patch of ``x`` to every prototype."""
        return self.distances_from_latent(self.latent(x))

    def min_distances(self, x: Tensor) -> Tensor:
        """``B×P`` distance of each prototype to its closest patch of each image."""
        return self.distances(x).flatten(2).amin(2)

    def similarities(self, x: Tensor) -> Tensor:
        """``B×P`` similarity scores ``s_j = log((d_j + 1)/(d_j + ε))`` of the closest patches."""
        return log_similarity(self.min_distances(x), self.epsilon)

    def similarity_maps(self, x: Tensor) -> Tensor:
        """``B×P×n×n`` similarity of every latent patch to every prototype (the raw maps)."""
        return log_similarity(self.distances(x), self.epsilon)

    def forward_parts(self, x: Tensor) -> ProtoOutput:
        """One pass returning logits, min distances, similarities and distance maps."""
        d = self.distances(x)
        min_d = d.flatten(2).amin(2)
        s = log_similarity(min_d, self.epsilon)
        logits = self.last_layer(s * self.prototype_active.to(s.dtype))
        return ProtoOutput(logits, min_d, s, d)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_parts(x).logits

    def grid_size(self, image_size: tuple[int, int]) -> tuple[int, int]:
        """Latent grid ``(n, m)`` for images of ``image_size`` (one forward pass of a blank image)."""
        probe = torch.zeros(1, self.in_channels, *image_size, device=self.prototype_vectors.device,
                            dtype=self.prototype_vectors.dtype)
        with torch.no_grad(), eval_mode(self):
            shape = self.features(probe).shape[-2:]
        return int(shape[0]), int(shape[1])

    def extra_repr(self) -> str:
        m = self.config["prototypes_per_class"]
        return (f"prototypes={self.num_prototypes} ({m} per class), latent_depth={self.config['latent_depth']}, "
                f"layer={self.last_conv_layer!r}, receptive_field={self.rf.size:g} px (jump {self.rf.jump:g})")
