"""A competing load for benchmarks: busy torch processes, like other users' notebooks on a shared hub (private).

``competing_load(2)`` keeps two processes (one torch thread each) running small convolutions for
the duration of the block — on the 2-core course machine, one per core. ``bench_notebooks.py``
and ``bench_threads.py`` measure "under load" with it.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

_BUSY = """
import torch
torch.set_num_threads(1)
x, w = torch.rand(64, 8, 32, 32), torch.rand(8, 8, 3, 3)
while True:
    torch.nn.functional.conv2d(x, w, padding=1).relu_().sum()
"""


@contextlib.contextmanager
def competing_load(processes: int) -> Iterator[None]:
    """Run ``processes`` busy torch loops (one thread each) for the duration of the block."""
    procs = [subprocess.Popen([sys.executable, "-c", _BUSY], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for _ in range(processes)]
    try:
        time.sleep(1.0)                      # let them start competing
        yield
    finally:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.wait()
