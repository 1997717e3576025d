"""AttributionExplorer without a browser: drive it from Python and check state and figures."""

from __future__ import annotations

import pytest
import torch

from halign_widgets.data import ImageDataset
from halign_widgets.errors import TargetOutOfRangeError, UnknownNameError
from halign_widgets.models import SmallCNN
from halign_widgets.widgets import AttributionExplorer


@pytest.fixture(scope="module")
def world() -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    images = torch.rand(6, 1, 32, 32, generator=g)
    masks = torch.zeros(6, 1, 32, 32, dtype=torch.bool)
    masks[:, :, 10:20, 12:22] = True
    return ImageDataset(images=images, labels=torch.tensor([0, 1, 0, 1, 0, 1]), classes=["benign", "malignant"],
                        masks=masks)


def _panels(app: AttributionExplorer) -> list:
    """The image and map panels of the maps figure (the colour bar has no image)."""
    return [ax for ax in app.maps_view.figure.axes if ax.images]


@pytest.fixture()
def app(world: ImageDataset):
    torch.manual_seed(0)
    a = AttributionExplorer(SmallCNN(width=4, depth=3), world, key="test-explorer",
                            methods=["gradcam", "saliency"], steps=4)
    yield a
    a.close()


def test_initial_run_draws_maps_and_curves(app: AttributionExplorer) -> None:
    assert app.last_error is None
    assert set(app.explanations) == {"gradcam", "saliency"}
    # each view: a "computing" placeholder, then the result (never the previous setting's picture)
    assert app.maps_view.renders == 2 and app.curves_view.renders == 2
    assert len(_panels(app)) == 3                                   # image + 2 maps
    assert len(app.maps_view.figure.axes) == 4                      # ... + one shared colour bar
    assert app.curves is not None and app.curves.deletion_curve.shape == (1, 5)
    assert "recomputed in" in app.timing.value
    # the mask is drawn as a contour on the image panel
    assert any(type(c).__name__ in ("QuadContourSet", "ContourSet") for c in app.maps_view.figure.axes[0].collections) \
        or len(app.maps_view.figure.axes[0].collections) > 0


def test_select_methods_rerenders_figure(app: AttributionExplorer) -> None:
    before = app.maps_view.image.value
    app.select(index=2, methods=["gradcam++", "layercam", "input_x_gradient"], target=1)
    assert app.last_error is None
    assert list(app.explanations) == ["gradcam++", "layercam", "input_x_gradient"]
    assert all(int(e.target[0]) == 1 for e in app.explanations.values())
    assert app.maps_view.renders == 4 and len(_panels(app)) == 4
    assert app.maps_view.image.value != before
    assert [v for _, v in app.curve_method.options] == ["gradcam++", "layercam", "input_x_gradient"]
    app.curve_method.value = "layercam"
    assert app.curves_view.renders == 5


def test_layer_picker_lists_shapes_and_changes_cam(app: AttributionExplorer) -> None:
    labels = [lab for lab, _ in app.layer.options]
    assert labels == ["features.conv1  (4×32×32)", "features.conv2  (8×16×16)", "features.conv3  (16×8×8)"]
    assert app.layer.value == "features.conv3"
    app.select(methods=["gradcam"], target=0)
    coarse = app.explanations["gradcam"].maps.clone()
    app.layer.value = "features.conv1"                              # widget change re-runs
    assert app.explanations["gradcam"].layer == "features.conv1"
    assert not torch.allclose(coarse, app.explanations["gradcam"].maps)


def test_shared_scale_toggle_redraws_without_recompute(app: AttributionExplorer) -> None:
    maps = {k: v.maps for k, v in app.explanations.items()}
    renders = app.maps_view.renders
    app.scale.value = "shared"
    assert app.maps_view.renders == renders + 1
    assert all(app.explanations[k].maps is maps[k] for k in maps)
    vmax = [im.get_clim() for ax in app.maps_view.figure.axes[1:] for im in ax.images]
    assert all(c == (-1, 1) for c in vmax)


def test_errors_are_shown_inline_and_app_stays_usable(app: AttributionExplorer) -> None:
    app.select(target=7)
    assert isinstance(app.last_error, TargetOutOfRangeError)
    assert "out of range" in app.error_box.value and app.error_box.layout.display == "block"
    app.select(methods=["no-such-method"])
    assert isinstance(app.last_error, UnknownNameError) and "gradcam" in str(app.last_error)
    app.select(methods=["scorecam"], index=1)
    assert app.last_error is None and list(app.explanations) == ["scorecam"]
    assert app.error_box.layout.display == "none"


def test_model_mode_is_left_alone(world: ImageDataset) -> None:
    model = SmallCNN(width=4, depth=2)
    model.train()
    a = AttributionExplorer(model, world, key="mode", methods=["gradcam"], steps=2)
    a.select(index=1)
    assert model.training and a.last_error is None
    a.close()


def test_rerun_with_same_key_replaces_old_app(world: ImageDataset) -> None:
    a = AttributionExplorer(SmallCNN(width=4, depth=2), world, key="dup", methods=["saliency"], steps=2)
    b = AttributionExplorer(SmallCNN(width=4, depth=2), world, key="dup", methods=["saliency"], steps=2)
    assert a.closed and not b.closed
    b.close()
