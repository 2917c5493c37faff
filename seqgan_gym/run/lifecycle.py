"""A run directory's life: create it (locked, checked, the set-up built before an earlier run there
is replaced), record the config, note how the run ends (``summary.json``, also on a failure or
Ctrl-C), and reopen a stopped run to resume it, every file checked before any work.

The ``seqgan-gym`` command (:mod:`seqgan_gym.run.cli`) parses the options and calls these.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import torch

from seqgan_gym.config import ExperimentConfig, describe_schedule
from seqgan_gym.data.corpus import too_long_note
from seqgan_gym.utils import remove_stale_temporaries, resolve_device, usable_cpus


def start_run(cfg: ExperimentConfig, run_dir: Path, *, overwrite: bool = False, fallback_mode: str = "error",
              estimate: bool = False, check_setup=None, **extra):
    """Lock ``run_dir``, build the setup (and run ``check_setup(cfg, setup)``), and only then clear an
    earlier run there (``overwrite``), open the run directory and record the config there.

    The lock is taken before anything in the directory is read, deleted or written, and the
    returned log holds it until it closes; a set-up that fails leaves the directory as it was.

    :param fallback_mode: 'random': train on a seeded random oracle when the paper's is unavailable
        (see :func:`oracle_fallback`); 'error': stop.
    :param estimate: print the run's estimated wall time first and give the run log its ETA clock.
    :param extra: more entries for ``config.json``.
    :return: ``(cfg, setup, log)``: the config with the values the data fixes, the set-up, the open
        run log.
    """
    from seqgan_gym.experiment.log import RunDirLock, RunLog
    from seqgan_gym.experiment.setup import build_setup
    from seqgan_gym.run.estimate import RunClock

    try:
        str(run_dir.resolve()).encode("utf-8")
    except UnicodeEncodeError:  # bytes that are not UTF-8 in the name: TensorBoard cannot write there
        raise ValueError(f"run directory {str(run_dir)!a}: its path is not valid UTF-8 (TensorBoard "
                         "cannot write there); choose another name") from None
    lock = RunDirLock(run_dir)  # a second process on this directory is refused here, in one line
    try:
        replace = check_run_dir(run_dir, overwrite)  # before any expensive work
        cfg, fallback = oracle_fallback(cfg, fallback_mode)
        print(f"[seqgan-gym] {describe_schedule(cfg)}")
        run_estimate = None
        if estimate:
            line, run_estimate = estimate_line(cfg, pretrained=bool(extra.get("generator_checkpoint")))
            print(f"[seqgan-gym] {line}", flush=True)
        setup = build_setup(cfg)
        cfg = setup.cfg  # with the values the data fixes (V; a corpus's T and sizes)
        setup.oracle_fallback = fallback
        if check_setup is not None:
            check_setup(cfg, setup)
        if replace:  # the new run's set-up has succeeded: the earlier run goes
            clear_run_dir(run_dir)
        log = RunLog(run_dir, lock=lock)
    except BaseException:
        lock.abandon()  # a directory this set-up created, and holds nothing, goes too
        raise
    log.nll_limit = 10 * math.log(cfg.vocab_size)  # the divergence guard: uniform is ln V
    if run_estimate is not None:
        log.clock = RunClock(run_estimate, log.start)
    log.write_json("config.json", {"command": sys.argv, "config": cfg.to_dict(),
                                   "oracle_file": setup.oracle_file, "oracle_fallback": fallback,
                                   "device": str(setup.device), "torch": torch.__version__,
                                   "threads": torch.get_num_threads(),
                                   "schedule": describe_schedule(cfg),
                                   "estimate_s": None if run_estimate is None else
                                   {**run_estimate.phases, "total": run_estimate.total}, **extra})
    if setup.oracle is not None:
        which = (f"the paper's, {setup.oracle_file['path']}" if setup.oracle_file else
                 f"RANDOM N(0,1), oracle_seed {cfg.oracle_seed}" + (", fallback" if fallback else ""))
        source = (f"oracle {which} (V={cfg.vocab_size}, T={cfg.seq_len}); oracle floor (the "
                  f"oracle's NLL on its own samples) {setup.oracle_floor:.4f}")
    else:
        source = (f"corpus {cfg.data} (V={cfg.vocab_size}, T={cfg.seq_len}, {cfg.n_train} train / "
                  f"{cfg.n_test} test sequences; BLEU-{cfg.eval_bleu_order} against all {cfg.n_test})")
        log.write_json("corpus_split.json", setup.data.split)
        note = too_long_note(setup.data.split)
        if note:
            source += f"; {note}"
    print(f"[seqgan-gym] run directory {log.dir}; device {setup.device}; {source}")
    return cfg, setup, log


def clear_run_dir(run_dir: Path) -> None:
    """Delete an earlier run's files from ``run_dir``, keeping the lock file this process holds."""
    from seqgan_gym.experiment.log import run_dir_contents

    for path in run_dir_contents(run_dir):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def estimate_line(cfg: ExperimentConfig, pretrained: bool = False):
    """``(line, estimate)``: the run's estimated wall time on this machine (seqgan_gym.run.estimate: a
    few seconds of calibration at its sizes), or why there is none (estimate None)."""
    from seqgan_gym.run.estimate import estimate

    where = f"{resolve_device(cfg.device)}, {torch.get_num_threads()} thread(s)"
    try:
        run_estimate = estimate(cfg, pretrained=pretrained)
    except (ValueError, OSError) as e:  # OSError: its timed writes failed (a full disk, ulimit -f)
        return f"no time estimate: {e}", None
    return (f"estimated wall time on this machine ({where}) {run_estimate.describe()}; calibrated in "
            f"{run_estimate.units.calibration_s:.1f} s", run_estimate)


