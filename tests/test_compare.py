"""``seqgan-gym compare``: 2 rewards x 2 seeds of real smoke-size ``train`` runs, two at a time,
without Ray. The table, JSON and figure hold the runs' own numbers; ``examples/compare_rewards.py``
(the same comparison, from Python) keeps the finished runs; a run killed after a checkpoint resumes
to the numbers of the uninterrupted one; on Ray (where installed) the same runs give the same
numbers; the one-line refusals.

The runs happen in one test (not a module fixture), so that pytest-xdist never runs them twice."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqgan_gym.run.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "compare_rewards.py"
ARGS = runpy.run_path(str(EXAMPLE))["ARGS"]  # the example's comparison: smoke preset, cut further
SETS = [a for i, a in enumerate(ARGS) if a == "--set" or ARGS[i - 1] == "--set"]
REWARDS, SEEDS = ["discriminator", "bleu"], [0, 1]
COMMAND = str(Path(sys.executable).with_name("seqgan-gym"))  # the installed command, as a user runs it
KILL_AFTER_CHECKPOINT = """\
import os, signal, sys
from seqgan_gym.experiment import resume
from seqgan_gym.run.cli import main
save = resume.Checkpointer.save
def save_then_die(self, step, log):
    save(self, step, log)
    if self.phase == "adversarial" and step == 1:
        os.kill(os.getpid(), signal.SIGKILL)
resume.Checkpointer.save = save_then_die
sys.exit(main(sys.argv[1:]))
"""


def _run(command: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **(env or {})},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def _evaluations(run_dir: Path) -> list[dict]:
    """The adversarial evaluation rows of a run's metrics.csv."""
    with open(run_dir / "metrics.csv", newline="") as f:
        return [row for row in csv.DictReader(f) if row["phase"] == "adversarial" and row["nll_test"]]


def _outcome(run_dir: Path) -> list[list[str]]:
    """metrics.csv without its wall-time column."""
    return [row[:2] + row[3:] for row in csv.reader((run_dir / "metrics.csv").read_text().splitlines())]


def _mtimes(out: Path, but: Path | None = None) -> dict:
    return {p: p.stat().st_mtime_ns for p in (out / "runs").glob("*/metrics.csv") if p.parent != but}


def _kill_after_checkpoint(out: Path, name: str) -> None:
    """Replace run ``name`` with the same run SIGKILLed (by itself: no timing) right after its
    checkpoint of adversarial iteration 1."""
    trial = next(t for t in json.loads((out / "sweep_spec.json").read_text())["trials"] if t["name"] == name)
    run_dir = Path(trial["run_dir"])
    shutil.rmtree(run_dir)
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_CHECKPOINT, "train", *trial["argv"],
                             "--run-dir", str(run_dir), "--threads", str(trial["threads"]), "--no-progress"],
                            env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}, capture_output=True,
                            text=True, timeout=600)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert (run_dir / "checkpoints" / "resume.pt").is_file() and not (run_dir / "summary.json").exists()


def _check_report(out: Path, stdout: str) -> None:
    """The printed table is sweep.md; it, sweep.json and sweep.png hold the runs' metrics.csv."""
    table = (out / "sweep.md").read_text()
    assert table.strip() in stdout
    summary = json.loads((out / "sweep.json").read_text())["summary"]
    assert sorted(summary) == sorted(REWARDS)
    for reward in REWARDS:
        runs = [_evaluations(out / "runs" / f"{reward}-seed{seed}") for seed in SEEDS]
        assert all(len(rows) == 4 for rows in runs)  # iterations 0 to 3, every one evaluated
        cells = []
        for metric in ("nll_oracle", "nll_test"):
            start = np.array([float(rows[0][metric]) for rows in runs])
            end = np.array([float(rows[-1][metric]) for rows in runs])
            saved = summary[reward]["metrics"][metric]
            assert saved["end_values"] == end.tolist()  # the runs' own final numbers, exactly
            assert saved["end_mean"] == pytest.approx(end.mean(), rel=1e-12)
            assert saved["end_std"] == pytest.approx(end.std(ddof=1), rel=1e-12)
            assert saved["start_mean"] == pytest.approx(start.mean(), rel=1e-12)
            cells.append(f"{start.mean():.3f} → {end.mean():.3f} ± {end.std(ddof=1):.3f}")
        assert summary[reward]["n"] == 2 and summary[reward]["seeds"] == SEEDS
        row = next(line for line in table.splitlines()
                   if line.startswith((f"| `{reward}` |", f"| **`{reward}`** (baseline) |")))
        assert all(cell in row for cell in cells) and row.endswith("| 2 |"), (row, cells)  # 2 runs
    if importlib.util.find_spec("scipy") is not None:
        assert "p: Welch's t-test of the end NLL_oracle against `discriminator`'s" in table
    else:
        assert "p: omitted, scipy is not installed (pip install scipy)" in table
    figure = (out / "sweep.png").read_bytes()
    assert figure.startswith(b"\x89PNG\r\n\x1a\n") and len(figure) > 10_000
    import matplotlib.image

    height, width, _ = matplotlib.image.imread(str(out / "sweep.png")).shape
    assert width > 1.5 * height  # two panels side by side: NLL_oracle and NLL_test


