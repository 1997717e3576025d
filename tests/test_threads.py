"""Torch threads from the CPUs this process may really use (halign_widgets.training.threads)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from halign_widgets.training import threads

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("usable, busy, expected", [(2, 0, 2), (2, 1, 1), (2, 2, 1), (2, 7, 1), (8, 3, 5), (1, 0, 1)])
def test_threads_are_the_usable_cpus_minus_the_busy_ones(monkeypatch, usable, busy, expected) -> None:
    monkeypatch.delenv("HALIGN_THREADS", raising=False)
    assert threads.choose_threads(usable=usable, busy=busy) == expected


def test_the_environment_can_fix_or_disable_the_choice(monkeypatch) -> None:
    monkeypatch.setenv("HALIGN_THREADS", "3")
    assert threads.choose_threads(usable=2, busy=2) == 3
    monkeypatch.setenv("HALIGN_THREADS", "off")
    assert threads.choose_threads(usable=2, busy=0) is None
    before = torch.get_num_threads()
    assert threads.apply_threads() == before                       # "off" leaves torch alone
    monkeypatch.setenv("HALIGN_THREADS", "not-a-number")           # malformed: treated as auto
    assert threads.choose_threads(usable=4, busy=1) == 3


def test_cgroup_quota_is_read_from_v2_and_v1_files(tmp_path: Path) -> None:
    v2 = tmp_path / "cpu.max"
    quota, period = tmp_path / "quota", tmp_path / "period"
    v2.write_text("150000 100000\n")
    assert threads._quota_cpus(str(v2), (str(quota), str(period))) == 2      # 1.5 CPUs -> 2 threads
    v2.write_text("max 100000\n")
    assert threads._quota_cpus(str(v2), (str(quota), str(period))) is None
    missing = str(tmp_path / "none")
    quota.write_text("100000\n")
    period.write_text("100000\n")
    assert threads._quota_cpus(missing, (str(quota), str(period))) == 1
    quota.write_text("-1\n")                                                 # v1: no quota
    assert threads._quota_cpus(missing, (str(quota), str(period))) is None


def test_busy_cpus_counts_other_runnable_tasks(tmp_path: Path) -> None:
    fake = tmp_path / "loadavg"
    fake.write_text("9.10 9.00 8.70 3/412 12345\n")                  # 3 runnable, one of them the reader
    assert threads.busy_cpus(samples=3, interval=0.0, loadavg=str(fake)) == 2
    fake.write_text("0.01 0.02 0.00 1/300 1\n")
    assert threads.busy_cpus(samples=1, loadavg=str(fake)) == 0
    assert threads.busy_cpus(loadavg=str(tmp_path / "missing")) == 0


def test_usable_cpus_follows_the_affinity_mask() -> None:
    code = textwrap.dedent("""
        import os, json
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        from halign_widgets.training.threads import usable_cpus
        print(json.dumps(usable_cpus()))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == 1


def test_the_count_is_chosen_once_and_kept_until_a_refresh() -> None:
    """Import chooses the count; workers and runs keep it (equal seeds, equal weights); refresh re-chooses."""
    code = textwrap.dedent("""
        import json, torch
        from halign_widgets.training import Trainer, start_compute_thread
        from halign_widgets.models import SmallCNN
        from halign_widgets.training import threads
        seen = {"import": torch.get_num_threads()}
        def record(key):
            seen[key] = torch.get_num_threads()
        threads._applied[:] = [3]                   # as if the lab had chosen 3 at import …
        torch.set_num_threads(3)
        t = start_compute_thread(record, "worker"); t.join()      # … a worker keeps it
        x, y = torch.rand(8, 1, 8, 8), torch.randint(0, 2, (8,))
        Trainer(SmallCNN(width=2, depth=2), (x, y), epochs=1, progress=False, precise_bn=0).fit()
        seen["after fit"] = torch.get_num_threads()                # … and so does a training run
        seen["refresh"] = threads.apply_threads(refresh=True)      # asked: measured again
        torch.set_num_threads(2)                    # the user sets a count: it is kept, even on refresh
        t = start_compute_thread(record, "user's choice"); t.join()
        seen["user's choice, refresh"] = threads.apply_threads(refresh=True)
        print(json.dumps(seen))
    """)
    env = {"HALIGN_THREADS": "1", "OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env=env)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen == {"import": 1, "worker": 3, "after fit": 3, "refresh": 1, "user's choice": 2,
                    "user's choice, refresh": 2}, seen


