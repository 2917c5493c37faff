"""``seqgan-gym sweep``: the spec, the aggregation (against scipy, on made-up runs), the one-line
errors (bad specs, no Ray), and a real two-trial sweep under local Ray in which one trial's Ray
worker is killed and the trial resumes to the same numbers as an uninterrupted run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from seqgan_gym.experiment.log import METRIC_COLUMNS
from seqgan_gym.run.cli import main
from seqgan_gym.run.sweep import expand_trials, load_spec
from seqgan_gym.run.sweep_report import load_run, summarise, write_report

SPEC = """
name = "two"
preset = "smoke"
seeds = [0]
baseline = "k1"
[set]
adv_iterations = 8
eval_every = 2
[[configs]]
name = "k1"
k = 1
[[configs]]
name = "k2"
k = 2
"""


def _spec(tmp_path: Path, text: str = SPEC) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------ spec
def test_spec_expands_configs_times_grid_times_seeds(tmp_path):
    spec = load_spec(_spec(tmp_path, """
preset = "smoke"
seeds = [3, 4]
[set]
adv_iterations = 2
[[configs]]
name = "a"
k = 1
[[configs]]
name = "b"
k = 2
[grid]
algo = ["reinforce", "ppo"]
"""))
    assert list(spec["configurations"]) == ["a,algo=reinforce", "a,algo=ppo", "b,algo=reinforce",
                                            "b,algo=ppo"]
    assert spec["baseline"] == "a,algo=reinforce"  # the first, when none is named
    trials = expand_trials(spec, tmp_path / "out")
    assert [t["name"] for t in trials][:2] == ["a,algo=reinforce-seed3", "a,algo=reinforce-seed4"]
    assert trials[-1]["argv"] == ["--preset", "smoke", "--seed", "4", "--set", "adv_iterations=2",
                                  "--set", "k=2", "--set", "algo=ppo"]
    assert trials[-1]["run_dir"] == str((tmp_path / "out" / "runs" / "b,algo=ppo-seed4").resolve())


@pytest.mark.parametrize("text, message", [
    ('preset = "smoke"\nseedz = [0]', "unknown key(s) seedz"),
    ('preset = "smoke"\n[set]\nseed = 1', "list the seeds in `seeds = [...]`"),
    ('preset = "smoke"\nseeds = [0, 0]', "seeds must be a list of distinct integers"),
    ('preset = "nope"', "unknown preset 'nope'"),
    ('preset = "smoke"\nbaseline = "x"\n[[configs]]\nname = "a"\nk = 1', "baseline 'x' is none of"),
    ('preset = "smoke"\n[[configs]]\nname = "a"\nk = 1\n[[configs]]\nname = "a"\nk = 2',
     "two configurations are named 'a'"),
    ('preset = "smoke"\n[[configs]]\nname = "a"\ngsteps = 1',
     "configuration 'a': unknown config field 'gsteps'"),
    ('preset = "smoke"\n[[configs]]\nname = "a"\nk = 0', "configuration 'a': k must be >= 1"),
    ('preset = "smoke"\n[grid]\nalgo = ["reinforce", "sarsa"]', "algo must be one of"),
    ('preset = "smoke"\nmetric = "loss"', "metric must be one of"),
    ('preset = "smoke"\ngenerator_checkpoint = "no/such/G.pt"', "generator_checkpoint"),
    ('preset = [1', "not valid TOML"),
])
def test_a_bad_spec_gets_one_line_before_any_work(tmp_path, capsys, text, message):
    assert main(["sweep", str(_spec(tmp_path, text)), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seqgan-gym: error: ") and message in err and "\n" not in err, err
    assert not (tmp_path / "out").exists()


def test_without_ray_the_command_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.setitem(sys.modules, "ray.tune", None)
    assert main(["sweep", str(_spec(tmp_path)), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("seqgan-gym: error: seqgan-gym sweep runs on Ray Tune, an optional extra: "
                   "pip install 'seqgan-gym[ray]' (from a checkout: pip install -e '.[ray]')")
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------- aggregation
def _record(config: str, seed: int, start: float, end: float, test_end: float, score=0.5, wall=10.0):
    return {"config": config, "seed": seed, "start": {"nll_oracle": start, "nll_test": 4.0},
            "end": {"nll_oracle": end, "nll_test": test_end}, "final_score": score, "wall_s": wall}


def test_summary_means_std_and_welch_p_equal_scipys():
    stats = pytest.importorskip("scipy.stats", reason="the p-values need scipy (pip install -e '.[ray]')")
    base_end, other_end = [6.0, 6.3, 6.1], [5.5, 5.9, 5.6, 5.65]
    records = ([_record("base", s, 7.0 + 0.01 * s, e, 4.5 + e / 10) for s, e in enumerate(base_end)]
               + [_record("other", s, 7.0, e, 4.2 + 0.05 * s, score=0.1 * s, wall=20.0 + s)
                  for s, e in enumerate(other_end)]
               + [_record("single", 0, 7.0, 5.0, 4.0)])
    summary = summarise(records, baseline="base", metric="nll_oracle")
    other = summary["other"]["metrics"]["nll_oracle"]
    assert summary["other"]["n"] == 4 and summary["other"]["seeds"] == [0, 1, 2, 3]
    assert other["end_mean"] == pytest.approx(np.mean(other_end))
    assert other["end_std"] == pytest.approx(np.std(other_end, ddof=1))
    assert other["change_mean"] == pytest.approx(np.mean(other_end) - 7.0)
    welch = stats.ttest_ind(other_end, base_end, equal_var=False).pvalue
    assert other["p_vs_baseline"] == pytest.approx(welch, rel=1e-12)
    test_p = summary["other"]["metrics"]["nll_test"]["p_vs_baseline"]
    welch = stats.ttest_ind([4.2 + 0.05 * s for s in range(4)], [4.5 + e / 10 for e in base_end],
                            equal_var=False).pvalue
    assert test_p == pytest.approx(welch, rel=1e-12)
    base = summary["base"]["metrics"]["nll_oracle"]
    assert base["start_mean"] == pytest.approx(7.01) and base["p_vs_baseline"] is None
    assert summary["other"]["final_score_mean"] == pytest.approx(0.15)
    assert summary["other"]["wall_s_mean"] == pytest.approx(21.5)
    single = summary["single"]["metrics"]["nll_oracle"]
    assert single["end_std"] is None and single["p_vs_baseline"] is None  # one seed: no spread, no test


def _fake_run(run_dir: Path, ends: list[tuple[int, float, float]], g_steps: int = 1, status="completed"):
    """A run directory as `seqgan-gym train` writes one: an MLE row, then adversarial rows
    (step, nll_oracle, nll_test)."""
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"config": {"g_steps": g_steps}}))
    (run_dir / "summary.json").write_text(json.dumps({"status": status, "wall_s": 12.5}))
    with open(run_dir / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS)
        writer.writeheader()
        writer.writerow({"phase": "mle", "step": 0, "wall_s": 0.1, "nll_oracle": 9.0, "nll_test": 8.0})
        for step, oracle, test in ends:  # odd steps: no evaluation
            evaluation = {"nll_oracle": oracle, "nll_test": test} if step % 2 == 0 else {}
            writer.writerow({"phase": "adversarial", "step": step, "wall_s": step,
                             "final_score": 0.3 if step % 2 == 0 else 0.25, **evaluation})


def test_report_from_run_directories_table_json_and_figure(tmp_path):
    spec = load_spec(_spec(tmp_path))
    spec.update(metric="nll_oracle", mode="min", x_axis="generator_updates")
    out = tmp_path / "out"
    trials = expand_trials(spec, out)
    for i, trial in enumerate(trials):
        _fake_run(Path(trial["run_dir"]), [(0, 7.0, 5.0), (1, 0, 0), (2, 6.5 - i, 5.1)], g_steps=3)
    missing = {**trials[0], "name": "k1-seed9", "seed": 9, "run_dir": str(out / "runs" / "k1-seed9")}
    report = write_report(out, spec, trials + [missing])
    run = load_run(trials[1]["run_dir"], "generator_updates")
    assert [p["x"] for p in run["curve"]] == [0, 6]  # iteration x g_steps
    assert run["start"]["nll_oracle"] == 7.0 and run["end"]["nll_oracle"] == 5.5 and run["final_score"] == 0.3
    lines = (out / "sweep.md").read_text().splitlines()
    assert lines[0].startswith("Sweep `two`: smoke preset, seeds [0], 2 configurations")
    assert ("| **`k1`** (baseline) | 1 | 7.000 → 6.500 | -0.500 | 5.000 → 5.100 | 0.300 | — | 12 | "
            "1 (1 not completed: seed 9) |") in lines
    assert "| `k2` | 2 | 7.000 → 5.500 | -1.500 | 5.000 → 5.100 | 0.300 | — | 12 | 1 |" in lines
    saved = json.loads((out / "sweep.json").read_text())
    assert saved["summary"]["k2"]["metrics"]["nll_oracle"]["end_values"] == [5.5]
    assert [t["completed"] for t in saved["trials"]] == [True, True, False]
    assert report["summary"].keys() == {"k1", "k2"} and report["incomplete"] == ["k1-seed9"]
    assert (out / "sweep.png").stat().st_size > 10_000


# ------------------------------------------------------------------------------ a real Ray sweep
def _outcome(run_dir: Path) -> list[list[str]]:
    """metrics.csv without its wall-time column."""
    return [row[:2] + row[3:] for row in csv.reader((run_dir / "metrics.csv").read_text().splitlines())]


# two configurations with the same settings: `whole` is the uninterrupted run that `killed` must equal
RAY_SPEC = """
name = "killed"
preset = "smoke"
seeds = [0]
baseline = "whole"
[set]
adv_iterations = 8
eval_every = 2
[[configs]]
name = "whole"
[[configs]]
name = "killed"
"""


def test_a_ray_sweep_with_a_killed_worker(tmp_path, capsys):
    """One sweep, three checks (one test, so that pytest-xdist never runs the sweep twice)."""
    killed_sweep = _killed_sweep(tmp_path)
    _the_sweep_runs_every_trial_under_ray_and_writes_the_table(killed_sweep)
    _a_trial_whose_worker_is_killed_resumes_to_the_same_numbers(killed_sweep)
    _report_only_rewrites_the_same_table_without_ray(killed_sweep, capsys)


def _killed_sweep(tmp):
    """A two-trial sweep on the smoke preset under local Ray, 1 CPU and 1 thread per trial; the Ray
    worker running trial `killed` is SIGKILLed once its run has logged adversarial iteration 3."""
    pytest.importorskip("ray.tune", reason="needs Ray Tune (pip install -e '.[ray]'; .ci/run installs it)")
    spec, out = _spec(tmp, RAY_SPEC), tmp / "out"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "RAY_USAGE_STATS_ENABLED": "0"}
    start = time.time()
    sweep = subprocess.Popen([sys.executable, "-m", "seqgan_gym.run.cli", "sweep", str(spec),
                              "--out", str(out),
                              "--cpus-per-trial", "1"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    status, metrics = out / "trials" / "killed-seed0.json", out / "runs" / "killed-seed0" / "metrics.csv"
    killed = None
    while time.time() - start < 600 and sweep.poll() is None:  # generous: a loaded machine is slow
        rows = metrics.read_text().splitlines() if metrics.is_file() else []
        if any(row.startswith("adversarial,3,") for row in rows):
            killed = json.loads(status.read_text())["attempts"][-1]["worker_pid"]
            os.kill(killed, signal.SIGKILL)
            break
        time.sleep(0.05)
    output, _ = sweep.communicate(timeout=400)
    return {"out": out, "spec": spec, "returncode": sweep.returncode, "output": output, "killed": killed}


def _the_sweep_runs_every_trial_under_ray_and_writes_the_table(killed_sweep):
    out = killed_sweep["out"]
    assert killed_sweep["returncode"] == 0, killed_sweep["output"][-3000:]
    table = (out / "sweep.md").read_text()
    assert table.index("| **`whole`** (baseline) | 6.336 → ") < table.index("| `killed` | 6.336 → ")
    assert ("Restarted trials: killed-seed0 (attempt 2: resumed from checkpoints/resume.pt, after "
            "adversarial step") in table
    summary = json.loads((out / "sweep.json").read_text())["summary"]
    assert summary["killed"]["n"] == summary["whole"]["n"] == 1
    assert (out / "sweep.png").is_file()
    # Tune received every evaluation of each trial (MLE epochs 0, 2, 4; iterations 0, 2, ..., 8)
    results = [json.loads(line) for line in next((out / "ray").glob("tune-*/whole-seed0/result.json"))
               .read_text().splitlines()]
    assert [(r["phase"], r["step"]) for r in results] == (
        [("mle", s) for s in (0, 2, 4)] + [("adversarial", s) for s in (0, 2, 4, 6, 8)])
    assert all("nll_oracle" in r and "nll_test" in r for r in results)


def _a_trial_whose_worker_is_killed_resumes_to_the_same_numbers(killed_sweep):
    assert killed_sweep["killed"] is not None, "the trial finished before its worker could be killed"
    out = killed_sweep["out"]
    attempts = json.loads((out / "trials" / "killed-seed0.json").read_text())["attempts"]
    assert [a["how"] for a in attempts] == ["fresh", "resumed from checkpoints/resume.pt"]
    assert attempts[0]["worker_pid"] == killed_sweep["killed"]
    assert attempts[0]["end"] == "did not end: its process or Ray worker was killed or stopped"
    assert attempts[1]["end"] == "completed" and attempts[1]["resumed_after"].startswith("adversarial step ")
    whole = json.loads((out / "trials" / "whole-seed0.json").read_text())["attempts"]
    assert [a["how"] for a in whole] == ["fresh"]
    # the same settings, one thread each: the resumed run equals the uninterrupted one row for row
    assert _outcome(out / "runs" / "killed-seed0") == _outcome(out / "runs" / "whole-seed0")


def _report_only_rewrites_the_same_table_without_ray(killed_sweep, capsys):
    out = killed_sweep["out"]
    table = (out / "sweep.md").read_text()
    (out / "sweep.md").unlink()
    assert main(["sweep", str(killed_sweep["spec"]), "--out", str(out), "--report-only"]) == 0
    assert (out / "sweep.md").read_text() == table  # rows in the spec's order, as the sweep wrote them
