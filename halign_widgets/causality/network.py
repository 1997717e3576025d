"""Networks with the causality module: :class:`CausalCNN` and :class:`CausalClassifier`.

After Carloni & Colantonio (2024), see METHODS.md §2.2: a conv backbone, the causality module at a
chosen conv layer, and a linear classifier on the (flattened) module output.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, cast

import torch
from torch import Tensor, nn

from ..errors import ConfigError, InputShapeError, unknown_name
from ..models import SmallCNN, conv_layers, eval_mode, feature_layer, get_layer, model_device, model_dtype, model_input
from ..training.registry import register_model
from .factors import direction_graph
from .maps import Estimator, Mode, causality_map
from .module import CausalityModule, Setting
from .ordering import channel_order, channel_statistic

__all__ = ["CausalCNN", "CausalClassifier", "feature_extractor", "features_of", "causality_map_of"]


class _Stop(Exception):
    """Raised by the tap's hook to skip the rest of the backbone's forward pass."""


class _LayerTap(nn.Module):
    """Run ``backbone`` up to ``layer`` and return that layer's output (any backbone, via a hook).

    The hook lives only during :meth:`forward` (registered there, removed in ``finally``): the
    user's backbone keeps working on its own, unchanged, before and after it is wrapped.
    """

    def __init__(self, backbone: nn.Module, layer: str) -> None:
        super().__init__()
        get_layer(backbone, layer)  # unknown layer → typed error now, not at the first forward
        self.backbone, self.layer = backbone, layer

    def forward(self, x: Tensor) -> Tensor:
        grabbed: list[Tensor] = []

        def grab(_m: nn.Module, _i: Any, out: Tensor) -> None:
            grabbed.append(out)
            raise _Stop  # skip the rest of the backbone

        handle = get_layer(self.backbone, self.layer).register_forward_hook(grab)
        try:
            self.backbone(x)
        except _Stop:
            pass
        finally:
            handle.remove()
        if not grabbed:
            raise ConfigError(f"layer {self.layer!r} was not reached by the backbone's forward pass.")
        return grabbed[0]


def feature_extractor(backbone: nn.Module, layer: str) -> nn.Module:
    """A module mapping images to the output of ``layer`` of ``backbone`` (shares its weights).

    For a :class:`~halign_widgets.models.SmallCNN` the feature stack is cut after the block; for any
    other backbone a forward hook captures the layer and stops the forward pass there.
    """
    if isinstance(backbone, SmallCNN):
        names = list(dict(backbone.features.named_children()))
        short = layer.removeprefix("features.")
        if short not in names or not short.startswith("conv"):
            raise unknown_name("conv layer", layer, conv_layers(backbone))
        children = list(backbone.features.named_children())[: names.index(short) + 1]
        return nn.Sequential(OrderedDict(children))
    return _LayerTap(backbone, layer)


class CausalClassifier(nn.Module):
    """Any backbone + :class:`CausalityModule` at a chosen conv layer + a linear classifier.

    Parameters
    ----------
    backbone:
        A model whose layer ``layer`` outputs ``B×k×h×w`` features.
    layer:
        Dotted name of that layer (see :func:`halign_widgets.models.conv_layers`).
    num_classes:
        Number of logits.
    input_shape:
        ``(C, H, W)`` of one input image (to size the flattened classifier).
    dropout:
        Dropout before the classifier.
    **module:
        Arguments of :class:`CausalityModule` (``setting``, ``estimator``, ``p``, ``direction``,
        ``pooled``, ``random``, ``mode``).
    """

    def __init__(self, backbone: nn.Module, layer: str, num_classes: int, input_shape: tuple[int, int, int],
                 dropout: float = 0.0, **module: Any) -> None:
        super().__init__()
        self.extractor = feature_extractor(backbone, layer)
        self.layer = layer
        self.causality = CausalityModule(**module)
        with torch.no_grad(), eval_mode(backbone):
            probe = torch.zeros(1, *input_shape, device=model_device(backbone),
                                dtype=model_dtype(backbone) or torch.float32)
            k, h, w = self.extractor(probe).shape[1:]
        self.feature_shape = (int(k), int(h), int(w))
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(self.causality.output_size(k, h, w), num_classes)

    @property
    def last_conv_layer(self) -> str:
        return self.layer

    def forward_features(self, x: Tensor) -> Tensor:
        """Features of the chosen layer, ``B×k×h×w``."""
        return self.extractor(x)

    def head(self, features: Tensor) -> Tensor:
        """Causality module → dropout → linear."""
        return self.classifier(self.dropout(self.causality(features)))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))


class CausalCNN(SmallCNN):
    """:class:`~halign_widgets.models.SmallCNN` with the causality module before its classifier.

    The conv stack is SmallCNN's (cut after ``layer`` if given); the head is
    :class:`CausalityModule` → dropout → linear, replacing SmallCNN's global pooling. Train it with
    :class:`halign_widgets.training.Trainer` like any classifier.

    Parameters
    ----------
    in_channels, num_classes, width, depth, dropout:
        As in :class:`~halign_widgets.models.SmallCNN`.
    setting, estimator, p, direction, pooled, random, mode:
        As in :class:`CausalityModule` (default: the papers' proposal ``mulcat`` with Max).
    image_size:
        Input side (or ``(H, W)``), used to size the flattened classifier.
    layer:
        Conv block hosting the module (default: the last, ``features.conv{depth}``).

    Examples
    --------
    >>> model = CausalCNN(setting="mulcat", width=4, depth=3, image_size=32)
    >>> model(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 2])
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 2, width: int = 16, depth: int = 4,
                 setting: Setting = "mulcat", estimator: Estimator = "max", p: float = 1.0, direction: str = "causes",
                 pooled: bool = False, random: bool = False, mode: Mode = "fast",
                 image_size: int | tuple[int, int] = 64, layer: str | None = None, dropout: float = 0.0) -> None:
        super().__init__(in_channels, num_classes, width, depth, dropout)
        layer = layer or f"features.conv{depth}"
        layer = layer if layer.startswith("features.") else f"features.{layer}"
        self.features = feature_extractor(self, layer)   # type: ignore[assignment]
        hw = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self.causality = CausalityModule(setting, estimator, p, direction, pooled, random, mode)
        with torch.no_grad(), eval_mode(self):
            k, h, w = self.features(torch.zeros(1, in_channels, *hw)).shape[1:]
        if min(h, w) < 1:
            raise ConfigError(f"image_size {hw} is too small for layer {layer!r}.")
        self.feature_channels = int(k)
        self.feature_shape = (int(k), int(h), int(w))
        self.classifier = nn.Linear(self.causality.output_size(k, h, w), num_classes)
        del self.pool
        self._layer = layer
        self.config: dict[str, Any] = {**self.config, **self.causality.config, "image_size": list(hw),
                                       "layer": layer}

    @property
    def last_conv_layer(self) -> str:
        """Dotted name of the conv block hosting the causality module (e.g. ``"features.conv4"``)."""
        return self._layer

    def head(self, features: Tensor) -> Tensor:
        """Causality module → dropout → linear (replaces SmallCNN's pooled head)."""
        return self.classifier(self.dropout(self.causality(features)))


