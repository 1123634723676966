"""Atomic file replacement: a reader sees the old file or the new one, never half.

Settings, the model catalogue cache and exports are all written through
`write_atomic`, so a crash, a full disk or a kill in the middle of a write
leaves the previous file intact (STYLE.md rule 11).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Replace `path` with `data` atomically, creating parent directories.

    The bytes go to a temporary file in the same directory (so the final
    rename never crosses a file system), are flushed and fsynced, and only
    then renamed over `path`. On any failure, including KeyboardInterrupt,
    the temporary file is removed and the old `path` is left untouched.

    Args:
        path: the file to create or replace.
        data: the complete new contents.
        mode: permission bits of the new file; the default keeps it private
            to the user, since settings and transcripts are personal.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            # chmod by name rather than fchmod: Windows has no fchmod before 3.13.
            os.chmod(tmp, mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable, where the platform allows it.

    Without this a power cut right after os.replace can bring back the old
    directory entry on ext4/XFS. Windows cannot open a directory as a file,
    and some file systems refuse fsync on one; the data is already safe on
    disk then, so those failures are not worth an error.
    """
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        dir_fd = os.open(directory, flags)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
