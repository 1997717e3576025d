"""ActivationMaximizationStudio without a browser: run, live updates, stop."""

from __future__ import annotations

import time

import torch

from halign_widgets.models import SmallCNN
from halign_widgets.widgets import ActivationMaximizationStudio


def make_studio(key: str) -> ActivationMaximizationStudio:
    torch.manual_seed(0)
    return ActivationMaximizationStudio(SmallCNN(width=4, depth=2), key=key, classes=["benign", "malignant"], size=16)


def test_blocking_run_updates_image_and_curve() -> None:
    s = make_studio("am-1")
    try:
        s.steps.value = 20
        s.tv.value = 1e-4
        r = s.run()
        assert s.last_error is None and r is not None and not r.stopped
        assert r.image.shape == (1, 1, 16, 16) and len(r.trajectory) == 20
        assert s.view.renders >= 1 and "done" in s.status.value
        xs, ys = s._line.get_data()
        assert len(xs) == 20 and list(ys) == r.trajectory
        assert s._im.get_array().shape == (16, 16)
        assert not s.start_button.disabled and s.stop_button.disabled
    finally:
        s.close()


def test_channel_unit_and_layer_picker() -> None:
    s = make_studio("am-2")
    try:
        assert [lab for lab, _ in s.layer.options] == ["features.conv1 (4×16×16)", "features.conv2 (8×8×8)"]
        s.kind.value = "channel"
        s.layer.value = "features.conv2"
        assert s.channel.max == 7 and s.layer.layout.display is None and s.klass.layout.display == "none"
        s.channel.value = 5
        s.steps.value = 10
        r = s.run()
        assert r.unit == ("channel", "features.conv2", 5) and len(r.trajectory) == 10
    finally:
        s.close()


def test_stop_button_stops_the_worker() -> None:
    s = make_studio("am-3")
    try:
        s.steps.value = 1000
        s.start_button.click()
        deadline = time.monotonic() + 10
        while len(s._trajectory) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert s.running and not s.stop_button.disabled
        s.stop_button.click()
        assert not s.running
        assert s.result is not None and s.result.stopped and len(s.result.trajectory) < 1000
        assert "stopped" in s.status.value
    finally:
        s.close()


def test_worker_error_shown_inline() -> None:
    s = make_studio("am-4")
    try:
        s.steps.value = 10
        s.klass.options = [("0", 0), ("9", 9)]
        s.klass.value = 9                                         # a class the model does not have
        s.run()
        assert s.last_error is not None and "out of range" in s.error_box.value
        s.klass.value = 0
        assert s.run() is not None and s.last_error is None
    finally:
        s.close()
