"""Mixed precision for the Trainer (``amp=True``): autocast, and loss scaling on CUDA (private).

After Micikevicius et al., "Mixed Precision Training", ICLR 2018, as PyTorch implements it:
:func:`torch.autocast` runs the eligible float32 operations (convolutions, matrix products) in a
16-bit type, and on CUDA a :class:`torch.amp.GradScaler` multiplies the loss before ``backward``
so that small float16 gradients do not underflow, divides them back before the step, and skips a
step whose gradients overflowed (lowering its scale) — a skipped step is normal, not divergence.

- **CUDA**: float16 autocast + ``GradScaler``.
- **CPU**: bfloat16 autocast *without* a scaler [ours: decided here]. bfloat16 keeps float32's
  exponent range, so gradients cannot underflow the way float16 ones do and torch offers no CPU
  scaler for it; the option is useful on CPUs with bfloat16 units and for testing the code path on
  a machine without a GPU. On CPUs without them it is usually *slower* than float32.
- **anything else** (MPS …): :class:`~halign_widgets.errors.ConfigError`.

Only the training steps run under autocast; validation, precise batch-norm statistics and
``predict`` run in the model's own dtype, so reported metrics do not depend on ``amp``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..models import model_dtype

__all__ = ["Precision"]


class Precision:
    """The autocast context, the backward pass and the optimiser step for one device and ``amp`` setting."""

    def __init__(self, amp: Any, device: torch.device, model: nn.Module) -> None:
        if not isinstance(amp, bool):
            raise ConfigError(f"amp must be True or False, got {amp!r}.")
        self.enabled = amp
        self.device_type = device.type
        self.dtype: torch.dtype | None = None
        self.scaler: torch.amp.GradScaler | None = None
        if not amp:
            return
        if device.type not in ("cuda", "cpu"):
            raise ConfigError(f"amp=True runs on CUDA (float16) or the CPU (bfloat16), not on {device.type!r}; "
                              "pass amp=False or device='cuda'/'cpu'.")
        own = model_dtype(model)
        if own not in (None, torch.float32):
            raise ConfigError(f"amp=True needs a float32 model (autocast lowers float32 work to 16 bits), but this "
                              f"one is {own}; call model.float() first or keep amp=False.")
        self.dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
        if device.type == "cuda":
            self.scaler = torch.amp.GradScaler("cuda")

    @property
    def scaling(self) -> bool:
        """Whether a loss scaler may skip steps whose gradients overflowed."""
        return self.scaler is not None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """Autocast for the forward pass and loss (a no-op with ``amp=False``)."""
        if not self.enabled:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def backward(self, loss: Tensor, optimizer: torch.optim.Optimizer) -> None:
        """``loss.backward()`` (scaled on CUDA), leaving true-scale gradients in the parameters."""
        if self.scaler is None:
            loss.backward()
            return
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(optimizer)

    def step(self, optimizer: torch.optim.Optimizer) -> None:
        """The optimiser step (the scaler skips it if the gradients overflowed, and updates its scale)."""
        if self.scaler is None:
            optimizer.step()
            return
        self.scaler.step(optimizer)
        self.scaler.update()

    def state_dict(self) -> dict[str, Any] | None:
        """The scaler's state for checkpoints (``None`` without a scaler)."""
        return None if self.scaler is None else dict(self.scaler.state_dict())

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Restore a scaler state saved by :meth:`state_dict` (ignored without a scaler)."""
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)
