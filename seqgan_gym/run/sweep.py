"""``seqgan-gym sweep SPEC``: many ordinary training runs (configurations x seeds) on Ray Tune.

A sweep is a TOML file::

    name = "schedules"               # optional; names the output folder
    preset = "smoke"                 # the base preset (default cpu)
    seeds = [0, 1]                   # every configuration runs once per seed
    metric = "nll_oracle"            # the metric the table tests (default nll_oracle, or bleu on a corpus)
    mode = "min"                     # optional: min (default) or max (default for bleu)
    baseline = "g1-d5-k3"            # Welch p-values of every configuration against this one
    x_axis = "iteration"             # learning curves against iteration (default) or generator_updates
    generator_checkpoint = "G.pt"    # optional: start every trial from this MLE generator

    [set]                            # every trial: the field names of `seqgan-gym train --set`
    adv_iterations = 10

    [[configs]]                      # named configurations (any training option, algo and reward too)
    name = "g1-d5-k3"
    g_steps = 1
    d_steps = 5
    k = 3

    [grid]                           # and/or a product over lists of values
    algo = ["reinforce", "ppo"]

Each trial is the ordinary ``seqgan-gym train`` run in its own process, with its own run directory
(``OUT/runs/<configuration>-seed<S>``), run by a Ray Tune ``Tuner``: the trial reports NLL_oracle
and NLL_test (BLEU and Self-BLEU on a corpus) to Tune at every evaluation. A trial whose process or
Ray worker dies is restarted by Tune (``--max-failures``) and continues with ``seqgan-gym train
--resume`` from the run's last ``checkpoints/resume.pt``; one killed before its first checkpoint
starts again, and says so. Each attempt is recorded in ``OUT/trials/<trial>.json``.

The aggregation (:mod:`seqgan_gym.run.sweep_report`) reads the run directories, not Ray's results:
mean +- std per configuration over seeds, Welch p-values against the baseline, a markdown table,
JSON and one PNG of every configuration's learning curve.

Ray is an optional extra (``pip install 'seqgan-gym[ray]'``): this module imports it only where a
sweep runs, and the Ray worker side (:func:`run_trial`) loads no torch (the training process does).
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

INSTALL_LINE = ("seqgan-gym sweep runs on Ray Tune, an optional extra: pip install 'seqgan-gym[ray]' "
                "(from a checkout: pip install -e '.[ray]')")
TOP_KEYS = {"name", "description", "preset", "seeds", "metric", "mode", "baseline", "x_axis",
            "generator_checkpoint", "set", "configs", "grid"}
METRICS = ("nll_oracle", "nll_test", "bleu", "self_bleu", "d_heldout_auc", "d_oracle_spearman")
NAME = re.compile(r"^[A-Za-z0-9._=,+-]+$")
BUNDLED = Path(__file__).with_name("sweeps")  # the specs installed with the package (package data)


# ----------------------------------------------------------------------------------------- the spec
def bundled_specs() -> list[str]:
    """The names of the specs installed with the package, as ``seqgan-gym sweep NAME`` takes them."""
    return sorted(p.stem.replace("_", "-") for p in BUNDLED.glob("*.toml"))


def spec_path(spec: str | Path) -> Path:
    """A spec's file: ``spec`` itself where it exists, else the bundled spec of that name
    (``compare-rewards`` or ``compare_rewards``, with or without ``.toml``)."""
    path = Path(spec)
    if path.exists():
        return path
    name = path.name.removesuffix(".toml").replace("-", "_")
    bundled = BUNDLED / f"{name}.toml"
    if path.parent == Path(".") and bundled.is_file():
        return bundled
    raise FileNotFoundError(f"sweep spec {spec}: no such file, and no bundled spec of that name "
                            f"(bundled: {', '.join(bundled_specs())})")


def load_spec(path: str | Path) -> dict:
    """Read a sweep spec (TOML; a file, or a bundled spec's name) and check its shape; values are
    checked per trial by the caller."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the ray extra installs tomli
        import tomli as tomllib
    path = spec_path(path)
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"sweep spec {path}: not valid TOML ({e})") from None
    where = f"sweep spec {path}"
    unknown = set(spec) - TOP_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                         f"known: {', '.join(sorted(TOP_KEYS))}")
    spec.setdefault("name", path.stem)
    spec.setdefault("preset", "cpu")
    spec.setdefault("x_axis", "iteration")
    for key in ("name", "preset", "baseline", "x_axis", "metric", "mode", "generator_checkpoint",
                "description"):
        if key in spec and not isinstance(spec[key], str):
            raise ValueError(f"{where}: {key} must be a string, got {spec[key]!r}")
    if not NAME.match(spec["name"]):
        raise ValueError(f"{where}: name {spec['name']!r} may use only letters, digits and . _ = , + -")
    seeds = spec.get("seeds", [0])
    if not (isinstance(seeds, list) and seeds and all(type(s) is int and s >= 0 for s in seeds)
            and len(set(seeds)) == len(seeds)):
        raise ValueError(f"{where}: seeds must be a list of distinct integers >= 0, got {seeds!r}")
    spec["seeds"] = seeds
    if spec["x_axis"] not in ("iteration", "generator_updates"):
        raise ValueError(f"{where}: x_axis must be 'iteration' or 'generator_updates', "
                         f"got {spec['x_axis']!r}")
    if "mode" in spec and spec["mode"] not in ("min", "max"):
        raise ValueError(f"{where}: mode must be 'min' or 'max', got {spec['mode']!r}")
    if "metric" in spec and spec["metric"] not in METRICS:
        raise ValueError(f"{where}: metric must be one of {', '.join(METRICS)}, got {spec['metric']!r}")
    common = spec.get("set", {})
    if not isinstance(common, dict):
        raise ValueError(f"{where}: [set] must be a table of field = value")
    _check_values(common, f"{where} [set]")
    spec["set"] = common
    spec["configurations"] = _configurations(spec, where)
    if "baseline" in spec and spec["baseline"] not in spec["configurations"]:
        raise ValueError(f"{where}: baseline {spec['baseline']!r} is none of the configurations: "
                         f"{', '.join(spec['configurations'])}")
    spec.setdefault("baseline", next(iter(spec["configurations"])))
    return spec


