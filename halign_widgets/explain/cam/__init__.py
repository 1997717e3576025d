"""The CAM family on one base class: Grad-CAM, Grad-CAM++, Score-CAM, Layer-CAM."""

from .base import BaseCAM, upsample
from .gradcam import GradCAM
from .gradcam_pp import GradCAMPlusPlus
from .layercam import LayerCAM
from .scorecam import ScoreCAM, channel_masks

__all__ = ["BaseCAM", "GradCAM", "GradCAMPlusPlus", "LayerCAM", "ScoreCAM", "channel_masks", "upsample"]