def test_equal_seeds_give_equal_weights_while_the_load_changes(monkeypatch) -> None:
    """The failure CI showed: a busy reading between two runs must not change the second run's count."""
    from halign_widgets.models import SmallCNN
    from halign_widgets.training import Trainer

    monkeypatch.delenv("HALIGN_THREADS", raising=False)
    readings = iter([0, 1, 0, 1, 0, 1])
    monkeypatch.setattr(threads, "busy_cpus", lambda *a, **k: next(readings, 0))
    monkeypatch.setattr(threads, "usable_cpus", lambda: 2)
    before = torch.get_num_threads()
    counts, weights = [], []
    try:
        for _ in range(2):
            torch.manual_seed(0)
            x, y = torch.rand(16, 1, 8, 8), torch.randint(0, 2, (16,))
            model = SmallCNN(width=2, depth=2)
            Trainer(model, (x, y), epochs=1, progress=False, precise_bn=0, seed=1).fit()
            counts.append(torch.get_num_threads())
            weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    finally:
        torch.set_num_threads(before)
    assert counts[0] == counts[1] == before
    assert torch.equal(weights[0], weights[1])


def test_a_pinned_count_is_not_replaced_by_the_automatic_choice(monkeypatch) -> None:
    monkeypatch.delenv("HALIGN_THREADS", raising=False)
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_applied", [1])
    with threads.pinned_threads(1):                # equal to the last automatic choice …
        monkeypatch.setattr(threads, "choose_threads", lambda *a, **k: 2)
        assert threads.apply_threads() == 1        # … and still kept while pinned
    assert torch.get_num_threads() == before


# --- the size of the work ------------------------------------------------------------------------------------


@pytest.mark.parametrize("flops, available, expected", [
    (5e6, 2, 1), (threads.STEP_FLOPS_PER_THREAD * 1.9, 2, 1), (threads.STEP_FLOPS_PER_THREAD * 2, 2, 2),
    (1e12, 2, 2), (threads.STEP_FLOPS_PER_THREAD * 5.5, 8, 5), (1e12, 1, 1), (None, 3, 3), (float("nan"), 2, 2)])
def test_a_step_gets_one_thread_per_share_of_work(flops, available, expected) -> None:
    assert threads.threads_for_work(flops, available) == expected


def _reference_forward_flops(model: torch.nn.Module, x: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


@pytest.mark.parametrize("name", ["SmallCNN", "CausalCNN", "ProtoPNet"])
def test_the_step_estimate_agrees_with_torchs_flop_counter(name) -> None:
    """Three times torch's exact forward count, within 5 % (what the hooks do not see: the causality map's and
    the prototype distances' functional products)."""
    from halign_widgets.causality import CausalCNN
    from halign_widgets.models import SmallCNN
    from halign_widgets.prototypes import ProtoPNet

    torch.manual_seed(0)
    small = SmallCNN(in_channels=1, width=8, depth=4)
    model = {"SmallCNN": lambda: small,
             "CausalCNN": lambda: CausalCNN(in_channels=1, width=8, depth=4, image_size=28, setting="mulcat"),
             "ProtoPNet": lambda: ProtoPNet(backbone=small, layer="features.conv3")}[name]()
    x = torch.rand(16, 1, 28, 28)
    estimate = threads.step_flops(model, x)
    reference = 3 * _reference_forward_flops(model, x)
    assert estimate is not None and estimate > 0
    assert abs(estimate - reference) <= 0.05 * reference, (estimate, reference)


def test_the_step_estimate_changes_nothing_in_the_model() -> None:
    from halign_widgets.models import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(in_channels=1, width=4, depth=2, dropout=0.5).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(8, 1, 16, 16)
    rng = torch.get_rng_state()
    assert threads.step_flops(model, x) > 0
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())     # BN statistics untouched
    assert torch.equal(rng, torch.get_rng_state())                                   # eval mode: no dropout draw
    assert not any(m._forward_hooks for m in model.modules())                        # the counting hooks are gone
    assert threads.step_flops(model, torch.rand(8, 3, 16, 16)) is None              # a forward that fails: unsized
    assert model.training


