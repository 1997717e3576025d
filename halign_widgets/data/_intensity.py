"""Pixel values of real data mapped to [0, 1] by their actual bit depth (private).

The ``intensity`` option of :func:`~halign_widgets.data.load_folder` and
:func:`~halign_widgets.data.load_npz`:

``"dtype"`` (default)
    Scale by the range of the pixel type: 8-bit (uint8, PIL ``"L"``/``"RGB"``/``"P"`` …) by 255,
    16-bit (uint16, PIL ``"I;16"``; also 16-bit PGM/PPM and PNG read as PIL ``"I"``) by 65535,
    int8 / int16 by 127 / 32767, uint32 / int32 by 2**32 - 1 / 2**31 - 1, uint64 / int64 by
    2**64 - 1 / 2**63 - 1 (computed in float64), bool and PIL ``"1"`` as 0 / 1. Float pixels (float16,
    float32, float64, longdouble) must already lie in [0, 1] (a rounding slack of ``1e-4`` is
    clamped). Refused, with a typed error: negative integers (int8 -128 … -1 too: the signed types
    are scaled by their positive maximum); floats outside [0, 1]; integers of a 32- or 64-bit type
    that use less than 1/256 of its range (scaling by 2**31 - 1 would leave the image black — state
    the maximum instead); complex pixels, in every mode (they have no brightness of their own —
    save their magnitude ``numpy.abs(a)`` or their real part ``a.real``); any non-numeric dtype.
``"minmax"``
    Per image: ``(x - min) / (max - min)`` over all its pixels and channels (a constant image
    becomes 0). Any sign and range is accepted — e.g. Hounsfield units or float feature maps.
a number ``m > 0``
    The stated maximum: ``x / m`` — e.g. ``4095`` for 12-bit data stored in 16 bits. Refused when
    a pixel is negative or above ``m``.

Colour handling (:func:`to_channels`) happens *after* scaling, in float: alpha is dropped,
grayscale is replicated to RGB, RGB becomes grayscale by its luminance
``0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601, the weights PIL's ``convert("L")`` uses).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, InputShapeError, InvalidPixelError, did_you_mean
from ..validation import check_real

__all__ = ["Intensity", "check_intensity", "to_unit", "to_channels", "LUMINANCE"]

#: The ``intensity`` option: ``"dtype"``, ``"minmax"`` or the stated maximum pixel value.
Intensity = str | float

#: ITU-R BT.601 luma weights of R, G, B (what PIL's ``convert("L")`` uses).
LUMINANCE = (0.299, 0.587, 0.114)
_MODES = ("dtype", "minmax")
_SLACK = 1e-4
_DEPTHS = (1, 255, 1023, 4095, 16383, 65535)


def check_intensity(intensity: object) -> Intensity:
    """Return ``intensity`` if valid (``"dtype"``, ``"minmax"`` or a finite number > 0), else raise ConfigError."""
    if isinstance(intensity, str):
        if intensity in _MODES:
            return intensity
        raise ConfigError(f"intensity={intensity!r} is not an intensity mode; {did_you_mean(intensity, _MODES)}, "
                          "or give the maximum pixel value as a number (e.g. intensity=4095 for 12-bit data).")
    try:
        return check_real("intensity", intensity, 0.0, strict=True)
    except ConfigError:
        raise ConfigError(f"intensity={intensity!r} must be 'dtype', 'minmax' or the maximum pixel value as a number "
                          "> 0 (e.g. intensity=4095 for 12-bit data stored in 16 bits).") from None


def _suggest(high: float, integer: bool = True) -> str:
    """An ``intensity=`` hint: the smallest usual integer maximum (255, 1023, 4095 …) at or above ``high``."""
    depth = next((d for d in _DEPTHS if d >= high), None) if integer else None
    if depth is None:
        return f"intensity={float(high):g}, the largest value found"
    return f"intensity={depth}"


def _range_text(lo: float, hi: float) -> str:
    return f"[{lo:.6g}, {hi:.6g}]"


def to_unit(arr: np.ndarray, intensity: Intensity, where: str, *, native_max: float | None = None,
            batch: bool = False) -> np.ndarray:
    """Map pixel values to float32 in [0, 1] following ``intensity`` (see the module docstring).

    Parameters
    ----------
    arr:
        One image (any shape) or, with ``batch=True``, a batch whose first axis is the image index.
    intensity:
        A value accepted by :func:`check_intensity`.
    where:
        What to name in error messages (a file, or an ``.npz`` key).
    native_max:
        The file's own maximum where the container says more than the dtype (a 16-bit PNG read by
        PIL as 32-bit ``"I"``); ``None`` uses the dtype's range.
    batch:
        Min–max per image along axis 0 instead of over the whole array.

    Raises
    ------
    InputShapeError
        Not a real numeric (bool, integer or float) array: complex or other dtypes (the message says
        how to convert).
    InvalidPixelError
        NaN / infinite pixels, or values that cannot be meant by ``intensity`` (see above).
    """
    kind = arr.dtype.kind
    if kind == "c":
        raise InputShapeError(f"{where} has complex pixels (dtype {arr.dtype}), which have no single brightness; "
                              "save their magnitude (numpy.abs(images).astype(numpy.float32), e.g. for MRI "
                              "reconstructions) or their real part (images.real) instead.")
    if kind not in "buif":
        raise InputShapeError(f"{where} has pixels of dtype {arr.dtype}; expected numbers (uint8, uint16, "
                              "float …) — convert with numpy's .astype(np.float32) before saving.")
    wide = arr.dtype.itemsize > 4 or (kind in "ui" and arr.dtype.itemsize > 2)
    x = arr.astype(np.float64 if wide else np.float32)
    if kind == "f" and not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).reshape(len(x), -1).any(1).sum()) if batch else 1
        raise InvalidPixelError(f"{where} holds NaN or infinite pixels in {bad} image(s); fix or drop them "
                                "(e.g. numpy.nan_to_num) before loading.")
    if x.size == 0:
        return x.astype(np.float32)
    lo, hi = float(x.min()), float(x.max())
    if intensity == "minmax":
        axes = tuple(range(1, x.ndim)) if batch else None
        low, high = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
        span = high - low
        return ((x - low) / np.where(span > 0, span, 1.0)).astype(np.float32)
    if kind in "ui" and lo < 0:
        raise InvalidPixelError(f"{where} holds negative pixel values (range {_range_text(lo, hi)}); an integer "
                                "image cannot be negative under intensity='dtype' or a stated maximum — pass "
                                "intensity='minmax' to rescale each image, or shift the values before saving.")
    if intensity == "dtype":
        if kind == "f":
            if lo < -_SLACK or hi > 1 + _SLACK:
                fix = ("pass intensity='minmax' (per-image min–max) or the data's maximum as a number "
                       f"(e.g. {_suggest(hi, integer=False)})." if lo >= 0 else
                       "negative values need intensity='minmax' (per-image min–max), or shift them before saving.")
                raise InvalidPixelError(f"{where} holds float pixels in {_range_text(lo, hi)}, but "
                                        f"intensity='dtype' needs float images already in [0, 1]; {fix}")
            return np.clip(x, 0.0, 1.0).astype(np.float32)
        top = 1.0 if kind == "b" else float(native_max if native_max is not None else np.iinfo(arr.dtype).max)
        if native_max is None and wide and hi < top / 256:
            raise InvalidPixelError(
                f"{where} holds {arr.dtype} pixels with maximum {hi:g}, under 1/256 of the {arr.dtype} range "
                f"(0–{top:g}), so scaling by the dtype would leave the images black; state the maximum instead "
                f"(e.g. {_suggest(hi)}) or pass intensity='minmax'.")
        return (x / top).astype(np.float32)
    top = float(intensity)
    if lo < 0:
        raise InvalidPixelError(f"{where} holds negative pixel values (range {_range_text(lo, hi)}), which a "
                                f"stated maximum intensity={top:g} cannot map to [0, 1]; pass intensity='minmax'.")
    if hi > top * (1 + _SLACK):
        hint = _suggest(hi, integer=kind != "f")
        raise InvalidPixelError(f"{where} holds pixel values up to {hi:g}, above the stated maximum "
                                f"intensity={top:g}; give the data's true maximum (e.g. {hint}) or pass "
                                "intensity='minmax'.")
    return np.clip(x / top, 0.0, 1.0).astype(np.float32)


def to_channels(x: np.ndarray, channels: int, where: str) -> np.ndarray:
    """Convert one float image ``C×H×W`` (C = 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA) to ``channels`` (1 or 3)."""
    c = x.shape[0]
    if c not in (1, 2, 3, 4):
        raise InputShapeError(f"{where} has {c} channels; expected 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA).")
    x = x[:1] if c <= 2 else x[:3]                     # drop alpha
    if x.shape[0] == channels:
        return x
    if channels == 3:                                  # gray -> RGB: replicate
        return np.repeat(x, 3, axis=0)
    w = np.asarray(LUMINANCE, dtype=x.dtype)[:, None, None]
    return (x * w).sum(0, keepdims=True).astype(np.float32)