def check_run_dir(run_dir: Path, overwrite: bool) -> bool:
    """A run directory must be new or empty. ``--overwrite`` may replace an earlier run that has
    ended (its ``config.json`` is a seqgan-gym run's and its ``summary.json`` exists), never another
    folder or a run still being written. Returns whether to remove it; the caller removes it only
    once the new run's setup has succeeded."""
    from seqgan_gym.experiment.log import run_dir_contents

    if run_dir.exists() and not run_dir.is_dir():
        raise ValueError(f"run directory {run_dir} is a file")
    if not run_dir_contents(run_dir):  # new, empty, or only a lock file
        return False
    if not overwrite:
        raise FileExistsError(f"run directory {run_dir} already exists and is not empty "
                              "(--overwrite replaces an earlier run)")
    try:
        recorded = json.loads((run_dir / "config.json").read_text())
        is_run = isinstance(recorded, dict) and {"command", "config", "schedule"} <= set(recorded)
    except (OSError, ValueError):
        is_run = False
    if not is_run:
        raise FileExistsError(f"--overwrite refused: {run_dir} is not a seqgan-gym run directory (no "
                              "config.json written by seqgan-gym)")
    if not (run_dir / "summary.json").is_file():
        raise FileExistsError(f"--overwrite refused: {run_dir} has no summary.json, so its run may still "
                              "be going; remove it yourself if it is not")
    return True


@contextlib.contextmanager
def run_status(log, resumable: bool = True):
    """Around a run's phases: on a failure or Ctrl-C, ``summary.json`` says so (``status``, the
    reason, the last logged row and where the run can resume) before the error goes on; the log
    is closed in every case. :func:`finish_run` writes ``status: completed``."""
    try:
        yield
    except BaseException as e:
        interrupted = isinstance(e, KeyboardInterrupt)
        if interrupted:  # a second Ctrl-C must not cut the summary and the hint short (main restores)
            with contextlib.suppress(ValueError):  # ValueError: not the main thread
                signal.signal(signal.SIGINT, LaterCtrlC())
        resumable = resume_point(log.dir) if resumable else None
        with contextlib.suppress(OSError):  # a full disk must not hide the original error
            log.write_json("summary.json", {
                "status": "interrupted" if interrupted else "failed",
                "reason": "Ctrl-C (SIGINT)" if interrupted else f"{type(e).__name__}: {e}",
                "last_row": log.rows[-1] if log.rows else None, "resume_from": resumable,
                "wall_s": round(time.time() - log.start, 1)})
        if interrupted:
            where = (f"its last checkpoint is after {resumable}; continue it with `seqgan-gym train "
                     f"--resume {log.dir}`" if resumable else "start it again to finish it")
            raise KeyboardInterrupt(f"interrupted (Ctrl-C) in {log.dir}: {where}") from None
        raise
    finally:
        log.close()


