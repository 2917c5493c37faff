"""``seqgan-gym sweep SPEC --dry-run``: what a sweep would run and what it would cost, without Ray.

The spec and every trial's settings are checked by :func:`seqgan_gym.run.sweep.command` exactly as for
a real sweep; then, instead of starting Ray, :func:`dry_run` prints

* the trial list, each trial with the fields it sets and its estimated wall time;
* the CPU-hours (CPUs per trial x the sum of the trials' times) and, with ``--gpus-per-trial``, the
  GPU-hours (GPUs per trial x the same sum);
* the wall time of the whole sweep on each of ``--nodes`` clusters of nodes of ``--cpus-per-node``
  CPUs (and ``--gpus-per-node`` GPUs), from :func:`pack`.

Each trial's time is :func:`seqgan_gym.run.estimate.estimate_run` at unit costs calibrated on this
machine (:func:`seqgan_gym.run.estimate.calibrate`, a few seconds per distinct set of sizes, algorithm
and reward; the seeds of one configuration share theirs), at the trial's torch threads
(``--cpus-per-trial``) and on the device the trial would use: the CPU without ``--gpus-per-trial``
(the sweep hides the GPUs from a trial that reserved none), CUDA with it. A GPU can only be timed on a
machine that has one; elsewhere the dry run says there is no GPU estimate rather than guess one.
"""

from __future__ import annotations

import dataclasses
import heapq
import importlib.util
import math
from pathlib import Path

from seqgan_gym.run import estimate as estimate_module


def check_arguments(args) -> None:
    """The dry run's own options: one line for a combination that means nothing."""
    cluster = ("nodes", "cpus_per_node", "gpus_per_node")
    if not getattr(args, "dry_run", False):
        given = [f"--{name.replace('_', '-')}" for name in cluster if getattr(args, name, None) is not None]
        if given:
            raise ValueError(f"{', '.join(given)} describe a cluster for --dry-run's wall-time estimate; "
                             "add --dry-run (a real sweep uses the cluster it finds)")
        return
    if args.report_only or args.resume:
        raise ValueError("--dry-run starts nothing and writes nothing: it takes neither --report-only "
                         "nor --resume")
    if args.nodes is not None and (not args.nodes or min(args.nodes) < 1):
        raise ValueError(f"--nodes must be one or more node counts >= 1, got {args.nodes}")
    if args.cpus_per_node is not None and args.cpus_per_node < 1:
        raise ValueError(f"--cpus-per-node must be >= 1, got {args.cpus_per_node}")
    if args.gpus_per_node is not None and args.gpus_per_node < 0:
        raise ValueError(f"--gpus-per-node must be >= 0, got {args.gpus_per_node}")


def trials_per_node(cpus_per_node: int, gpus_per_node: float, cpus_per_trial: int,
                    gpus_per_trial: float) -> int:
    """How many trials one node holds at once: Ray places each trial's CPUs (and GPUs) on one node."""
    slots = cpus_per_node // cpus_per_trial
    if gpus_per_trial > 0:
        slots = min(slots, math.floor(gpus_per_node / gpus_per_trial + 1e-9))
    return slots


def pack(seconds: list[float], slots: int) -> float:
    """The wall time of trials of ``seconds`` each on ``slots`` slots: in the given order (the order
    the sweep hands its trials to Tune, which starts them as slots free up), each trial starts on the
    slot that frees first and runs for its time. The result is at least :func:`lower_bound`."""
    if slots < 1:
        raise ValueError("no slot to run a trial on")
    free = [0.0] * min(slots, max(len(seconds), 1))
    for s in seconds:
        heapq.heappush(free, heapq.heappop(free) + s)
    return max(free)


def lower_bound(seconds: list[float], slots: int) -> float:
    """No schedule is shorter: the longest trial, or all the work spread evenly over the slots."""
    return max(max(seconds, default=0.0), sum(seconds) / slots)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h"


