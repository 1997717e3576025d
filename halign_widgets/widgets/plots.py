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
- :func:`plot_experiment_table` — test accuracy per configuration of a ``summarize`` table;
- :func:`plot_three_views` — one ProtoPNet seen three ways: activation maximization, a CAM, its top
  prototype and the training patch it was pushed onto (chapter 03);
- :func:`plot_sources` — a few images of each acquisition source with their findings (chapter 05);
- :func:`plot_ladder` — ID / OOD mAP and drop per configuration of a ``summarize_ladder`` table;
- :func:`plot_attention_examples` — CROCODILE's causal and spurious attention on example images;
- :func:`plot_model_cams` — the same images explained by several models, one column per model
  (chapter 06);
- :func:`plot_lesions` — accuracy lost per cut pathway of a ``summarize_drops`` table.
"""

from __future__ import annotations

from ._map_plots import plot_attributions, plot_deletion_insertion, plot_images, plot_suny
from ._plots_biovision import plot_lesions, plot_model_cams
from ._plots_crocodile import plot_attention_examples, plot_ladder, plot_sources
from ._plots_prototypes import plot_three_views
from ._plotting import COLUMN_WIDTH, NotebookFigure
from ._table_plots import plot_confusion, plot_experiment_table, plot_leaderboard
from .legibility import legibility_problems

__all__ = ["COLUMN_WIDTH", "NotebookFigure", "legibility_problems", "plot_attention_examples", "plot_attributions",
           "plot_confusion", "plot_deletion_insertion", "plot_experiment_table", "plot_images", "plot_ladder",
           "plot_leaderboard", "plot_lesions", "plot_model_cams", "plot_sources", "plot_suny", "plot_three_views"]