def _check_values(values: dict, where: str) -> None:
    for key, value in values.items():
        if key == "seed":
            raise ValueError(f"{where}: seed is the sweep's replicate axis: list the seeds in "
                             "`seeds = [...]`")
        if key in ("preset", "name", "generator_checkpoint") and "[set]" in where:
            raise ValueError(f"{where}: {key} is a top-level key of the spec, not a training field")
        if key == "preset":  # as a field it would change only the label; a sweep has one preset
            raise ValueError(f"{where}: preset is the spec's top-level key (one per sweep), not a field "
                             "a configuration sets; put configurations of other presets in another sweep")
        if isinstance(value, (dict, list)) or isinstance(value, bool):
            raise ValueError(f"{where}: {key} must be a number or a string, got {value!r}")


def _configurations(spec: dict, where: str) -> dict[str, dict]:
    """name -> the fields it sets (on top of [set]), from [[configs]] x [grid] (either may be absent)."""
    listed = spec.get("configs", [])
    if not isinstance(listed, list) or not all(isinstance(c, dict) for c in listed):
        raise ValueError(f"{where}: configs must be an array of tables ([[configs]])")
    named = []
    for i, c in enumerate(listed):
        c = dict(c)
        fields = {k: v for k, v in c.items() if k not in ("name", "generator_checkpoint")}
        _check_values(fields, f"{where} configs[{i}]")
        name = str(c.pop("name", None) or ",".join(f"{k}={v}" for k, v in fields.items()) or f"config{i}")
        named.append((name, c))
    grid = spec.get("grid", {})
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise ValueError(f"{where}: [grid] must map fields to non-empty lists of values")
    for key, values in grid.items():
        for value in values:
            _check_values({key: value}, f"{where} [grid]")
    product = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())] if grid else [{}]
    configurations: dict[str, dict] = {}
    for (base_name, base), extra in itertools.product(named or [("", {})], product):
        name = ",".join(p for p in (base_name, ",".join(f"{k}={v}" for k, v in extra.items())) if p)
        name = name or "base"
        if not NAME.match(name):
            raise ValueError(f"{where}: configuration name {name!r} may use only letters, digits and "
                             ". _ = , + -")
        if name in configurations:
            raise ValueError(f"{where}: two configurations are named {name!r}")
        clash = set(base) & set(extra)
        if clash:
            raise ValueError(f"{where}: {', '.join(sorted(clash))} set by both [[configs]] and [grid]")
        configurations[name] = {**base, **extra}
    return configurations


