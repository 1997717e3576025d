"""The lifecycle every app shares (widgets/_app.py), checked on every app of the lab.

- re-running a cell with a mistake (a bad argument) leaves the working app open and usable;
- re-running it correctly replaces the old app;
- a closed app is garbage-collected, and twenty re-runs leave the count of live widgets where one
  run left it (layouts, styles and containers included);
- a NaN typed into a numeric control is refused, the old value comes back, and the app still works;
- the shared worker: one at a time, Stop, the buttons' states, errors inline.

New apps add a builder to ``APPS`` (a good and a bad construction, and a numeric control).
"""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Callable

import pytest
import torch

from halign_widgets.biovision import CoCoReco
from halign_widgets.data import ImageDataset, make_world
from halign_widgets.errors import ConfigError, HalignError, TrainingBusyError
from halign_widgets.models import SmallCNN
from halign_widgets.prototypes import ProtoPNet
from halign_widgets.widgets import (
    ActivationMaximizationStudio,
    AttributionExplorer,
    CausalityMapExplorer,
    ConnectomeExplorer,
    CrocodileLab,
    DatasetBrowser,
    ProtoPNetDashboard,
    PrototypeBrowser,
    ScaffoldMap,
    SunyExplorer,
    TrainingDashboard,
)
from halign_widgets.widgets._app import App, WorkerStopped, check_stop, guarded, live_widget_count


def _world(n: int = 8, size: int = 16) -> ImageDataset:
    g = torch.Generator().manual_seed(0)
    x = 0.2 + 0.2 * torch.rand(n, 1, size, size, generator=g)
    y = torch.arange(n) % 2
    x[y == 1, :, 4:10, 4:10] += 0.5
    masks = torch.zeros(n, 1, size, size, dtype=torch.bool)
    masks[:, :, 4:10, 4:10] = True
    return ImageDataset(x, y, ["a", "b"], masks, splits={"train": torch.arange(6), "val": torch.arange(6, n)})


def _model() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(width=4, depth=2).eval()


def _cocoreco() -> CoCoReco:
    torch.manual_seed(0)
    return CoCoReco(width=32).eval()


WORLD, MODEL = _world(), _model()
WORLD32, COCORECO = _world(size=32), _cocoreco()
DOMAINS = make_world("domains", 64, size=32, seed=0)
PWORLD = ImageDataset(WORLD.images, WORLD.labels, WORLD.classes, WORLD.masks,
                      splits={"train": torch.arange(6), "test": torch.arange(6, 8)})
torch.manual_seed(0)
PROTO = ProtoPNet(1, 2, 1, 4, width=4, depth=2).eval()

# name -> (good builder, bad builder, attribute of a float control or None)
APPS: dict[str, tuple[Callable[[str], App], Callable[[str], App], str | None]] = {
    "DatasetBrowser": (lambda k: DatasetBrowser(WORLD, n=4, key=k),
                       lambda k: DatasetBrowser(WORLD, n=0, key=k), None),
    "TrainingDashboard": (lambda k: TrainingDashboard(lambda: SmallCNN(width=4, depth=2), WORLD, epochs=1, key=k),
                          lambda k: TrainingDashboard(object(), WORLD, key=k), None),
    "AttributionExplorer": (lambda k: AttributionExplorer(MODEL, WORLD, key=k, methods=["gradcam"], steps=2),
                            lambda k: AttributionExplorer(MODEL, WORLD, key=k, methods=["gradcm"]), None),
    "ActivationMaximizationStudio": (lambda k: ActivationMaximizationStudio(MODEL, key=k, size=16),
                                     lambda k: ActivationMaximizationStudio(MODEL, key=k, size=16,
                                                                            data_range=(1.0, 0.0)),
                                     "blur_sigma"),
    "SunyExplorer": (lambda k: SunyExplorer(MODEL, WORLD, key=k),
                     lambda k: SunyExplorer(MODEL, ImageDataset(torch.rand(2, 3, 16, 16), torch.tensor([0, 1]),
                                                                ["a", "b"]), key=k), None),
    "CausalityMapExplorer": (lambda k: CausalityMapExplorer(MODEL, WORLD, key=k),
                             lambda k: CausalityMapExplorer(MODEL, WORLD, key=k, top=1), "p"),
    "ScaffoldMap": (lambda k: ScaffoldMap(key=k, show_figure=False),
                    lambda k: ScaffoldMap(key=k, start="no/such/node"), None),
    "ConnectomeExplorer": (lambda k: ConnectomeExplorer(COCORECO, WORLD32, key=k),
                           lambda k: ConnectomeExplorer(COCORECO, WORLD32, key=k, edge="v1->it"), "gain"),
    "CrocodileLab": (lambda k: CrocodileLab(DOMAINS, key=k, width=4, dim=16, device="cpu"),
                     lambda k: CrocodileLab(DOMAINS, key=k, config="erm"), "prior_weight"),
    "PrototypeBrowser": (lambda k: PrototypeBrowser(PROTO, PWORLD, key=k, k=2),
                         lambda k: PrototypeBrowser(PROTO, PWORLD, key=k, top=0), "strength"),
    "ProtoPNetDashboard": (lambda k: ProtoPNetDashboard(lambda: ProtoPNet(1, 2, 1, 4, width=4, depth=2), WORLD, key=k),
                           lambda k: ProtoPNetDashboard(None, WORLD, key=k), None),
}
NAMES = sorted(APPS)


