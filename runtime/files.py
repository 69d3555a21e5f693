"""Atomic file writes: a temporary file beside the destination, renamed over it
only when the content is complete, so no reader ever sees half a file and a
failure leaves the old file (or none).

The runtime's one way to write a file: :func:`write_file` for content in
memory (annotated photos, the fetched detectors and their licence note),
:func:`atomic_path` for a writer that needs a path (a library's ``save``),
:class:`PendingFile` for one that outlives a block (a video written frame by
frame). Each is the one below it with less to do."""

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


def write_file(path: str | os.PathLike, data: bytes | str) -> Path:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return path
