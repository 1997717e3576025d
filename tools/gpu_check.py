"""GPU check: run the lab on CUDA, compare with the CPU where results must agree, time both.

Usage (from the repository root, with the python whose torch has CUDA)::

    make gpu-check                                       # = python3 tools/gpu_check.py
    make gpu-check GPU_CHECK_ARGS="--wheels wheels/"     # install the pure-Python needs first
    python tools/gpu_check.py --print-download           # the `pip download` that fills wheels/
    python tools/gpu_check.py --device cpu --quick       # the same checks CPU vs CPU (tests this script)

What it checks, each as one row of the final table (CPU seconds, GPU seconds, agreement):

1. every explanation method of ``explain()``, activation maximization, SUNY, deletion/insertion
   and the causality maps on a default-sized SmallCNN: maps equal to the CPU's within 1e-3 of
   their scale;
2. one short training of every model family a chapter trains — SmallCNN and CausalCNN (2 epochs),
   ProtoPNet (one joint epoch and a push, chapter 03), CrocodileNet (one epoch of the full
   objective, chapter 05), ScratchCNN and CoCoReco with CABs (one epoch each, chapter 06), each on
   a tiny world through the chapters' own training calls: per-epoch losses within 0.02 of the CPU
   run from the same initial weights; and a mixed-precision run of SmallCNN (``amp=True``:
   float16 + loss scaling) within 0.05 of full precision;
3. data-parallel training with NCCL on all visible GPUs (``torchrun --nproc_per_node=<GPUs>``):
   identical parameters on every rank and equal, up to float rounding, to one process with the
   same global batch; and one process too many is refused with the ``--nproc_per_node`` that fits;
4. the chapters in smoke mode (``--chapters``; they need papermill and a Jupyter kernel: the
   notebook wheels), once with no GPU visible and once with the GPUs. A chapter whose parameters
   cell has a ``DEVICE`` parameter gets ``DEVICE="cpu"`` / ``DEVICE="cuda"``; no chapter has one
   today, so they run with their ``device="auto"`` (the CPU when ``CUDA_VISIBLE_DEVICES`` is empty,
   CUDA otherwise) and each row says so. Without ``--chapters`` the rows above are the
   library-level equivalents of what the chapters call, and the table says the chapters were
   skipped.

Without CUDA it prints so and exits 0 — it never reports a GPU result it did not measure. The
exit status is 1 when a check disagrees or fails.

No package registry is needed on the GPU machine: ``--wheels DIR`` creates
``build/gpu-check-venv`` with ``--system-site-packages`` (so the machine's own CUDA build of
torch is the one used, never replaced), installs the lab's pure-Python needs from ``DIR`` with
``pip --no-index`` (captum with ``--no-deps``: its only other need is torch), and reruns the check
there. Prepare ``DIR`` on a machine with internet access with the commands ``--print-download``
shows (``--platform``/``--python-version`` there when the two machines differ).
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: The lab's pure-Python needs (pyproject's dependencies without torch and Jupyter).
REQUIREMENTS = ["numpy", "tqdm", "pillow", "scikit-learn", "pandas", "matplotlib", "packaging"]
#: Installed without their dependencies (captum's only other one is torch, which the machine has).
NO_DEPS = ["captum"]
#: For --chapters: running the notebooks with papermill.
CHAPTER_REQUIREMENTS = ["papermill", "ipykernel", "ipywidgets", "nbformat", "nbclient"]
MODULES = {"pillow": "PIL", "scikit-learn": "sklearn"}
VENV = ROOT / "build" / "gpu-check-venv"


# -- setup ------------------------------------------------------------------------------------------

def download_commands(dest: str = "wheels", chapters: bool = True) -> list[str]:
    """The ``pip download`` commands that prepare the wheel folder (run them where PyPI answers)."""
    pure = REQUIREMENTS + (CHAPTER_REQUIREMENTS if chapters else [])
    return [f"python -m pip download --only-binary=:all: -d {dest} {' '.join(pure)}",
            f"python -m pip download --only-binary=:all: --no-deps -d {dest} {' '.join(NO_DEPS)}"]


def missing(names: list[str]) -> list[str]:
    """Requirements of ``names`` that this interpreter cannot import."""
    absent = []
    for name in names:
        try:
            importlib.import_module(MODULES.get(name, name))
        except ImportError:
            absent.append(name)
    return absent


def prepare(wheels: Path, chapters: bool, venv: Path = VENV) -> Path:
    """Create the check's venv over this interpreter's packages, install the needs from ``wheels``; return its python.

    The venv sees this interpreter's site-packages through a ``.pth`` file (after its own), so the
    machine's torch is used whether it lives in the base interpreter, a conda env or a venv —
    ``venv --system-site-packages`` would only show the *base* interpreter's packages.
    """
    import site
    import sysconfig

    if not wheels.is_dir():
        raise SystemExit(f"--wheels {wheels}: no such folder; fill it with:\n  "
                         + "\n  ".join(download_commands(str(wheels))))
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    inner = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                           check=True, capture_output=True, text=True).stdout.strip()
    outer = [*site.getsitepackages(), sysconfig.get_paths()["purelib"]]
    (Path(inner) / "_halign_outer.pth").write_text("\n".join(dict.fromkeys(outer)) + "\n")
    pip = [str(python), "-m", "pip", "install", "--no-index", "--find-links", str(wheels), "--quiet"]
    subprocess.run(pip + REQUIREMENTS + (CHAPTER_REQUIREMENTS if chapters else []), check=True)
    subprocess.run(pip + ["--no-deps"] + NO_DEPS, check=True)
    return python


# -- the rows ------------------------------------------------------------------------------------------

@dataclass
class Row:
    """One line of the table."""

    check: str
    cpu_s: float | None
    gpu_s: float | None
    agreement: str
    ok: bool


def timed(fn: Callable[[], Any], device: Any) -> tuple[Any, float]:
    """``fn()`` and its wall time, waiting for the device's queued work."""
    import torch

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return out, time.perf_counter() - start


