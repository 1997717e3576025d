"""The *domains* world: multi-label findings from a known causal graph, seen through several sources.

Findings (``info["findings"]``), each a distinct pattern placed in its own quadrant (a random
assignment per image):

- ``mass`` — a smooth bright blob;
- ``calcifications`` — a cluster of tiny bright dots;
- ``distortion`` — thin lines radiating from a point;
- ``halo`` — a bright ring.

They are sampled from a causal Bayesian network over the findings whose DAG is
``info["graph"]`` (``K×K``, row = cause, column = effect): mass → calcifications,
mass → distortion, calcifications → halo, distortion → halo, with the conditional probabilities
in ``info["cpt"]``.  This graph is the prior of CROCODILE (Carloni et al., 2024).

Each image comes from one of ``n_sources`` acquisition sources (``meta["source"]``), which differ in
intensity curve (gamma), blur, noise and a small source marker in a corner (``info["sources"]``).
Knob ``ood_source`` (default ``None`` = the last source) is the held-out source.
Knob ``label_source_corr`` ([ours]): in the training sources, P(mass) = 0.5 ± 0.4·corr, the sign
alternating between sources, so every finding correlates with the source; in the held-out source
(``ood_source``) P(mass) = 0.5.  Splits: train / val / test (70 / 15 / 15) from the training sources
and ``"ood"`` = every image of the held-out source.

Ground-truth mask: the union of the regions (disk footprints) of the findings present.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ...errors import ConfigError
from .. import _draw as D
from ..dataset import ImageDataset
from ._base import World, check_fraction, check_int, make_splits

__all__ = ["DOMAINS", "FINDINGS", "GRAPH"]

FINDINGS = ["mass", "calcifications", "distortion", "halo"]
#: Causal DAG among the findings: row = cause, column = effect.
GRAPH = torch.tensor([[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=torch.float32)
_CPT: dict[str, Any] = {"mass": 0.5, "calcifications": (0.15, 0.75), "distortion": (0.15, 0.65), "halo": (0.10, 0.70)}
_BASE_SOURCES = [dict(gamma=1.0, blur=0.0, noise=0.02), dict(gamma=0.7, blur=0.9, noise=0.04),
                 dict(gamma=1.4, blur=0.4, noise=0.03), dict(gamma=0.85, blur=1.3, noise=0.06)]


def _source(s: int) -> dict[str, float]:
    """Acquisition parameters of source ``s`` (the first four fixed, later ones spread deterministically)."""
    if s < len(_BASE_SOURCES):
        p = dict(_BASE_SOURCES[s])
    else:
        u = (s * 0.618034) % 1.0
        p = dict(gamma=round(0.65 + 0.8 * u, 3), blur=round(1.4 * ((s * 0.414) % 1.0), 3),
                 noise=round(0.02 + 0.04 * ((s * 0.732) % 1.0), 3))
    p["corner"] = s % 4
    p["marker_size"] = 3 + s // 4
    return p


def _findings(n: int, p_root: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Sample the ``N×4`` 0/1 findings from the causal network, in topological order."""
    u = torch.rand(n, 4, generator=g)
    mass = u[:, 0] < p_root
    calc = u[:, 1] < torch.where(mass, _CPT["calcifications"][1], _CPT["calcifications"][0])
    dist = u[:, 2] < torch.where(mass, _CPT["distortion"][1], _CPT["distortion"][0])
    halo = u[:, 3] < torch.where(calc | dist, _CPT["halo"][1], _CPT["halo"][0])
    return torch.stack([mass, calc, dist, halo], 1).float()


def _patterns(n: int, cy: torch.Tensor, cx: torch.Tensor, size: int, sc: float,
              g: torch.Generator) -> list[torch.Tensor]:
    """The four finding patterns (``N×H×W`` each) at centres ``cy, cx`` (``N×4``)."""
    mass = D.soft_disk(cy[:, 0], cx[:, 0], D.uniform(g, n, 4.5, 6.0) * sc, size)
    calc = torch.zeros(n, size, size)
    for _ in range(6):
        ang, rad = D.uniform(g, n, 0, 2 * math.pi), D.uniform(g, n, 0.0, 5.0) * sc
        dot = D.soft_disk(cy[:, 1] + rad * torch.sin(ang), cx[:, 1] + rad * torch.cos(ang), 1.0 * sc, size, edge=0.4)
        calc = torch.maximum(calc, dot)
    dist = torch.zeros(n, size, size)
    start = D.uniform(g, n, 0, 2 * math.pi)
    for j in range(3):
        ang = start + j * 2 * math.pi / 3
        d = D.segment_distance(cy[:, 2], cx[:, 2], cy[:, 2] + 6.5 * sc * torch.sin(ang),
                               cx[:, 2] + 6.5 * sc * torch.cos(ang), size)
        dist = torch.maximum(dist, torch.exp(-0.5 * (d / (0.6 * sc)) ** 2))
    halo = D.ring(cy[:, 3], cx[:, 3], 4.5 * sc, 1.6 * sc, size)
    return [mass, calc, dist, halo]


