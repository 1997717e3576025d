"""Render the README's (and the teacher's guide's and docs/scale.md's) measured numbers from the benchmark records.

Every number the README, ``docs/teaching.md`` or ``docs/scale.md`` states about a measurement stands between
``<!-- numbers:NAME -->`` and ``<!-- /numbers:NAME -->`` and is rendered here from
``benchmarks/results/NAME.json`` (written by a benchmark run with ``--record``; see
``benchmarks/_record.py``), with the record's configuration, seeds, machine and
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
TEACHING = ROOT / "docs" / "teaching.md"
SCALE = ROOT / "docs" / "scale.md"
#: the documents whose ``numbers`` blocks are rendered here
DOCUMENTS = (README, TEACHING, SCALE)
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
    seeds = (record.get("seeds_note") or ", ".join(str(s) for s in record.get("seeds") or [])
             or "none (unseeded inputs)")
    return (f"*Record `benchmarks/results/{record['name']}.json`, measured {record['date']} on {m['cpu_count']} "
            f"CPU(s) ({m['platform']}, torch {m['torch']}; load average {load[0]} when it finished — a shared "
            f"machine, so timings are noisy); seeds: {seeds}. Configuration: {configuration}. Re-measure with "
            f"`{command}`, then `python tools/readme_numbers.py --write`.*")


def render_findings(record: dict[str, Any], results: Path = RESULTS) -> str:
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


def render_causality_maps(record: dict[str, Any], results: Path = RESULTS) -> str:
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


def _chapter(stem: str) -> str:
    return f"`{stem}`"


def _seconds(rows: dict[tuple[str, str, str], dict[str, Any]], key: tuple[str, str, str]) -> str:
    row = rows.get(key)
    if row is None:
        return "—"
    flag = "" if row["status"] == "ok" else f" **{row['status']}**"
    return f"{row['seconds']:.0f} s{flag}"


def _notebook_rows(record: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["notebook"], r["mode"], r["condition"]): r for r in record["results"]}


def _timed_conditions(record: dict[str, Any], rows: dict[tuple[str, str, str], dict[str, Any]],
                      results: Path) -> tuple[list[str], bool]:
    """The conditions of ``record`` in table order, and whether the Binder rehearsal fills 'onecore'.

    Only when ``record`` has no one-core run of its own are ``binder.json``'s runs (another sitting)
    added to ``rows`` as that condition.
    """
    conditions = [c for c in ("idle", "load", "onecore") if c in record["config"]["conditions"]]
    binder = load_record("binder", results) if "onecore" not in conditions else None
    if binder is None:
        return conditions, False
    for r in binder["results"]:
        rows.setdefault((r["chapter"], r["mode"], "onecore"), r)
    return conditions + ["onecore"], True


def render_notebooks(record: dict[str, Any], results: Path = RESULTS) -> str:
    """Every chapter's wall time idle, under load and on one core (default and smoke), and its peak memory."""
    cfg = record["config"]
    rows = _notebook_rows(record)
    conditions, from_binder = _timed_conditions(record, rows, results)
    names = {"idle": "idle", "load": f"under load ({cfg['load_processes']} busy processes)",
             "onecore": "one core (the Binder rehearsal below)" if from_binder else "one core"}
    head = "| chapter | " + " | ".join(f"default, {names[c]}" for c in conditions)
    head += " | smoke, idle | peak memory (default, idle) |"
    lines = [head, "|---" * (len(conditions) + 3) + "|"]
    for stem in cfg["notebooks"]:
        peak = rows.get((stem, "default", "idle"))
        cells = [_seconds(rows, (stem, "default", c)) for c in conditions]
        cells += [_seconds(rows, (stem, "smoke", "idle")), f"{peak['peak_mb']:,.0f} MB" if peak else "—"]
        lines.append(f"| {_chapter(stem)} | " + " | ".join(cells) + " |")
    budget = next((r for r in record["results"] if r["mode"] == "default"), {})
    measured = conditions[:-1] if from_binder else conditions
    one_core = ("" if "onecore" not in conditions
                else "; 'one core' = the Binder rehearsal's runs (taskset -c 0, its own environment)" if from_binder
                else "; 'one core' = pinned with sched_setaffinity")
    configuration = (f"each chapter run once per condition with papermill in a fresh process (conditions: "
                     f"{', '.join(measured)}; 'under load' = {cfg['load_processes']} processes running small "
                     f"torch operations the whole time{one_core}); budgets "
                     f"{budget.get('budget_seconds', 180):.0f} s and {budget.get('budget_mb', 1536):,.0f} MB per "
                     "default run, 30 s per smoke run; OVER marks a run over budget")
    return "\n".join(lines) + "\n\n" + _provenance(record, RENDERERS["notebooks"][1], configuration) + "\n"