def both(make: Callable[[Any], Callable[[], Any]], cpu_arg: Any, gpu_arg: Any, device: Any) -> tuple[Any, float, Any,
                                                                                                     float]:
    """``make(arg)()`` on the CPU and on ``device``, each timed after one untimed warm-up call."""
    import torch

    results = []
    for arg, dev in ((cpu_arg, torch.device("cpu")), (gpu_arg, device)):
        make(arg)()                               # kernels, cuDNN choices, lazy imports
        results.extend(timed(make(arg), dev))
    return tuple(results)  # type: ignore[return-value]


def relative(a: Any, b: Any) -> float:
    """``max |a − b|`` over the larger of their max ``|value|`` (maps have arbitrary scales)."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    scale = max(float(a.abs().max()), float(b.abs().max()), 1e-12)
    return float((a - b).abs().max()) / scale


def _explain_rows(device: Any, quick: bool) -> list[Row]:
    import torch

    from halign_widgets.causality import causality_map
    from halign_widgets.data import make_world
    from halign_widgets.explain import activation_maximization, deletion_insertion, explain, list_methods
    from halign_widgets.training import build_classifier, recalibrate_batchnorm

    world = make_world("masses", 64, size=64, seed=0)
    cpu_model = recalibrate_batchnorm(build_classifier(world, width=8 if quick else 16), world.images).eval()
    gpu_model = copy.deepcopy(cpu_model).to(device)
    x = world.images[:2 if quick else 4]
    options = {"integrated_gradients": {"n_steps": 8}, "gradient_shap": {"n_samples": 4},
               "smoothgrad": {"n_samples": 4}, "rise": {"n_masks": 64}, "suny": {"pool": 4}}
    rows = []
    for method in list_methods():  # the images stay on the CPU: explain() moves them to the model
        def run(m: Any, method: str = method) -> Callable[[], Any]:
            return lambda: explain(m, x, method, target=1, **options.get(method, {})).maps

        a, cpu_s, b, gpu_s = both(run, cpu_model, gpu_model, device)
        diff = relative(a, b)
        rows.append(Row(f"explain {method}", cpu_s, gpu_s, f"max rel diff {diff:.1e}", diff <= 1e-3))
    def act(m: Any) -> Callable[[], Any]:
        return lambda: activation_maximization(m, "class:1", steps=20 if quick else 50, size=64).image

    a, cpu_s, b, gpu_s = both(act, cpu_model, gpu_model, device)
    diff = relative(a, b)
    rows.append(Row("activation maximization", cpu_s, gpu_s, f"max rel diff {diff:.1e}", diff <= 1e-2))
    maps = explain(cpu_model, x, "gradcam", target=1).maps
    def di(m: Any) -> Callable[[], Any]:
        return lambda: deletion_insertion(m, x, maps, 1, steps=8).overall

    a, cpu_s, b, gpu_s = both(di, cpu_model, gpu_model, device)
    diff = float((torch.as_tensor(a) - torch.as_tensor(b)).abs().max())
    rows.append(Row("deletion / insertion", cpu_s, gpu_s, f"max |Δ overall| {diff:.1e}", diff <= 1e-3))
    feats = torch.rand(4, 32, 6, 6, generator=torch.Generator().manual_seed(0))  # small enough for "faithful"
    for mode in ("fast", "faithful"):
        def cm(f: Any, mode: str = mode) -> Callable[[], Any]:
            return lambda: causality_map(f, "lehmer", 2.0, mode=mode)

        a, cpu_s, b, gpu_s = both(cm, feats, feats.to(device), device)
        diff = relative(a, b)
        rows.append(Row(f"causality map ({mode})", cpu_s, gpu_s, f"max rel diff {diff:.1e}", diff <= 1e-4))
    return rows


def _training_rows(device: Any, quick: bool) -> list[Row]:
    import torch

    from halign_widgets.causality import CausalCNN
    from halign_widgets.data import make_world
    from halign_widgets.training import Trainer, build_classifier, derive_seed, seeded

    world = make_world("masses", 200 if quick else 600, size=32, seed=0)
    with seeded(derive_seed(0, "init")):
        families = {"SmallCNN": build_classifier(world, width=8),
                    "CausalCNN": CausalCNN(width=8, depth=3, image_size=32)}
    kw = dict(epochs=2, batch_size=32, lr=2e-3, seed=0, progress=False)
    warm = copy.deepcopy(families["SmallCNN"])
    Trainer(warm, world.train.subset(range(64)), None, device=device, **{**kw, "epochs": 1}).fit()  # warm-up
    rows = []
    for name, model in families.items():
        runs = {}
        for label, dev, amp in (("cpu", torch.device("cpu"), False), ("gpu", device, False), ("amp", device, True)):
            if label == "amp" and name != "SmallCNN":
                continue
            trainer = Trainer(copy.deepcopy(model), world.train, world.val, device=dev, amp=amp, **kw)
            history, seconds = timed(trainer.fit, dev)
            runs[label] = ([e["train_loss"] for e in history], seconds)
        rows.append(_loss_row(f"train {name} (2 epochs)", runs["cpu"], runs["gpu"]))
        if "amp" in runs:
            gap = max(abs(a - b) for a, b in zip(runs["amp"][0], runs["gpu"][0], strict=True))
            finite = all(v == v and abs(v) != float("inf") for v in runs["amp"][0])
            rows.append(Row(f"train {name} amp=True", runs["gpu"][1], runs["amp"][1],
                            f"max |Δ loss| vs full precision {gap:.1e}", finite and gap <= 0.05))
    return rows


def _loss_row(name: str, cpu: tuple[list[float], float], gpu: tuple[list[float], float]) -> Row:
    """A training row: the per-epoch training losses of the CPU run and the device run must agree."""
    if len(cpu[0]) != len(gpu[0]) or not cpu[0]:
        return Row(name, cpu[1], gpu[1], f"epochs differ: {len(cpu[0])} on the cpu, {len(gpu[0])} here", False)
    diff = max(abs(a - b) for a, b in zip(cpu[0], gpu[0], strict=True))
    return Row(name, cpu[1], gpu[1], f"max |Δ train loss| {diff:.1e}", diff <= 0.02)


def family_trainings(quick: bool) -> dict[str, Callable[[Any], list[float]]]:
    """The chapters' model families beyond SmallCNN/CausalCNN: name → ``train(device)`` → per-epoch losses.

    Each trains through the call its chapter makes (``train_protopnet``, ``train_configuration``,
    ``biovision.train_model``) on a tiny world, from the same seeded initial weights on every device.
    """
    from halign_widgets.biovision import build_model, train_model
    from halign_widgets.crocodile import domain_splits, train_configuration
    from halign_widgets.data import make_world
    from halign_widgets.prototypes import ProtoPNet, Schedule, train_protopnet
    from halign_widgets.training import derive_seed, seeded

    n = 60 if quick else 400
    masses = make_world("masses", n, size=32, seed=0)
    splits = domain_splits(make_world("domains", 2 * n, size=32, seed=0), seed=0)
    context = make_world("context", n, size=32, seed=0)
    with seeded(derive_seed(0, "protopnet")):
        proto = ProtoPNet(masses.channels, masses.num_classes, 2 if quick else 5, 8 if quick else 32,
                          width=4 if quick else 8)
    one_joint_epoch = Schedule(warmup_epochs=0, joint_epochs=1, last_layer_epochs=0)   # then one push

    def protopnet(device: Any) -> list[float]:
        run = train_protopnet(copy.deepcopy(proto), masses.train, masses.val, schedule=one_joint_epoch,
                              batch_size=32, seed=0, progress=False, device=device)
        return [e["train_loss"] for e in run.history]

    def crocodile(device: Any) -> list[float]:
        run = train_configuration("full", splits, epochs=1, batch_size=32, seed=0, width=4 if quick else 8,
                                  dim=16 if quick else 32, device=device)
        return [e["train_loss"] for e in run.history]

    def biovision(variant: str) -> Callable[[Any], list[float]]:
        def train(device: Any) -> list[float]:
            model = build_model(variant, context.channels, context.num_classes, width=32, seed=0)
            trainer = train_model(model, context, epochs=1, batch_size=32, seed=0, device=device)
            return [e["train_loss"] for e in trainer.history]
        return train

    return {"ProtoPNet (1 joint epoch + push)": protopnet, "CrocodileNet (1 epoch, full objective)": crocodile,
            "ScratchCNN (1 epoch)": biovision("scratch"), "CoCoReco + CAB (1 epoch)": biovision("cocoreco_cab")}


def _family_rows(device: Any, quick: bool) -> list[Row]:
    """One row per family of :func:`family_trainings`; each device is timed after an untimed warm-up run
    (lazy imports, CUDA kernel loading) unless ``quick``, whose timings therefore include those first-call costs."""
    import torch

    rows = []
    for name, train in family_trainings(quick).items():
        runs = []
        for dev in (torch.device("cpu"), device):
            if not quick:
                train(dev)
            runs.append(timed(lambda train=train, dev=dev: train(dev), dev))
        row = _loss_row(f"train {name}", runs[0], runs[1])
        if quick:
            row.agreement += "; times include first-call costs (--quick)"
        rows.append(row)
    return rows

# -- data-parallel --------------------------------------------------------------------------------------

def _DDP_OPTIONS(world_size: int) -> dict[str, Any]:
    # SGD: its update is linear in the gradient, so float rounding stays at rounding size; Adam divides
    # by the gradient's running RMS and can turn rounding-level gradients into lr-sized differences
    return dict(epochs=2, batch_size=16 * world_size, lr=1e-2, optimizer="sgd", seed=0, progress=False)


def _ddp_data(world_size: int) -> tuple[Any, Any]:
    from halign_widgets.data import make_world

    world = make_world("masses", 256, size=32, seed=0)
    keep = len(world.train) // world_size * world_size           # a multiple of the ranks: no padding
    return world.train.subset(range(keep)), world.val


def ddp_worker(out: Path, device: str) -> None:
    """One rank under torchrun (``--ddp-worker OUT``): train, save this rank's weights and the spread."""
    import torch

    from halign_widgets.training import Trainer, build_classifier, derive_seed, seeded

    world_size = int(os.environ["WORLD_SIZE"])
    train, val = _ddp_data(world_size)
    with seeded(derive_seed(0, "init")):
        model = build_classifier(train, width=8)
    trainer = Trainer(model, train, val, distributed=True, dist_timeout=120, device=device, **_DDP_OPTIONS(world_size))
    _, seconds = timed(trainer.fit, trainer.device)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state": state, "spread": trainer.rank_spread, "backend": trainer._team.context.backend,
                "seconds": seconds}, out / f"rank{trainer.rank}.pt")


