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
  context manager), :func:`check_pathway_drop` (CoCoReco cuts);
- explanation maps — :func:`check_map_score`, :func:`check_explanation_score` (relevance mass,
  pointing game, energy pointing against the masks; the pass prints the chance level);
- causality maps — :func:`check_causality_closed_form`, :func:`check_channel_order`,
  :func:`check_causality_speedup`;
- CROCODILE — :func:`check_domain_gap` (ID − OOD), :func:`check_intervention_change` (other
  images' spurious features), :func:`check_attention_share` (attention inside the finding); on
  data that cannot answer (no held-out source, no masks) they print a ``⏭ skipped:`` line;
- timing — :func:`check_speedup`.

Helpers for solutions and checks: :func:`accuracy_of`, :func:`temporarily`, :func:`best_time`.

Pure Python and torch: no widgets, no GUI libraries (a check prints plain text).
"""

from ._verdict import NOT_YET_MARK, PASS_MARK, NotYet, Verdict, announce
from .checks_causality import check_causality_closed_form, check_causality_speedup, check_channel_order
from .checks_crocodile import SKIP_MARK, check_attention_share, check_domain_gap, check_intervention_change
from .checks_maps import METRICS, check_explanation_score, check_map_score
from .checks_models import check_ablation_drop, check_accuracy, check_pathway_drop
from .checks_timing import check_speedup
from .core import as_integer, as_number, as_tensor, check_true, check_value, checker
from .measure import accuracy_of, best_time, temporarily

__all__ = [
    "METRICS",
    "NOT_YET_MARK",
    "NotYet",
    "PASS_MARK",
    "SKIP_MARK",
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
    "check_domain_gap",
    "check_explanation_score",
    "check_intervention_change",
    "check_map_score",
    "check_pathway_drop",
    "check_speedup",
    "check_true",
    "check_value",
    "checker",
    "temporarily",
]