def render_binder(record: dict[str, Any], results: Path = RESULTS) -> str:
    """The Binder rehearsal: each chapter in the environment built from binder/, one CPU, a 2 GB cap."""
    cfg = record["config"]
    lines = ["| chapter | wall | CPU | peak memory (kernel tree) | outcome |", "|---|---|---|---|---|"]
    for r in record["results"]:
        outcome = r["status"] + (f" ({r['message']})" if r.get("message") else "")
        lines.append(f"| {_chapter(r['chapter'])} | {r['seconds']:.0f} s | {r['cpu_seconds']:.0f} s | "
                     f"{r['peak_mb']:,.0f} MB | {outcome} |")
    built = ("the cached environment" if cfg.get("build_seconds") is None
             else f"a fresh environment built in {cfg['build_seconds']:.0f} s")
    configuration = (f"{built} (pip install -r binder/requirements.txt, then binder/postBuild: {cfg['environment']}); "
                     f"{'smoke' if cfg.get('smoke') else 'default'} parameters; one CPU (taskset -c {cfg['cpu']}); "
                     f"the kernel's process tree capped at {cfg['memory_mb']:,.0f} MB; load average "
                     f"{cfg.get('load_average_before', '?')} before")
    return "\n".join(lines) + "\n\n" + _provenance(record, RENDERERS["binder"][1], configuration) + "\n"


def render_exercises(record: dict[str, Any], results: Path = RESULTS) -> str:
    """What every exercise's check printed in each chapter's default run (the teacher's copy: solutions in)."""
    checks = record.get("exercise_checks") or {}
    lines = []
    for stem in record["config"]["notebooks"]:
        found = checks.get(stem) or []
        lines.append(f"- {_chapter(stem)}: " + ("no check printed a line" if not found else ""))
        lines += [f"  - {line}" for line in found]
    cond = record["config"]["conditions"][0]
    return ("\n".join(lines) + f"\n\n*The check lines of the default runs ({cond}) in "
            f"`benchmarks/results/notebooks.json`, measured {record['date']}; seed 0 as in each chapter's "
            "parameters. A check recomputes its answer with the lab, so in your run it passes with your run's "
            "numbers.*\n")


#: the course plan of docs/teaching.md: (chapters of a session, what the class does besides the run)
SESSIONS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("00_start_here", "01_explainability_visualization"),
     "the dataset browser and the dashboard; the attribution explorer, the leaderboard, the shortcut detective"),
    (("02_explainability_suny",), "the SUNY explorer: remove a cause, keep a cause; the AND / OR worlds"),
    (("03_explainability_prototypes",), "the prototype browser: find the marker prototype, forget it, undo"),
    (("04_causality_maps",), "the causality explorer and the scaffold map; the seeded grid"),
    (("05_causality_crocodile",), "the CROCODILE lab: the ablation ladder in and out of distribution"),
    (("06_biovision_cocoreco",), "the connectome explorer: cut pathways, switch the attention blocks off"),
)


def render_sessions(record: dict[str, Any], results: Path = RESULTS) -> str:
    """docs/teaching.md's course plan, with each session's measured run time in every measured condition.

    The conditions come from one record (``notebooks.json``), so they were measured on the same machine
    at the same time and can be compared; only when that record has no one-core run does the Binder
    rehearsal's (``binder.json``, another time) fill that column, and the header says so.
    """
    rows = _notebook_rows(record)
    measured, from_binder = _timed_conditions(record, rows, results)
    names = {"idle": "2 cores idle", "load": f"{record['config']['load_processes']} busy processes",
             "onecore": "Binder, 1 core" if from_binder else "1 core"}
    header = " / ".join(names[c] for c in measured)
    lines = [f"| session | chapter(s) | run time ({header}) | in class |", "|---|---|---|---|"]
    for number, (chapters, in_class) in enumerate(SESSIONS, start=1):
        times = [" / ".join(_seconds(rows, (stem, "default", c)) for c in measured) for stem in chapters]
        lines.append(f"| {number} | " + ", ".join(_chapter(c) for c in chapters) + " | " + "; ".join(times)
                     + f" | {in_class} |")
    source = "`benchmarks/results/notebooks.json`" + (" and `binder.json`" if from_binder else "")
    return "\n".join(lines) + f"\n\n*Run times from {source} (see the tables above).*\n"