def expand_trials(spec: dict, out: Path) -> list[dict]:
    """One trial per configuration and seed: its name, the `seqgan-gym train` arguments (without
    --run-dir / --threads), its run directory."""
    trials = []
    for config, fields in spec["configurations"].items():
        fields = dict(fields)
        checkpoint = fields.pop("generator_checkpoint", spec.get("generator_checkpoint"))
        merged = {**spec["set"], **fields}
        for seed in spec["seeds"]:
            argv = ["--preset", spec["preset"], "--seed", str(seed)]
            for key, value in merged.items():
                argv += ["--set", f"{key}={value}"]
            if checkpoint:
                argv += ["--generator-checkpoint", str(Path(checkpoint).resolve())]
            name = f"{config}-seed{seed}"
            trials.append({"name": name, "config": config, "seed": seed, "fields": merged, "argv": argv,
                           "run_dir": str((out / "runs" / name).resolve())})
    return trials


# --------------------------------------------------------------------------- one trial, in a worker
def run_trial(config: dict) -> None:
    """A Ray Tune trainable: one trial (:func:`run_attempt`), run as ``seqgan-gym train`` in a child
    process that dies with this worker. Reports every evaluation row of the run's ``metrics.csv`` to
    Tune as it appears. Started again after a failure, it resumes the run from ``checkpoints/resume.pt``."""
    from ray import tune

    trial = config["trial"]
    node = _this_node()
    problem = node_problem(trial, config.get("sweep"), node)
    if problem:  # this node cannot run the trial as asked: the sweep stops, saying why (command())
        tune.report({"trial_failed": 1, "phase": "failed", "step": -1, "node_problem": problem})
        return
    hide_unreserved_gpus()
    run_dir = Path(trial["run_dir"])
    reported = 0  # rows of metrics.csv already reported to Tune (a restarted trial skips them)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            reported = json.loads((Path(folder) / "progress.json").read_text())["rows"]

    def report(restarts: int) -> None:  # the rows metrics.csv has gained since the last call
        nonlocal reported
        reported = _report_rows(tune, run_dir, reported, trial["name"], restarts)

    outcome, detail = run_attempt(trial, report, node=node)
    if outcome == "exited 0":  # e.g. the package's files were being rewritten as the process started
        raise RuntimeError(f"{trial['name']}: seqgan-gym train exited 0 but {run_dir}/summary.json does "
                           f"not say completed (see {trial['log']}); Tune starts the trial again")
    if outcome == "killed":  # fail, so that Tune starts the trial again (and it resumes)
        raise RuntimeError(f"{trial['name']}: the training process was killed by signal {detail}; Tune "
                           "restarts the trial, which resumes from checkpoints/resume.pt")
    if outcome == "failed":  # the run stopped by itself (bad input, divergence): again would repeat that
        tune.report({"trial_failed": 1, "phase": "failed", "step": -1})
        print(f"[sweep] {trial['name']} failed: {detail}", flush=True)


def _this_node() -> dict:
    """The Ray node this worker runs on: its id and IP (nodes on one machine share the IP)."""
    import ray

    return {"node_id": ray.get_runtime_context().get_node_id(), "node_ip": ray.util.get_node_ip_address()}


