"""Memory the machine can give us, and a refusal before a request that cannot fit (private).

The worlds and the loaders estimate the memory a request needs *before* they allocate it and call
:func:`check_memory`, so ``make_world("masses", 10**7, size=512)`` is refused in microseconds with a
message that says how much would be needed, how much is available and what would fit, instead of
swapping the machine to a halt or being killed by the kernel half an hour later.

"Available" is the smaller of what the operating system reports as available (``psutil``'s
``virtual_memory().available``, or ``MemAvailable`` of ``/proc/meminfo`` where psutil is missing)
and the room left under a container's memory limit (cgroup v2 ``memory.max``, or v1
``memory.limit_in_bytes``; reclaimable file cache counts as free), because on JupyterHub or Binder
the host has far more memory than the notebook may use. Where nothing can be read, no check is made.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError

__all__ = ["available_memory", "check_memory", "format_bytes", "CGROUP_FILES"]

#: cgroup files read for a container limit: (limit, usage, stat file, name of the reclaimable cache entry).
CGROUP_FILES: tuple[tuple[str, str, str, str], ...] = (
    ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current", "/sys/fs/cgroup/memory.stat", "inactive_file"),
    ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes",
     "/sys/fs/cgroup/memory/memory.stat", "total_inactive_file"),
)
_NO_LIMIT = 1 << 60          # cgroup v1 writes a huge number (about 2**63) when there is no limit


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None      # "max" (cgroup v2: no limit) gives None


def _stat_entry(path: str, name: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == name and value.strip().isdigit():
                return int(value)
    except (OSError, UnicodeDecodeError):
        pass
    return 0


def _cgroup_room() -> int | None:
    """Bytes left under the container's memory limit (reclaimable cache counted as free), or None."""
    for limit_file, usage_file, stat_file, cache in CGROUP_FILES:
        limit = _read_int(limit_file)
        if limit is None or limit >= _NO_LIMIT:
            continue
        usage = _read_int(usage_file) or 0
        return max(0, limit - max(0, usage - _stat_entry(stat_file, cache)))
    return None


def _system_available() -> int | None:
    """Bytes the operating system reports as available (psutil, else /proc/meminfo), or None."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:                                  # missing, or no /proc on this platform
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            fields = line.split()                      # "MemAvailable:   123456 kB"
            if fields[:1] == ["MemAvailable:"] and len(fields) > 1 and fields[1].isdigit():
                return int(fields[1]) * 1024
    except (OSError, UnicodeDecodeError):
        pass
    return None


def available_memory() -> int | None:
    """Bytes this process can still allocate: the smaller of the system's and the container's figure.

    Returns ``None`` where neither can be read (then callers skip their check).
    """
    values = [v for v in (_system_available(), _cgroup_room()) if v is not None]
    return min(values) if values else None


def format_bytes(n: float) -> str:
    """``1.5e9`` → ``"1.5 GB"``, ``3e5`` → ``"300 KB"`` (decimal units, three significant digits)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def check_memory(needed: int, what: str, advice: Callable[[int], str]) -> None:
    """Raise :class:`ConfigError` if ``needed`` bytes exceed :func:`available_memory`.

    Parameters
    ----------
    needed:
        Estimated peak bytes of the request.
    what:
        The request, e.g. ``"make_world('masses', n=10000000, size=512)"``.
    advice:
        Called with the available bytes; returns what would fit, e.g. ``"use n ≤ 3000 at size=512"``.
    """
    room = available_memory()
    if room is None or needed <= room:
        return
    raise ConfigError(f"{what} would need about {format_bytes(needed)} of memory, but this machine has only "
                      f"{format_bytes(room)} available; {advice(room)}.")
