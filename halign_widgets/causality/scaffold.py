"""The XAI ↔ causality scaffold as a pure data tree (METHODS.md §2.3).

After Carloni, Berti & Colantonio, "The role of causality in explainable artificial intelligence"
(arXiv:2309.09901, 2023) and Carloni's thesis "Human-aligned Deep Learning" (2025): three
perspectives organize the literature — critiques of XAI under a causal lens, XAI for causality,
and causality for XAI (causal concepts, counterfactuals, a causal model as the explanation).
Each leaf links to the parts of this lab that implement the idea. Views (``ScaffoldMap``) render the
tree; this module holds only data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import unknown_name

__all__ = ["ScaffoldNode", "SCAFFOLD", "iter_nodes", "find_node"]


@dataclass(frozen=True)
class ScaffoldNode:
    """One node of the scaffold.

    Attributes
    ----------
    key:
        Short identifier, unique among siblings; paths join keys with ``/``.
    title, description:
        What the node is about, for students.
    references:
        Literature the node summarizes.
    links:
        ``(label, target)`` pairs: notebooks, modules or apps of the lab (``"planned: …"`` when the
        part is not built yet).
    children:
        Sub-nodes (empty for a leaf).
    """

    key: str
    title: str
    description: str
    references: tuple[str, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    children: tuple[ScaffoldNode, ...] = field(default_factory=tuple)

    @property
    def is_leaf(self) -> bool:
        return not self.children


_ROLE = "Carloni, Berti & Colantonio, The role of causality in explainable AI (arXiv:2309.09901, 2023)"
_THESIS = "Carloni, Human-aligned Deep Learning: Explainability, Causality, and Biological Inspiration (2025)"
_SUNY = ("Xuan et al., SUNY: a visual interpretation framework for CNNs from a necessary and sufficient perspective "
         "(CVPR-W 2024)")
_MAPS = "Carloni & Colantonio, Exploiting causality signals in medical images: a pilot study (ESWA 2024)"
_CROCO = ("Carloni et al., CROCODILE: Causality aids RObustness via COntrastive DIsentangled LEarning "
          "(MICCAI UNSURE workshop, 2024)")

SCAFFOLD = ScaffoldNode(
    "xai-causality", "XAI ↔ causality",
    "How explainable AI and causal inference meet: three perspectives that organize the literature.",
    (_ROLE, _THESIS),
    children=(
        ScaffoldNode(
            "critiques", "1 · Critiques of XAI under a causal lens",
            "What is wrong with today's explanations when judged by causal standards.", (_ROLE,),
            children=(
                ScaffoldNode("optimal", "What an optimal explanation is",
                             "An explanation should say what would change the output — a causal claim — "
                             "not just where the model's gradient is large.", (_ROLE,),
                             (("why attribution maps can mislead (chapter 1)",
                               "notebooks/01_explainability_visualization.ipynb"),)),
                ScaffoldNode("no-causality", "Lack of causality as a core limitation",
                             "Saliency shows correlation with the output; a shortcut (the masses world's "
                             "corner marker) lights up as much as the true cause.", (_ROLE,),
                             (("the shortcut world", "halign_widgets.data.make_world('masses', shortcut=…)"),)),
            )),
        ScaffoldNode(
            "xai-for-causality", "2 · XAI for causality",
            "Explanations as hypothesis generators: what a model attends to suggests experiments.", (_ROLE,),
            children=(
                ScaffoldNode("hypotheses", "Explanations as hypotheses for experiments",
                             "A map that highlights a region proposes 'this region causes the label'; an "
                             "intervention (remove or keep it) tests the proposal.", (_ROLE, _SUNY),
                             (("SUNY chapter", "notebooks/02_explainability_suny.ipynb"),
                              ("interventions in the SunyExplorer", "halign_widgets.widgets.SunyExplorer"))),
            )),
        ScaffoldNode(
            "causality-for-xai", "3 · Causality for XAI",
            "Causal ideas that make explanations better, or are explanations themselves.", (_ROLE,),
            children=(
                ScaffoldNode("concepts", "3a · Causal concepts that support XAI",
                             "Necessity and sufficiency of a feature for the prediction, measured by "
                             "interventions and Shapley values: SUNY.", (_SUNY,),
                             (("SUNY chapter", "notebooks/02_explainability_suny.ipynb"),
                              ("SUNY method", "halign_widgets.explain.suny"))),
                ScaffoldNode("counterfactual", "3b · Counterfactual explanations",
                             "'Had this region been absent, the prediction would have been …': the "
                             "remove / keep interventions of SUNY are counterfactual inputs.",
                             (_ROLE, _SUNY),
                             (("counterfactual interventions in the SunyExplorer",
                               "halign_widgets.widgets.SunyExplorer"),
                              ("SUNY chapter", "notebooks/02_explainability_suny.ipynb"))),
                ScaffoldNode("causal-model", "3c · A causal model as the explanation",
                             "Networks that estimate causal relations among their own features — causality "
                             "maps and factors — or are trained with a causal prior (CROCODILE).",
                             (_MAPS, _CROCO, _THESIS),
                             (("causality maps chapter", "notebooks/04_causality_maps.ipynb"),
                              ("causality module", "halign_widgets.causality"),
                              ("CROCODILE chapter", "notebooks/05_causality_crocodile.ipynb"),
                              ("CROCODILE with a causal prior", "halign_widgets.crocodile"),
                              ("prior-graph editor in the CrocodileLab", "halign_widgets.widgets.CrocodileLab"))),
            )),
    ),
)


def iter_nodes(root: ScaffoldNode = SCAFFOLD, prefix: str = "") -> Iterator[tuple[str, ScaffoldNode]]:
    """Yield ``(path, node)`` depth-first; the root's path is ``""``, children's e.g. ``"critiques/optimal"``."""
    yield prefix, root
    for child in root.children:
        yield from iter_nodes(child, f"{prefix}/{child.key}" if prefix else child.key)


def find_node(path: str, root: ScaffoldNode = SCAFFOLD) -> ScaffoldNode:
    """Return the node at ``path`` (keys joined by ``/``; ``""`` is the root); unknown paths list the choices."""
    nodes = dict(iter_nodes(root))
    key = path.strip("/")
    if key not in nodes:
        raise unknown_name("scaffold path", path, [p for p in nodes if p])
    return nodes[key]