def _torchrun(nproc: int, out: Path, device: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           str(Path(__file__).resolve()), "--ddp-worker", str(out), "--device", device]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _ddp_rows(device: Any) -> list[Row]:
    import torch

    from halign_widgets.training import Trainer, build_classifier, derive_seed, seeded

    n = torch.cuda.device_count() if device.type == "cuda" else 2
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        proc = _torchrun(n, out, device.type)
        if proc.returncode != 0:
            return [Row(f"DDP {n} process(es)", None, None, f"failed: {proc.stderr.strip()[-300:]}", False)]
        ranks = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(n)]
        spread = max(float((ranks[0]["state"][k].double() - r["state"][k].double()).abs().max())
                     for r in ranks for k in ranks[0]["state"] if ranks[0]["state"][k].is_floating_point())
        train, val = _ddp_data(n)
        with seeded(derive_seed(0, "init")):
            model = build_classifier(train, width=8)
        single = Trainer(model, train, val, distributed=False, device=device, **_DDP_OPTIONS(n))
        _, one_s = timed(single.fit, device)
        diff = max(float((v.detach().cpu().double() - ranks[0]["state"][k].double()).abs().max())
                   for k, v in model.state_dict().items() if v.is_floating_point())
        rows.append(Row(f"DDP {n} ranks, {ranks[0]['backend']} (first column: 1 process)", one_s, ranks[0]["seconds"],
                        f"ranks max |Δ| {spread:.1e}; vs 1 process {diff:.1e}", spread == 0.0 and diff <= 1e-4))
        if device.type == "cuda":
            refused = _torchrun(n + 1, out, device.type)
            text = refused.stdout + refused.stderr
            ok = refused.returncode != 0 and f"--nproc_per_node={n}" in text
            rows.append(Row(f"DDP {n + 1} processes on {n} GPU(s)", None, None,
                            "refused with the fix" if ok else "NOT refused as expected", ok))
    return rows


