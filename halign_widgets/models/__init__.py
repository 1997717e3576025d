"""Backbones and building blocks shared by the methods."""

from .cnn import ConvBlock, SmallCNN, conv_layers, get_layer, layer_shapes

__all__ = ["ConvBlock", "SmallCNN", "conv_layers", "get_layer", "layer_shapes"]