def node_problem(trial: dict, sweep: dict | None, node: dict) -> str | None:
    """One line saying why this node cannot run ``trial`` as the sweep asked, or None:

    - the sweep's folder (``sweep["out"]``, resolved on the machine running ``seqgan-gym sweep``) is
      not the one the sweep wrote here (no ``sweep_spec.json`` with this sweep's id ``sweep["id"]``:
      the node does not see the shared storage at that path), or it cannot be written here;
    - Ray gave the trial GPU(s), the trial's device is ``auto`` or ``cuda``, and torch in this node's
      Python cannot use CUDA (checked in a child process, as the training process would see it: the
      Ray worker loads no torch)."""
    import ray

    where = f"node {node['node_ip']} ({socket.gethostname()}, Ray node {node['node_id'][:12]})"
    if sweep:
        out = Path(sweep["out"])
        recorded = read_json(out / "sweep_spec.json")
        if not isinstance(recorded, dict) or recorded.get("sweep_id") != sweep["id"]:
            there = ("does not exist" if not out.is_dir() else "holds no sweep_spec.json" if recorded is None
                     else "holds another sweep's sweep_spec.json")
            return (f"{trial['name']}: --out {out} is not the sweep's folder on {where} (there it "
                    f"{there}): --out must be on storage every node sees at the same path")
        try:
            with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check-"):
                pass
        except OSError as e:
            return (f"{trial['name']}: --out {out} cannot be written on {where} ({e.strerror}): "
                    "--out must be on storage every node sees and writes at the same path")
    gpus = ray.get_gpu_ids()
    device = str(trial.get("fields", {}).get("device", "auto"))
    if gpus and (device == "auto" or device.startswith("cuda")):
        code = "import torch; print(torch.cuda.is_available(), torch.__version__, torch.version.cuda)"
        try:
            probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
            answer = (probe.stdout.strip().splitlines() or [""])[-1].split() if probe.returncode == 0 else []
            why = (f"torch.cuda.is_available() is False (torch {answer[1]}, "
                   f"{'a build without CUDA' if answer[2] == 'None' else 'built for CUDA ' + answer[2]})"
                   if len(answer) == 3 else f"importing torch failed: {_last_line_of(probe.stderr)}")
            usable = answer[:1] == ["True"]
        except subprocess.TimeoutExpired:
            usable, why = False, "torch.cuda.is_available() did not answer in 300 s"
        if not usable:
            given = ",".join(str(g) for g in gpus)
            return (f"{trial['name']}: Ray gave it GPU {given} (CUDA_VISIBLE_DEVICES="
                    f"{os.environ.get('CUDA_VISIBLE_DEVICES', '')}) on {where}, but torch cannot use it "
                    f"there: {why}; install a CUDA build of torch on that node or start its Ray with "
                    "--num-gpus=0 (or set device = \"cpu\" in the spec to train on its CPU)")
    return None


def _last_line_of(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def hide_unreserved_gpus() -> None:
    """In a Ray worker that was given no GPU, hide the node's GPUs from the training process it
    starts (``CUDA_VISIBLE_DEVICES=""``). Ray sets the variable to the GPUs it assigned a worker that
    reserved some, but leaves it as the node's for one that reserved none, where ``train``'s device
    ``auto`` would take GPU 0 beside the trials that reserved it."""
    import ray

    if not ray.get_gpu_ids():
        os.environ["CUDA_VISIBLE_DEVICES"] = ""


def run_attempt(trial: dict, poll=None, node: dict | None = None) -> tuple[str, str]:
    """One attempt at a trial of :func:`expand_trials` (with ``threads``, ``status_file`` and ``log``
    added), on Ray (:func:`run_trial`) or without (``seqgan-gym compare``): a run that completed
    earlier is not run again; one with ``checkpoints/resume.pt`` continues (``train --resume``); one
    stopped before its first checkpoint starts again from scratch. The run is ``seqgan-gym train`` in
    a child process that dies with the thread that started it, its output appended to the trial's
    log; the attempt is recorded in its status file. ``poll(restarts)`` is called every half second
    while the run goes and once after it (``restarts``: the trial's earlier attempts). ``node``
    (on Ray: the Ray node's id and IP) is recorded in the attempt.

    Returns ``(outcome, detail)``: ``("completed", how)``; ``("exited 0", "")`` without a completed
    ``summary.json``; ``("killed", signal number)`` (worth resuming); ``("failed", reason)``: the run
    stopped by itself, and running it again would repeat that."""
    poll = poll or (lambda restarts: None)
    run_dir, status_file = Path(trial["run_dir"]), Path(trial["status_file"])
    status = read_json(status_file) or {"name": trial["name"], "attempts": []}
    attempts = status["attempts"]
    if attempts and "end" not in attempts[-1]:
        attempts[-1]["end"] = "did not end: its process or Ray worker was killed or stopped"
    threads = str(trial["threads"])
    base = [sys.executable, "-m", "seqgan_gym.run.cli", "train"]
    summary = read_json(run_dir / "summary.json")
    if summary and summary.get("status") == "completed":
        how, command = "completed earlier; reported from its run directory", None
    elif (run_dir / "checkpoints" / "resume.pt").is_file():
        how = "resumed from checkpoints/resume.pt"
        command = base + ["--resume", str(run_dir), "--threads", threads, "--no-progress", "--no-estimate"]
    else:
        how = "fresh"
        if run_dir.exists():  # killed before its first checkpoint: nothing to resume from
            how = "restarted: the earlier attempt had saved no checkpoint yet"
            shutil.rmtree(run_dir)
        command = base + [*trial["argv"], "--run-dir", str(run_dir), "--threads", threads, "--no-progress",
                          "--no-estimate"]  # a trial's own estimate: the sweep's --dry-run plans them all
    attempt = {"attempt": len(attempts) + 1, "how": how, "host": socket.gethostname(),
               "worker_pid": os.getpid(), "start": time.strftime("%Y-%m-%d %H:%M:%S"),
               # the GPU(s) Ray gave this trial ("" for none), which the training process inherits
               "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"), **(node or {})}
    attempts.append(attempt)
    restarts = len(attempts) - 1
    print(f"[sweep] {trial['name']} attempt {attempt['attempt']}: {how}\n", end="", flush=True)  # one write
    if command is None:
        poll(restarts)
        attempt["end"] = "completed"
        write_json(status_file, status)
        return "completed", how
    log_path = Path(trial["log"])
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": threads}
    with open(log_path, "a") as log:
        log.write(f"\n=== {trial['name']} attempt {attempt['attempt']} ({how}) on {attempt['host']}, "
                  f"{attempt['start']}: {' '.join(command)}\n")
        log.flush()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   preexec_fn=_die_with_parent)
        attempt["train_pid"] = process.pid
        write_json(status_file, status)
        while process.poll() is None:
            time.sleep(0.5)
            poll(restarts)
    poll(restarts)
    code = process.returncode
    resumed_from = _resume_line(log_path) if how.startswith("resumed") else None
    if resumed_from:
        attempt["resumed_after"] = resumed_from
    completed = (read_json(run_dir / "summary.json") or {}).get("status") == "completed"
    if code == 0 and completed:
        outcome, detail, attempt["end"] = "completed", how, "completed"
    elif code == 0:
        outcome, detail, attempt["end"] = "exited 0", "", "exited 0 without a completed summary.json"
    elif code < 0:
        outcome, detail, attempt["end"] = "killed", str(-code), f"killed by signal {-code}"
    else:
        reason = (read_json(run_dir / "summary.json") or {}).get("reason") or _last_line(log_path)
        outcome, detail, attempt["end"] = "failed", reason, f"failed (exit {code}): {reason}"
    write_json(status_file, status)
    return outcome, detail


