"""Gradient and perturbation attributions, delegated to captum.

Nothing is re-implemented here: this module chooses defaults for small 64×64 images, validates
the options (:mod:`._captum_options`), builds baselines with :mod:`._baselines`, seeds the random
methods, sizes the passes to the memory at hand (:mod:`._memory`) and reduces captum's
``B×C×H×W`` attribution to a ``B×H×W`` map:

- **saliency** (``abs=True``): ``max_c |∂y/∂x_c|``, the maximum over colour channels, as Simonyan
  et al. define the image-specific saliency map. ``channels="sum"`` sums instead; ``abs=False``
  keeps the signed gradient, summed over channels (no maximum of signed values) **[ours]**.
- **SmoothGrad** (``abs=True``): the per-channel mean of ``|∂y/∂x|`` over the noisy copies
  (captum's ``NoiseTunnel`` over ``Saliency``), then the same channel maximum — so SmoothGrad is
  exactly saliency averaged under noise and equals it at ``stdev=0`` **[ours]**: Smilkov et al.
  build on Simonyan's map, while the visualisation code they published sums ``|·|`` over
  channels — ``channels="sum"`` gives that.
- **Occlusion**: the mean over channels — every channel of an occluded window receives the same
  output change, so the mean *is* that change (a sum would multiply it by ``C``).
- **Every other method** (Input×Gradient, Integrated Gradients, GradientShap, DeepLift, Guided
  Backprop): the signed sum over channels. These attributions are additive — IG, DeepLift and
  GradientShap satisfy completeness, ``Σ_pixels Σ_channels a = f(x) − f(baseline)`` — and the sum
  keeps that property pixel by pixel (and the sign). Grayscale images have one channel anyway.

Randomness is per image **[ours]**: GradientShap draws each image's references from *its own*
distribution — a black image and the chosen baseline of that image (Lundberg & Lee's expected
gradients over a reference distribution; captum would pool the references of a whole batch, so
an image was often attributed against another image's blur) — and SmoothGrad and GradientShap
re-seed for every image, so an image's map is identical whether it is explained alone or in a
batch.

References: Saliency (Simonyan et al., ICLR workshops 2014); Input×Gradient (Shrikumar et al.,
2016); Integrated Gradients (Sundararajan et al., ICML 2017); GradientShap (Lundberg & Lee,
NeurIPS 2017); DeepLift (Shrikumar et al., ICML 2017); Guided Backprop (Springenberg et al.,
ICLR workshops 2015); Occlusion (Zeiler & Fergus, ECCV 2014); SmoothGrad (Smilkov et al., 2017).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._baselines import make_baseline
from ._captum_options import CAPTUM_DEFAULTS, CHANNEL_REDUCTIONS, check_captum_options
from ._memory import auto_max_pass

__all__ = ["ATTRIBUTE", "CAPTUM_DEFAULTS", "CAPTUM_LABELS", "CHANNEL_REDUCTIONS", "PER_IMAGE", "check_captum",
           "check_captum_options", "reduce_channels", "run_captum", "run_captum_call"]

#: Random methods explained one image at a time, each re-seeded (see the module docstring).
PER_IMAGE = ("gradient_shap", "smoothgrad")


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch and numpy (captum samples baselines with numpy) and restore both states after."""
    state = np.random.get_state()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            np.random.seed(seed)
            yield
    finally:
        np.random.set_state(state)


