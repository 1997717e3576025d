"""Typed errors of halign_widgets.

Every error the library raises on bad input derives from :class:`HalignError`
and also from the closest built-in exception (``ValueError``, ``LookupError``,
``OSError`` …), so ``except ValueError`` keeps working for callers that do not
know this module.  Each message says what was wrong *and how to fix it*; apps
show the message inline and stay usable.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "HalignError",
    "InputShapeError",
    "InvalidPixelError",
    "DataLoadError",
    "EmptyDatasetError",
    "CorruptFileError",
    "LabelMismatchError",
    "UnknownNameError",
    "UnknownKnobError",
    "TargetOutOfRangeError",
    "ConfigError",
    "CheckpointError",
    "CheckpointMismatchError",
    "TrainingBusyError",
    "DistributedError",
    "did_you_mean",
]


class HalignError(Exception):
    """Base class of every error raised by halign_widgets on bad input."""


class InputShapeError(HalignError, ValueError):
    """A tensor has the wrong number of dimensions, channels or spatial size."""


class InvalidPixelError(HalignError, ValueError):
    """An image holds NaN or infinite values, or values outside the range the data can mean."""


class DataLoadError(HalignError, OSError):
    """A file or folder could not be read as a dataset."""


class EmptyDatasetError(DataLoadError):
    """A folder or file holds no usable images."""


class CorruptFileError(DataLoadError):
    """A file exists but cannot be decoded (truncated, wrong format, …)."""


class LabelMismatchError(HalignError, ValueError):
    """Labels and images disagree (different counts, labels out of range, …)."""


class UnknownNameError(HalignError, LookupError):
    """A name (world, method, layer, setting …) is not one of the valid choices."""

    def __str__(self) -> str:  # LookupError would otherwise repr() the message
        return str(self.args[0]) if self.args else ""


class UnknownKnobError(UnknownNameError):
    """A keyword knob is not accepted by the world / method it was passed to."""


class TargetOutOfRangeError(HalignError, IndexError):
    """A target class index is outside ``[0, num_classes)``."""


class ConfigError(HalignError, ValueError):
    """A hyper-parameter or option has an invalid value (negative epochs, …)."""


class CheckpointError(HalignError, RuntimeError):
    """A checkpoint file is missing, corrupt or cannot be loaded safely."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint was written by a different model or configuration."""


class TrainingBusyError(HalignError, RuntimeError):
    """A training run was started while another one is still running."""


class DistributedError(HalignError, RuntimeError):
    """Another process of a distributed run failed, or cannot be reached (it crashed or timed out)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return a sentence listing valid choices, closest match first.

    Parameters
    ----------
    name:
        The name the user gave.
    choices:
        The valid names.

    Returns
    -------
    str
        For example ``"valid choices: 'masses', 'logic' (did you mean 'masses'?)"``.
    """
    import difflib

    options = sorted(str(c) for c in choices)
    close = difflib.get_close_matches(str(name), options, n=1)
    listed = ", ".join(repr(o) for o in options)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"valid choices: {listed}{hint}"


def unknown_name(kind: str, name: str, choices: Iterable[str], *, knob: bool = False) -> UnknownNameError:
    """Build an :class:`UnknownNameError` (or :class:`UnknownKnobError`) with the valid choices listed."""
    cls = UnknownKnobError if knob else UnknownNameError
    return cls(f"unknown {kind} {name!r}; {did_you_mean(name, choices)}.")
