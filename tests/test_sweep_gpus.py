"""``seqgan-gym sweep --gpus-per-trial`` on a local Ray that declares two GPUs this machine does not
have (``ray.init(num_gpus=2)``): Tune packs the trials as requested (0.5 GPU: four trials at once on
two GPUs; 1 GPU: two at once), and each trial's training process sees the ``CUDA_VISIBLE_DEVICES``
Ray gave it, which the sweep also records in the trial's attempts.

The training runs are the smoke preset with no MLE epoch and no adversarial iteration, trained by a
stand-in agent (``algo = "file.py:Class"``) that is REINFORCE plus a barrier: built in each trial's
training process, it records what it sees and waits until as many trials as the packing allows are
running together (or every trial has started), so that how many ran at once is counted, not timed."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

from seqgan_gym.run.cli import main

AGENT = '''
import json, os, time
from pathlib import Path

from seqgan_gym.agents.reinforce import Reinforce

BARRIER = Path({barrier!r})
WAITED = []  # the run builds the agent twice (its time estimate times an update first): wait once


class BarrierAgent(Reinforce):
    """REINFORCE; built, it waits until `expected` trials run at once (or all have started)."""

    def __init__(self, generator, env, seed=0, config=None):
        super().__init__(generator, env, seed=seed)
        if WAITED:
            return
        WAITED.append(True)
        me = BARRIER / f"start-{{os.getpid()}}"
        me.write_text(os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>"))
        expected, total = (int(x) for x in (BARRIER / "plan").read_text().split())
        most, deadline = 0, time.time() + 45
        while time.time() < deadline:
            started = len(list(BARRIER.glob("start-*")))
            running = started - len(list(BARRIER.glob("end-*")))
            most = max(most, running)
            if most >= expected or started >= total:
                break
            time.sleep(0.05)
        time.sleep(0.3)  # a trial that should not have started yet would be counted now
        most = max(most, len(list(BARRIER.glob("start-*"))) - len(list(BARRIER.glob("end-*"))))
        (BARRIER / f"end-{{os.getpid()}}").write_text(json.dumps({{
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), "most_at_once": most}}))
'''

SPEC = '''
name = "gpus"
preset = "smoke"
seeds = [{seeds}]
[set]
mle_epochs = 0
adv_iterations = 0
reward = "bleu"
algo = "{agent}:BarrierAgent"
device = "cpu"  # the declared GPUs are not there: a trial given one on device auto stops the sweep
'''


@pytest.fixture(scope="module")
def fake_gpu_ray():
    """A local Ray with 4 CPUs and 2 declared GPUs, shared by the sweeps (each joins it)."""
    ray = pytest.importorskip("ray", reason="needs Ray Tune (pip install -e '.[ray]'; .ci/run installs it)")
    pytest.importorskip("ray.tune", reason="needs Ray Tune (pip install -e '.[ray]')")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=4, num_gpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("gpus_per_trial, trials, at_once", [(0.5, 4, 4), (1, 3, 2)])
def test_trials_are_packed_per_gpus_per_trial_and_see_their_gpu(fake_gpu_ray, tmp_path, capsys,
                                                                monkeypatch, gpus_per_trial, trials, at_once):
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    (barrier / "plan").write_text(f"{at_once} {trials}")
    agent = tmp_path / "barrier_agent.py"
    agent.write_text(AGENT.format(barrier=str(barrier)))
    spec = tmp_path / "gpus.toml"
    spec.write_text(SPEC.format(seeds=", ".join(map(str, range(trials))), agent=agent))
    out = tmp_path / "out"
    code = main(["sweep", str(spec), "--out", str(out), "--cpus-per-trial", "1",
                 "--gpus-per-trial", str(gpus_per_trial), "--max-failures", "0"])
    output = capsys.readouterr().out
    assert code == 0, output[-3000:]
    assert f"4 CPUs and 2 GPUs; 1 CPU(s) and torch thread(s), {gpus_per_trial:g} GPU(s) per trial, so " \
           f"{at_once} at a time" in output
    seen = [json.loads(p.read_text()) for p in sorted(barrier.glob("end-*"))]
    assert len(seen) == trials
    # packed as requested: this many at once, never more
    assert max(s["most_at_once"] for s in seen) == at_once, seen
    # each training process saw one of the declared GPUs, as Ray assigned it: with 0.5 two trials
    # share each GPU; with 1, the two running together have one each
    devices = Counter(s["cuda_visible_devices"] for s in seen)
    assert set(devices) <= {"0", "1"}, devices
    if gpus_per_trial == 0.5:
        assert devices == {"0": 2, "1": 2}, devices
    else:
        assert len(devices) == 2, devices
    # the sweep records the device in each trial's attempt, as the training process saw it
    recorded = Counter(json.loads(p.read_text())["attempts"][0]["cuda_visible_devices"]
                       for p in (out / "trials").glob("*.json"))
    assert recorded == devices
    assert all(Path(out, "runs", f"base-seed{s}", "summary.json").is_file() for s in range(trials))


def test_a_trial_without_a_gpu_is_shown_none(fake_gpu_ray):
    """Ray leaves CUDA_VISIBLE_DEVICES as the node's for a worker that reserved no GPU (where
    `train --device auto` would take GPU 0); the sweep's trial hides them, as the sweep's trials do
    (seqgan_gym.run.sweep.run_trial). A worker given a GPU keeps the one Ray set."""
    from seqgan_gym.run.sweep import hide_unreserved_gpus

    def seen() -> tuple[str | None, str | None]:
        before = os.environ.get("CUDA_VISIBLE_DEVICES")
        hide_unreserved_gpus()
        return before, os.environ.get("CUDA_VISIBLE_DEVICES")

    without = fake_gpu_ray.remote(num_cpus=1, num_gpus=0)(seen)
    with_one = fake_gpu_ray.remote(num_cpus=1, num_gpus=1)(seen)
    before, after = fake_gpu_ray.get(without.remote())
    assert before != "" and after == ""  # Ray 2.60 leaves it unset at 0 GPUs
    before, after = fake_gpu_ray.get(with_one.remote())
    assert before == after and after in ("0", "1")
