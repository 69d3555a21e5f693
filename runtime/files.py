"""Atomic file writes: a temporary file beside the destination, renamed over it
only when the content is complete, so no reader ever sees half a file and a
failure leaves the old file (or none)."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


class PendingFile:
    """A temporary file beside ``path`` (same folder, so the rename is atomic);
    :meth:`commit` renames it over ``path``, :meth:`discard` removes it.
    For writers that outlive one block (a video written frame by frame)."""

    def __init__(self, path: str | os.PathLike, suffix: str = ""):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=suffix or self.path.suffix,
                                   dir=self.path.parent)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)   # mkstemp creates 0600; give the file normal permissions
        self.tmp = Path(tmp)

    def commit(self) -> None:
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        try:
            os.unlink(self.tmp)
        except OSError:
            pass


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside ``path``; rename it over ``path`` when the
    block ends normally, remove it when the block raises (the exception goes on)."""
    pending = PendingFile(path, suffix)
    try:
        yield pending.tmp
        pending.commit()
    except BaseException:
        pending.discard()
        raise
