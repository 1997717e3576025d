"""The one-layer decoder with disentangled cross-attention, and the group-wise linear head.

After Carloni et al. (2024), METHODS.md §2.4, whose decoder follows the query-based multi-label
heads of Query2Label (Liu et al., 2021): learnable queries, one per class, attend to the image
tokens. Here the cross-attention is disentangled (:mod:`.attention`) and each stream gets its own
output projection, residual norm and feed-forward block. No self-attention among the queries
[ours]: one layer, small enough to train on a CPU in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from .attention import DisentangledCrossAttention

__all__ = ["DecoderOutput", "StreamBlock", "DisentangledDecoderLayer", "GroupLinear"]


@dataclass
class DecoderOutput:
    """What the decoder returns: the causal and spurious query features and the attention.

    Attributes
    ----------
    causal, spurious:
        ``B×Q×d`` features of the queries after their stream's block (``Q`` and ``Q̄``).
    attention:
        ``B×Q×N`` attention of each query over the ``N`` image tokens (rows sum to 1).
    """

    causal: Tensor
    spurious: Tensor
    attention: Tensor


class StreamBlock(nn.Module):
    """Projection → residual + LayerNorm → feed-forward → residual + LayerNorm, for one stream."""

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, dim))
        self.drop = nn.Dropout(dropout)

    def forward(self, queries: Tensor, stream: Tensor) -> Tensor:
        h = self.norm1(queries + self.drop(self.proj(stream)))
        return self.norm2(h + self.drop(self.ffn(h)))


class DisentangledDecoderLayer(nn.Module):
    """``num_queries`` learnable queries attend to image tokens; two streams come out.

    Parameters
    ----------
    num_queries:
        One query per finding (task branch) or per source (domain branch).
    dim:
        Width of queries and tokens.
    hidden:
        Width of each stream's feed-forward block (default ``2·dim`` [ours]).
    dropout:
        Dropout inside the stream blocks.
    """

    def __init__(self, num_queries: int, dim: int, hidden: int | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        if num_queries < 1 or dim < 1:
            raise ConfigError(f"need num_queries ≥ 1 and dim ≥ 1, got {num_queries} and {dim}.")
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * 0.5)
        self.attention = DisentangledCrossAttention(dim)
        hidden = hidden or 2 * dim
        self.causal_block = StreamBlock(dim, hidden, dropout)
        self.spurious_block = StreamBlock(dim, hidden, dropout)

    def forward(self, tokens: Tensor) -> DecoderOutput:
        """Decode ``tokens`` (``B×N×dim``) into the two streams of every query."""
        q = self.queries.unsqueeze(0).expand(tokens.shape[0], -1, -1)
        causal, spurious, attention = self.attention(q, tokens)
        return DecoderOutput(self.causal_block(q, causal), self.spurious_block(q, spurious), attention)


class GroupLinear(nn.Module):
    """Group-wise linear head: one weight vector per class, ``z[b, c] = w_c · h[b, c] + b_c``.

    Each class reads only its own query's feature (Query2Label's group-wise classifier), so a
    change in query ``c`` moves logit ``c`` alone.
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_classes, dim) / dim ** 0.5)
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, features: Tensor) -> Tensor:
        """``B×C`` logits from ``B×C×dim`` per-class features."""
        return (features * self.weight).sum(-1) + self.bias