def render_distributed(record: dict[str, Any], results: Path = RESULTS) -> str:
    """bench_distributed.py: 1 process vs 2 torchrun processes on the CPU, with and without synchronised batch norm."""
    cfg = record["config"]
    lines = ["| variant | processes × threads | training time | images / s | vs the first row | "
             "wall time with start-up | final loss |", "|---|---|---|---|---|---|---|"]
    for r in record["results"]:
        lines.append(f"| {r['variant']} | {r['processes']} × {r['threads']} | {r['fit_seconds']:.1f} s | "
                     f"{r['images_per_second']:,.0f} | {r['speedup']:.2f}× | {r['wall_seconds']:.1f} s | "
                     f"{r['final_loss']:.4f} |")
    configuration = (f"`{cfg['world']}` world, {cfg['images']:,} images ({cfg['train_images']:,} for training) at "
                     f"{cfg['size']} px, {cfg['model']} width {cfg['width']}, {cfg['epochs']} epochs, global batch "
                     f"{cfg['global_batch']}, {cfg['optimizer']}, seed 0; training time = `fit` on rank 0 without "
                     f"process start-up, median of {cfg['repeats']} run(s) per variant; {cfg['usable_cpus']} usable "
                     "core(s)")
    return "\n".join(lines) + "\n\n" + _provenance(record, RENDERERS["distributed"][1], configuration) + "\n"


def render_grid(record: dict[str, Any], results: Path = RESULTS) -> str:
    """bench_crocodile.py's runner table: one CROCODILE grid with ``n_jobs=1`` and ``n_jobs=2``."""
    cfg = record["config"]
    lines = ["| `n_jobs` | wall time | speed-up | CPU time, all processes | identical to `n_jobs=1` |",
             "|---|---|---|---|---|"]
    for r in record["results"]:
        same = "—" if r["identical_to_serial"] is None else ("yes" if r["identical_to_serial"] else "**no**")
        lines.append(f"| {r['n_jobs']} | {r['wall_seconds']:.1f} s | {r['speedup']:.2f}× | "
                     f"{r['cpu_seconds_all_processes']:.1f} s | {same} |")
    sources = ", ".join(str(s) for s in cfg["ood_sources"]) or "the default"
    configuration = (f"a {cfg['cells']}-cell grid of `crocodile.run_ladder`: {len(cfg['configs'])} configurations "
                     f"({', '.join(cfg['configs'])}) × {len(cfg['seeds'])} seeds × held-out source(s) {sources}; "
                     f"`{cfg['world']}` world, {cfg['images']:,} images at {cfg['size']} px, {cfg['epochs']} epoch(s) "
                     f"per cell, {cfg['threads_per_cell']} torch thread per cell, on the {cfg['device'].upper()}; "
                     "wall time includes the workers' start-up; 'identical' compares the tables without their "
                     "timing columns")
    return "\n".join(lines) + "\n\n" + _provenance(record, RENDERERS["grid"][1], configuration) + "\n"


