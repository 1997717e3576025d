"""Checks on where a trained classifier goes wrong: its errors per true class (chapter 00).

The lab recomputes the predictions itself (:func:`halign_widgets.training.predict`, arg-max of the
logits in eval mode) on the same images, so the check holds for any seed and any training run.
A count is exact: the student's number of misclassified images must be the lab's.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ._verdict import NotYet, Verdict
from .core import as_integer, as_number, checker
from .measure import images_and_labels

__all__ = ["check_class_errors"]


def _class_index(true_class: int | str, data: Any, n_classes: int) -> tuple[int, str]:
    """The class's index and its printable name (names are read from ``data.classes`` when it has them)."""
    classes = [str(c) for c in getattr(data, "classes", None) or []]
    if isinstance(true_class, str):
        if true_class not in classes:
            raise TypeError(f"class {true_class!r} is not one of the data's classes {classes}; give its name or index")
        index = classes.index(true_class)
    else:
        index = int(true_class)
    if not 0 <= index < n_classes:
        raise TypeError(f"class index {index} does not exist: the model has {n_classes} classes (0…{n_classes - 1})")
    return index, (repr(classes[index]) if index < len(classes) else f"class {index}")


@checker(hint="predict the test images (trainer.predict(test).argmax(1), or training.predict(model, test, "
              "output='labels')) and count the images whose TRUE class is this one but whose prediction differs")
def check_class_errors(answer: Any, model: nn.Module, data: Any, true_class: int | str,
                       labels: Tensor | None = None) -> Verdict:
    """Compare a count of misclassified images of one true class with the lab's count.

    Called as ``check_class_errors(name, answer, model, data, true_class, labels=None)``; ``data``
    is a dataset (``world.test``) or an image tensor with ``labels``; ``true_class`` is a class
    index or a name of ``data.classes``. The answer is the number of images whose label is
    ``true_class`` and whose predicted class is another one — the off-diagonal entries of that
    class's row of the confusion matrix. The pass line also gives the class's recall.
    """
    from ..training import predict

    images, labels = images_and_labels(data, labels)
    logits = predict(model, images, output="logits")
    predicted, labels = logits.argmax(1), labels.cpu()
    index, shown = _class_index(true_class, data, int(logits.shape[1]))
    value = as_number(answer, "a count of images")
    if 0.0 < value < 1.0:
        raise NotYet(f"{value:g} looks like a fraction", "give the number of misclassified images, an integer")
    count = as_integer(value, "a count of images")
    of_class = labels == index
    wrong = of_class & (predicted != labels)
    expected, total = int(wrong.sum()), int(of_class.sum())
    if count == expected:
        recall = f"; its recall is {(total - expected) / total:.3f}" if total else ""
        return Verdict(True, f"{count} of the {total} {shown} images are misclassified (the lab counts {expected}"
                             f"{recall})")
    if expected != total - expected and count == total - expected:
        raise NotYet(f"{count} is the number of {shown} images the model gets RIGHT", "count the wrong ones")
    by_prediction = int(((predicted == index) & (labels != index)).sum())
    if count == by_prediction and by_prediction != expected:
        raise NotYet(f"{count} counts the images PREDICTED as {shown} that are wrong",
                     "count by the true class (a row of the confusion matrix), not by the predicted one (a column)")
    if count == int((predicted != labels).sum()) and total != len(labels):
        raise NotYet(f"{count} counts the errors of every class", f"count only the images whose label is {shown}")
    if count < 0 or count > total:
        raise NotYet(f"{count} is impossible: there are {total} {shown} images here")
    return Verdict(False, f"{count} is not the lab's count of misclassified {shown} images")