def _report_rows(tune, run_dir: Path, reported: int, name: str, restarts: int) -> int:
    """Report the evaluation rows of ``metrics.csv`` from row ``reported`` on; return the new count."""
    rows = _complete_rows(run_dir / "metrics.csv")
    for index in range(reported, len(rows)):
        row = rows[index]
        if row.get("nll_test") in (None, ""):  # not an evaluation
            continue
        metrics = {k: float(v) for k, v in row.items() if k in METRICS and v not in (None, "")}
        metrics.update(phase=row["phase"], step=int(row["step"]), run_wall_s=float(row["wall_s"]),
                       restarts=restarts)
        with tempfile.TemporaryDirectory(prefix="seqgan-sweep-") as folder:
            Path(folder, "progress.json").write_text(json.dumps({"rows": index + 1, "trial": name}))
            from ray.tune import Checkpoint

            tune.report(metrics, checkpoint=Checkpoint.from_directory(folder))
    return max(reported, len(rows))


def _complete_rows(path: Path) -> list[dict]:
    """The rows of a ``metrics.csv`` being written, up to its last complete line."""
    try:
        text = path.read_text()
    except OSError:
        return []
    text = text[: text.rfind("\n") + 1]
    return list(csv.DictReader(text.splitlines()))


def _resume_line(log_path: Path) -> str | None:
    """'<phase> step <n>' from the resumed run's own line '[seqgan-gym] resuming DIR after ...:'."""
    try:
        text = log_path.read_text()
    except OSError:
        return None
    found = re.findall(r"\[seqgan-gym\] resuming \S+ after (\w+ step \d+):", text)
    return found[-1] if found else None


def _last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text().splitlines() if line.strip()]
    except OSError:
        return "no log"
    return lines[-1] if lines else "no output"


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL it when the worker that started it dies (Linux), so a
    dead worker never leaves a run still writing its directory."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the child may outlive a killed worker
        pass