@torch.no_grad()
def features_of(model: nn.Module, x: Tensor, layer: str | None = None) -> Tensor:
    """Conv features ``B×k×h×w`` of images ``x``: ``model.forward_features`` or the output of ``layer``.

    Any classifier works: with ``layer=None`` a model without ``forward_features`` is tapped at
    :func:`~halign_widgets.models.feature_layer` (its last conv layer, or the activation after it).

    Raises
    ------
    ConfigError
        The model has no conv layer (and no ``forward_features``).
    InputShapeError
        The features are not ``B×k×h×w``.
    """
    x = model_input(model, x)
    with eval_mode(model):
        if layer is None and hasattr(model, "forward_features"):
            feats = cast(Any, model).forward_features(x)  # a backbone's own feature method (checked above)
        else:
            feats = _LayerTap(model, layer or feature_layer(model))(x)
    if not isinstance(feats, Tensor) or feats.dim() != 4:
        shape = tuple(feats.shape) if isinstance(feats, Tensor) else type(feats).__name__
        raise InputShapeError(f"the features of {type(model).__name__} have shape {shape}, not B×k×h×w; pick a conv "
                              "layer with layer=<module name> (see halign_widgets.models.conv_layers).")
    return feats


@torch.no_grad()
def causality_map_of(model: nn.Module, x: Tensor, estimator: Estimator | None = None, p: float | None = None,
                     direction: str | None = None, kind: str | None = None,
                     layer: str | None = None) -> dict[str, Tensor]:
    """Everything the explorer shows for a batch ``x``: features, map, graph, factors, order.

    Any classifier works (:func:`features_of`: ``forward_features``, else its last conv layer, or
    ``layer``). Estimator, ``p``, direction and factor kind default to the model's causality
    module (or Max, 1.0, causes, mulcat for a plain backbone).

    Returns
    -------
    dict
        ``features`` B×k×h×w, ``map`` B×k×k, ``adjacency`` B×k×k, ``factors`` B×k,
        ``statistic`` B×k (mass or Lehmer mean), ``order`` B×k (channels by decreasing statistic).
    """
    from .factors import causality_factors

    module = getattr(model, "causality", None)
    estimator = estimator or (module.estimator if module is not None else "max")
    p = float(p if p is not None else (module.p if module is not None else 1.0))
    direction = direction or (module.direction if module is not None else "causes")
    kind = kind or (module.factor_kind if module is not None else "mulcat")
    feats = features_of(model, x, layer)
    cmap = causality_map(feats, estimator, p)
    stat = channel_statistic(feats, estimator, p)
    return {"features": feats, "map": cmap, "adjacency": direction_graph(cmap),
            "factors": causality_factors(cmap, kind, direction), "statistic": stat,
            "order": channel_order(stat)}


register_model(CausalCNN)  # load_trained rebuilds it from a checkpoint's model_class / model_config
