"""Fourier parameterization of an image for activation maximization (METHODS.md 1.2)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["FourierImage"]


class FourierImage:
    """An image parameterized by its spectrum: ``lo + (hi − lo)·sigmoid(irfft2(S / f) + offset)``.

    Scaling the spectrum ``S`` by 1/frequency makes gradient steps favour low frequencies
    (Olah et al., "Feature visualization", Distill 2017); the sigmoid keeps the image inside the
    data range ``[lo, hi]``; ``offset`` puts a zero spectrum at intensity ``start``.
    """

    def __init__(self, shape: tuple[int, ...], lo: float, hi: float, start: float, noise: float,
                 gen: torch.Generator, device: torch.device) -> None:
        _, c, h, w = shape
        fy = torch.fft.fftfreq(h)[:, None]
        fx = torch.fft.rfftfreq(w)[None, :]
        self.scale = (1.0 / torch.sqrt(fx ** 2 + fy ** 2).clamp_min(1.0 / max(h, w))).to(device)
        self.size, self.lo, self.hi = (h, w), lo, hi
        p = min(max((start - lo) / (hi - lo), 1e-3), 1 - 1e-3)
        self.offset = math.log(p / (1 - p))
        spec = torch.randn(1, c, h, w // 2 + 1, 2, generator=gen) * noise
        self.param = spec.to(device).requires_grad_(True)

    def image(self) -> Tensor:
        spec = torch.view_as_complex(self.param) * self.scale
        raw = torch.fft.irfft2(spec, s=self.size, norm="ortho")
        return self.lo + (self.hi - self.lo) * torch.sigmoid(raw + self.offset)
