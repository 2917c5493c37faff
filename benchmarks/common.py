"""What the benchmarks share: the machine record, and the common start and runs of the
method comparisons (``compare_rewards.py``, ``paper_table.py``, ``compare_intermediate_rewards.py``)."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import torch

from seqgan_gym.algorithm1 import adversarial_training
from seqgan_gym.config import ExperimentConfig, get_preset
from seqgan_gym.data.paper_oracle import find_paper_oracle
from seqgan_gym.experiment import setup as experiment
from seqgan_gym.experiment.log import RunLog
from seqgan_gym.experiment.setup import (
    Setup,
    new_generator,
    pretrain_discriminator,
    pretrain_generator,
    with_config,
)
from seqgan_gym.models.discriminator import make_discriminator_optimizer
from seqgan_gym.models.saving import load_language_model, save_language_model
from seqgan_gym.utils import cpu_model


def machine_info(threads: int) -> dict:
    """CPU model, core count, torch threads and version, OpenMP wait policy, load average."""
    return {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "torch_threads": threads,
            "torch": torch.__version__, "python": platform.python_version(),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
            "loadavg_start": list(os.getloadavg())}


def matmul_seconds(a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, repeats: int = 3) -> list[float]:
    """Wall seconds of ``repeats`` square fp32 ``torch.mm`` calls (after one warm-up)."""
    torch.mm(a, b, out=out)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        times.append(time.perf_counter() - start)
    return times


def matmul_gflops(n: int = 2048, repeats: int = 3) -> float:
    """This machine's fp32 ``torch.mm`` rate at the current torch thread count, GFLOP/s (the best
    of ``repeats`` square n x n products): what makes seconds from two runs comparable."""
    a, b, out = torch.rand(n, n), torch.rand(n, n), torch.empty(n, n)
    return 2 * n**3 / min(matmul_seconds(a, b, out, repeats)) / 1e9


def save_figure(fig, path: Path, dpi: int = 120) -> None:
    """Lay out ``fig`` and write it to ``path`` atomically (a temporary file, then a rename); close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = Path(path).with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=dpi)
    plt.close(fig)
    os.replace(tmp, path)


def oracle_overrides() -> list[str]:
    """``[]`` where this machine has the paper's oracle (without downloading), else
    ``["oracle=random"]`` (a random oracle of the same shape); say which in the output."""
    try:
        find_paper_oracle(download=False)
        return []
    except FileNotFoundError:
        return ["oracle=random"]


def comparison_budget(out: str, quick: bool, preset: str, iterations: int | None, seeds: list[int],
                      eval_every: int, overrides: list[str] = (), resume: bool = False
                      ) -> tuple[Path, str, ExperimentConfig, int, list[int]]:
    """A method comparison's output folder (refused if it holds runs already, unless ``resume``),
    preset, base config (``overrides`` applied; ``g_steps`` 1, the updates per run as
    ``adv_iterations``), updates per run and seeds, from its ``--out``, ``--quick`` (smoke preset, 4
    updates, the first 2 seeds), ``--preset``, ``--iterations`` (None: the preset's), ``--seeds`` and
    ``--eval-every``."""
    folder = Path(out + ("_quick" if quick else ""))
    if resume and not folder.is_dir():
        sys.exit(f"error: --resume: {folder} does not exist")
    if not resume and (folder / "runs").exists() and any((folder / "runs").iterdir()):
        sys.exit(f"{folder}/runs already holds runs; pass another --out or remove it")
    preset = "smoke" if quick else preset
    base = get_preset(preset)
    iterations = 4 if quick else (iterations or base.adv_iterations)
    seeds = seeds[:2] if quick else seeds
    try:
        base = base.override(list(overrides)).validate()
    except ValueError as e:  # before any work: one line
        sys.exit(f"error: {e}")
    base = dataclasses.replace(base, adv_iterations=iterations,
                               eval_every=eval_every, g_steps=1)
    return folder, preset, base, iterations, seeds


@dataclasses.dataclass
class CommonStart:
    """What every compared method starts from: one MLE generator and (for D rewards) one
    pre-trained discriminator with its optimizer state."""

    generator: torch.nn.Module
    generator_source: str
    discriminator: torch.nn.Module | None = None
    d_optimizer: torch.optim.Optimizer | None = None


