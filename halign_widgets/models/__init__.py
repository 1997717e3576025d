"""Backbones and building blocks shared by the methods."""

from .cnn import ConvBlock, SmallCNN, conv_layers, get_layer, layer_shapes
from .modes import eval_mode, model_device, model_dtype, model_input

__all__ = ["ConvBlock", "SmallCNN", "conv_layers", "eval_mode", "get_layer", "layer_shapes", "model_device", "model_dtype",
           "model_input"]
