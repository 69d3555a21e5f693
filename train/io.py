"""Atomic file writes: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path

from runtime.errors import OutputError
from runtime.files import atomic_path as runtime_atomic_path


def _output_error(path: Path, e: OSError):
    why = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
           errno.EACCES: "permission denied", errno.EPERM: "permission denied",
           errno.EROFS: "read-only file system"}.get(e.errno, e.strerror or e.__class__.__name__)
    return OutputError(f"cannot write {path}: {why}")


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside ``path``; rename it over ``path`` on success
    (:class:`runtime.files.PendingFile`).

    Whatever fails, ``path`` keeps its old content (or stays absent) and the
    temporary file is removed. An OSError while creating, writing or renaming
    becomes :class:`runtime.errors.OutputError` with a one-line reason.
    """
    path = Path(path)
    created = False
    try:
        with runtime_atomic_path(path, suffix) as tmp:
            created = True
            yield tmp
    except OSError as e:
        if not created or e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO,
                                      errno.EFBIG):
            raise _output_error(path, e) from None
        raise


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (checksums recorded with runs and releases)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def atomic_write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def atomic_write_json(path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")
