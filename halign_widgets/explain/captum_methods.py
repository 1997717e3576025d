"""Gradient and perturbation attributions, delegated to captum.

Each function returns captum's raw attribution summed over the colour channels, a signed
``B×H×W`` map (summing keeps the sign; grayscale images have one channel anyway). Nothing is
re-implemented here: this module only chooses sensible defaults for small 64×64 images, builds
baselines with :mod:`halign_widgets.explain._baselines` and makes the random methods seeded.

References: Saliency (Simonyan et al., ICLR workshops 2014); Input×Gradient (Shrikumar et al.,
2016); Integrated Gradients (Sundararajan et al., ICML 2017); GradientShap (Lundberg & Lee,
NeurIPS 2017); DeepLift (Shrikumar et al., ICML 2017); Guided Backprop (Springenberg et al.,
ICLR workshops 2015); Occlusion (Zeiler & Fergus, ECCV 2014); SmoothGrad (Smilkov et al., 2017).
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager, nullcontext
from typing import Any, Iterator

import numpy as np

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ._baselines import make_baseline
from ._options import check_int, check_real

__all__ = ["CAPTUM_DEFAULTS", "check_captum_options", "run_captum"]

#: Options each captum-backed method accepts, with their defaults. Sample counts are chosen
#: **[ours]** to keep one 64×64 image under the 150 ms interactive budget on 2 CPU cores
#: (Integrated Gradients: 20 Gauss-Legendre steps; SmoothGrad / GradientShap: 16 samples).
CAPTUM_DEFAULTS: dict[str, dict[str, Any]] = {
    "saliency": {"abs": True},
    "input_x_gradient": {},
    "integrated_gradients": {"baseline": "zeros", "n_steps": 20, "internal_batch_size": None},
    "gradient_shap": {"baseline": "blur", "n_samples": 16, "stdevs": 0.1, "seed": 0},
    "deeplift": {"baseline": "zeros"},
    "guided_backprop": {},
    "occlusion": {"window": None, "stride": None, "baseline": "zeros", "batch_size": 64},
    "smoothgrad": {"n_samples": 16, "stdev": 0.15, "abs": True, "seed": 0},
}


def check_captum_options(name: str, opts: dict[str, Any], image_size: tuple[int, int]) -> dict[str, Any]:
    """Validate the options of captum method ``name`` for images of ``image_size`` before any work.

    captum checks some of these with bare ``assert`` statements (or not at all, and then fails
    with a ``ZeroDivisionError`` or a sampling error); here every bad value raises
    :class:`~halign_widgets.errors.ConfigError` naming the option and its valid range.
    Returns ``opts`` with the counts as ints.
    """
    out = dict(opts)
    for key in ("abs",):
        if key in out and not isinstance(out[key], bool):
            raise ConfigError(f"{key} must be True or False, got {out[key]!r}.")
    if "seed" in out and out["seed"] is not None:
        out["seed"] = check_int("seed", out["seed"], 0)
    if name == "integrated_gradients":
        out["n_steps"] = check_int("n_steps (integration steps)", out["n_steps"], 1)
        if out.get("internal_batch_size") is not None:
            out["internal_batch_size"] = check_int("internal_batch_size", out["internal_batch_size"], 1)
    if name in ("gradient_shap", "smoothgrad"):
        out["n_samples"] = check_int("n_samples (noisy samples per image)", out["n_samples"], 1)
        key = "stdevs" if name == "gradient_shap" else "stdev"
        out[key] = check_real(f"{key} (std of the added Gaussian noise)", out[key], 0.0)
    if name == "occlusion":
        side = min(image_size)
        if out["window"] is not None:
            out["window"] = check_int(f"window (occlusion patch side; the images are {image_size[0]}×{image_size[1]})",
                                      out["window"], 1, side)
        window = out["window"] or max(2, image_size[0] // 8)
        if out["stride"] is not None:
            out["stride"] = check_int(f"stride (at most the window, {min(window, side)} px)", out["stride"], 1,
                                      min(window, side))
        out["batch_size"] = check_int("batch_size (occluded images per forward pass)", out["batch_size"], 1)
    return out


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


#: At most this many images (inputs × steps / samples / windows) go through one forward-backward
#: pass **[ours]**: a batch of 32 images with 20 IG steps would otherwise be one pass of 640
#: images (≈1 GB of activations); larger batches are explained in chunks of images.
MAX_PASS = 64


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


def run_captum(name: str, model: nn.Module, x: Tensor, target: Tensor, **opts: Any) -> Tensor:
    """Run the captum method ``name`` with options ``opts`` (already merged with the defaults).

    Returns
    -------
    Tensor
        ``B×H×W`` signed attribution (channel sum).
    """
    opts = check_captum_options(name, opts, tuple(x.shape[-2:]))
    x = x.detach().clone().requires_grad_(True)
    chunk = max(1, MAX_PASS // _expansion(name, opts))
    seed = opts.get("seed")
    with warnings.catch_warnings(), (_seeded(int(seed)) if seed is not None else nullcontext()):
        # captum warns each time it (temporarily) hooks ReLUs; the hooks are removed by captum.
        warnings.filterwarnings("ignore", category=UserWarning, module="captum")
        warnings.filterwarnings("ignore", message=".*hooks.*")
        parts = [_dispatch(name, model, x[i:i + chunk], target[i:i + chunk], opts).detach()
                 for i in range(0, x.shape[0], chunk)]
    return torch.cat(parts).sum(1)


def _expansion(name: str, opts: dict[str, Any]) -> int:
    """How many images one input becomes inside captum (steps, samples or occlusion windows per pass)."""
    key = {"integrated_gradients": "n_steps", "gradient_shap": "n_samples", "smoothgrad": "n_samples",
           "occlusion": "batch_size"}.get(name)
    return max(1, int(opts[key])) if key else 1


def _dispatch(name: str, model: nn.Module, x: Tensor, target: Tensor, opts: dict[str, Any]) -> Tensor:
    # captum is imported here, not at module level: `import captum.attr` loads matplotlib, and
    # method code must import without GUI libraries (tests/test_layering.py).
    from captum import attr as ca

    if name == "saliency":
        out = ca.Saliency(model).attribute(x, target=target, abs=bool(opts["abs"]))
    elif name == "input_x_gradient":
        out = ca.InputXGradient(model).attribute(x, target=target)
    elif name == "integrated_gradients":
        out = ca.IntegratedGradients(model).attribute(
            x, baselines=make_baseline(x, opts["baseline"]), target=target, n_steps=int(opts["n_steps"]),
            internal_batch_size=opts["internal_batch_size"])
    elif name == "gradient_shap":
        # Baseline distribution: a black image and the chosen baseline of each image.
        base = torch.cat([torch.zeros_like(x[:1]), make_baseline(x, opts["baseline"])])
        out = ca.GradientShap(model).attribute(x, baselines=base, target=target,
                                               n_samples=int(opts["n_samples"]), stdevs=float(opts["stdevs"]))
    elif name == "deeplift":
        out = ca.DeepLift(model).attribute(x, baselines=make_baseline(x, opts["baseline"]), target=target)
    elif name == "guided_backprop":
        out = ca.GuidedBackprop(model).attribute(x, target=target)
    elif name == "occlusion":
        out = _occlusion(model, x, target, opts["window"], opts["stride"], opts["baseline"], opts["batch_size"])
    elif name == "smoothgrad":
        tunnel = ca.NoiseTunnel(ca.Saliency(model))
        out = tunnel.attribute(x, nt_type="smoothgrad", nt_samples=int(opts["n_samples"]),
                               stdevs=float(opts["stdev"]), target=target, abs=bool(opts["abs"]))
    else:  # pragma: no cover - the registry only routes known names here
        raise KeyError(name)
    return out