# -- chapters ---------------------------------------------------------------------------------------------

def device_parameter(notebook: Path) -> str | None:
    """``"DEVICE"`` when the notebook's ``parameters`` cell defines it, else ``None`` (the chapter uses ``"auto"``)."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell["source"])
            return "DEVICE" if any(line.split("=")[0].strip() == "DEVICE" for line in source.splitlines()
                                   if "=" in line and not line.lstrip().startswith("#")) else None
    return None


def _chapter_rows(device: Any) -> list[Row]:
    rows = []
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        parameter = device_parameter(notebook)
        times: dict[str, float | None] = {}
        errors: list[str] = []
        for label, visible, forced in (("cpu", "", "cpu"), ("gpu", os.environ.get("CUDA_VISIBLE_DEVICES"),
                                                             device.type)):
            env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
            if visible is not None:
                env["CUDA_VISIBLE_DEVICES"] = visible
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tools"), str(ROOT), os.environ.get("PYTHONPATH", "")])
            parameters = {parameter: forced} if parameter else {}
            with tempfile.TemporaryDirectory() as tmp:
                code = ("import sys, json, nb_tool; from pathlib import Path; "
                        "nb_tool.run_notebook(Path(sys.argv[1]), Path(sys.argv[2]), smoke=True, "
                        "parameters=json.loads(sys.argv[3]))")
                cmd = [sys.executable, "-c", code, str(notebook), str(Path(tmp) / notebook.name),
                       json.dumps(parameters)]
                start = time.perf_counter()
                proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
                times[label] = time.perf_counter() - start
                if proc.returncode != 0:
                    errors.append(f"{label}: {proc.stderr.strip()[-200:]}")
        how = f'{parameter}="{device.type}"' if parameter else "device auto: no DEVICE parameter"
        rows.append(Row(f"chapter {notebook.stem} (smoke, {how})", times["cpu"], times["gpu"],
                        "; ".join(errors) or "ran on both (cpu column: no GPU visible)", not errors))
    return rows


# -- main ---------------------------------------------------------------------------------------------

def table(rows: list[Row], device: Any) -> str:
    """The rows as a plain-text table."""
    def fmt(s: float | None) -> str:
        return "—" if s is None else f"{s:.3f}"

    head = ("check", "cpu s", f"{device.type} s", "speed-up", "agreement", "ok")
    body = [(r.check, fmt(r.cpu_s), fmt(r.gpu_s),
             f"{r.cpu_s / r.gpu_s:.1f}×" if r.cpu_s and r.gpu_s else "—", r.agreement, "yes" if r.ok else "NO")
            for r in rows]
    widths = [max(len(str(line[i])) for line in (head, *body)) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)) for line in (head, *body)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python tools/gpu_check.py", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wheels", type=Path, help="install the lab's pure-Python needs from this wheel folder into "
                                               f"{VENV.relative_to(ROOT)} (over the system's torch), then run there")
    p.add_argument("--venv", type=Path, default=VENV, help="where --wheels builds the check's environment")
    p.add_argument("--setup-only", action="store_true", help="with --wheels: build the environment, print its "
                                                             "python, and exit")
    p.add_argument("--print-download", action="store_true", help="print the pip download commands that prepare "
                                                                 "the wheel folder, and exit")
    p.add_argument("--device", default="cuda", help="device to compare with the CPU; 'cpu' runs every check CPU vs "
                                                    "CPU (a test of this script on a machine without a GPU)")
    p.add_argument("--quick", action="store_true", help="smaller models and fewer steps (the model-family rows "
                                                        "are then timed without a warm-up run)")
    p.add_argument("--skip-ddp", action="store_true", help="skip the data-parallel check")
    p.add_argument("--chapters", action="store_true", help="also run every chapter in smoke mode (needs papermill "
                                                           "and a Jupyter kernel: the notebook wheels)")
    p.add_argument("--json", type=Path, help="also write the rows as JSON to this file")
    p.add_argument("--ddp-worker", type=Path, help=argparse.SUPPRESS)
    return p


def _without(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """``argv`` without ``options`` and their values (``--opt value`` or ``--opt=value``)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not any(arg.startswith(f"{o}=") for o in options):
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.print_download:
        print("\n".join(download_commands()))
        return 0
    if args.ddp_worker is not None:
        ddp_worker(args.ddp_worker, args.device)
        return 0
    try:
        import torch
    except ImportError:
        print("gpu-check: torch is not installed for this python; run it with the python of your CUDA torch "
              "(make gpu-check GPU_PYTHON=/path/to/python).")
        return 0 if args.device != "cpu" else 1
    if args.device != "cpu" and not args.setup_only and not torch.cuda.is_available():
        built = torch.version.cuda or "none (a CPU-only build)"
        print(f"gpu-check: no CUDA GPU is visible to torch {torch.__version__} (CUDA build: {built}); nothing was "
              "checked. Run it on a machine with an NVIDIA GPU and a CUDA build of torch.")
        return 0
    if args.wheels is not None and os.environ.get("HALIGN_GPU_CHECK_VENV") != "1":
        python = prepare(args.wheels, args.chapters, args.venv)
        if args.setup_only:
            print(python)
            return 0
        rest = _without(list(argv if argv is not None else sys.argv[1:]), ("--wheels", "--venv"))
        env = {**os.environ, "HALIGN_GPU_CHECK_VENV": "1"}
        return subprocess.run([str(python), str(Path(__file__).resolve()), *rest], env=env, cwd=ROOT).returncode
    absent = missing(REQUIREMENTS + NO_DEPS + (CHAPTER_REQUIREMENTS if args.chapters else []))
    if absent:
        print(f"gpu-check: missing {absent}; install them, or prepare a wheel folder with\n  "
              + "\n  ".join(download_commands()) + "\nand run `make gpu-check GPU_CHECK_ARGS=\"--wheels wheels\"`.")
        return 1
    sys.path.insert(0, str(ROOT))
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (self-test)"
    print(f"gpu-check on {name}: torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"{torch.cuda.device_count() if device.type == 'cuda' else 0} GPU(s)", flush=True)
    rows: list[Row] = []
    steps: list[tuple[str, Callable[[], list[Row]]]] = [
        ("explanation methods", lambda: _explain_rows(device, args.quick)),
        ("trainings", lambda: _training_rows(device, args.quick)),
        ("model families of chapters 03, 05, 06", lambda: _family_rows(device, args.quick))]
    if not args.skip_ddp:
        steps.append(("data-parallel training", lambda: _ddp_rows(device)))
    if args.chapters:
        steps.append(("chapters", lambda: _chapter_rows(device)))
    for title, step in steps:
        print(f"… {title}", flush=True)
        try:
            rows += step()
        except Exception as exc:  # noqa: BLE001 - a failing step is a row of the table, not a crash
            rows.append(Row(title, None, None, f"failed: {type(exc).__name__}: {str(exc)[:200]}", False))
    if not args.chapters:
        rows.append(Row("chapters (smoke)", None, None, "skipped: pass --chapters (needs papermill); the rows above "
                                                         "are the library calls the chapters make", True))
    print(table(rows, device))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1))
    bad = [r.check for r in rows if not r.ok]
    print(f"gpu-check: {len(rows) - len(bad)} of {len(rows)} rows agree" + (f"; check {bad}" if bad else "."))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
