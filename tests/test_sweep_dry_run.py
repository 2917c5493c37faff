"""``seqgan-gym sweep SPEC --dry-run`` (seqgan_gym.run.sweep_plan): the bundled paper study's trial list,
its CPU- and GPU-hours and its wall time on clusters of several sizes, without Ray and without
timing anything (the calibration is replaced by fixed unit costs), and the packing arithmetic."""

from __future__ import annotations

import re
import sys

import pytest
import torch

from seqgan_gym.run import estimate
from seqgan_gym.run.cli import main
from seqgan_gym.run.sweep_plan import _wall, lower_bound, pack, trials_per_node

# fixed unit costs: the dry run's arithmetic, not this machine's speed
UNITS = estimate.UnitCosts(sample=2e-4, score=1e-4, mle_batch=0.02, g_update=3.0, d_batch=0.05,
                           d_score=1e-4, loglik=1e-4, checkpoint_per_mb=0.01,
                           checkpoint_mb={"mle": 1.0, "dis_pretrain": 2.0, "adversarial": 3.0},
                           calibration_s=0.5)
PAPER_STUDY = [f"{config}-seed{seed}" for config in ("g1-d5-k3", "g1-d1-k10", "g30-d1-k30", "g100-d1-k10",
                                                     "pg_bleu", "mle", "random") for seed in (0, 1, 2)]
WALL = re.compile(r"(?:(\d+) d )?(?:(\d+):)?(\d+):(\d\d)")


def _seconds(text: str) -> int:
    days, hours, minutes, seconds = (int(g or 0) for g in WALL.fullmatch(text).groups())
    return ((days * 24 + hours) * 60 + minutes) * 60 + seconds


