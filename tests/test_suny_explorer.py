"""SunyExplorer driven from Python (no browser): select, run, intervene, background + stop, errors."""

from __future__ import annotations

import torch

from halign_widgets.data.dataset import ImageDataset
from halign_widgets.errors import ConfigError, UnknownNameError
from halign_widgets.models import SmallCNN
from halign_widgets.widgets import SunyExplorer


def make_app(key: str = "suny-test") -> SunyExplorer:
    torch.manual_seed(0)
    model = SmallCNN(in_channels=1, num_classes=2, width=4, depth=3).eval()
    g = torch.Generator().manual_seed(0)
    images = 0.2 + 0.1 * torch.rand(3, 1, 32, 32, generator=g)
    images[:, :, 4:14, 4:14] = 0.9
    ds = ImageDataset(images=images, labels=torch.tensor([0, 1, 0]), classes=["a", "b"])
    return SunyExplorer(model, ds, key=key)


def test_select_run_and_intervene_changes_the_probability():
    app = make_app()
    try:
        app.select(index=1, causes="patches", pool=4, grid=2)
        res = app.result
        assert app.last_error is None, app.last_error
        assert res is not None and res.causes == "patches" and res.r_n.shape == (1, 4)
        assert app.progress.value == 100 and app.maps_view.renders >= 1
        assert len(app.cause.options) >= 4
        before = float(res.p_full[0])
        after_remove = app.intervene(0, "remove")
        after_keep = app.intervene(0, "keep")
        assert isinstance(after_remove, float) and isinstance(after_keep, float)
        assert abs(after_remove - before) > 1e-6 or abs(after_keep - before) > 1e-6
        assert app.last_intervention["mode"] == "keep" and app.last_intervention["image"].shape == (1, 32, 32)
        assert "before" in app.prob.value and app.cause_view.renders >= 2
        # the buttons do the same as the methods
        app.cause.value = app.cause.options[1][1]
        app.remove_button.click()
        assert app.last_intervention["mode"] == "remove" and app.last_intervention["cause"] == app.cause.value
    finally:
        app.close()


def test_filters_and_monte_carlo_budget():
    app = make_app()
    try:
        app.select(causes="filters", layer="features.conv2", pool=3, samples=6)
        res = app.result
        assert res is not None and not res.exact and res.samples == 6 and res.layer == "features.conv2"
        k = int(res.pool_s[0, 0])
        p = app.intervene(k, "keep")
        assert 0.0 <= p <= 1.0 and app.last_intervention["image"] is None
    finally:
        app.close()


def test_errors_are_shown_inline_and_the_app_stays_usable():
    app = make_app()
    try:
        app.select(causes="features", pool=16)  # conv3 of width 4 has 16 channels: fine
        assert app.last_error is None
        app.select(layer="features.conv1", pool=16)  # conv1 has only 4 channels
        assert isinstance(app.last_error, ConfigError) and "at most 4" in app.error_box.value
        app.select(causes="pixels")
        assert isinstance(app.last_error, UnknownNameError)
        app.intervene(999, "remove")
        assert isinstance(app.last_error, ConfigError)
        app.select(layer="features.conv3", pool=2)
        assert app.last_error is None and app.error_box.layout.display == "none"
    finally:
        app.close()


def test_background_run_and_stop():
    app = make_app()
    try:
        app.causes.value = "patches"  # a control change computes in a worker thread
        assert app.wait(timeout=60)
        res = app.result
        assert res is not None and res.causes == "patches" and app.last_error is None
        assert not app.run_button.disabled and app.stop_button.disabled   # idle: Compute on, Stop off
        app.samples.value = 2000                      # a long Monte-Carlo run …
        assert app.running and app.run_button.disabled and not app.stop_button.disabled
        app.stop()                                    # … stopped before it ends
        assert not app.running and app.stop_button.disabled and not app.run_button.disabled
        assert "stopped" in app.status.value and app.result is None and app.last_error is None
    finally:
        app.close()


def test_rerun_with_same_key_replaces_the_app():
    first = make_app("same")
    second = make_app("same")
    try:
        assert first.closed and not second.closed
    finally:
        second.close()


def test_no_leftover_state_after_compute_and_recompute():
    app = make_app("suny-stale")
    try:
        app.select(index=1, causes="patches", pool=4, grid=2)
        assert app.cause.value is not None, "after Compute a cause is selected"
        app.remove_button.click()                        # the first natural click works
        assert app.last_error is None and app.last_intervention["mode"] == "remove"
        assert "patch" in app.prob.value and "removing" in app.prob.value
        app.select(causes="features", pool=3)            # recompute with other causes
        assert app.last_intervention is None and app.cause.value is not None
        assert "patch" not in app.prob.value and "feature region" in app.prob.value
        label = app.cause.options[0][0]
        assert label.startswith("feature region") and "removing" not in app.prob.value
        assert app.result.cause_maps.shape[1] != 4 or app.result.causes == "features"
    finally:
        app.close()
