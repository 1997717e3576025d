"""The course kit's checks: a student's measurement against what the lab computes itself.

DESIGN.md, "Exercises": an exercise is a markdown cell tagged ``exercise``, a code cell tagged
``solution`` that assigns the answer to a named variable, and a code cell tagged ``check`` with
one call of a check from here. A check prints ``✅ pass: …`` or ``⏳ not yet: … (hint: …)`` and
returns ``True``/``False``; it **never raises** — a missing (``None``) or wrongly typed answer, or
an exception inside the check, is a "not yet" — so a student copy whose solution cells hold only
stubs runs to the end. A "not yet" never prints the expected value.

Generic core (:mod:`.core`):

- :func:`check_value` — a number / tensor / set / bool / text against an expected value, with
  ``tol`` and ``rtol``;
- :func:`check_true` — a condition (or a predicate of the answer);
- :func:`checker` — decorator turning any comparison ``f(answer, ...) -> bool | Verdict`` into a
  never-raising check ``check(name, answer, ...)``; raise :class:`NotYet` inside for a reason;
  :func:`as_number`, :func:`as_integer`, :func:`as_tensor` read answers.

Checks that recompute the result with the lab (any seed, any run):

- models — :func:`check_accuracy`, :func:`check_ablation_drop` (any intervention given as a
  context manager), :func:`check_pathway_drop` (CoCoReco cuts), :func:`check_class_errors`
  (misclassified images of one true class);
- explanation maps — :func:`check_map_score`, :func:`check_explanation_score` (relevance mass,
  pointing game, energy pointing against the masks; the pass prints the chance level);
- faithfulness of maps — :func:`check_deletion_insertion`, :func:`check_sanity_similarity`,
  :func:`check_localization` (a mask score; on data without masks a "not yet" saying it is skipped);
- causality maps — :func:`check_causality_closed_form`, :func:`check_channel_order`,
  :func:`check_causality_speedup`;
- timing — :func:`check_speedup`;
- CROCODILE (chapter 05) — :func:`check_domain_gap` (ID − OOD), :func:`check_intervention_change` (other
  images' spurious features), :func:`check_attention_share` (attention inside the finding); on
  data that cannot answer (no held-out source, no masks) they say it is skipped (:func:`skip`);
- SUNY (chapter 02) — :func:`check_necessary_cause_drop`, :func:`check_smallest_sufficient_set`,
  :func:`check_suny_map_score`;
- prototypes (chapter 03) — :func:`check_top_prototype_on_mask`, :func:`check_off_mask_drop`,
  :func:`check_largest_prototype_drop`, :func:`check_distinct_prototypes`.

A check that needs masks the data lacks prints one "not yet" line saying it is ``skipped`` and why
(:func:`skip`). A chapter section that needs a lab world instead of the researcher's ``DATA`` decides
with :func:`uses_lab_world` (it runs on its own world and says so) or :func:`requires_world_knob` (it
is skipped and says why), in :mod:`.sections`.

Helpers for solutions and checks: :func:`accuracy_of`, :func:`temporarily`, :func:`best_time`,
:func:`prototypes_off`.

Pure Python and torch: no widgets, no GUI libraries (a check prints plain text).
"""

from ._skip import skip
from ._verdict import NOT_YET_MARK, PASS_MARK, NotYet, Verdict, announce
from .checks_causality import check_causality_closed_form, check_causality_speedup, check_channel_order
from .checks_crocodile import check_attention_share, check_domain_gap, check_intervention_change
from .checks_evaluation import check_class_errors
from .checks_faithfulness import check_deletion_insertion, check_localization, check_sanity_similarity
from .checks_maps import METRICS, check_explanation_score, check_map_score
from .checks_models import check_ablation_drop, check_accuracy, check_pathway_drop
from .checks_prototypes import (
                                check_distinct_prototypes,
                                check_largest_prototype_drop,
                                check_off_mask_drop,
                                check_top_prototype_on_mask,
                                prototypes_off,
)
from .checks_suny import SUNY_MAPS, check_necessary_cause_drop, check_smallest_sufficient_set, check_suny_map_score
from .checks_timing import check_speedup
from .core import as_integer, as_number, as_tensor, check_true, check_value, checker
from .measure import accuracy_of, best_time, temporarily
from .sections import requires_world_knob, uses_lab_world

__all__ = [
    "METRICS",
    "NOT_YET_MARK",
    "NotYet",
    "PASS_MARK",
    "SUNY_MAPS",
    "Verdict",
    "accuracy_of",
    "announce",
    "as_integer",
    "as_number",
    "as_tensor",
    "best_time",
    "check_ablation_drop",
    "check_accuracy",
    "check_attention_share",
    "check_causality_closed_form",
    "check_causality_speedup",
    "check_channel_order",
    "check_class_errors",
    "check_deletion_insertion",
    "check_distinct_prototypes",
    "check_domain_gap",
    "check_explanation_score",
    "check_intervention_change",
    "check_largest_prototype_drop",
    "check_localization",
    "check_map_score",
    "check_necessary_cause_drop",
    "check_off_mask_drop",
    "check_pathway_drop",
    "check_sanity_similarity",
    "check_smallest_sufficient_set",
    "check_speedup",
    "check_suny_map_score",
    "check_top_prototype_on_mask",
    "check_true",
    "check_value",
    "checker",
    "prototypes_off",
    "requires_world_knob",
    "skip",
    "temporarily",
    "uses_lab_world",
]
