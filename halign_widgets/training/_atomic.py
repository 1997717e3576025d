"""Atomic file writes for checkpoints: a temporary file beside the target, then ``os.replace``.

Three details that ``tempfile.mkstemp`` gets wrong for checkpoints:

- **Permissions.** ``mkstemp`` creates files with mode ``0600``; a checkpoint should get the usual
  permissions of the user's files. The temporary file is therefore created with
  ``os.open(..., O_CREAT | O_EXCL, 0o666)``, so the kernel applies the process umask exactly as
  for ``open(path, "w")`` (``0666 & ~umask``) — without reading or changing the umask, which
  would race with other threads.
- **Stale temporaries.** A process killed while saving (Ctrl-C twice, an out-of-memory kill, a
  kernel restart in Jupyter) leaves its hidden ``.<name>.<random>.tmp`` behind. Every save removes
  the stale temporaries *of its own target* first. A temporary counts as stale when no live
  writer holds it [ours]:

  * on POSIX each writer holds an exclusive ``flock`` on its temporary until the rename, and the
    lock dies with the process; a temporary whose lock can be taken, and that is older than
    :data:`STALE_GRACE_SECONDS` (covering the instant between creating and locking it), is stale;
  * where ``fcntl`` is missing (Windows), a temporary not modified for :data:`STALE_AGE_SECONDS`
    is stale (a live writer keeps modifying its file while it writes).

  Files of other targets and files not matching the pattern are never touched.
- **Durability.** The data is ``fsync``-ed before the rename, so a power cut leaves either the old
  or the new checkpoint, never a truncated one under the final name.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

try:  # POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["atomic_write", "stale_temporaries", "remove_stale_temporaries", "temporary_name",
           "STALE_AGE_SECONDS", "STALE_GRACE_SECONDS"]

#: Without file locks: a temporary untouched for this long belongs to a dead writer.
STALE_AGE_SECONDS = 60.0
#: With file locks: an unlocked temporary at least this old belongs to a dead writer.
STALE_GRACE_SECONDS = 2.0


def temporary_name(target: Path) -> Path:
    """A fresh hidden temporary name beside ``target``: ``.<name>.<8 hex>.tmp``."""
    return target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"


def _is_temporary_of(path: Path, target: Path) -> bool:
    name, prefix = path.name, f".{target.name}."
    middle = name[len(prefix):-len(".tmp")] if name.startswith(prefix) and name.endswith(".tmp") else ""
    return len(middle) == 8 and all(c in "0123456789abcdefghijklmnopqrstuvwxyz_" for c in middle.lower())


def _unlocked(path: Path) -> bool | None:
    """True if no process holds ``path``'s lock (and keep nothing locked); None if locks are unavailable."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)  # closing releases the probe's lock
    return True


def stale_temporaries(target: str | os.PathLike[str], now: float | None = None) -> list[Path]:
    """Temporaries of ``target`` left by writers that died (see the module docstring for the rule)."""
    target = Path(target)
    now = time.time() if now is None else now
    found = []
    try:
        candidates = [p for p in target.parent.iterdir() if _is_temporary_of(p, target)]
    except OSError:
        return []
    for path in candidates:
        try:
            age = now - path.stat().st_mtime
        except OSError:
            continue
        free = _unlocked(path)
        if (free is None and age >= STALE_AGE_SECONDS) or (free and age >= STALE_GRACE_SECONDS):
            found.append(path)
    return sorted(found)


def remove_stale_temporaries(target: str | os.PathLike[str]) -> list[Path]:
    """Delete the stale temporaries of ``target``; return what was removed (errors are ignored)."""
    removed = []
    for path in stale_temporaries(target):
        try:
            path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


@contextmanager
def atomic_write(target: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Yield a binary handle; on a clean exit its bytes replace ``target`` atomically.

    Creates the folder, removes stale temporaries of ``target``, writes a locked temporary with
    the user's usual permissions, ``fsync``-s and renames it. On an exception the temporary is
    deleted and ``target`` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = temporary_name(target)
        try:
            fd = os.open(tmp, flags, 0o666)  # the umask applies, as for open(path, "w")
            break
        except FileExistsError:  # pragma: no cover - 2**32 names
            continue
    done = False
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(tmp, target)  # still locked: no cleaner can take the file before the rename
            done = True
    finally:
        if not done and tmp.exists():
            tmp.unlink()
