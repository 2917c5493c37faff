"""``seqgan-gym compare``: which reward trains the generator better? The same ``seqgan-gym train``
run with each of ``--rewards`` and each of ``--seeds``, then one table and one figure::

    seqgan-gym compare --rewards discriminator bleu --seeds 0 1 2 [--preset smoke|cpu|paper]
                       [--set FIELD=VALUE ...] [--algo reinforce] [--out DIR] [--workers N | --ray]

A comparison is a sweep (:mod:`seqgan_gym.run.sweep`) whose configurations are the rewards, so it has
the sweep's folder and files:

* ``OUT/compare.toml``: the comparison as a sweep spec, and ``OUT/sweep_spec.json``, its trials;
* ``OUT/runs/<reward>-seed<S>/``: each run, an ordinary ``seqgan-gym train`` run directory;
  ``OUT/logs/<run>.log`` its output, ``OUT/trials/<run>.json`` its attempts;
* ``OUT/sweep.md``, ``sweep.json``, ``sweep.png`` (:mod:`seqgan_gym.run.sweep_report`): per reward,
  NLL_oracle and NLL_test at the first and the last adversarial evaluation (mean ± std over seeds;
  BLEU and Self-BLEU on a corpus), Welch's p of the final NLL_oracle against the first reward's
  when scipy is installed, and the curves of NLL_oracle (quality) and NLL_test (diversity) over the
  adversarial iterations.

Without ``--ray`` the runs go on this machine, each in its own process: one at a time, or
``--workers`` at a time. With ``--ray`` they are the trials of ``seqgan-gym sweep`` on Ray Tune
(``pip install 'seqgan-gym[ray]'``). Run again with the same ``--out``, a comparison keeps its
completed runs, continues each stopped one from its last ``checkpoints/resume.pt`` (``train
--resume``: the same numbers as an uninterrupted run) and starts again from scratch one that
stopped before its first checkpoint (:func:`seqgan_gym.run.sweep.run_attempt`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from seqgan_gym.config import PRESETS, REWARDS

SPEC_FILE = "compare.toml"
FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
OWN_FLAGS = {"seed": "--seeds", "reward": "--rewards", "algo": "--algo", "preset": "--preset",
             "generator_checkpoint": "--generator-checkpoint"}  # fields `compare` sets from its options
RAY_LINE = ("--ray runs the comparison on Ray Tune, an optional extra: pip install 'seqgan-gym[ray]' (from "
            "a checkout: pip install -e '.[ray]'); without --ray it runs here, --workers runs at a time")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rewards", nargs="+", choices=REWARDS, default=["discriminator", "bleu"],
                   help="the rewards to compare (default: discriminator bleu, SeqGAN against PG-BLEU); "
                        "the first is the one the p-values test against")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2],
                   help="every reward runs once per seed (default 0 1 2)")
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu",
                   help="the runs' schedule: smoke (seconds), cpu (default), paper")
    p.add_argument("--algo", default="reinforce",
                   help="the generator's RL algorithm in every run, as `train --algo` takes it "
                        "(default reinforce, the paper's)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override a config field in every run, e.g. --set adv_iterations=10 (repeatable)")
    p.add_argument("--generator-checkpoint",
                   help="start every run from this MLE generator (skips MLE pre-training)")
    p.add_argument("--out", help="the comparison's folder (default runs/compare-<preset>-<time>); the "
                                 "same --out again keeps the completed runs and continues the others")
    p.add_argument("--workers", type=int, default=1,
                   help="runs at a time on this machine, each in its own process (default 1: in turn)")
    p.add_argument("--threads", type=int,
                   help="torch threads per run (default: this machine's CPUs / --workers; with --ray 1; "
                        "a comparison run again keeps the threads it started with)")
    p.add_argument("--ray", action="store_true",
                   help="run the runs as trials on Ray Tune (seqgan-gym sweep; "
                        "pip install 'seqgan-gym[ray]')")


def spec_toml(args: argparse.Namespace) -> str:
    """The comparison as a sweep spec: one configuration per reward, ``--algo`` and ``--set`` in
    ``[set]`` (its values as strings: each run reads them as ``train --set`` does)."""
    fields: dict[str, str] = {"algo": args.algo}
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep or not FIELD.match(key):
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE")
        if key in OWN_FLAGS:
            raise ValueError(f"--set {key}=...: compare sets {key} itself; use {OWN_FLAGS[key]}")
        fields[key] = value
    q = json.dumps  # a JSON string is a TOML basic string
    lines = ["# seqgan-gym compare's runs as a sweep spec (seqgan_gym.run.sweep); the table again, from the",
             "# run directories: seqgan-gym sweep THIS_FILE --out THIS_FOLDER --report-only",
             'name = "compare"', f"preset = {q(args.preset)}", f"seeds = {json.dumps(args.seeds)}",
             f"baseline = {q(args.rewards[0])}", 'x_axis = "iteration"']
    if args.generator_checkpoint:
        lines.append(f"generator_checkpoint = {q(str(Path(args.generator_checkpoint).resolve()))}")
    lines += ["", "[set]"] + [f"{key} = {q(value)}" for key, value in fields.items()]
    for reward in args.rewards:
        lines += ["", "[[configs]]", f"name = {q(reward)}", f"reward = {q(reward)}"]
    return "\n".join(lines) + "\n"


def command(args: argparse.Namespace, check_trial, sweep) -> int:
    """``seqgan-gym compare``. ``check_trial(argv)`` resolves and checks one run's ``train``
    arguments as ``seqgan-gym train`` does (raising ValueError with one line) and returns its
    config; ``sweep(args)`` is ``seqgan-gym sweep``'s command, which ``--ray`` hands the runs to."""
    if len(set(args.rewards)) != len(args.rewards):
        raise ValueError(f"--rewards: each reward once, got {' '.join(args.rewards)}")
    if len(set(args.seeds)) != len(args.seeds) or min(args.seeds) < 0:
        raise ValueError(f"--seeds: distinct integers >= 0, got {' '.join(map(str, args.seeds))}")
    if args.workers < 1:
        raise ValueError(f"--workers must be >= 1, got {args.workers}")
    if args.ray and args.workers != 1:
        raise ValueError("--workers counts runs on this machine; with --ray, Tune runs as many at once as "
                         "the CPUs allow, --threads each")
    if args.ray and importlib.util.find_spec("ray") is None:
        raise ValueError(RAY_LINE)
    out = Path(args.out or Path("runs") / f"compare-{args.preset}-{time.strftime('%Y%m%d-%H%M%S')}")
    text = spec_toml(args)
    if args.ray:
        return _on_ray(text, out, args.threads or 1, sweep)
    return _here(args, text, out, check_trial)


