"""The causality-driven module: causality factors re-weight conv features before the classifier.

After Carloni & Colantonio, "Exploiting causality signals in medical images: a pilot study with
empirical results" (Expert Systems with Applications, 2024) and Carloni et al., "Causality-driven
one-shot learning for prostate cancer grading from MRI" (2023). See METHODS.md §2.2.

The module takes the features ``X`` (``B×k×h×w``) of a conv layer and builds the classifier input:

===============  =====================  ==========================
setting          classifier input       size (flattened / pooled)
===============  =====================  ==========================
``baseline``     ``X``                  ``k·h·w`` / ``k``
``cat``          ``[X, C]``             ``k·h·w + k²`` / ``k + k²``
``mul``          ``X ⊙ w``              ``k·h·w`` / ``k``
``mulbool``      ``X ⊙ w`` (0/1 ``w``)  ``k·h·w`` / ``k``
``mulcat``       ``[X, X ⊙ w]``         ``2·k·h·w`` / ``2k``
``mulcatbool``   ``[X, X ⊙ w]`` (0/1)   ``2·k·h·w`` / ``2k``
===============  =====================  ==========================

The factors multiply the *un-normalized* ``X``. ``pooled=True`` [ours] global-average-pools ``X`` and
``X ⊙ w`` instead of flattening them (the papers flatten); the map ``C`` is always flattened.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from ..errors import ConfigError, InputShapeError, unknown_name
from .factors import causality_factors, direction_graph, random_factors
from .maps import ESTIMATORS, Estimator, Mode, causality_map

__all__ = ["SETTINGS", "Setting", "CausalityModule", "factor_kind"]

SETTINGS = ("baseline", "cat", "mul", "mulbool", "mulcat", "mulcatbool")
Setting = Literal["baseline", "cat", "mul", "mulbool", "mulcat", "mulcatbool"]


def factor_kind(setting: Setting) -> str:
    """The factor law a setting uses: ``"mulcatbool"`` (0/1) for ``*bool`` settings, else ``"mulcat"``."""
    return "mulcatbool" if setting.endswith("bool") else "mulcat"


class CausalityModule(nn.Module):
    """Turn conv features into the classifier input of one of the papers' settings (no parameters).

    Parameters
    ----------
    setting:
        One of :data:`SETTINGS` (see the module docstring).
    estimator:
        ``"max"`` or ``"lehmer"`` (see :func:`~halign_widgets.causality.causality_map`).
    p:
        Lehmer power (the authors' ``α = p − 1``); ignored by Max.
    direction:
        ``"causes"`` or ``"effects"`` (see :func:`~halign_widgets.causality.causality_factors`).
    pooled:
        Global-average-pool ``X`` and ``X ⊙ w`` instead of flattening them [ours option].
    random:
        Replace the causality factors by :func:`~halign_widgets.causality.random_factors` of the same
        law, drawn afresh for every batch (the papers' ablation).
    mode:
        Causality-map mode, ``"fast"`` (default) or ``"faithful"``.

    Examples
    --------
    >>> m = CausalityModule("mulcat")
    >>> m(torch.rand(2, 16, 4, 4)).shape
    torch.Size([2, 512])
    """

    def __init__(self, setting: Setting = "mulcat", estimator: Estimator = "max", p: float = 1.0,
                 direction: str = "causes", pooled: bool = False, random: bool = False,
                 mode: Mode = "fast") -> None:
        super().__init__()
        if setting not in SETTINGS:
            raise unknown_name("causality setting", setting, SETTINGS)
        if estimator not in ESTIMATORS:
            raise unknown_name("causality estimator", estimator, ESTIMATORS)
        if direction not in ("causes", "effects"):
            raise unknown_name("causality direction", direction, ("causes", "effects"))
        if random and setting not in ("mul", "mulbool", "mulcat", "mulcatbool"):
            raise ConfigError(f"random=True ablates the causality factors, but setting {setting!r} uses "
                              "none; use one of 'mul', 'mulbool', 'mulcat', 'mulcatbool'.")
        self.setting, self.estimator, self.p = setting, estimator, float(p)
        self.direction, self.pooled, self.random, self.mode = direction, bool(pooled), bool(random), mode
        self.generator: torch.Generator | None = None

    @property
    def uses_factors(self) -> bool:
        """True for the ``mul*`` settings."""
        return self.setting.startswith("mul")

    @property
    def factor_kind(self) -> str:
        """Factor kind used by the ``mul*`` settings (``"mulcat"`` or ``"mulcatbool"`` law)."""
        return factor_kind(self.setting)

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments (for checkpoints)."""
        return dict(setting=self.setting, estimator=self.estimator, p=self.p, direction=self.direction,
                    pooled=self.pooled, random=self.random, mode=self.mode)

    def output_size(self, k: int, h: int, w: int | None = None) -> int:
        """Classifier input size for ``k`` channels on an ``h×w`` grid."""
        w = h if w is None else w
        x = k if self.pooled else k * h * w
        if self.setting == "cat":
            return x + k * k
        return 2 * x if self.setting in ("mulcat", "mulcatbool") else x

    def explain(self, features: Tensor) -> dict[str, Tensor]:
        """The intermediate tensors: ``map`` (B×k×k), ``adjacency`` (B×k×k) and ``factors`` (B×k)."""
        cmap = causality_map(features, self.estimator, self.p, self.mode)
        adjacency = direction_graph(cmap)
        factors = causality_factors(cmap, self.factor_kind, self.direction)
        return {"map": cmap, "adjacency": adjacency, "factors": factors}

    def _factors(self, features: Tensor) -> Tensor:
        b, k = features.shape[:2]
        if self.random:
            return random_factors(b, k, self.factor_kind, self.generator, device=features.device,
                                  dtype=features.dtype)
        cmap = causality_map(features, self.estimator, self.p, self.mode)
        return causality_factors(cmap, self.factor_kind, self.direction)

    def _shape(self, x: Tensor) -> Tensor:
        return x.mean((2, 3)) if self.pooled else x.flatten(1)

    def forward(self, features: Tensor) -> Tensor:
        """Return the flattened classifier input ``B×output_size(k, h, w)``."""
        if not isinstance(features, Tensor) or features.dim() != 4:
            shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
            raise InputShapeError(f"CausalityModule expects conv features B×k×h×w, got {shape}.")
        if self.setting == "baseline":
            return self._shape(features)
        if self.setting == "cat":
            cmap = causality_map(features, self.estimator, self.p, self.mode)
            return torch.cat([self._shape(features), cmap.flatten(1)], 1)
        weighted = features * self._factors(features)[:, :, None, None]
        if self.setting in ("mul", "mulbool"):
            return self._shape(weighted)
        return torch.cat([self._shape(features), self._shape(weighted)], 1)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items())
