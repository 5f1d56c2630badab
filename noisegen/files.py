"""Regular files only: a FIFO, a socket, a device (/dev/zero) or a folder where a file is expected is
refused at once with a message, instead of an ``open`` that waits forever for a writer (a FIFO) or a
read that never ends (/dev/zero). A small utility: imports nothing of the project.
"""

from __future__ import annotations

import os
import stat

__all__ = ["file_kind", "check_regular_file"]

_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def file_kind(path: str | os.PathLike[str]) -> str | None:
    """None for a regular file (links followed); otherwise what the path is, in words ("a FIFO (named
    pipe)", "a folder", "a character device", ...).

    Raises:
        FileNotFoundError / OSError: the path does not exist or cannot be examined.
    """
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in _KINDS if test(mode)), "not a regular file")


def check_regular_file(path: str | os.PathLike[str], what: str = "file") -> None:
    """Raise ValueError ("WHAT PATH is a FIFO ...: give a regular file") unless ``path`` is a regular file.

    Raises:
        ValueError: a folder, FIFO, socket or device. FileNotFoundError: nothing there.
    """
    kind = file_kind(path)
    if kind is not None:
        raise ValueError(f"{what} {os.fsdecode(path)!r} is {kind}, not a regular file; give a regular file")