def _on_ray(text: str, out: Path, threads: int, sweep) -> int:
    """The comparison as ``seqgan-gym sweep`` (continued with ``--resume`` where ``out`` holds one)."""
    with tempfile.TemporaryDirectory(prefix="seqgan-compare-") as folder:
        spec_file = Path(folder, SPEC_FILE)
        spec_file.write_text(text, encoding="utf-8")
        code = sweep(argparse.Namespace(
            spec=str(spec_file), out=str(out), cpus_per_trial=threads, gpus_per_trial=0.0, address=None,
            max_failures=3, resume=(out / "sweep_spec.json").is_file(), report_only=False))
    if out.is_dir():
        from seqgan_gym.utils import atomic_write_text

        atomic_write_text(out / SPEC_FILE, text)
    return code


def _here(args: argparse.Namespace, text: str, out: Path, check_trial) -> int:
    """The comparison on this machine: every run checked, ``out`` locked, the runs not completed
    yet run ``args.workers`` at a time, then the table, JSON and figure."""
    from seqgan_gym.experiment.log import RunDirLock, run_dir_contents
    from seqgan_gym.run.sweep import expand_trials, load_spec, read_json, same_spec, write_json
    from seqgan_gym.run.sweep_report import write_report
    from seqgan_gym.utils import atomic_write_text, default_threads

    with tempfile.TemporaryDirectory(prefix="seqgan-compare-") as folder:
        spec_file = Path(folder, SPEC_FILE)
        spec_file.write_text(text, encoding="utf-8")
        spec = load_spec(spec_file)
    trials = expand_trials(spec, out)
    configs = {}
    for trial in trials:  # every run's settings checked before anything starts
        try:
            configs[trial["name"]] = check_trial(trial["argv"])
        except (ValueError, OSError) as e:
            raise ValueError(f"compare, reward {trial['config']}: {e}") from None
    corpus = any(c.data != "oracle" for c in configs.values())
    spec.update(metric="bleu" if corpus else "nll_oracle", mode="max" if corpus else "min")

    lock = RunDirLock(out)  # one process writes a comparison's folder at a time
    try:
        recorded = read_json(out / "sweep_spec.json")
        if recorded is not None:  # run again: the same comparison, or none
            same_spec(recorded["spec"], spec, out)
        elif run_dir_contents(out):
            raise FileExistsError(f"{out} already exists and holds no comparison (no sweep_spec.json); "
                                  "pass another --out")
    except BaseException:
        lock.abandon()
        raise
    try:
        threads = args.threads or (recorded["trials"][0].get("threads") if recorded else None) \
            or max(1, default_threads() // args.workers)
        for path in {c.oracle_path for c in configs.values() if c.data == "oracle" and c.oracle == "paper"}:
            from seqgan_gym.data.paper_oracle import find_paper_oracle

            find_paper_oracle(path)  # fetched once here, not by every run at once
        for trial in trials:
            trial.update(threads=threads, log=str((out / "logs" / f"{trial['name']}.log").resolve()),
                         status_file=str((out / "trials" / f"{trial['name']}.json").resolve()))
        atomic_write_text(out / SPEC_FILE, text)
        write_json(out / "sweep_spec.json", {"spec": spec, "trials": trials}, sort_keys=False)
        pending = [t for t in trials if not _completed(t)]
        print(f"[compare] {len(spec['configurations'])} rewards x {len(spec['seeds'])} seeds = {len(trials)} "
              f"runs ({len(trials) - len(pending)} completed earlier, kept), {args.preset} preset, "
              f"{args.workers} at a time on this machine, {threads} torch thread(s) each; folder {out}",
              flush=True)
        start = time.time()
        _run_here(pending, args.workers)
        earlier = (recorded or {}).get("run") or {}
        run_info = {"wall_s": round(earlier.get("wall_s", 0) + time.time() - start, 1),  # every call's
                    "cpus_per_trial": threads, "concurrent": min(args.workers, max(1, len(pending))),
                    "workers": args.workers, "ray": None, "resumed_sweep": bool(recorded)}
        if not pending and earlier:  # nothing ran: the record of the call that ran them
            run_info = earlier
        write_json(out / "sweep_spec.json", {"spec": spec, "trials": trials, "run": run_info},
                    sort_keys=False)
        report = write_report(out, spec, trials, run_info=run_info)
    finally:
        lock.close()
    print(report["markdown"])
    print(f"[compare] wrote {out}/sweep.md, sweep.json, sweep.png", flush=True)
    if report["incomplete"]:
        print(f"[compare] {len(report['incomplete'])} of {len(trials)} runs did not complete (see "
              f"{out}/logs/); the table leaves them out. Run the same command again to continue them.",
              file=sys.stderr)
        return 1
    return 0


def _completed(trial: dict) -> bool:
    from seqgan_gym.run.sweep import read_json

    return (read_json(Path(trial["run_dir"]) / "summary.json") or {}).get("status") == "completed"


def _run_here(trials: list[dict], workers: int) -> None:
    """Each trial's attempt (:func:`seqgan_gym.run.sweep.run_attempt`: a child process), ``workers`` at
    a time; one line as each ends."""
    from seqgan_gym.run.sweep import run_attempt

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        futures = {pool.submit(run_attempt, trial): trial for trial in trials}
        for future in as_completed(futures):
            print(_ended(futures[future], *future.result()) + "\n", end="", flush=True)  # one write: threads
    except KeyboardInterrupt:  # Ctrl-C reached the runs too: each stops and says where it can resume
        pool.shutdown(wait=True, cancel_futures=True)
        raise KeyboardInterrupt("interrupted (Ctrl-C): the same command again (same --out) keeps the "
                                "completed runs and continues the others") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ended(trial: dict, outcome: str, detail: str) -> str:
    from seqgan_gym.run.sweep_report import LABELS, load_run

    name = trial["name"]
    if outcome == "killed":
        return f"[compare] {name}: killed by signal {detail}; the same command again resumes it"
    if outcome == "failed":
        return f"[compare] {name}: failed: {detail} (see {trial['log']})"
    run = load_run(trial["run_dir"]) if outcome == "completed" else None
    if run is None:
        return f"[compare] {name}: ended without a completed run (see {trial['log']})"
    shown = [f"{LABELS[m]} {run['start'][m]:.3f} → {run['end'][m]:.3f}"
             for m in ("nll_oracle", "nll_test", "bleu") if m in run["end"] and m in run["start"]]
    return f"[compare] {name}: completed, {', '.join(shown)} ({run['wall_s']:.0f} s)"
