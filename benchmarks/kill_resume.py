"""Kill and resume: SIGKILL real ``seqgan-gym train`` runs at random moments, ``--resume`` them, and
compare every outcome with an uninterrupted run's, bit for bit.

    .venv/bin/python benchmarks/kill_resume.py               # 12 trials, ~4 min on 2 CPUs
    .venv/bin/python benchmarks/kill_resume.py --trials 3    # quicker
    # flags: --trials N, --seed N (of the kill moments), --algo reinforce|ppo|a2c, --threads N, --out PATH

The run: the ``smoke`` preset with 3 D pre-training steps and 8 adversarial iterations (long enough
that a random moment can fall in each phase), one thread, so that numbers repeat exactly. First one
uninterrupted run, timed; then each trial starts the same run, kills it (SIGKILL) at a moment drawn
uniformly between 1 s and the uninterrupted run's wall time, resumes it (also killing the resume
once, at random, in every third trial), and compares ``metrics.csv`` (all columns but the wall
time), the final checkpoints and ``samples.txt`` with the uninterrupted run's. The fast version of
this check is ``tests/test_resume.py``.

Prints a markdown table (one row per trial: when it was killed, the phase it was in, where it
resumed from, whether everything matched) and writes ``kill_resume.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ARGS = ["--preset", "smoke", "--seed", "5", "--no-progress", "--set", "dis_pretrain_steps=3",
        "--set", "adv_iterations=8", "--set", "eval_every=2"]
FINAL_FILES = ["generator_mle.pt", "discriminator_pretrained.pt", "generator_adv.pt", "discriminator_adv.pt"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    p.add_argument("--algo", default="reinforce", choices=["reinforce", "ppo", "a2c"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="benchmarks/results/kill_resume")
    return p.parse_args()


def train(*args: str) -> list[str]:
    return [sys.executable, "-m", "seqgan_gym.run.cli", "train", *args]


def outcome(run_dir: Path) -> dict:
    lines = (run_dir / "metrics.csv").read_text().splitlines()
    metrics = [",".join(line.split(",")[:2] + line.split(",")[3:]) for line in lines]
    files = {name: hashlib.sha256((run_dir / "checkpoints" / name).read_bytes()).hexdigest()
             for name in FINAL_FILES if (run_dir / "checkpoints" / name).is_file()}
    files["samples.txt"] = hashlib.sha256((run_dir / "samples.txt").read_bytes()).hexdigest()
    return {"metrics": metrics, "files": files}


def kill_after(command: list[str], seconds: float, env: dict) -> bool:
    """Run ``command``, SIGKILL it after ``seconds``; True if it was still running then."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        process.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True


def last_row(run_dir: Path) -> str:
    try:
        lines = (run_dir / "metrics.csv").read_text().splitlines()
        return " ".join(lines[-1].split(",")[:2]) if len(lines) > 1 else "(no row yet)"
    except OSError:
        return "(no metrics.csv yet)"


def resume_point(run_dir: Path) -> str:
    path = run_dir / "checkpoints" / "resume.pt"
    if not path.is_file():
        return "(none)"
    state = torch.load(path, weights_only=True)
    return f"{state['phase']} {state['step']}"


def main() -> int:
    args = parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="kill-resume-", dir=out))
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    common = [*ARGS, "--algo", args.algo, "--threads", str(args.threads)]
    began = time.time()
    subprocess.run(train(*common, "--run-dir", str(work / "whole")), env=env, check=True, capture_output=True)
    whole_s = time.time() - began
    reference = outcome(work / "whole")
    print(f"[kill_resume] uninterrupted run: {whole_s:.1f} s", flush=True)
    rng = random.Random(args.seed)
    trials = []
    for trial in range(args.trials):
        run_dir = work / f"trial{trial}"
        moment = rng.uniform(1.0, whole_s)
        record = {"trial": trial, "killed_at_s": round(moment, 2)}
        if not kill_after(train(*common, "--run-dir", str(run_dir)), moment, env):
            record.update(result="ended before the kill (not a trial)")
            trials.append(record)
            continue
        record.update(killed_in=last_row(run_dir), resumed_from=resume_point(run_dir))
        resume = train("--resume", str(run_dir), "--threads", str(args.threads), "--no-progress")
        if trial % 3 == 2:  # kill the resumed run too, once
            second = rng.uniform(0.5, max(1.0, whole_s / 2))
            if kill_after(resume, second, env):
                record.update(second_kill_at_s=round(second, 2), second_resumed_from=resume_point(run_dir))
        done = subprocess.run(resume, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            if "nothing to resume" in done.stderr:  # the second kill came after the run had completed
                pass
            elif "no resumable checkpoint" in done.stderr or "not a seqgan-gym train run" in done.stderr:
                record.update(result="killed before its first checkpoint: started again")
                shutil.rmtree(run_dir)
                subprocess.run(train(*common, "--run-dir", str(run_dir)), env=env, check=True,
                               capture_output=True)
            else:
                record.update(result=f"resume failed: {done.stderr.strip().splitlines()[-1]}")
                trials.append(record)
                continue
        got = outcome(run_dir)
        record.update(metrics_match=got["metrics"] == reference["metrics"],
                      files_match=got["files"] == reference["files"])
        record.setdefault("result", "matched" if record["metrics_match"] and record["files_match"] else
                          "DIFFERED")
        trials.append(record)
        print(f"[kill_resume] trial {trial}: {record}", flush=True)
    shutil.rmtree(work)
    counted = [t for t in trials if "metrics_match" in t]
    result = {"algo": args.algo, "threads": args.threads, "uninterrupted_s": round(whole_s, 1),
              "trials": trials, "matched": sum(t["result"] == "matched" for t in counted),
              "compared": len(counted), "wall_s": round(time.time() - began, 1)}
    (out / f"kill_resume_{args.algo}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"Kill and resume ({args.algo}, smoke preset, {args.threads} thread(s)); uninterrupted run "
             f"{whole_s:.1f} s. {result['matched']} of {result['compared']} resumed runs matched it bit for "
             "bit (metrics.csv without wall time, final checkpoints, samples).", "",
             "| trial | killed at | last row then | resumed from | second kill | result |",
             "| --- | --- | --- | --- | --- | --- |"]
    for t in trials:
        second = (f"{t['second_kill_at_s']} s -> {t['second_resumed_from']}" if "second_kill_at_s" in t
                  else "")
        lines.append(f"| {t['trial']} | {t['killed_at_s']} s | {t.get('killed_in', '')} | "
                     f"{t.get('resumed_from', '')} | {second} | {t['result']} |")
    table = "\n".join(lines)
    (out / f"kill_resume_{args.algo}.md").write_text(table + "\n")
    print(table)
    return 0 if result["matched"] == result["compared"] else 1


if __name__ == "__main__":
    sys.exit(main())
