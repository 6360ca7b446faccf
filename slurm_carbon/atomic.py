"""Writing a small file atomically: readers see the old content or the new, never a part.

A temporary file in the same directory (so the rename stays on one file system),
written, flushed and fsynced, given its mode, then renamed over the target;
on any error the temporary file is removed and the target left as it was.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: Path, text: str, mode: int = 0o600) -> None:
    """Replace ``path`` with ``text`` (ASCII) atomically, the file with ``mode``.

    Raises:
        OSError: The directory is missing or not writable, the disk is full.
        UnicodeEncodeError: ``text`` is not ASCII.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
