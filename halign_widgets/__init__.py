"""halign_widgets — an interactive lab for human-aligned deep learning.

Subpackages (arrows point down only):

- :mod:`halign_widgets.widgets` — thin ipywidgets views, one app per method;
- :mod:`halign_widgets.explain`, :mod:`halign_widgets.causality` … — the methods, pure PyTorch;
- :mod:`halign_widgets.training` — the :class:`~halign_widgets.training.Trainer`;
- :mod:`halign_widgets.models` — backbones and building blocks;
- :mod:`halign_widgets.data` — ground-truth worlds and real-data loaders;
- :mod:`halign_widgets.errors` — the typed errors raised on bad input.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
