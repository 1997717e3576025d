"""Prototypical part networks (ProtoPNet): train, push, explain, check against the truth, edit.

After Chen et al., "This Looks Like That", NeurIPS 2019 (METHODS.md §1.5); pure PyTorch.

- :class:`ProtoPNet` — the network on a conv trunk of the lab; :func:`l2_distances`, :func:`log_similarity`;
- :class:`ProtoPNetLoss` — CE + cluster + separation + L1, every term in the history;
- :func:`train_protopnet`, :class:`Schedule` — warm-up → joint → push → last layer through the Trainer;
- :func:`push_prototypes` — project prototypes onto training patches, with records;
- :func:`prune_prototypes` — Chen et al.'s pruning; :func:`nearest_patches` — the global view;
- :func:`explain_prototypes` — "this looks like that" for one image;
- :func:`prototype_truth`, :func:`explanation_truth`, :func:`duplicate_prototypes`,
  :func:`marker_sensitivity`, :func:`consistency_stability`, :func:`patch_visualization_check` — checks
  against the truth;
- :class:`PrototypeEditor` — disable / enable / prune / forget / remember, undo, saved;
- :func:`save_protopnet`, :func:`load_protopnet` — checkpoints;
- :func:`compare_with_cnn`, :func:`train_pair`, :func:`classification_scores` — beside a SmallCNN.
"""

from .checkpoint import LoadedProtoPNet, load_protopnet, save_protopnet
from .compare import (
    PAPER_CBIS_DDSM,
    SeedPair,
    auroc,
    classification_scores,
    compare_with_cnn,
    summarize_scores,
    train_pair,
)
from .consistency import ConsistencyResult, consistency_stability, part_keypoints
from .debug_loss import PatchSimilarity
from .edits import EDIT_KINDS, EditRecord, PrototypeEditor
from .explanations import NearestPatches, PrototypeExplanation, explain_prototypes, nearest_patches
from .loss import ProtoPNetLoss, cluster_separation, wrong_class_l1
from .model import ProtoOutput, ProtoPNet, l2_distances, log_similarity
from .prune import PruneResult, prune_prototypes, prune_rule
from .push import (
    PushRecord,
    PushResult,
    high_activation_box,
    init_prototypes_from_patches,
    push_prototypes,
    upsample_maps,
)
from .sanity import patch_visualization_check, similarity_gradient
from .schedule import ProtoPNetRun, Schedule, Stage, stage_parameters, train_protopnet
from .truth import (
    MARKER_EFFECT,
    box_share,
    duplicate_prototypes,
    explanation_truth,
    marker_region,
    marker_sensitivity,
    prototype_truth,
)

__all__ = [
    "EDIT_KINDS",
    "MARKER_EFFECT",
    "PAPER_CBIS_DDSM",
    "ConsistencyResult",
    "EditRecord",
    "LoadedProtoPNet",
    "NearestPatches",
    "PatchSimilarity",
    "ProtoOutput",
    "ProtoPNet",
    "ProtoPNetLoss",
    "ProtoPNetRun",
    "PrototypeEditor",
    "PrototypeExplanation",
    "PruneResult",
    "PushRecord",
    "PushResult",
    "Schedule",
    "SeedPair",
    "Stage",
    "auroc",
    "box_share",
    "classification_scores",
    "cluster_separation",
    "compare_with_cnn",
    "consistency_stability",
    "duplicate_prototypes",
    "explain_prototypes",
    "explanation_truth",
    "high_activation_box",
    "init_prototypes_from_patches",
    "l2_distances",
    "load_protopnet",
    "log_similarity",
    "marker_region",
    "marker_sensitivity",
    "nearest_patches",
    "part_keypoints",
    "patch_visualization_check",
    "prototype_truth",
    "prune_prototypes",
    "prune_rule",
    "push_prototypes",
    "save_protopnet",
    "similarity_gradient",
    "stage_parameters",
    "summarize_scores",
    "train_pair",
    "train_protopnet",
    "upsample_maps",
    "wrong_class_l1",
]
