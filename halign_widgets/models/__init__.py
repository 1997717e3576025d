"""Backbones and building blocks shared by the methods."""

from .cnn import ConvBlock, SmallCNN, conv_layers, feature_layer, get_layer, layer_shapes
from .facts import ConfigFacts
from .inputs import check_logits, check_model_input, min_input_size, size_errors
from .modes import eval_mode, in_channels, model_device, model_dtype, model_input

__all__ = ["ConfigFacts", "ConvBlock", "SmallCNN", "check_logits", "check_model_input", "conv_layers", "eval_mode",
           "feature_layer", "get_layer", "in_channels", "layer_shapes",
           "min_input_size", "model_device", "model_dtype", "model_input", "size_errors"]