class LaterCtrlC:
    """The SIGINT handler while a run writes its summary after a Ctrl-C: the second Ctrl-C is
    ignored, a third stops the process at once (exit status 130), should the clean-up hang."""

    def __init__(self) -> None:
        self.presses = 0

    def __call__(self, signum, frame) -> None:
        self.presses += 1
        if self.presses >= 2:
            os._exit(130)


def resume_point(run_dir: Path) -> str | None:
    """'<phase> step <n>' of a run directory's resumable checkpoint (None: it has none)."""
    from seqgan_gym.experiment.resume import Checkpointer

    try:
        saved = Checkpointer.load(run_dir / "checkpoints").saved
        return f"{saved['phase']} step {saved['step']}"
    except (OSError, ValueError):
        return None


def oracle_fallback(cfg: ExperimentConfig, mode: str) -> tuple[ExperimentConfig, str | None]:
    """``(cfg, None)``, or with ``mode`` 'random' and the paper's oracle unavailable, ``cfg`` moved to
    a seeded random oracle of the paper's shape and the one-line reason. An explicit
    ``--oracle-path`` that does not exist is always an error."""
    from seqgan_gym.data.paper_oracle import OracleUnavailableError, find_paper_oracle

    if mode != "random" or cfg.data != "oracle" or cfg.oracle != "paper" or cfg.oracle_path:
        return cfg, None
    try:
        find_paper_oracle()
        return cfg, None
    except OracleUnavailableError as e:
        reason = f"the paper's oracle is unavailable: {e.reason}"
    cfg = dataclasses.replace(cfg, oracle="random")
    print(f"[seqgan-gym] {reason}. FALLBACK: training on a seeded random N(0,1) oracle of the same "
          f"shape (oracle_seed {cfg.oracle_seed}); its numbers are NOT comparable with the paper's "
          "(`seqgan-gym fetch-oracle` gets the paper's oracle)", flush=True)
    return cfg, f"{reason}; trained on a random N(0,1) oracle (oracle_seed {cfg.oracle_seed}) instead"


def finish_run(log, setup, generator, title: str, summary: dict) -> dict:
    """Write 100 samples of G (decoded too, for a corpus), the learning curve and ``summary.json``
    (with floor and wall time)."""
    samples = generator.sample(100, rng=setup.rng("samples_file"))
    log.write_samples(samples)
    if setup.corpus is not None:
        from seqgan_gym.utils import atomic_write_text

        atomic_write_text(log.dir / "samples_decoded.txt",
                          "\n".join(setup.corpus.decode(row) for row in samples.tolist()) + "\n")
    fallback = setup.oracle_fallback
    if fallback:
        title = f"{title}\nRANDOM oracle (fallback: the paper's was unavailable)"
    log.plot_learning_curve(setup.oracle_floor, title=title)
    summary = {"status": "completed", **summary, "oracle_file": setup.oracle_file,
               "oracle_fallback": fallback, "oracle_floor": setup.oracle_floor,
               "wall_s": round(time.time() - log.start, 1)}
    log.write_json("summary.json", summary)
    (log.dir / "checkpoints" / "resume.pt").unlink(missing_ok=True)  # a completed run never resumes
    return summary


def resume_run(run_dir: Path, threads_given: bool = False):
    """Reopen ``run_dir``, a train run that stopped (killed, Ctrl-C, failed): its config from
    ``config.json``, its state from ``checkpoints/resume.pt``, ``metrics.csv`` cut back to that
    state's rows. The thread count is the run's own unless ``threads_given`` (the numbers depend on
    it). The directory is locked before anything in it is read; every file is checked before any
    work.

    :return: ``(cfg, setup, log, checkpointer, generator_checkpoint)``.
    """
    from seqgan_gym.experiment.log import RunDirLock

    not_a_run = (f"--resume: {run_dir} is not a seqgan-gym train run directory (no readable "
                 "config.json of a train run)")
    if not (run_dir / "config.json").is_file():
        raise ValueError(not_a_run)
    lock = RunDirLock(run_dir, create=False)  # before anything in the directory is read
    try:
        return _reopen_run(run_dir, lock, not_a_run, threads_given)
    except BaseException:
        lock.close()
        raise