def _wall(seconds: float) -> str:
    """``h:mm:ss`` (``m:ss`` under an hour), from a day on ``D d hh:mm:ss``."""
    days, rest = divmod(int(round(seconds)), 86400)
    if not days:
        return estimate_module.format_seconds(rest)
    return f"{days} d {rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"


def trial_estimates(trials: list[dict], configs: dict, device: str, threads: int) -> tuple[list, float]:
    """Each trial's estimated seconds on ``device`` at ``threads`` torch threads (None where there is
    no estimate; the reason beside it), and the seconds the calibrations took."""
    import torch

    from seqgan_gym.config import ExperimentConfig

    before = torch.get_num_threads()
    torch.set_num_threads(threads)  # the trial's threads: the unit costs depend on them
    calibrated: dict[tuple, float] = {}
    out = []
    try:
        for trial in trials:
            cfg: ExperimentConfig = configs[trial["name"]]
            cfg = dataclasses.replace(cfg, device=device if cfg.device == "auto" else cfg.device)
            pretrained = "--generator-checkpoint" in trial["argv"]
            try:
                if cfg.data != "oracle":  # before any calibration: no estimate of a corpus run
                    estimate_module.estimate_run(cfg, None, pretrained)
                units = estimate_module.calibrate(cfg)
                calibrated[estimate_module.calibration_key(cfg)] = units.calibration_s
                out.append((estimate_module.estimate_run(cfg, units, pretrained).total, None))
            except ValueError as e:
                out.append((None, str(e)))
    finally:
        torch.set_num_threads(before)
    return out, sum(calibrated.values())


