"""The spool's ownership is the trust boundary between Slurm's hooks and the root agent.

The Prolog/Epilog shims run as root (slurmd starts them) and write
``$SPOOL/jobs/``; the agent, root too, believes what it finds there: which jobs
run, which GPUs they hold, when they started and stopped, who owns them. That
is safe only if nobody but root can write there, so the agent starts only on a
spool that is a real directory owned by root and writable by no group or other
user, under ancestors that only root can change (a sticky directory such as
``/tmp`` is fine: nobody can rename another's entry in it), and the same for
``jobs/`` (:func:`check_spool`). Within it every file is opened without following
links and without blocking (a FIFO cannot hang the agent), and only a small
regular file owned by root is read (:func:`read_trusted`). A forged ``.start``
or an early ``.stop`` therefore needs root, who could do worse anyway.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from slurm_carbon.errors import ConfigError

__all__ = ["ROOT_UID", "check_spool", "read_trusted"]

#: Who must own the spool, its ``jobs/`` and every hand-off file: the shims run as root.
ROOT_UID = 0

_GROUP_OTHER_WRITE = stat.S_IWGRP | stat.S_IWOTH


def _check_dir(path: Path, *, sticky_ok: bool) -> None:
    try:
        st = os.lstat(path)
    except OSError as err:
        raise ConfigError(f"spool {path}: {err.strerror}") from err
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"spool {path} is not a directory (a link or another file)")
    if st.st_uid != ROOT_UID:
        raise ConfigError(f"spool {path} is owned by uid {st.st_uid}, not root: chown root it")
    if mode & _GROUP_OTHER_WRITE and not (sticky_ok and mode & stat.S_ISVTX):
        raise ConfigError(
            f"spool {path} is writable by group or others (mode {mode:o}): chmod go-w it"
        )


def check_spool(spool: Path) -> None:
    """Create ``spool`` and ``spool/jobs`` root-only if missing, then refuse any other trust.

    Raises:
        ConfigError: The spool, ``jobs/`` or an ancestor is not a directory owned
            by root, or can be written by a group or other users (ancestors may
            be sticky, like ``/tmp``).
    """
    jobs = spool / "jobs"
    try:
        jobs.mkdir(mode=0o700, parents=True, exist_ok=True)
        real = spool.resolve(strict=True)
    except OSError as err:
        raise ConfigError(f"spool {spool}: {err.strerror}") from err
    for ancestor in reversed(real.parents):
        _check_dir(ancestor, sticky_ok=True)
    _check_dir(real, sticky_ok=False)
    _check_dir(real / "jobs", sticky_ok=False)


def read_trusted(path: Path, max_bytes: int) -> str:
    """Read a hand-off file: a regular file owned by root of at most ``max_bytes`` bytes.

    Raises:
        FileNotFoundError: The file vanished.
        ConfigError: It is a link, a FIFO, a device or a directory, is not owned
            by root, or is too large.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise ConfigError("a symbolic link: not followed") from err
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError("not a regular file")
        if st.st_uid != ROOT_UID:
            raise ConfigError(f"owned by uid {st.st_uid}, not root")
        data = os.read(fd, max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ConfigError(f"larger than {max_bytes} bytes")
    return data.decode("utf-8", "replace")