@pytest.fixture
def calibrations(monkeypatch, tmp_path):
    """No Ray, no timing: the calibration returns UNITS (through estimate.calibrate's cache, which
    starts empty) and records each key it was asked for; the working folder is an empty one."""
    keys = []

    def fake(cfg, slice_rows, slice_envs):
        keys.append((estimate.calibration_key(cfg), torch.get_num_threads()))
        return UNITS

    monkeypatch.setattr(estimate, "_CACHE", {})
    monkeypatch.setattr(estimate, "_calibrate", fake)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` would raise ImportError
    monkeypatch.chdir(tmp_path)
    return keys


def _table(output: str) -> dict[int, tuple[int, int, int, int]]:
    """nodes -> (trials at once, wall, longest first, lower bound), in seconds."""
    time = r"((?:\d+ d )?[\d:]+)"
    rows = re.findall(rf"^\s*(\d+)\s+(\d+)\s+{time}\s+{time}\s+{time}$", output, flags=re.M)
    return {int(n): (int(at_once), *(_seconds(t) for t in times)) for n, at_once, *times in rows}


def test_the_paper_study_dry_run_lists_its_trials_hours_and_wall_times(calibrations, capsys, tmp_path):
    assert main(["sweep", "paper-study", "--dry-run", "--nodes", "1", "2", "4", "16", "--cpus-per-node",
                 "2"]) == 0
    output = capsys.readouterr().out
    assert output.startswith("[dry run] sweep paper_study: 7 configurations x 3 seeds = 21 trials, paper "
                             "preset;")
    listed = re.findall(r"^(\S+-seed\d)\s+([\d: d]+?)\s{2}", output, flags=re.M)
    assert [name for name, _ in listed] == PAPER_STUDY
    times = {name: _seconds(t.strip()) for name, t in listed}
    # no MLE and no adversarial phase < MLE only < MLE + PG-BLEU < SeqGAN (its D)
    assert times["random-seed0"] < times["mle-seed0"] < times["pg_bleu-seed0"] < times["g1-d5-k3-seed0"]
    assert times["g1-d1-k10-seed1"] == times["g1-d1-k10-seed0"]  # the seeds cost the same
    # two calibrations, one per distinct reward (seeds and schedules share theirs), at 1 thread
    assert len(calibrations) == 2 and {threads for _, threads in calibrations} == {1}
    hours = float(re.search(r"^CPU-hours: ([\d,.]+) h \(1 CPU\(s\) per trial", output, flags=re.M)[1])
    assert hours == pytest.approx(sum(times.values()) / 3600, abs=0.06)
    assert "GPU-hours: 0 (--gpus-per-trial 0" in output
    assert "Ray is not installed here" in output
    table = _table(output)
    assert list(table) == [1, 2, 4, 16]
    assert [table[n][0] for n in (1, 2, 4, 16)] == [2, 4, 8, 21]  # 2 CPUs per node, 1 per trial
    walls = [table[n][1] for n in (1, 2, 4, 16)]
    # more nodes, less wall time, down to the longest trial (16 nodes: every trial at once)
    longest = max(times.values())
    assert all(more < fewer or more == fewer == longest for fewer, more in zip(walls, walls[1:])), walls
    assert walls[0] > walls[1] and walls[-1] == longest
    for _, wall, longest_first, bound in table.values():
        assert wall >= longest_first >= bound - 1
    assert table[1][3] == pytest.approx(sum(times.values()) / 2, abs=11)
    assert "Method: wall: the trials in the sweep's order" in output
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_gpu_hours_come_from_the_gpu_or_are_not_given(calibrations, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["sweep", "paper-study", "--dry-run", "--gpus-per-trial", "0.5", "--cpus-per-node", "2"]) == 0
    output = capsys.readouterr().out
    assert "GPU-hours: no estimate (no CUDA device on this machine)" in output
    assert "there is no GPU estimate here" in output and "Wall time on nodes" not in output
    # with a GPU (faked: the calibration is fixed anyway) it is calibrated on CUDA and the nodes are
    # packed by GPUs too: 1 GPU per node, 0.5 per trial -> 2 trials per node
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Fake GPU")
    assert main(["sweep", "paper-study", "--dry-run", "--gpus-per-trial", "0.5", "--cpus-per-node", "4",
                 "--nodes", "1", "2"]) == 0
    output = capsys.readouterr().out
    assert {key[_device_index()] for key, _ in calibrations[-2:]} == {"cuda"}
    cpu = float(re.search(r"^CPU-hours: ([\d,.]+) h", output, flags=re.M)[1])
    gpu = float(re.search(r"^GPU-hours: ([\d,.]+) h \(0.5 GPU\(s\) per trial", output, flags=re.M)[1])
    assert gpu == pytest.approx(cpu / 2, abs=0.06)
    assert "Fake GPU" in output and "and 1 GPU(s), 1 CPU(s) and 0.5 GPU(s) per trial: 2 trial(s) at a time" \
        in output
    assert [row[0] for row in _table(output).values()] == [2, 4]


def _device_index() -> int:
    return estimate._SIZE_FIELDS.index("device")


@pytest.mark.parametrize("argv, message", [
    (["--nodes", "4"], "--nodes describe a cluster for --dry-run's wall-time estimate; add --dry-run"),
    (["--dry-run", "--resume"], "--dry-run starts nothing and writes nothing"),
    (["--dry-run", "--nodes", "0"], "--nodes must be one or more node counts >= 1"),
    (["--dry-run", "--cpus-per-trial", "4", "--cpus-per-node", "2"],
     "a node of 2 CPU(s) and 0 GPU(s) cannot hold one trial of 4 CPU(s)"),
])
def test_the_dry_runs_own_options_get_one_line(calibrations, capsys, argv, message):
    assert main(["sweep", "schedules", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seqgan-gym: error: ") and message in err and "\n" not in err, err


def test_a_bad_spec_fails_the_dry_run_as_it_fails_a_sweep(calibrations, capsys, tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text('preset = "smoke"\n[[configs]]\nname = "a"\nk = 0\n')
    assert main(["sweep", str(spec), "--dry-run"]) == 2
    assert "configuration 'a': k must be >= 1" in capsys.readouterr().err
    assert calibrations == []


def test_packing_in_order_longest_first_and_the_lower_bound():
    assert trials_per_node(2, 0, 1, 0) == 2 and trials_per_node(16, 2, 2, 0.5) == 4
    assert trials_per_node(16, 1, 1, 1) == 1 and trials_per_node(3, 0, 2, 0) == 1
    assert pack([3, 1, 1, 1], 2) == 3  # 3 | 1 + 1 + 1
    assert pack([1, 1, 1, 3], 2) == 4  # the long trial starts last
    assert pack(sorted([1, 1, 1, 3], reverse=True), 2) == 3 == lower_bound([1, 1, 1, 3], 2)
    assert pack([5, 5], 8) == 5 and lower_bound([2, 2, 2, 2], 2) == 4
    assert [_wall(s) for s in (59, 3600, 86400 + 44 * 60 + 25, 3 * 86400 + 8 * 3600)] == [
        "0:59", "1:00:00", "1 d 00:44:25", "3 d 08:00:00"]