def dry_run(args, spec: dict, trials: list[dict], configs: dict) -> int:
    """Print the trial list, the CPU- and GPU-hours and the wall time on the ``--nodes`` clusters."""
    import torch

    from seqgan_gym.utils import cpu_model, usable_cpus

    here = usable_cpus()
    cpus_per_node = args.cpus_per_node or here
    gpus_per_node = args.gpus_per_node
    if gpus_per_node is None:
        gpus_per_node = 1 if args.gpus_per_trial else 0
    nodes = args.nodes or [1]
    per_node = trials_per_node(cpus_per_node, gpus_per_node, args.cpus_per_trial, args.gpus_per_trial)
    if per_node < 1:
        raise ValueError(f"a node of {cpus_per_node} CPU(s) and {gpus_per_node:g} GPU(s) cannot hold one "
                         f"trial of {args.cpus_per_trial} CPU(s) and {args.gpus_per_trial:g} GPU(s)")
    print(f"[dry run] sweep {spec['name']}: {len(spec['configurations'])} configurations x "
          f"{len(spec['seeds'])} seeds = {len(trials)} trials, {spec['preset']} preset; every trial's "
          "settings checked as `seqgan-gym train` checks them. Nothing was started or written.")
    on_gpu = args.gpus_per_trial > 0
    threads = min(args.cpus_per_trial, here)
    no_gpu = on_gpu and not torch.cuda.is_available()
    device = "cuda" if on_gpu and not no_gpu else "cpu"
    where = (f"{torch.cuda.get_device_name(0)}, " if device == "cuda" else "") + \
        f"{cpu_model()}, {threads} thread(s) per trial"
    if threads < args.cpus_per_trial:
        where += f" (this machine has {here} CPU(s); the trials will have {args.cpus_per_trial} threads)"
    estimates, calibration_s = trial_estimates(trials, configs, device, threads)

    width = max(len(t["name"]) for t in trials)
    print(f"\n{'trial':<{width}}  {'estimate':>10}  settings (on the {spec['preset']} preset)")
    for trial, (seconds, why) in zip(trials, estimates):
        fields = " ".join(f"{k}={v}" for k, v in trial["fields"].items()) or "(the preset's)"
        shown = _wall(seconds) if seconds is not None else "none"
        print(f"{trial['name']:<{width}}  {shown:>10}  {fields}" + (f"  [no estimate: {why}]" if why else ""))

    known = [s for s, _ in estimates if s is not None]
    total = sum(known)
    print(f"\nPer-trial times: seqgan_gym.run.estimate, unit costs calibrated on this machine ({where}) in "
          f"{calibration_s:.1f} s; a node of another speed scales them. They leave out the finish, "
          "logging and start-up, so expect somewhat more.")
    if no_gpu:
        print("These are the trials' times on this machine's CPU: it has no CUDA device, and "
              "seqgan_gym.run.estimate times the device it runs on, so there is no GPU estimate here. "
              "Run this dry run on a machine with the cluster's GPU for one.")
    if len(known) < len(trials):
        print(f"{len(trials) - len(known)} of {len(trials)} trials have no estimate; the hours below "
              "count the other trials only, and there is no wall time.")
    print(f"CPU-hours: {_hours(total * args.cpus_per_trial)} ({args.cpus_per_trial} CPU(s) per trial x "
          f"{_hours(total)} of trials)")
    if not on_gpu:
        print("GPU-hours: 0 (--gpus-per-trial 0: the trials run on CPUs)")
    elif no_gpu:
        print("GPU-hours: no estimate (no CUDA device on this machine)")
    else:
        print(f"GPU-hours: {_hours(total * args.gpus_per_trial)} ({args.gpus_per_trial:g} GPU(s) per "
              f"trial x {_hours(total)} of trials; trials sharing a GPU are timed as if alone on it)")
    _paper_oracle_line(configs)
    if importlib.util.find_spec("ray") is None:
        print("Ray is not installed here; the real sweep needs it: pip install 'seqgan-gym[ray]'")
    if args.out and Path(args.out).exists() and any(Path(args.out).iterdir()):
        print(f"--out {args.out} exists and is not empty: the real sweep refuses it without --resume")
    if len(known) < len(trials):
        return 0
    if no_gpu:
        print("\nNo wall time on GPU nodes: there is no GPU estimate (without --gpus-per-trial, the "
              "wall time on CPU nodes)")
        return 0

    gpu_part = f" and {gpus_per_node:g} GPU(s)" if on_gpu else ""
    trial_part = f"{args.cpus_per_trial} CPU(s)" + (f" and {args.gpus_per_trial:g} GPU(s)" if on_gpu else "")
    print(f"\nWall time on nodes of {cpus_per_node} CPUs{gpu_part}, {trial_part} per trial: {per_node} "
          "trial(s) at a time per node")
    print(f"{'nodes':>5}  {'at once':>7}  {'wall':>12}  {'longest first':>13}  {'lower bound':>12}")
    longest_first = sorted(known, reverse=True)
    for n in nodes:
        slots = n * per_node
        print(f"{n:>5}  {min(slots, len(trials)):>7}  {_wall(pack(known, slots)):>12}  "
              f"{_wall(pack(longest_first, slots)):>13}  {_wall(lower_bound(known, slots)):>12}")
    print("Method: wall: the trials in the sweep's order (the spec's configurations, each with its "
          "seeds, as Tune starts them), each started on the first slot to free up and running for its "
          "estimate; longest first: the same with the trials sorted longest first (what listing the "
          "slowest configurations first in the spec would give); lower bound: the longest trial, or "
          "all the trials' time spread evenly over the slots. Trials on one node are assumed not to "
          "slow each other.")
    return 0


def _paper_oracle_line(configs: dict) -> None:
    if not any(c.data == "oracle" and c.oracle == "paper" for c in configs.values()):
        return
    from seqgan_gym.data.paper_oracle import find_paper_oracle

    paths = {c.oracle_path for c in configs.values() if c.data == "oracle" and c.oracle == "paper"}
    for path in paths:
        try:
            found = find_paper_oracle(path, download=False)
            print(f"The paper's oracle: {found}")
        except (OSError, ValueError) as e:
            print(f"The paper's oracle: not on this machine ({e}); the real sweep fetches it once before "
                  "the trials start (or: seqgan-gym fetch-oracle)")
