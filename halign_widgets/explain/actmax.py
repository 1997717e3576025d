"""Activation maximization: synthesize an input that maximizes one unit (METHODS.md 1.2).

Gradient ascent on the input (Erhan et al., "Visualizing higher-layer features of a deep
network", 2009; Simonyan et al., ICLR workshops 2014) with the regularizers of Olah et al.,
"Feature visualization", Distill 2017: L2 decay, total variation, periodic Gaussian blur, random
jitter, and a Fourier parameterization whose spectrum is scaled by 1/frequency.
Hand-written: captum has no feature-visualization optimizer.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError, TargetOutOfRangeError, unknown_name
from ..models import check_model_input, eval_mode, get_layer, in_channels, model_device, model_dtype, size_errors
from ..training.threads import sized_for
from ..validation import check_int, check_real
from ._baselines import gaussian_blur
from ._fourier import FourierImage
from ._hooks import record_activations

__all__ = ["ActMaxResult", "activation_maximization", "parse_unit"]

PARAMS = ("pixel", "fourier")
STARTS = ("noise", "mean")


@dataclass
class ActMaxResult:
    """Result of :func:`activation_maximization`.

    Attributes
    ----------
    image:
        ``1×C×H×W`` image in the data range (``C`` = the model's input channels).
    trajectory:
        The unit's value (logit or mean channel activation) at every step.
    objective:
        The regularized objective (unit − L2 − TV) at every step.
    unit:
        The normalized unit, ``("class", k)`` or ``("channel", layer, k)``.
    stopped:
        ``True`` when a stop request ended the run early.
    seconds:
        Wall-clock time.
    """

    image: Tensor
    trajectory: list[float] = field(default_factory=list)
    objective: list[float] = field(default_factory=list)
    unit: tuple = ()
    stopped: bool = False
    seconds: float = 0.0


def parse_unit(unit: str | Sequence[Any]) -> tuple:
    """Normalize ``"class:1"``, ``("class", 1)``, ``"channel:features.conv2:5"`` or ``("channel", layer, k)``."""
    parts: list[Any] = unit.split(":") if isinstance(unit, str) else list(unit)
    kind = str(parts[0]).lower() if parts else ""
    if kind == "class" and len(parts) == 2 and _index(parts[1]) is not None:
        return ("class", _index(parts[1]))
    if kind == "channel" and len(parts) == 3 and _index(parts[2]) is not None:
        return ("channel", str(parts[1]), _index(parts[2]))
    raise ConfigError(f"unit {unit!r} is not understood; use 'class:<k>', ('class', k) or "
                      "('channel', '<layer name>', k) with k an integer class / channel index.")


def _index(value: Any) -> int | None:
    """An integer index from ``"3"`` or ``3``; ``None`` for anything else (``1.7``, ``True``, ``"1.7"``)."""
    if isinstance(value, str):
        text = value.strip()
        return int(text) if text.lstrip("-").isdigit() else None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    return None


def _model_channels(model: nn.Module) -> int:
    return in_channels(model) or 1   # a model without a conv layer: grayscale


def activation_maximization(
    model: nn.Module, unit: str | Sequence[Any] = "class:1", *, steps: int = 200, lr: float = 0.05,
    l2: float = 1e-3, tv: float = 0.05, blur_every: int = 4, blur_sigma: float = 0.5, jitter: int = 2,
    param: str = "pixel", start: str | float | Tensor = "noise", data_range: tuple[float, float] = (0.0, 1.0),
    size: int | tuple[int, int] = 64, seed: int = 0,
    callback: Callable[[int, Tensor, float], Any] | None = None, stop: Any = None,
) -> ActMaxResult:
    """Maximize a class logit or a channel's mean activation by gradient ascent on the input.

    Parameters
    ----------
    model:
        The classifier (put in eval mode during the run, restored after).
    unit:
        ``"class:k"`` / ``("class", k)`` — the pre-softmax logit of class ``k``;
        ``("channel", layer, k)`` — the mean activation of channel ``k`` of conv layer ``layer``.
    steps, lr:
        Adam steps and learning rate.
    l2, tv:
        Weights of the L2 decay (towards the start intensity) and of the total variation.
    blur_every, blur_sigma:
        Gaussian blur of the image every ``blur_every`` steps (pixel parameterization; 0 = never).
    jitter:
        Random translation of up to ``jitter`` pixels before each forward pass.
    param:
        ``"pixel"`` (image clamped to ``data_range`` after each step) or ``"fourier"`` (spectrum
        scaled by 1/frequency, squashed into ``data_range`` with a sigmoid).
    start:
        ``"noise"`` (mid-range plus noise), ``"mean"`` (mid-range constant), a number (a constant
        intensity, e.g. the dataset mean) or an image ``C×H×W`` / ``1×C×H×W`` (pixel only).
    data_range:
        ``(low, high)`` intensity range of the data; the image never leaves it.
    size:
        Spatial size of the image.
    seed:
        Seed of the noise and jitter (the run is deterministic for a seed).
    callback:
        ``callback(step, image, value)`` after each step; returning ``True`` stops the run.
    stop:
        Any object with ``is_set()`` (e.g. :class:`threading.Event`): checked every step.

    Returns
    -------
    ActMaxResult
    """
    u = parse_unit(unit)
    if param not in PARAMS:
        raise unknown_name("parameterization", param, PARAMS)
    if isinstance(start, str) and start not in STARTS:
        raise unknown_name("start", start, STARTS)
    if not (isinstance(data_range, (tuple, list)) and len(data_range) == 2):
        raise ConfigError(f"data_range must be (low, high), got {data_range!r}.")
    lo, hi = (check_real("data_range", v) for v in data_range)
    if not hi > lo:
        raise ConfigError(f"data_range must be (low, high) with low < high, got {data_range}.")
    steps, jitter, blur_every = (check_int(n, v, 0) for n, v in (("steps", steps), ("jitter", jitter),
                                                                  ("blur_every", blur_every)))
    lr = check_real("lr (the learning rate)", lr, 0.0, strict=True)
    l2, tv, blur_sigma = (check_real(n, v, 0.0) for n, v in (("l2", l2), ("tv", tv), ("blur_sigma", blur_sigma)))
    seed = check_int("seed", seed, 0)
    if isinstance(start, (int, float)) and not isinstance(start, bool):
        check_real("start (a constant intensity)", start, lo, high=hi)
    sides = list(size) if isinstance(size, (tuple, list)) and len(size) == 2 else [size, size]
    h, w = (check_int("size (pixels per side, or (H, W))", side, 1) for side in sides)
    c = _model_channels(model)
    check_model_input(model, torch.empty(1, c, h, w, device="meta"), name=f"images of size={size!r}")
    device = model_device(model)
    # [ours] the image is optimised in the model's dtype, but at least float32 (Adam steps of 0.05 on a
    # bfloat16 image would be rounded away); it is cast to the model's dtype for each forward pass
    seen_dtype = model_dtype(model) or torch.float32
    work = torch.promote_types(seen_dtype, torch.float32)
    gen = torch.Generator().manual_seed(int(seed))
    mid = float(start) if isinstance(start, (int, float)) else (lo + hi) / 2
    noise = 0.1 * (hi - lo) if start == "noise" else 0.0
    layer = get_layer(model, u[1]) if u[0] == "channel" else None

    if param == "fourier":
        if isinstance(start, Tensor):
            raise ConfigError("an image start needs param='pixel'; give a number for 'fourier'.")
        fourier = FourierImage((1, c, h, w), lo, hi, mid, 0.05 if start == "noise" else 0.0, gen, device)
        leaf, make_image = fourier.param, fourier.image
    else:
        if isinstance(start, Tensor):
            init = start.detach().float().reshape(1, c, h, w).clone()
        else:
            init = torch.full((1, c, h, w), mid) + noise * torch.randn(1, c, h, w, generator=gen)
        leaf = init.clamp(lo, hi).to(device=device, dtype=work).requires_grad_(True)
        make_image = lambda: leaf  # noqa: E731
    center = mid
    opt = torch.optim.Adam([leaf], lr=lr)
    result = ActMaxResult(image=make_image().detach().float().cpu(), unit=u)
    t0 = time.perf_counter()
    with (eval_mode(model), torch.enable_grad(), size_errors(model, torch.empty(1, c, h, w, device="meta")),
          sized_for(model, make_image().detach().to(seen_dtype))):   # one image: usually one thread
        for step in range(steps):
            if stop is not None and stop.is_set():
                result.stopped = True
                break
            img = make_image()
            seen = img
            if jitter:
                dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=gen))
                seen = torch.roll(img, shifts=(dy, dx), dims=(2, 3))
            value = _unit_value(model, seen.to(seen_dtype), u, layer).to(work)
            tv_term = ((img[..., 1:, :] - img[..., :-1, :]).abs().mean()
                       + (img[..., :, 1:] - img[..., :, :-1]).abs().mean())
            objective = value - l2 * ((img - center) ** 2).mean() - tv * tv_term
            (grad,) = torch.autograd.grad(-objective, [leaf])
            leaf.grad = grad
            opt.step()
            with torch.no_grad():
                if param == "pixel":
                    if blur_every and (step + 1) % blur_every == 0:
                        leaf.copy_(gaussian_blur(leaf, blur_sigma))
                    leaf.clamp_(lo, hi)
            result.trajectory.append(float(value.detach()))
            result.objective.append(float(objective.detach()))
            if callback is not None and callback(step, make_image().detach().float().cpu(),
                                                 float(value.detach())) is True:
                result.stopped = True
                break
    with torch.no_grad():
        result.image = make_image().detach().float().cpu()
    result.seconds = time.perf_counter() - t0
    return result


def _unit_value(model: nn.Module, x: Tensor, unit: tuple, layer: nn.Module | None) -> Tensor:
    if unit[0] == "class":
        logits = model(x)
        if not 0 <= unit[1] < logits.shape[1]:
            raise TargetOutOfRangeError(f"class {unit[1]} is out of range; the model has {logits.shape[1]} "
                                        f"classes, valid targets are 0..{logits.shape[1] - 1}.")
        return logits[0, unit[1]]
    assert layer is not None
    with record_activations(layer) as rec:
        model(x)
    acts = rec.output
    assert acts is not None  # the forward pass above ran through the layer
    if not 0 <= unit[2] < acts.shape[1]:
        raise TargetOutOfRangeError(f"channel {unit[2]} is out of range; layer {unit[1]!r} has "
                                    f"{acts.shape[1]} channels, valid channels are 0..{acts.shape[1] - 1}.")
    return acts[0, unit[2]].mean()