def common_start(setup: Setup, out: Path, generator_checkpoint: str | None,
                 need_discriminator: bool) -> CommonStart:
    """Load the MLE generator (or pre-train one with the preset's epochs, saved under ``out``) and
    pre-train D (``cfg.dis_form``'s) on it with the preset's schedule when ``need_discriminator``."""
    cfg = setup.cfg
    if generator_checkpoint:
        g0 = load_language_model(generator_checkpoint, device=str(setup.device))
        source = generator_checkpoint
    else:
        log = RunLog(out / "runs" / "pretrain")
        g0 = new_generator(setup)
        pretrain_generator(setup, g0, log, progress=False)
        log.close()
        save_language_model(g0, out / "generator_mle.pt")
        source = f"MLE pre-training in this run, {cfg.mle_epochs} epochs ({cfg.preset} preset)"
    start = CommonStart(g0, source)
    if need_discriminator:
        log = RunLog(out / "runs" / "dis_pretrain")
        # cfg.dis_form's D; the density ratio's p_ref is the MLE run's best epoch, beside the checkpoint
        reference = (Path(generator_checkpoint).parent if generator_checkpoint
                     else out / "runs" / "pretrain" / "checkpoints") / "generator_mle_best.pt"
        start.discriminator = experiment.new_discriminator(setup, g0, reference)
        start.d_optimizer = make_discriminator_optimizer(start.discriminator, lr=cfg.dis_lr)
        pretrain_discriminator(setup, start.discriminator, start.d_optimizer, g0, log, progress=False)
        log.close()
    return start


@contextlib.contextmanager
def timed_evaluations():
    """Count the seconds the adversarial loop spends evaluating (``experiment.evaluate`` and
    ``experiment.measure_discriminator``, which the loop calls by module): yields a list whose
    one element is the running total."""
    total = [0.0]
    originals = {name: getattr(experiment, name) for name in ("evaluate", "measure_discriminator")}

    def timed(fn):
        def wrapper(*args, **kwargs):
            t0 = time.time()
            try:
                return fn(*args, **kwargs)
            finally:
                total[0] += time.time() - t0
        return wrapper

    for name, fn in originals.items():
        setattr(experiment, name, timed(fn))
    try:
        yield total
    finally:
        for name, fn in originals.items():
            setattr(experiment, name, fn)


def run_method(setup: Setup, start: CommonStart, run_dir: Path, strategy=None, **changes) -> dict:
    """One adversarial run from copies of the common start, under ``setup.cfg`` with ``changes``
    (e.g. ``seed=1, algo="ppo", reward="discriminator"``); ``strategy``: a pre-trained learned
    intermediate reward (copied; see :mod:`seqgan_gym.rewards.intermediate`). Returns its record: the
    evaluation curve (``updates``, ``nll_test`` and ``nll_oracle`` or, for a corpus, ``bleu`` and
    ``self_bleu``; ``train_s``, the run's wall time at each evaluation without the time spent
    evaluating), the last ``final_score``; per generator update the score and the KL to the MLE
    policy (``score_curve``, ``kl_curve``; None where not logged); D's signal at each evaluation
    (``d_heldout_auc``, ``d_oracle_spearman``, with a D); the wall time and the path of the final
    generator checkpoint."""
    cfg = dataclasses.replace(setup.cfg, **changes)
    run_setup = with_config(setup, cfg)
    generator = copy.deepcopy(start.generator)
    d = d_opt = None
    if cfg.reward == "discriminator":
        d = copy.deepcopy(start.discriminator)
        d_opt = make_discriminator_optimizer(d, lr=cfg.dis_lr)
        # load_state_dict shares the state's tensors: copy them, or every run would step the
        # common start's Adam moments
        d_opt.load_state_dict(copy.deepcopy(start.d_optimizer.state_dict()))
    log = RunLog(run_dir)
    t0 = time.time()
    with timed_evaluations() as evaluating:
        train_s = []  # the wall time of each evaluation row, less all evaluation so far
        log_row = log.log

        def log_and_time(phase, step, **values):
            row = log_row(phase, step, **values)
            if values.get("nll_test") is not None:
                train_s.append(round(time.time() - t0 - evaluating[0], 2))
            return row

        log.log = log_and_time
        _, trained = adversarial_training(run_setup, generator, log, d, d_opt, progress=False,
                                          strategy=copy.deepcopy(strategy))
    wall = time.time() - t0
    checkpoint = run_dir / "checkpoints" / "generator_final.pt"
    save_language_model(trained, checkpoint)
    rows = [r for r in log.rows if r["phase"] == "adversarial"]
    log.close()
    evals = [r for r in rows if r.get("nll_test") is not None]
    updates = [r for r in rows if r["step"] > 0]  # one row per generator update (g_steps is 1 here)
    scores = [r.get("final_score") for r in updates]
    curves = {k: [r.get(k) for r in evals]  # NLL_oracle (oracle) or BLEU (a corpus); D's signal
              for k in ("nll_oracle", "nll_test", "bleu", "self_bleu", "d_heldout_auc", "d_oracle_spearman")
              if evals and evals[0].get(k) is not None}
    return {
        "algo": cfg.algo, "reinforce_baseline": cfg.reinforce_baseline, "reward": cfg.reward,
        "kl_coef": cfg.kl_coef, "seed": cfg.seed, "wall_s": round(wall, 2), "eval_s": round(evaluating[0], 2),
        "updates": [r["step"] * cfg.g_steps for r in evals], "train_s": train_s, **curves,
        "final_score": next((x for x in reversed(scores) if x is not None), None),
        "score_curve": scores, "kl_curve": [r.get("kl") for r in updates],
        "sequences_per_update": cfg.num_envs * cfg.g_steps,
        "checkpoint": str(checkpoint.resolve()),
    }
