"""Errors of the runtime, each with the exit code ``fer-infer`` documents.

Exit codes: 0 every input processed; 1 some inputs failed (each reported on
its own line); 2 usage error or unusable model/detector.
"""


class FerError(Exception):
    """Base class: a one-line message for the user."""

    exit_code = 1


class ModelError(FerError):
    """A model file that is missing, not TFLite, or breaks the I/O contract."""

    exit_code = 2


class ImageError(FerError):
    """An input that is not a usable image (corrupt, too large, unreadable)."""

    exit_code = 1


class DetectorError(FerError):
    """No face detector available, or a broken one."""

    exit_code = 2
