"""The typed errors users see.

Every error a user can provoke with bad input is a subclass of :class:`SamwidgetsError` and names the
file or case it concerns and the reason, so the command line and the widgets can show one clear line
instead of a traceback.
"""

from __future__ import annotations


class SamwidgetsError(Exception):
    """Base class. ``where`` is the file path, case id or object concerned; ``reason`` says what is wrong."""

    def __init__(self, reason: str, *, where: object | None = None):
        self.reason = str(reason)
        self.where = None if where is None else str(where)
        super().__init__(self.reason if self.where is None else f"{self.where}: {self.reason}")


class ImageReadError(SamwidgetsError):
    """A file cannot be read as an image or label: missing, truncated, unknown format, bad values."""


class LabelError(SamwidgetsError):
    """A label cannot be decoded: shape mismatch with its image, unknown colour, empty label."""


class ManifestError(SamwidgetsError):
    """A manifest is malformed or one of its cases is invalid. ``problems`` lists every problem found."""

    def __init__(self, reason: str, *, where: object | None = None, problems: list[str] | None = None):
        super().__init__(reason, where=where)
        self.problems = list(problems or [])


class ModelError(SamwidgetsError):
    """A model name is unknown, a model package is missing, or a model failed."""


class CheckpointError(ModelError):
    """A checkpoint file is missing, corrupt, has the wrong hash or does not fit the architecture."""


class PromptError(SamwidgetsError):
    """A prompt is invalid: outside the image, inverted box, no prompt at all, wrong shapes."""


class InputError(SamwidgetsError):
    """An array handed to the API has the wrong dtype, shape or is empty."""


class CacheError(SamwidgetsError):
    """The embedding cache cannot be used (unwritable directory, corrupt entry that cannot be dropped)."""


class EvaluationError(SamwidgetsError):
    """An unknown protocol, model or a sweep configuration problem."""


class ReportError(SamwidgetsError):
    """A report notebook is unknown or failed to execute."""


class MissingExtraError(SamwidgetsError):
    """An optional dependency is not installed; the message says which extra to install."""

    def __init__(self, package: str, extra: str, *, where: object | None = None):
        super().__init__(
            f"the optional package '{package}' is not installed: pip install 'samwidgets[{extra}]'",
            where=where,
        )
        self.package = package
        self.extra = extra


class ResultsError(SamwidgetsError):
    """A results table is missing, unreadable, or lacks the columns an analysis needs."""


class UnverifiedCheckpointWarning(RuntimeWarning):
    """A model was loaded from a checkpoint that no published sha256 vouches for (MedSAM today: listed as
    "unverified" by ``samwidgets weights list``). The message names the file. Filter it with
    ``warnings.filterwarnings("ignore", category=UnverifiedCheckpointWarning)`` once the file was checked."""