@pytest.fixture
def automatic_two(monkeypatch):
    """As if the lab had chosen 2 threads for this process."""
    monkeypatch.delenv("HALIGN_THREADS", raising=False)
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_applied", [2])
    monkeypatch.setattr(threads, "_pins", [])
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_a_small_block_runs_on_one_thread_and_gives_the_count_back(automatic_two) -> None:
    with threads.sized_threads(1e6) as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == 2
    with threads.sized_threads(1e12) as n:
        assert n == 2 == torch.get_num_threads()
    with pytest.raises(RuntimeError, match="inside"):
        with threads.sized_threads(1e6):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == 2


def test_only_the_automatic_count_is_sized(automatic_two, monkeypatch) -> None:
    torch.set_num_threads(3)                                # the user's count
    with threads.sized_threads(1e6) as n:
        assert n == 3 == torch.get_num_threads()
    torch.set_num_threads(2)
    with threads.pinned_threads(2), threads.sized_threads(1e6) as n:
        assert n == 2                                       # a pinned block (an experiment grid) is not sized
    monkeypatch.setenv("HALIGN_THREADS", "2")               # a fixed count is not sized either
    with threads.sized_threads(1e6) as n:
        assert n == 2


def _recording_fit(model, x, y, **kwargs):
    from halign_widgets.training import Callback, Trainer

    seen: list[int] = []

    class Count(Callback):
        def on_batch_end(self, trainer, step, logs):
            seen.append(torch.get_num_threads())

    trainer = Trainer(model, (x, y), epochs=1, batch_size=16, progress=False, precise_bn=0, seed=0,
                      callbacks=[Count()], **kwargs)
    return trainer, seen


def test_training_sizes_its_threads_from_one_batch(automatic_two, monkeypatch) -> None:
    from halign_widgets.models import SmallCNN

    x, y = torch.rand(32, 1, 16, 16), torch.randint(0, 2, (32,))
    trainer, seen = _recording_fit(SmallCNN(in_channels=1, width=4, depth=2), x, y)
    trainer.fit()
    assert trainer.threads == 1 and set(seen) == {1}          # a small step: one thread for every batch …
    assert torch.get_num_threads() == 2                       # … and the process's count afterwards
    monkeypatch.setattr(threads, "STEP_FLOPS_PER_THREAD", 1.0)   # every step is "large"
    trainer, seen = _recording_fit(SmallCNN(in_channels=1, width=4, depth=2), x, y)
    trainer.fit()
    assert trainer.threads == 2 and set(seen) == {2}


def test_a_background_run_sizes_its_own_thread_only(automatic_two) -> None:
    from halign_widgets.models import SmallCNN

    x, y = torch.rand(32, 1, 16, 16), torch.randint(0, 2, (32,))
    trainer, seen = _recording_fit(SmallCNN(in_channels=1, width=4, depth=2), x, y)
    trainer.start_background()
    assert trainer.wait(60)
    assert trainer.error is None and set(seen) == {1} and trainer.threads == 1
    assert torch.get_num_threads() == 2                       # the notebook's thread keeps the process's count


def test_equal_seeds_give_equal_weights_with_sized_threads(automatic_two) -> None:
    from halign_widgets.models import SmallCNN

    weights = []
    for _ in range(2):
        torch.manual_seed(0)
        model = SmallCNN(in_channels=1, width=4, depth=2)
        x, y = torch.rand(32, 1, 16, 16), torch.randint(0, 2, (32,))
        trainer, _ = _recording_fit(model, x, y)
        trainer.fit()
        weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(weights[0], weights[1])


def test_activation_maximization_and_suny_size_their_loops(automatic_two) -> None:
    from halign_widgets.explain import activation_maximization, suny
    from halign_widgets.models import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(in_channels=1, width=4, depth=2)
    seen: dict[str, set[int]] = {"actmax": set(), "suny": set()}
    activation_maximization(model, "class:1", size=16, steps=3,
                            callback=lambda step, image, value: seen["actmax"].add(torch.get_num_threads()))
    suny(model, torch.rand(1, 1, 16, 16), causes="patches", grid=2, pool=4,
         progress=lambda done: seen["suny"].add(torch.get_num_threads()))
    assert seen == {"actmax": {1}, "suny": {1}}                # one image, a few small forwards: one thread
    assert torch.get_num_threads() == 2
