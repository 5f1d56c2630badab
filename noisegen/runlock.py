"""One run per folder: an exclusive ``flock`` on a lock file, which the kernel releases when the process
ends, even by ``kill -9``. The holder writes its pid into the file, and empties it when it ends
normally, so that a later run tells a *live* run (the lock is held: "pid N is still running") from an
*interrupted* one (the lock is free but the file still names a pid). Used by `noisegen generate`
(noisegen.dataset.resume) and the training engine. A small utility: imports nothing of the project.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["LockHeld", "FolderLock", "probe_lock"]


class LockHeld(ValueError):
    """Another live process holds the lock; ``pid`` is the pid it recorded ("?" if none)."""

    def __init__(self, path: Path, pid: str) -> None:
        super().__init__(f"{path} is held by the live process {pid}")
        self.path, self.pid = path, pid


def _recorded(fd: int) -> str:
    return os.pread(fd, 32, 0).decode("ascii", "replace").strip()


def probe_lock(path: str | os.PathLike[str]) -> tuple[str | None, str | None]:
    """(pid of the live holder or None, pid left by an interrupted holder or None), without taking it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None, None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _recorded(fd) or "?", None
        return None, _recorded(fd) or None
    finally:
        os.close(fd)  # closing releases a shared lock taken here


class FolderLock:
    """The exclusive lock on ``path`` (created with its folder), held until ``close`` or the process ends.

    Attributes:
        previous: the pid that an earlier holder recorded and never cleared (it was interrupted), or None.
    Raises:
        LockHeld: another live process holds it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _recorded(self.fd) or "?"
            os.close(self.fd)
            self.fd = -1
            raise LockHeld(self.path, holder) from None
        self.previous = _recorded(self.fd) or None
        try:
            os.ftruncate(self.fd, 0)
            os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            self.close()
            raise

    def close(self, *, finished: bool = True) -> None:
        """Release the lock; ``finished`` empties the file first (the run ended: nothing to resume)."""
        if self.fd >= 0:
            if finished:
                try:
                    os.ftruncate(self.fd, 0)
                except OSError:
                    pass
            os.close(self.fd)
            self.fd = -1