def _reopen_run(run_dir: Path, lock, not_a_run: str, threads_given: bool):
    """:func:`resume_run`'s work once it holds the directory's ``lock``."""
    from seqgan_gym.experiment.log import RunLog
    from seqgan_gym.experiment.resume import Checkpointer
    from seqgan_gym.experiment.setup import build_setup

    config_file = run_dir / "config.json"
    recorded = read_json_file(config_file)
    if not (isinstance(recorded, dict) and isinstance(recorded.get("config"), dict)
            and isinstance(recorded.get("command"), list) and recorded["command"][1:2] == ["train"]):
        raise ValueError(not_a_run)
    try:
        cfg = ExperimentConfig(**recorded["config"])  # checked as it is built
    except TypeError as e:
        raise ValueError(f"{config_file}: not a config this version can read ({e})") from None
    except ValueError as e:
        raise ValueError(f"{config_file}: {e}") from None
    summary = run_dir / "summary.json"
    if summary.is_file():
        status = read_json_file(summary)
        if isinstance(status, dict) and status.get("status") == "completed":
            raise ValueError(f"--resume: the run in {run_dir} has completed; nothing to resume")
    checkpointer = Checkpointer.load(run_dir / "checkpoints")
    checkpointer.check_config(cfg.to_dict(), config_file)
    checkpointer.config = cfg.to_dict()
    device = recorded.get("device", "cpu")
    try:
        here, there = resolve_device(cfg.device), torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{config_file}: device {device!r} is not a torch device") from None
    if here.type != there.type:
        raise ValueError(f"--resume: the run used {device}, this machine's device for "
                         f"it is {here}; a run resumes on the device kind it started on")
    threads = recorded.get("threads")
    if not threads_given and type(threads) is int and threads >= 1:
        torch.set_num_threads(threads)  # the run's own count: the numbers depend on it
        if threads > usable_cpus():
            print(f"[seqgan-gym] note: resuming with the run's {threads} threads on {usable_cpus()} CPU(s), "
                  "for the same numbers; --threads N runs faster, but may change the last digits", flush=True)
    elif threads and threads != torch.get_num_threads():
        print(f"[seqgan-gym] note: the run used {threads} threads, this resume {torch.get_num_threads()} "
              "(--threads); the numbers may differ in the last digits from an uninterrupted run", flush=True)
    saved = checkpointer.saved
    generator_checkpoint = recorded.get("generator_checkpoint")
    last = {"mle": cfg.mle_epochs, "mle_best": cfg.mle_epochs, "dis_pretrain": cfg.dis_pretrain_steps,
            "adversarial": cfg.adv_iterations}
    if saved["step"] > last[saved["phase"]]:
        raise ValueError(f"{checkpointer.path}: written after {saved['phase']} step {saved['step']}, "
                         f"which this run ({config_file}) never reaches")
    print(f"[seqgan-gym] resuming {run_dir} after {saved['phase']} step {saved['step']}: "
          f"{describe_schedule(cfg)}", flush=True)
    setup = build_setup(cfg)
    cfg = setup.cfg  # with the values the data fixes
    setup.oracle_fallback = recorded.get("oracle_fallback")
    log = RunLog(run_dir, resume_rows=saved["rows"], resume_wall_s=saved["wall_s"], lock=lock,
                 resume_last=(saved["phase"], saved["step"]), max_steps=last)
    summary.unlink(missing_ok=True)  # the run is going again
    stale = remove_stale_temporaries(run_dir) + remove_stale_temporaries(run_dir / "checkpoints")
    if stale:
        print(f"[seqgan-gym] removed {len(stale)} temporary file(s) a killed write left: "
              f"{', '.join(p.name for p in stale)}", flush=True)
    log.nll_limit = 10 * math.log(cfg.vocab_size)
    return cfg, setup, log, checkpointer, generator_checkpoint


def recorded_config(path: Path) -> dict:
    """The ``config`` a run's ``config.json`` recorded; anything else is a one-line error naming it."""
    recorded = read_json_file(path)
    if not (isinstance(recorded, dict) and isinstance(recorded.get("config"), dict)):
        raise ValueError(f"{path}: not a seqgan-gym run's config.json (no \"config\" object)")
    return recorded["config"]


def read_json_file(path: Path):
    """The JSON in ``path``; a file that is not JSON is a one-line error naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