def read_json(path: Path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, obj, sort_keys: bool = True) -> None:
    """Atomic (temporary file + rename), without seqgan_gym.utils: the Ray worker loads no torch."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=sort_keys)
        f.write("\n")
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------- the command
def add_arguments(p) -> None:
    p.add_argument("spec", help="the sweep: a TOML file (see `seqgan_gym.run.sweep`), or a bundled spec's "
                                f"name: {', '.join(bundled_specs())}")
    p.add_argument("--out", help="the sweep's folder (default runs/sweep-<name>-<time>)")
    p.add_argument("--cpus-per-trial", type=int, default=1,
                   help="CPUs Ray reserves for each trial, and its torch threads (default 1: as many "
                        "trials at once as CPUs)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0,
                   help="GPUs per trial (a fraction shares one; default 0)")
    p.add_argument("--address", help="join this Ray cluster (e.g. auto, or ray://HOST:10001) instead of "
                                     "starting a local Ray; OUT must be on storage every node sees")
    p.add_argument("--max-failures", type=int, default=3,
                   help="times Tune restarts a trial whose process or worker died (default 3)")
    p.add_argument("--resume", action="store_true",
                   help="continue the sweep in --out: completed trials are kept, stopped ones resume")
    p.add_argument("--report-only", action="store_true",
                   help="only (re)write the table, JSON and figure of the sweep in --out; no Ray")
    p.add_argument("--dry-run", action="store_true",
                   help="check the spec as a sweep does, then print the trials, the estimated CPU- and "
                        "GPU-hours and the wall time on --nodes; no Ray, nothing started or written")
    p.add_argument("--nodes", type=int, nargs="+", metavar="N",
                   help="--dry-run: the wall time on clusters of these many nodes (default 1)")
    p.add_argument("--cpus-per-node", type=int,
                   help="--dry-run: CPUs per node (default: the CPUs this process may use)")
    p.add_argument("--gpus-per-node", type=float,
                   help="--dry-run: GPUs per node (default 1 with --gpus-per-trial, else 0)")


def command(args, check_trial) -> int:
    """``seqgan-gym sweep``. ``check_trial(argv)`` resolves and checks one trial's ``train`` arguments
    as ``seqgan-gym train`` does (raising ValueError with one line), and returns its config."""
    from seqgan_gym.config import get_preset
    from seqgan_gym.run.sweep_report import write_report

    spec = load_spec(args.spec)
    get_preset(spec["preset"])  # an unknown preset: one line
    if args.cpus_per_trial < 1:
        raise ValueError(f"--cpus-per-trial must be >= 1, got {args.cpus_per_trial}")
    if args.gpus_per_trial < 0 or args.max_failures < 0:
        raise ValueError("--gpus-per-trial and --max-failures must be >= 0")
    from seqgan_gym.run.sweep_plan import check_arguments, dry_run

    check_arguments(args)  # --dry-run's own options
    out = Path(args.out or Path("runs") / f"sweep-{spec['name']}-{time.strftime('%Y%m%d-%H%M%S')}")
    if args.report_only:
        recorded = read_json(out / "sweep_spec.json")
        if recorded is None:
            raise ValueError(f"--report-only: {out} holds no sweep (no sweep_spec.json)")
        same_spec(recorded["spec"], spec, out)
        report = write_report(out, recorded["spec"], recorded["trials"], run_info=recorded.get("run"))
        print(report["markdown"])
        return 0
    trials = expand_trials(spec, out)
    configs = {}
    for trial in trials:  # every trial's settings checked before anything starts
        try:
            configs[trial["name"]] = check_trial(trial["argv"])
        except (ValueError, OSError) as e:  # OSError: a data file or checkpoint that is not there
            raise ValueError(f"sweep spec {args.spec}, configuration {trial['config']!r}: {e}") from None
        checkpoint = trial["argv"][trial["argv"].index("--generator-checkpoint") + 1] \
            if "--generator-checkpoint" in trial["argv"] else None
        if checkpoint and not Path(checkpoint).is_file():
            raise FileNotFoundError(f"sweep spec {args.spec}: generator_checkpoint {checkpoint} not found")
    corpus = any(c.data != "oracle" for c in configs.values())
    spec.setdefault("metric", "bleu" if corpus else "nll_oracle")
    higher_is_better = ("bleu", "d_heldout_auc", "d_oracle_spearman")
    spec.setdefault("mode", "max" if spec["metric"] in higher_is_better else "min")
    if corpus and spec["metric"] == "nll_oracle":
        raise ValueError(f"sweep spec {args.spec}: metric nll_oracle needs the oracle data; a corpus "
                         "reports bleu, self_bleu, nll_test")
    if getattr(args, "dry_run", False):  # checked as a real sweep is; now the plan, and nothing starts
        return dry_run(args, spec, trials, configs)
    # Tune warns when trials checkpoint often; ours are a few bytes each (rows reported so far)
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    try:
        import ray
        from ray import tune
    except ImportError:
        raise ValueError(INSTALL_LINE) from None

    if out.exists() and any(out.iterdir()):
        recorded = read_json(out / "sweep_spec.json")
        if not args.resume:
            raise FileExistsError(f"{out} already exists and is not empty (--resume continues the sweep "
                                  "there; or pass another --out)")
        if recorded is None:
            raise ValueError(f"--resume: {out} holds no sweep (no sweep_spec.json)")
        same_spec(recorded["spec"], spec, out)
    elif args.resume:
        raise ValueError(f"--resume: {out} holds no sweep to continue")
    for cfg in {(c.oracle_path,) for c in configs.values() if c.data == "oracle" and c.oracle == "paper"}:
        from seqgan_gym.data.paper_oracle import find_paper_oracle

        find_paper_oracle(cfg[0])  # fetched once here, not by every trial at once
    if not args.address:
        from seqgan_gym.utils import usable_cpus

        cpus = usable_cpus()
        if args.cpus_per_trial > cpus:
            raise ValueError(f"--cpus-per-trial {args.cpus_per_trial} exceeds this machine's {cpus} CPUs")
    out.mkdir(parents=True, exist_ok=True)
    for trial in trials:
        trial.update(threads=args.cpus_per_trial,
                     status_file=str((out / "trials" / f"{trial['name']}.json").resolve()),
                     log=str((out / "logs" / f"{trial['name']}.log").resolve()))
    spec_record = {k: v for k, v in spec.items()}
    # this run of the sweep: a trial checks that its node sees this very file at --out (node_problem)
    sweep_id = uuid.uuid4().hex
    write_json(out / "sweep_spec.json", {"spec": spec_record, "trials": trials, "sweep_id": sweep_id},
                sort_keys=False)

    start = time.time()
    started_ray = False
    if not ray.is_initialized():
        if args.address:
            ray.init(address=args.address, log_to_driver=False)
        else:
            ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        started_ray = True
    try:
        cluster_cpus = ray.cluster_resources().get("CPU", 0)
        concurrent = min(len(trials), int(cluster_cpus // args.cpus_per_trial))
        resources = {"cpu": args.cpus_per_trial}
        gpus = per_trial = ""
        if args.gpus_per_trial:
            resources["gpu"] = args.gpus_per_trial
            cluster_gpus = ray.cluster_resources().get("GPU", 0)
            if cluster_gpus < args.gpus_per_trial:  # no trial could ever start
                raise ValueError(f"--gpus-per-trial {args.gpus_per_trial:g}: the Ray cluster has "
                                 f"{cluster_gpus:g} GPU(s), so no trial ran (--resume continues in {out})")
            concurrent = min(concurrent, int(cluster_gpus / args.gpus_per_trial + 1e-9))
            gpus, per_trial = f" and {cluster_gpus:g} GPUs", f", {args.gpus_per_trial:g} GPU(s)"
        print(f"[sweep] {spec['name']}: {len(spec['configurations'])} configurations x {len(spec['seeds'])} "
              f"seeds = {len(trials)} trials on Ray {ray.__version__} "
              f"({'cluster ' + args.address if args.address else 'local'}: {cluster_cpus:g} CPUs{gpus}; "
              f"{args.cpus_per_trial} CPU(s) and torch thread(s){per_trial} per trial, so {concurrent} at a "
              f"time); folder {out}", flush=True)
        stop = _node_problem_stopper(tune)
        tuner = tune.Tuner(
            tune.with_resources(run_trial, resources),
            param_space={"trial": tune.grid_search(trials),
                         "sweep": {"out": str(out.resolve()), "id": sweep_id}},
            tune_config=tune.TuneConfig(trial_name_creator=lambda t: t.config["trial"]["name"],
                                        trial_dirname_creator=lambda t: t.config["trial"]["name"]),
            run_config=tune.RunConfig(
                name=f"tune-{time.strftime('%Y%m%d-%H%M%S')}", storage_path=str((out / "ray").resolve()),
                failure_config=tune.FailureConfig(max_failures=args.max_failures), stop=stop,
                callbacks=[_progress_callback(tune, spec["metric"], stop)], verbose=0))
        grid = tuner.fit()
        errors = {r.config["trial"]["name"]: r.error for r in grid if r.error is not None}
    finally:
        if started_ray:
            ray.shutdown()
    wall = time.time() - start
    run_info = {"wall_s": round(wall, 1), "cpus_per_trial": args.cpus_per_trial,
                "gpus_per_trial": args.gpus_per_trial, "concurrent": concurrent, "cluster_cpus": cluster_cpus,
                "address": args.address, "ray": ray.__version__, "resumed_sweep": bool(args.resume),
                "errors": {k: f"{type(v).__name__}: {v}"[:500] for k, v in errors.items()}}
    if stop.problem:
        run_info["stopped"] = stop.problem
    write_json(out / "sweep_spec.json", {"spec": spec_record, "trials": trials, "sweep_id": sweep_id,
                                          "run": run_info},
                sort_keys=False)  # the spec's order: the table's rows and columns
    if stop.problem:  # a node that cannot run trials as asked would fail every trial it is given
        raise ValueError(f"{stop.problem}. The sweep stopped; fix that node, then continue with: "
                         f"seqgan-gym sweep {args.spec} --out {out} --resume")
    report = write_report(out, spec_record, trials, run_info=run_info)
    print(report["markdown"])
    print(f"[sweep] {len(trials)} trials in {wall:.0f} s; wrote {out}/sweep.md, sweep.json, sweep.png",
          flush=True)
    if errors:
        print(f"[sweep] {len(errors)} trial(s) ended in error after {args.max_failures} restarts: "
              f"{', '.join(errors)}; see {out}/logs/", file=sys.stderr)
    if report["incomplete"]:  # errors, failed runs, or a sweep stopped by Ctrl-C
        print(f"[sweep] {len(report['incomplete'])} of {len(trials)} trials did not complete; the table "
              f"leaves them out. Continue the sweep with: seqgan-gym sweep {args.spec} --out {out} --resume",
              file=sys.stderr)
        return 1
    return 0


def same_spec(recorded: dict, spec: dict, out: Path) -> None:
    keys = ("preset", "seeds", "set", "configurations", "generator_checkpoint")
    if any(recorded.get(k) != spec.get(k) for k in keys):
        raise ValueError(f"{out} holds a sweep of another spec (preset, seeds, [set] or configurations "
                         "differ); pass another --out")


def _node_problem_stopper(tune):
    """A Tune stopper that stops the whole sweep once a trial reports a ``node_problem`` (a node that
    does not see --out, or a GPU torch cannot use there): every trial given to that node would fail
    the same way, at once, so the sweep stops and says why (``.problem``) instead."""

    class NodeProblem(tune.Stopper):
        problem: str | None = None

        def __call__(self, trial_id, result):
            if result.get("node_problem") and self.problem is None:
                self.problem = result["node_problem"]
            return bool(result.get("node_problem"))

        def stop_all(self):
            return self.problem is not None

    return NodeProblem()


def _progress_callback(tune, metric: str, stop=None):
    """One line per evaluation, failure and finished trial (Ray's own tables are off); none once
    ``stop`` (:func:`_node_problem_stopper`) stops the sweep, which then says why."""

    class Progress(tune.Callback):
        def on_trial_result(self, iteration, trials, trial, result, **info):
            if result.get("phase") == "failed":
                return
            shown = [f"{k} {result[k]:.4f}" for k in (metric, "nll_test") if k in result]
            shown = list(dict.fromkeys(shown))
            print(f"[sweep] {trial.config['trial']['name']}: {result.get('phase')} {result.get('step')}: "
                  f"{', '.join(shown)}", flush=True)

        def on_trial_recover(self, iteration, trials, trial, **info):
            print(f"[sweep] {trial.config['trial']['name']}: its process or worker died (failure "
                  f"{trial.num_failures}); Tune starts it again and it resumes", flush=True)

        def on_trial_error(self, iteration, trials, trial, **info):
            print(f"[sweep] {trial.config['trial']['name']}: failed {trial.num_failures} times; "
                  "no restarts left", flush=True)

        def on_trial_complete(self, iteration, trials, trial, **info):
            if stop is not None and stop.problem:  # stopped, not done
                return
            print(f"[sweep] {trial.config['trial']['name']}: done", flush=True)

    return Progress()
