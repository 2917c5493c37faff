"""A killed run resumes: SIGKILL a real ``seqgan-gym train`` process in each phase (and Ctrl-C it),
``--resume`` it, and compare its metrics and checkpoints with an uninterrupted run's, bit for bit.

The longer version (many kills at random moments) is ``benchmarks/kill_resume.py``.
"""

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from runs import default_ctrl_c, logged_rows, outcome, run_env, train_command

from seqgan_gym.experiment.log import PAUSE_ENV_VAR

# a smoke run long enough to be caught in each phase; one thread, so the numbers repeat exactly
ARGS = ["--preset", "smoke", "--seed", "5", "--threads", "1", "--no-progress", "--no-estimate",
        "--set", "dis_pretrain_steps=3", "--set", "adv_iterations=4", "--set", "eval_every=2",
        "--set", "n_train=256", "--set", "dis_negatives=128", "--set", "num_envs=8"]


def _stop_at(run_dir: Path, phase: str, step: int, sig: int, extra: tuple[str, ...] = ()) -> subprocess.Popen:
    """Start a run that pauses right after logging ``phase`` at ``step`` (``SEQGAN_GYM_PAUSE_AT``),
    wait for it to get there, and send ``sig``: the signal lands at that point, whatever the load."""
    env = {**run_env(), PAUSE_ENV_VAR: f"{phase},{step}"}
    process = subprocess.Popen(train_command(*ARGS, *extra, "--run-dir", str(run_dir)), env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=default_ctrl_c)
    while not (run_dir / "paused").exists():
        assert process.poll() is None, f"the run ended before {phase} {step}: {process.stderr.read()}"
        time.sleep(0.02)
    process.send_signal(sig)
    process.stdout_text, process.stderr_text = process.communicate(timeout=120)
    (run_dir / "paused").unlink()
    return process


def _resume(run_dir: Path) -> subprocess.CompletedProcess:
    args = ("--resume", str(run_dir), "--threads", "1", "--no-progress", "--no-estimate")
    done = subprocess.run(train_command(*args),
                          env=run_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict:
    run_dir = tmp_path_factory.mktemp("runs") / "whole"
    subprocess.run(train_command(*ARGS, "--run-dir", str(run_dir)), env=run_env(), check=True,
                   capture_output=True)
    return outcome(run_dir)


@pytest.mark.parametrize("phase, step", [("mle", 2), ("dis_pretrain", 2), ("adversarial", 3)])
def test_a_run_killed_in_any_phase_resumes_to_the_same_numbers(tmp_path, uninterrupted, phase, step):
    run_dir = tmp_path / "run"
    killed = _stop_at(run_dir, phase, step, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    before = len(logged_rows(run_dir))
    done = _resume(run_dir)
    assert "resuming" in done.stdout
    assert len(logged_rows(run_dir)) > before
    assert outcome(run_dir) == uninterrupted
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    assert not list((run_dir / "checkpoints").glob(".*.tmp"))  # no temp file left behind
    assert not (run_dir / "checkpoints" / "resume.pt").exists()  # a completed run never resumes
    if phase == "adversarial":  # SB3's log of the stopped part is kept beside the new one
        assert (run_dir / "sb3" / "progress.1.csv").is_file() and (run_dir / "sb3" / "progress.csv").is_file()


def test_ctrl_c_exits_130_with_one_line_saying_how_to_resume(tmp_path, uninterrupted):
    run_dir = tmp_path / "run"
    stopped = _stop_at(run_dir, "adversarial", 2, signal.SIGINT)
    assert stopped.returncode == 130
    message = stopped.stderr_text.strip().splitlines()
    assert len(message) == 1 and f"--resume {run_dir}" in message[0], stopped.stderr_text
    summary = json.loads((run_dir / "summary.json").read_text())
    # the signal came right after iteration 2's row, before its checkpoint: it resumes from step 1
    assert summary["status"] == "interrupted"
    assert summary["resume_from"] == "adversarial step 1", summary
    _resume(run_dir)
    assert outcome(run_dir) == uninterrupted


def test_resume_refuses_other_settings_and_a_completed_run(tmp_path):
    run_dir = tmp_path / "run"
    subprocess.run(train_command("--preset", "smoke", "--threads", "1", "--no-progress", "--set",
                                 "mle_epochs=1",
                            "--set", "adv_iterations=1", "--run-dir", str(run_dir)),
                   env=run_env(), check=True, capture_output=True)
    for extra, message in ((["--seed", "3"], "drop --seed"), ([], "has completed"),
                           (["--set", "k=2"], "drop --set")):
        done = subprocess.run(train_command("--resume", str(run_dir), *extra), env=run_env(),
                              capture_output=True,
                              text=True)
        assert done.returncode == 2 and message in done.stderr, done.stderr
    done = subprocess.run(train_command("--resume", str(tmp_path)), env=run_env(), capture_output=True,
                          text=True)
    assert done.returncode == 2 and "not a seqgan-gym train run" in done.stderr


def _killed_and_resumed(tmp_path: Path, extra: list[str], phase: str, step: int) -> tuple[dict, dict]:
    """Run ``ARGS + extra`` whole, and again killed (SIGKILL) right after it logged ``phase`` ``step``
    and resumed: the two outcomes."""
    whole = tmp_path / "whole"
    subprocess.run(train_command(*ARGS, *extra, "--run-dir", str(whole)), env=run_env(), check=True,
                   capture_output=True)
    run_dir = tmp_path / "run"
    killed = _stop_at(run_dir, phase, step, signal.SIGKILL, tuple(extra))
    assert killed.returncode == -signal.SIGKILL
    _resume(run_dir)
    return outcome(run_dir), outcome(whole)


def test_a_killed_ppo_run_resumes_to_the_same_numbers(tmp_path):
    """SB3's state (policy, optimizer, counters, the environment's episode) and torch's and numpy's
    global random states, which SB3 samples actions and mini-batches from, are saved too."""
    ppo = ["--algo", "ppo", "--set", "mle_epochs=1"]
    resumed, whole = _killed_and_resumed(tmp_path, ppo, "adversarial", 3)
    assert resumed == whole


@pytest.mark.parametrize("strategy, phase, step", [("critic", "adversarial", 3),
                                                   ("prefix_discriminator", "dis_pretrain", 2)])
def test_a_killed_run_with_a_learned_intermediate_reward_resumes(tmp_path, strategy, phase, step):
    """The learned intermediate reward (its weights, Adam state, mini-batch stream; the critic's
    online updates) is in resume.pt: killed in the adversarial phase or in its pre-training beside
    D, the run resumes to the uninterrupted run's numbers."""
    resumed, whole = _killed_and_resumed(
        tmp_path, ["--set", f"intermediate_reward={strategy}", "--set", "mle_epochs=2"], phase, step)
    assert resumed == whole


def test_a_run_directory_is_written_by_one_process_at_a_time(tmp_path):
    from seqgan_gym.experiment.log import RunLog

    first = RunLog(tmp_path / "run", tensorboard=False)
    first.log("mle", 0, nll_test=1.0)
    with pytest.raises(FileExistsError, match="being written by another process"):
        RunLog(tmp_path / "run", tensorboard=False, resume_rows=1)
    first.close()
    again = RunLog(tmp_path / "run", tensorboard=False, resume_rows=1)  # free once the first closed
    assert again.rows == [{"phase": "mle", "step": 0, "wall_s": again.rows[0]["wall_s"], "nll_test": 1.0}]
    again.close()