def render_threads(record: dict[str, Any], results: Path = RESULTS) -> str:
    """bench_threads.py: 1 vs 2 torch threads for a small operation and for training steps of growing size."""
    cfg = record["config"]
    rows = record["results"]
    small = {r["condition"]: r for r in rows if r["table"] == "small"}
    lines = ["| work | MFLOP | the lab picks | idle: 1 / 2 threads | 2 ÷ 1 | under load: 1 / 2 threads | 2 ÷ 1 |",
             "|---|---|---|---|---|---|---|"]
    if small:
        i, ld = small["idle"], small["load"]
        lines.append(f"| one causality map (fast path) | — | — | {i['ms_1']:.3f} / {i['ms_2']:.3f} ms | "
                     f"{i['ms_2'] / i['ms_1']:.2f} | {ld['ms_1']:.3f} / {ld['ms_2']:.3f} ms | "
                     f"{ld['ms_2'] / ld['ms_1']:.2f} |")
    for r in (r for r in rows if r["table"] == "step"):
        lines.append(f"| training step, width {r['width']}, batch {r['batch']}, {r['side']} px | {r['mflop']:,.0f} | "
                     f"{r['picks']} | {r['idle_ms_1']:.2f} / {r['idle_ms_2']:.2f} ms | "
                     f"{r['idle_ms_2'] / r['idle_ms_1']:.2f} | {r['load_ms_1']:.2f} / {r['load_ms_2']:.2f} ms | "
                     f"{r['load_ms_2'] / r['load_ms_1']:.2f} |")
    configuration = (f"medians per call, the two counts alternating over {cfg['rounds']} rounds"
                     f"{' (--quick)' if cfg.get('quick') else ''}; 'under load' = {cfg['load_processes']} busy "
                     f"processes; the small operation is `{cfg['small_operation']}`; steps: {cfg['step']}; "
                     f"'the lab picks' = `threads_for_work` for a 2-thread process "
                     f"({cfg['step_flops_per_thread'] / 1e6:.0f} MFLOP per thread); read the ratios, not the times")
    return "\n".join(lines) + "\n\n" + _provenance(record, RENDERERS["threads"][1], configuration) + "\n"


#: block name → (renderer, the benchmark command that writes its record, the record it reads)
RENDERERS: dict[str, tuple[Callable[[dict[str, Any], Path], str], str, str]] = {
    "findings": (render_findings, "python benchmarks/bench_findings.py --record", "findings"),
    "causality_maps": (render_causality_maps, "python benchmarks/bench_causality.py --maps-only --record",
                       "causality_maps"),
    "notebooks": (render_notebooks, "python benchmarks/bench_notebooks.py --conditions idle,load,onecore --record",
                  "notebooks"),
    "binder": (render_binder, "python tools/binder_check.py --fresh --record", "binder"),
    "exercises": (render_exercises, "python benchmarks/bench_notebooks.py --conditions idle,load,onecore --record",
                  "notebooks"),
    "sessions": (render_sessions, "python benchmarks/bench_notebooks.py --conditions idle,load,onecore --record",
                 "notebooks"),
    "distributed": (render_distributed, "python benchmarks/bench_distributed.py --repeats 3 --record", "distributed"),
    "grid": (render_grid, "python benchmarks/bench_crocodile.py --quick --runner-only --record", "grid"),
    "threads": (render_threads, "python benchmarks/bench_threads.py --record", "threads"),
}


def load_record(name: str, results: Path = RESULTS) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def render_block(name: str, results: Path = RESULTS) -> str:
    if name not in RENDERERS:
        raise KeyError(f"README block {name!r} has no renderer in tools/readme_numbers.py (known: "
                       f"{', '.join(sorted(RENDERERS))}).")
    render, command, source = RENDERERS[name]
    record = load_record(source, results)
    if record is None:
        return f"*No record yet: run `{command}`, then `python tools/readme_numbers.py --write`.*\n"
    return render(record, results)     # ``results``: where a renderer finds a second record it reads


def render_readme(text: str, results: Path = RESULTS) -> str:
    """``text`` with every ``numbers`` block re-rendered from its record."""
    return BLOCK.sub(lambda m: m.group(1) + render_block(m.group("name"), results) + m.group(4), text)


def block_names(text: str) -> list[str]:
    return [m.group("name") for m in BLOCK.finditer(text)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="re-render the documents' blocks in place")
    mode.add_argument("--check", action="store_true", help="exit 1 if a block differs from its record")
    args = parser.parse_args(argv)
    texts = {doc: doc.read_text(encoding="utf-8") for doc in DOCUMENTS}
    found = {name for text in texts.values() for name in block_names(text)}
    missing = sorted(set(RENDERERS) - found)
    if missing:
        print(f"no document has the block(s) {', '.join(missing)}; add <!-- numbers:NAME --><!-- /numbers:NAME -->")
        return 1
    stale = []
    for doc, text in texts.items():
        rendered = render_readme(text)
        label = doc.relative_to(ROOT)
        if args.write:
            doc.write_text(rendered, encoding="utf-8")
            print(f"{label}: {len(block_names(text))} block(s) rendered from benchmarks/results/")
        elif rendered != text:
            stale.append(str(label))
    if stale:
        print(f"{', '.join(stale)}: blocks differ from their records; run python tools/readme_numbers.py --write")
        return 1
    if args.check:
        print("every numbers block matches its record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
