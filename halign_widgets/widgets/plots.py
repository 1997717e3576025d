"""Figures of the lab for chapters and apps: one call per picture, legible in a notebook column.

Every helper draws on a given :class:`~matplotlib.figure.Figure` (an app's figure view) or creates
a :class:`NotebookFigure` (which a notebook displays when it is the last value of a cell, with or
without pyplot), resizes it for its content and returns it. The rules they follow (and that
:func:`~halign_widgets.widgets.legibility.legibility_problems` checks in the tests): at most
:data:`COLUMN_WIDTH` inches wide, fonts of at least 8 pt, a colour bar for every map, panel titles
wrapped to the panel's width, at most four map panels per row for one image.

- :func:`plot_images` — a row (or rows) of images with titles, masks and boxes;
- :func:`plot_attributions` — images and their attribution maps, with one shared colour bar; on
  the shared scale a map too faint to see says so in its title;
- :func:`plot_deletion_insertion` — the deletion / insertion curves of one image;
- :func:`plot_suny` — SUNY's necessity, sufficiency and 2-D maps with their colour bars;
- :func:`plot_confusion` — a confusion matrix with counts and per-class recall;
- :func:`plot_leaderboard` — one bar panel per metric of an ``evaluate_methods`` table;
- :func:`plot_experiment_table` — test accuracy per configuration of a ``summarize`` table.
"""

from __future__ import annotations

from ._map_plots import plot_attributions, plot_deletion_insertion, plot_images, plot_suny
from ._plotting import COLUMN_WIDTH, NotebookFigure
from ._table_plots import plot_confusion, plot_experiment_table, plot_leaderboard
from .legibility import legibility_problems

__all__ = ["COLUMN_WIDTH", "NotebookFigure", "legibility_problems", "plot_attributions", "plot_confusion",
           "plot_deletion_insertion", "plot_experiment_table", "plot_images", "plot_leaderboard", "plot_suny"]
