"""Disentangled cross-attention: one attention matrix, a causal and a spurious stream.

After Carloni et al., "CROCODILE: Causality aids RObustness via COntrastive DIsentangled LEarning"
(MICCAI UNSURE workshop, 2024), see METHODS.md §2.4. With ``A = softmax(q kᵀ / √d)`` over the
keys, the **causal** stream is ``A·V`` (what each query looks at) and the **spurious** stream is
``(1 − A)·V`` (everything it does not look at). Their sum is ``Σ_keys V`` for every query, whatever
``A`` is — the property the tests hold the function to.

Written by hand: ``torch.nn.MultiheadAttention`` returns ``A·V`` only. One head [ours]: the
attention map of a finding's query is then a single ``h×w`` picture the apps can show.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import InputShapeError

__all__ = ["disentangled_attention", "DisentangledCrossAttention"]


def disentangled_attention(q: Tensor, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Causal ``A·V``, spurious ``(1 − A)·V`` and the attention ``A`` of queries over keys.

    Parameters
    ----------
    q:
        ``B×Q×d`` queries.
    k, v:
        ``B×N×d`` keys and ``B×N×e`` values (the image tokens).

    Returns
    -------
    tuple of Tensor
        ``causal`` (``B×Q×e``), ``spurious`` (``B×Q×e``) and ``A`` (``B×Q×N``, rows sum to 1).

    Examples
    --------
    >>> q, kv = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    >>> causal, spurious, a = disentangled_attention(q, kv, kv)
    >>> torch.allclose(causal + spurious, kv.sum(1, keepdim=True).expand(-1, 3, -1), atol=1e-5)
    True
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, Tensor) or t.dim() != 3:
            raise InputShapeError(f"{name} must be a B×tokens×dim tensor, got "
                                  f"{tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__}.")
    if q.shape[0] != k.shape[0] or k.shape[:2] != v.shape[:2] or q.shape[2] != k.shape[2]:
        raise InputShapeError(f"shapes do not fit: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}; "
                              "need q B×Q×d, k B×N×d and v B×N×e with the same B, N and d.")
    a = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), dim=-1)
    return a @ v, (1.0 - a) @ v, a


class DisentangledCrossAttention(nn.Module):
    """Project queries and tokens, then split the attention into its causal and spurious streams.

    Parameters
    ----------
    dim:
        Width of the queries and of the tokens.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, queries: Tensor, tokens: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(A·V, (1 − A)·V, A)`` for ``queries`` (``B×Q×dim``) over ``tokens`` (``B×N×dim``)."""
        return disentangled_attention(self.q_proj(queries), self.k_proj(tokens), self.v_proj(tokens))