@pytest.mark.parametrize("name", NAMES)
def test_a_mistake_on_rerun_keeps_the_working_app(name: str) -> None:
    good, bad, _ = APPS[name]
    app = good(f"life-keep-{name}")
    try:
        count = live_widget_count()
        with pytest.raises(HalignError) as info:
            bad(f"life-keep-{name}")
        assert str(info.value), "the error says what is wrong"
        assert not app.closed and App._live[app.key] is app
        assert live_widget_count() == count, "the failed build left widgets behind"
        replacement = good(f"life-keep-{name}")
        assert app.closed and not replacement.closed and App._live[app.key] is replacement
        replacement.close()
    finally:
        app.close()


@pytest.mark.parametrize("name", NAMES)
def test_closed_app_is_garbage_collected(name: str) -> None:
    good, _, _ = APPS[name]
    app = good(f"life-gc-{name}")
    ref = weakref.ref(app)
    app.close()
    del app
    gc.collect()
    assert ref() is None, "something still holds the closed app"


@pytest.mark.parametrize("name", NAMES)
def test_twenty_reruns_leave_the_widget_count_where_one_left_it(name: str) -> None:
    good, _, _ = APPS[name]
    key = f"life-rerun-{name}"
    gc.collect()
    baseline = live_widget_count()
    app = good(key)
    one = live_widget_count() - baseline
    assert one > 5
    for _ in range(20):
        app = good(key)
    assert live_widget_count() - baseline == one
    app.close()
    gc.collect()
    assert live_widget_count() == baseline


@pytest.mark.parametrize("name", [n for n in NAMES if APPS[n][2]])
def test_nan_in_a_numeric_control_is_refused_and_the_app_stays_usable(name: str) -> None:
    good, _, attr = APPS[name]
    app = good(f"life-nan-{name}")
    try:
        control = getattr(app, attr)
        before = control.value
        control.value = float("nan")
        assert control.value == before
        assert isinstance(app.last_error, ConfigError) and "finite" in app.error_box.value
        control.value = before + 0.1 * (control.max - control.min) if before < control.max else control.min
        assert app.last_error is None and app.error_box.layout.display == "none"
    finally:
        app.close()


# -- the shared worker ----------------------------------------------------------------------------
class _Counter(App):
    """A minimal app: its worker counts until stopped."""

    def __init__(self, key: str, fail: bool = False) -> None:
        super().__init__(key=key)
        import ipywidgets as W

        self.fail, self.count = fail, 0
        self.start_button, self.stop_button = W.Button(description="Start"), W.Button(description="Stop")
        self.start_button.on_click(lambda _b: self.run(background=True))
        self.stop_button.on_click(lambda _b: self.stop())
        self.worker_buttons(self.start_button, self.stop_button)
        self.set_body(W.HBox([self.start_button, self.stop_button]))

    @guarded
    def run(self, background: bool = False, replace: bool = True) -> int | None:
        return self.execute(self._work, background=background, replace=replace)

    def _work(self, stop: threading.Event) -> int:
        self.count = 0
        while self.count < 1_000:
            check_stop(stop)
            if self.fail and self.count == 3:
                raise ConfigError("failed on purpose at 3")
            self.count += 1
            time.sleep(0.001)
        self.set_status("done")
        return self.count


def test_worker_buttons_stop_and_replace() -> None:
    app = _Counter("life-worker")
    try:
        assert not app.start_button.disabled and app.stop_button.disabled
        app.start_button.click()
        assert app.running and app.start_button.disabled and not app.stop_button.disabled
        first = app._thread
        app.run(background=True)                       # replace: the first worker is stopped
        assert app.running and app._thread is not first and not first.is_alive()
        app.stop_button.click()
        assert not app.running and not app.start_button.disabled and app.stop_button.disabled
        assert "stopped" in app.status.value and app.last_error is None
        assert app.run() == 1_000 and "done" in app.status.value      # synchronous path
    finally:
        app.close()


def test_refusing_worker_and_errors_inline() -> None:
    app = _Counter("life-refuse")
    try:
        app.run(background=True)
        app.run(background=True, replace=False)
        assert isinstance(app.last_error, TrainingBusyError) and app.running
        app.stop()
        failing = _Counter("life-fail", fail=True)
        try:
            failing.run(background=True)
            assert failing.wait(10)
            assert isinstance(failing.last_error, ConfigError) and "on purpose" in failing.error_box.value
            assert not failing.start_button.disabled
            failing.fail = False
            failing.run()                             # the next success clears the error
            assert failing.last_error is None and failing.error_box.value == ""
        finally:
            failing.close()
    finally:
        app.close()


def test_close_stops_the_worker_and_check_stop_raises() -> None:
    app = _Counter("life-close")
    app.run(background=True)
    thread = app._thread
    app.close()
    assert not thread.is_alive() and app.closed
    stop = threading.Event()
    check_stop(stop)
    stop.set()
    with pytest.raises(WorkerStopped):
        check_stop(stop)


def test_nothing_runs_after_close() -> None:
    app = _Counter("life-after-close")
    app.close()
    assert app.run() is None and not app.running


def test_adopted_apps_close_with_their_owner() -> None:
    owner = _Counter("life-owner")
    inner = owner.adopt(_Counter("life-inner"))
    owner.close()
    assert inner.closed


def test_the_figure_is_rendered_sharp_at_its_display_size() -> None:
    app = DatasetBrowser(WORLD, n=4, key="life-figure")
    try:
        import io

        from PIL import Image

        view = app.view
        png = Image.open(io.BytesIO(view.image.value))
        assert view.image.layout.width == f"{view.display_width}px" and view.image.layout.max_width == "100%"
        assert png.width == pytest.approx(view.display_width * view.scale, abs=2)
        assert view.figure.dpi == view.dpi          # rendering at 2x does not change the figure
    finally:
        app.close()