def _occlusion(model: nn.Module, x: Tensor, target: Tensor, window: int | None, stride: int | None,
               baseline: Any, batch_size: int) -> Tensor:
    # [ours] default window = H/8 (8 px on 64×64), stride = half the window: 15×15 = 225 forwards.
    from captum import attr as ca

    h = x.shape[-2]
    window = min(int(window or max(2, h // 8)), min(x.shape[-2:]))
    stride = int(stride or max(1, window // 2))
    c = x.shape[1]
    return ca.Occlusion(model).attribute(
        x, sliding_window_shapes=(c, window, window), strides=(c, stride, stride), target=target,
        baselines=make_baseline(x, baseline), perturbations_per_eval=int(batch_size))


def reduce_channels(name: str, attribution: Tensor, opts: dict[str, Any]) -> Tensor:
    """``B×C×H×W`` captum attribution → ``B×H×W`` map, per method (see the module docstring)."""
    if name in ("saliency", "smoothgrad") and opts.get("abs", True) and opts.get("channels", "max") == "max":
        return attribution.amax(1)
    if name == "occlusion":
        return attribution.mean(1)
    return attribution.sum(1)


def run_captum(name: str, model: nn.Module, x: Tensor, target: Tensor, **opts: Any) -> Tensor:
    """Run the captum method ``name`` with options ``opts`` (already merged with the defaults).

    Images go through captum in chunks of at most ``max_pass`` images per forward-backward pass
    (inputs × steps / samples / occluded copies); ``max_pass=None`` adapts it to the free memory.
    The random methods run image by image (:data:`PER_IMAGE`).

    Returns
    -------
    Tensor
        ``B×H×W`` map (see :func:`reduce_channels`).
    """
    opts = check_captum_options(name, opts, (x.shape[-2], x.shape[-1]))
    x = x.detach().clone().requires_grad_(True)
    seed = opts.get("seed")
    with warnings.catch_warnings():
        # captum warns each time it (temporarily) hooks ReLUs; the hooks are removed by captum.
        warnings.filterwarnings("ignore", category=UserWarning, module="captum")
        warnings.filterwarnings("ignore", message=".*hooks.*")
        if name in PER_IMAGE:
            parts = []
            for i in range(x.shape[0]):
                with _seeded(int(seed)) if seed is not None else nullcontext():
                    parts.append(_dispatch(name, model, x[i:i + 1], target[i:i + 1], opts).detach())
        else:
            max_pass = opts.get("max_pass") or auto_max_pass(model, x)
            chunk = max(1, max_pass // _expansion(name, opts))
            parts = [_dispatch(name, model, x[i:i + chunk], target[i:i + chunk], opts).detach()
                     for i in range(0, x.shape[0], chunk)]
    return reduce_channels(name, torch.cat(parts), opts)


def _expansion(name: str, opts: dict[str, Any]) -> int:
    """How many images one input becomes inside captum (steps, samples or occlusion windows per pass)."""
    if name == "integrated_gradients" and opts.get("internal_batch_size"):
        return 1  # captum splits the steps itself; a chunk of images then costs internal_batch_size
    key = {"integrated_gradients": "n_steps", "gradient_shap": "n_samples", "smoothgrad": "n_samples",
           "occlusion": "batch_size"}.get(name)
    return max(1, int(opts[key])) if key else 1


def _saliency(ca: Any, model: nn.Module, x: Tensor, target: Tensor, opts: dict[str, Any]) -> Tensor:
    return ca.Saliency(model).attribute(x, target=target, abs=bool(opts["abs"]))


def _input_x_gradient(ca: Any, model: nn.Module, x: Tensor, target: Tensor, opts: dict[str, Any]) -> Tensor:
    return ca.InputXGradient(model).attribute(x, target=target)


def _integrated_gradients(ca: Any, model: nn.Module, x: Tensor, target: Tensor, opts: dict[str, Any]) -> Tensor:
    return ca.IntegratedGradients(model).attribute(
        x, baselines=make_baseline(x, opts["baseline"]), target=target, n_steps=int(opts["n_steps"]),
        internal_batch_size=opts["internal_batch_size"])


def _gradient_shap(ca: Any, model: nn.Module, x: Tensor, target: Tensor, opts: dict[str, Any]) -> Tensor:
    # One image: its reference distribution is a black image and its own baseline.
    base = torch.cat([torch.zeros_like(x), make_baseline(x, opts["baseline"])])
    return ca.GradientShap(model).attribute(x, baselines=base, target=target, n_samples=int(opts["n_samples"]),
                                            stdevs=float(opts["stdevs"]))


def _deeplift(ca: Any, model: nn.Module, x: Tensor, target: Tensor, opts: dict[str, Any]) -> Tensor:
    return ca.DeepLift(model).attribute(x, baselines=make_baseline(x, opts["baseline"]), target=target)


def _guided_backprop(ca: Any, model: nn.Module, x: Tensor, target: Tensor, opts: dict[str, Any]) -> Tensor:
    return ca.GuidedBackprop(model).attribute(x, target=target)


def _occlusion_method(ca: Any, model: nn.Module, x: Tensor, target: Tensor, opts: dict[str, Any]) -> Tensor:
    return _occlusion(model, x, target, opts["window"], opts["stride"], opts["baseline"], opts["batch_size"])


def _smoothgrad(ca: Any, model: nn.Module, x: Tensor, target: Tensor, opts: dict[str, Any]) -> Tensor:
    tunnel = ca.NoiseTunnel(ca.Saliency(model))
    return tunnel.attribute(x, nt_type="smoothgrad", nt_samples=int(opts["n_samples"]),
                            stdevs=float(opts["stdev"]), target=target, abs=bool(opts["abs"]))


#: The captum call behind each method (one record each; the registry adds the labels).
ATTRIBUTE: dict[str, Any] = {
    "saliency": _saliency, "input_x_gradient": _input_x_gradient, "integrated_gradients": _integrated_gradients,
    "gradient_shap": _gradient_shap, "deeplift": _deeplift, "guided_backprop": _guided_backprop,
    "occlusion": _occlusion_method, "smoothgrad": _smoothgrad,
}

#: Display label and family of each captum-backed method.
CAPTUM_LABELS: dict[str, tuple[str, Any]] = {
    "saliency": ("Saliency", "gradient"), "input_x_gradient": ("Input×Gradient", "gradient"),
    "integrated_gradients": ("Integrated Gradients", "gradient"), "gradient_shap": ("GradientSHAP", "gradient"),
    "deeplift": ("DeepLift", "gradient"), "guided_backprop": ("Guided Backprop", "gradient"),
    "occlusion": ("Occlusion", "perturbation"), "smoothgrad": ("SmoothGrad", "gradient"),
}


def _dispatch(name: str, model: nn.Module, x: Tensor, target: Tensor, opts: dict[str, Any]) -> Tensor:
    # captum is imported here, not at module level: `import captum.attr` loads matplotlib, and
    # method code must import without GUI libraries (tests/test_layering.py).
    from captum import attr as ca

    return ATTRIBUTE[name](ca, model, x, target, opts)


def run_captum_call(call: Any) -> tuple[Tensor, dict[str, Any]]:
    """The registry's runner for every captum-backed method (``call`` is a ``MethodCall``)."""
    return run_captum(call.method, call.model, call.x, call.target, **call.options), {}


def check_captum(call: Any) -> dict[str, Any]:
    """The registry's option check for every captum-backed method."""
    return check_captum_options(call.method, call.options, (call.x.shape[-2], call.x.shape[-1]))
