"""Machine-readable benchmark records: ``benchmarks/results/<name>.json``, the one source of the README's numbers.

A benchmark run with ``--record`` writes its numbers here together with what produced them — the
configuration, the seeds, the machine (CPU count, load average while it ran, torch version) and the date —
and ``tools/readme_numbers.py --write`` renders the README's ``<!-- numbers:NAME -->`` blocks from the
committed records (``--check``, and ``tests/test_readme_numbers.py``, verify the README still shows them).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What the numbers were measured on (a shared machine's load average says how noisy they are)."""
    import torch

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {"platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "load_average_1_5_15": [round(v, 2) for v in load]}


def write_record(name: str, config: dict[str, Any], results: Any, *, seeds: list[int] | None = None,
                 note: str = "", extra: dict[str, Any] | None = None) -> Path:
    """Write ``benchmarks/results/<name>.json`` (sorted keys, so a re-run diffs only where numbers moved)."""
    record = {"name": name, "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "config": config,
              "seeds": list(seeds or []), "machine": machine(), "note": note, "results": results, **(extra or {})}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(record, indent=1, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"record written: {path.relative_to(RESULTS.parents[1])}")
    return path