def test_compare_runs_here_reports_keeps_finished_runs_and_resumes_a_killed_one(tmp_path):
    out = tmp_path / "out"
    first = _run([COMMAND, "compare", *ARGS, "--out", str(out)])
    assert "= 4 runs (0 completed earlier, kept), smoke preset, 2 at a time on this machine" in first.stdout
    _check_report(out, first.stdout)
    assert "local processes (no Ray)" in (out / "sweep.md").read_text()
    spec = json.loads((out / "sweep_spec.json").read_text())
    assert [t["name"] for t in spec["trials"]] == [f"{r}-seed{s}" for r in REWARDS for s in SEEDS]
    assert (out / "compare.toml").is_file()

    # the example is this comparison: in the same folder it runs nothing and prints the table
    before = _mtimes(out)
    example = _run([sys.executable, str(EXAMPLE), str(out)])
    assert "= 4 runs (4 completed earlier, kept)" in example.stdout
    assert "| **`discriminator`** (baseline) | discriminator |" in example.stdout
    _check_report(out, example.stdout)
    assert _mtimes(out) == before

    # a run killed after a checkpoint: the same command again resumes it and keeps the other three
    run_dir = out / "runs" / "bleu-seed1"
    whole, others = _outcome(run_dir), _mtimes(out, but=run_dir)
    _kill_after_checkpoint(out, "bleu-seed1")
    again = _run([COMMAND, "compare", *ARGS, "--out", str(out)])
    assert "= 4 runs (3 completed earlier, kept)" in again.stdout
    assert "[sweep] bleu-seed1 attempt 2: resumed from checkpoints/resume.pt" in again.stdout
    assert _outcome(run_dir) == whole  # one thread, the same settings: row for row
    assert _mtimes(out, but=run_dir) == others
    _check_report(out, again.stdout)
    assert ("Restarted trials: bleu-seed1 (attempt 2: resumed from checkpoints/resume.pt, after "
            "adversarial step 1).") in (out / "sweep.md").read_text()


def test_on_ray_the_runs_are_the_same_and_continue_here(tmp_path):
    pytest.importorskip("ray.tune", reason="needs Ray Tune (pip install -e '.[ray]'; .ci/run installs it)")
    out = tmp_path / "out"
    args = ["compare", "--preset", "smoke", "--rewards", *REWARDS, "--seeds", "0", "--threads", "1", *SETS,
            "--out", str(out)]
    done = _run([COMMAND, *args, "--ray"], env={"RAY_USAGE_STATS_ENABLED": "0"})
    table = (out / "sweep.md").read_text()
    assert "2 at a time (1 CPU(s) and torch thread(s) each), Ray " in table and table.strip() in done.stdout
    run_dir = out / "runs" / "bleu-seed0"
    on_ray = _outcome(run_dir)
    shutil.rmtree(run_dir)  # the same comparison here, without Ray: it runs this one again, the same
    here = _run([COMMAND, *args])
    assert "= 2 runs (1 completed earlier, kept)" in here.stdout
    assert _outcome(run_dir) == on_ray


@pytest.mark.parametrize("extra, message", [
    (["--set", "seed=3"], "--set seed=...: compare sets seed itself; use --seeds"),
    (["--set", "gsteps=2"], "compare, reward discriminator: unknown config field 'gsteps'"),
    (["--set", "k=0"], "compare, reward discriminator: k must be >= 1"),
    (["--rewards", "bleu", "bleu"], "--rewards: each reward once"),
    (["--seeds", "1", "1"], "--seeds: distinct integers >= 0"),
    (["--workers", "0"], "--workers must be >= 1"),
    (["--ray", "--workers", "2"], "--workers counts runs on this machine"),
])
def test_bad_options_get_one_line_before_any_work(tmp_path, capsys, extra, message):
    assert main(["compare", "--preset", "smoke", "--out", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seqgan-gym: error: ") and message in err and "\n" not in err, err
    assert not (tmp_path / "out").exists()


def test_without_ray_the_ray_option_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    assert main(["compare", "--preset", "smoke", "--ray", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seqgan-gym: error: --ray runs the comparison on Ray Tune, an optional extra: "
                          "pip install 'seqgan-gym[ray]'") and "\n" not in err
    assert not (tmp_path / "out").exists()


def test_a_folder_with_another_comparison_or_other_files_is_refused(tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    (other / "sweep_spec.json").write_text(json.dumps({"spec": {"preset": "cpu"}, "trials": []}))
    assert main(["compare", "--preset", "smoke", "--seeds", "0", "--out", str(other)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"seqgan-gym: error: {other} holds a sweep of another spec (preset, seeds, [set] or "
        "configurations differ); pass another --out")
    files = tmp_path / "files"
    files.mkdir()
    (files / "notes.txt").write_text("mine")
    assert main(["compare", "--preset", "smoke", "--seeds", "0", "--out", str(files)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"seqgan-gym: error: {files} already exists and holds no comparison (no sweep_spec.json); "
        "pass another --out")
    assert sorted(p.name for p in files.iterdir()) == ["notes.txt"]  # nothing written there


def test_the_bundled_sweep_specs_load_by_name(tmp_path, capsys, monkeypatch):
    from seqgan_gym.run.sweep import BUNDLED, bundled_specs, load_spec

    assert bundled_specs() == ["compare-algorithms", "compare-rewards", "compare-rewards-quick",
                               "paper-study", "schedules"]
    monkeypatch.chdir(tmp_path)  # by name from any folder: the package's own files
    for name in bundled_specs():
        spec = load_spec(name)
        assert spec["name"] == name.replace("-", "_") and spec["configurations"]
    assert load_spec("compare_rewards_quick.toml")["baseline"] == "seqgan"
    assert BUNDLED == Path(__import__("seqgan_gym").__file__).parent / "run" / "sweeps"
    assert main(["sweep", "compare-reward", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip() == (
        "seqgan-gym: error: sweep spec compare-reward: no such file, and no bundled spec of that name "
        "(bundled: compare-algorithms, compare-rewards, compare-rewards-quick, paper-study, schedules)")
