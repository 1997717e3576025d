"""Render the README's measured numbers from the committed benchmark records — their one source.

Every number the README states about a measurement stands between ``<!-- numbers:NAME -->`` and
``<!-- /numbers:NAME -->`` and is rendered here from ``benchmarks/results/NAME.json`` (written by a benchmark
run with ``--record``; see ``benchmarks/_record.py``), with the record's configuration, seeds, machine and
date beside it. Usage::

    python tools/readme_numbers.py --write   # re-render the README's blocks from the records
    python tools/readme_numbers.py --check   # exit 1 if a block differs from its record (tests run this check)

To re-measure: run the benchmark named in a block with ``--record`` (e.g. ``python benchmarks/bench_findings.py
--record``), then ``--write``, and commit the record and the README together. A block whose record is missing
says how to produce it instead of showing a number. Pure Python (no torch): the test suite imports it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
RESULTS = ROOT / "benchmarks" / "results"
BLOCK = re.compile(r"(<!-- numbers:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /numbers:(?P=name) -->)", re.S)

LABELS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM", "layercam": "LayerCAM",
          "smoothgrad": "SmoothGrad", "saliency": "Saliency", "integrated_gradients": "IG",
          "guided_backprop": "Guided Backprop", "rise": "RISE"}


def _label(method: str) -> str:
    return LABELS.get(method, method)


def _pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f} %"


def _provenance(record: dict[str, Any], command: str, configuration: str) -> str:
    m = record["machine"]
    load = m.get("load_average_1_5_15") or ["?"]
    seeds = ", ".join(str(s) for s in record.get("seeds") or []) or "none (unseeded inputs)"
    return (f"*Record `benchmarks/results/{record['name']}.json`, measured {record['date']} on {m['cpu_count']} "
            f"CPU(s) ({m['platform']}, torch {m['torch']}; load average {load[0]} when it finished — a shared "
            f"machine, so timings are noisy); seeds: {seeds}. Configuration: {configuration}. Re-measure with "
            f"`{command}`, then `python tools/readme_numbers.py --write`.*")


def render_findings(record: dict[str, Any]) -> str:
    cfg, res = record["config"], record["results"]
    cnn, board, sc = res["classifier"], res["leaderboard"], res["shortcut"]
    ranked = sorted(board, key=lambda r: -r["overall"])
    by = {(r["model"], r["method"]): r for r in sc["rows"]}
    gc_s, gc_c = by[("shortcut", "gradcam")], by[("clean", "gradcam")]
    leader = _label(ranked[0]["method"])
    lines = [
        "| what | ours | the papers' direction |",
        "|---|---|---|",
        f"| SmallCNN (width 8) on `masses` ({cfg['n_images']} images, {cfg['epochs']} epochs) | test accuracy "
        f"{cnn['test_accuracy']:.3f} on {cnn['test_images']} images (last validation {cnn['val_accuracy']:.3f}); "
        f"trained in {cnn['train_seconds']:.0f} s | — |",
        f"| explanation leaderboard (Overall = insertion − deletion, {cfg['n_eval']} test images) | "
        + ", ".join(f"{_label(r['method'])} {r['overall']:.2f}" for r in ranked)
        + f" | Score-CAM reported ahead of Grad-CAM(++) on ImageNet; here {leader} leads |",
        f"| shortcut detective (Grad-CAM map mass on the marker box / on the lesion; a uniform map: "
        f"{_pct(sc['marker_area'])} / {_pct(sc['lesion_area'])}; {cfg['n_pair']} images per world, "
        f"{cfg['n_detect']} marked test images) | shortcut model {_pct(gc_s['marker_share'])} / "
        f"{_pct(gc_s['lesion_share'])}, right on {_pct(gc_s['accuracy_unmarked'], 0)} of unmarked and "
        f"{_pct(gc_s['accuracy_marked'], 0)} of marked test images; clean model {_pct(gc_c['marker_share'])} / "
        f"{_pct(gc_c['lesion_share'])} | a shortcut model looks at the marker |",
    ]
    knobs = ", ".join(f"{k}={cfg[k]}" for k in ("n_images", "epochs", "n_pair", "n_detect", "n_eval", "steps"))
    what = "smoke" if cfg.get("smoke") else "default"
    configuration = (f"chapter 01's {what} parameters ({knobs}) and the chapter's own calls; the chapter's closing "
                     "cells print the numbers of the run on screen")
    return "\n".join(lines) + "\n\n" + _provenance(record, RENDERERS["findings"][1], configuration) + "\n"


def render_causality_maps(record: dict[str, Any]) -> str:
    cfg = record["config"]
    rows = [r for r in record["results"] if (r["k"], r["n"]) == (64, 8)]
    names = {"max": "Max", "lehmer": "Lehmer"}
    lines = ["| estimator (k = 64 channels, 8×8 features, batch 1) | fast (closed form) | faithful (n⁴ products) "
             "| speed-up | max \\|fast − faithful\\| |", "|---|---|---|---|---|"]
    lines += [f"| {names.get(r['estimator'], r['estimator'])} (p = {r['p']:g}) | {r['fast_ms']:.3f} ms | "
              f"{r['faithful_ms']:.1f} ms | {r['speedup']:,.0f}× | {r['max_abs_diff']:.1e} |" for r in rows]
    configuration = (f"{cfg['threads']} thread, median of {cfg['fast_repeats']} fast and {cfg['faithful_repeats']} "
                     f"faithful calls on `{cfg['input']}`; chapter 04 times its own sizes and prints its own ratio")
    return "\n".join(lines) + "\n\n" + _provenance(record, RENDERERS["causality_maps"][1], configuration) + "\n"


#: block name → (renderer, the benchmark command that writes its record)
RENDERERS: dict[str, tuple[Callable[[dict[str, Any]], str], str]] = {
    "findings": (render_findings, "python benchmarks/bench_findings.py --record"),
    "causality_maps": (render_causality_maps, "python benchmarks/bench_causality.py --maps-only --record"),
}


def load_record(name: str, results: Path = RESULTS) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def render_block(name: str, results: Path = RESULTS) -> str:
    if name not in RENDERERS:
        raise KeyError(f"README block {name!r} has no renderer in tools/readme_numbers.py (known: "
                       f"{', '.join(sorted(RENDERERS))}).")
    render, command = RENDERERS[name]
    record = load_record(name, results)
    if record is None:
        return f"*No record yet: run `{command}`, then `python tools/readme_numbers.py --write`.*\n"
    return render(record)


def render_readme(text: str, results: Path = RESULTS) -> str:
    """``text`` with every ``numbers`` block re-rendered from its record."""
    return BLOCK.sub(lambda m: m.group(1) + render_block(m.group("name"), results) + m.group(4), text)


def block_names(text: str) -> list[str]:
    return [m.group("name") for m in BLOCK.finditer(text)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="re-render the README's blocks in place")
    mode.add_argument("--check", action="store_true", help="exit 1 if a block differs from its record")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    missing = sorted(set(RENDERERS) - set(block_names(text)))
    if missing:
        print(f"README.md lacks the block(s) {', '.join(missing)}; add <!-- numbers:NAME --><!-- /numbers:NAME -->")
        return 1
    rendered = render_readme(text)
    if args.write:
        README.write_text(rendered, encoding="utf-8")
        print(f"README.md: {len(block_names(text))} block(s) rendered from benchmarks/results/")
        return 0
    stale = [n for n, (a, b) in zip(block_names(text), zip(BLOCK.finditer(text), BLOCK.finditer(rendered),
                                                              strict=True), strict=True)
             if a.group("body") != b.group("body")]
    if stale:
        print(f"README.md: block(s) {', '.join(stale)} differ from their records; run "
              "python tools/readme_numbers.py --write")
        return 1
    print("README.md: every numbers block matches its record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