def _build(n: int, size: int, g: torch.Generator, knobs: dict[str, Any]) -> ImageDataset:
    n_sources = check_int("domains", "n_sources", knobs["n_sources"], 2, 12)
    ood = knobs["ood_source"]
    ood = check_int("domains", "ood_source", n_sources - 1 if ood is None else ood, 0, n_sources - 1)
    corr = check_fraction("domains", "label_source_corr", knobs["label_source_corr"])
    if n < n_sources:
        raise ConfigError(f"world 'domains' needs at least n_sources={n_sources} images, got n={n}.")
    sc = size / 64.0
    source = D.balanced_labels(n, n_sources, g)
    train_sources = [s for s in range(n_sources) if s != ood]
    sign = torch.zeros(n_sources)
    for j, s in enumerate(train_sources):
        sign[s] = 1.0 if j % 2 == 0 else -1.0
    p_root = 0.5 + 0.4 * corr * sign
    labels = _findings(n, p_root[source], g)

    # each finding is drawn on a half-size patch and pasted into its quadrant (4× fewer pixels)
    quad = torch.rand(n, 4, generator=g).argsort(1)                  # finding k → quadrant quad[:, k]
    half = (size + 1) // 2
    jitter = D.uniform(g, (n, 4, 2), -0.08, 0.08)
    ly, lx = (0.5 + jitter[..., 0]) * size / 2, (0.5 + jitter[..., 1]) * size / 2
    patterns = _patterns(n, ly, lx, half, sc, g)
    bright = D.uniform(g, (n, 4), 0.28, 0.42)
    radii = torch.tensor([6.5, 7.0, 7.5, 7.0]) * sc
    py, px = D.grid(half)
    canvas = torch.zeros(n, 4, half, half)
    region = torch.zeros(n, 4, half, half, dtype=torch.bool)
    rows = torch.arange(n)
    for k, pat in enumerate(patterns):
        canvas[rows, quad[:, k]] = (labels[:, k] * bright[:, k])[:, None, None] * pat
        disk = (py - ly[:, k, None, None]) ** 2 + (px - lx[:, k, None, None]) ** 2 <= radii[k] ** 2
        region[rows, quad[:, k]] = disk & labels[:, k].bool()[:, None, None]

    def assemble(t: torch.Tensor) -> torch.Tensor:
        return t.view(n, 2, 2, half, half).permute(0, 1, 3, 2, 4).reshape(n, 2 * half, 2 * half)[:, :size, :size]

    images = 0.34 + 0.06 * D.tissue(n, size, g) + assemble(canvas)
    masks = assemble(region)
    cy = ly + (quad // 2).float() * half
    cx = lx + (quad % 2).float() * half
    images = images.clamp(0.0, 1.0)
    params = [_source(s) for s in range(n_sources)]
    gamma = torch.tensor([p["gamma"] for p in params])[source]
    blur = torch.tensor([p["blur"] for p in params])[source] * sc
    noise = torch.tensor([p["noise"] for p in params])[source]
    images = D.gaussian_blur(images ** gamma[:, None, None], blur)
    for s, p in enumerate(params):                                   # source marker in a corner
        sel = source == s
        m = max(2, int(round(p["marker_size"] * sc)))
        y0 = 1 if p["corner"] in (0, 1) else size - 1 - m
        x0 = 1 if p["corner"] in (0, 2) else size - 1 - m
        images[sel, y0:y0 + m, x0:x0 + m] = 0.9
    images = D.add_noise(images, noise, g)

    in_train = torch.tensor([s != ood for s in range(n_sources)])[source]
    train_idx = torch.nonzero(in_train)[:, 0]
    sub = make_splits(len(train_idx), g)
    splits = {k: train_idx[v] for k, v in sub.items()}
    splits["ood"] = torch.nonzero(~in_train)[:, 0]
    meta = {"source": source, "positions": torch.stack([cy, cx], 2)}
    info = {"graph": GRAPH.clone(), "findings": list(FINDINGS), "cpt": dict(_CPT), "sources": params,
            "n_sources": n_sources, "ood_source": ood, "label_source_corr": corr,
            "p_mass_by_source": p_root.tolist(), "cause": "each finding's own pattern",
            "mask": "union of the regions of the present findings"}
    return ImageDataset(images[:, None].contiguous(), labels, list(FINDINGS), masks[:, None], meta, info, splits)


DOMAINS = World(
    name="domains",
    build=_build,
    knobs={"n_sources": 4, "ood_source": None, "label_source_corr": 0.5},
    description="Multi-label findings (mass, calcifications, distortion, halo) sampled from a known causal "
                "DAG (info['graph']), seen through several acquisition sources (gamma, blur, noise, corner "
                "marker); findings correlate with the source in training sources; one source held out as 'ood'.",
)
