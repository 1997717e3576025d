"""Options of the captum-backed methods: their defaults and their validation (before any work)."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from ..validation import check_int, check_real
from ._baselines import check_baseline

__all__ = ["CAPTUM_DEFAULTS", "CHANNEL_REDUCTIONS", "check_captum_options"]

#: How saliency / SmoothGrad reduce ``|∂y/∂x|`` over colour channels.
CHANNEL_REDUCTIONS = ("max", "sum")

#: Options each captum-backed method accepts, with their defaults. Sample counts are chosen
#: **[ours]** to keep one 64×64 image under the 150 ms interactive budget on 2 CPU cores
#: (Integrated Gradients: 20 Gauss-Legendre steps; SmoothGrad / GradientShap: 16 samples).
#: ``max_pass`` (every method): images per forward-backward pass; ``None`` = adapt to the free
#: memory (:mod:`halign_widgets.explain._memory`). ``channels``: see ``captum_methods``.
CAPTUM_DEFAULTS: dict[str, dict[str, Any]] = {
    "saliency": {"abs": True, "channels": "max", "max_pass": None},
    "input_x_gradient": {"max_pass": None},
    "integrated_gradients": {"baseline": "zeros", "n_steps": 20, "internal_batch_size": None, "max_pass": None},
    "gradient_shap": {"baseline": "blur", "n_samples": 16, "stdevs": 0.1, "seed": 0, "max_pass": None},
    "deeplift": {"baseline": "zeros", "max_pass": None},
    "guided_backprop": {"max_pass": None},
    "occlusion": {"window": None, "stride": None, "baseline": "zeros", "batch_size": 64, "max_pass": None},
    "smoothgrad": {"n_samples": 16, "stdev": 0.15, "abs": True, "seed": 0, "channels": "max", "max_pass": None},
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
    if out.get("max_pass") is not None:
        out["max_pass"] = check_int("max_pass (images per forward-backward pass; None = adapt to the memory)",
                                    out["max_pass"], 1)
    if "channels" in out and out["channels"] not in CHANNEL_REDUCTIONS:
        raise ConfigError(f"channels must be one of {CHANNEL_REDUCTIONS} (how |gradient| is reduced over colour "
                          f"channels), got {out['channels']!r}.")
    if "baseline" in out:
        check_baseline(out["baseline"])
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


