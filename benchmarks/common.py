"""What the benchmarks share: the machine record, and the common start and runs of the
method comparisons (``compare_rewards.py``, ``paper_table.py``)."""

from __future__ import annotations

import copy
import dataclasses
import os
import platform
import time
from pathlib import Path

import torch

from seqgan_gym.algorithm1 import adversarial_training
from seqgan_gym.checkpoints import load_language_model, save_language_model
from seqgan_gym.discriminator import make_discriminator_optimizer, paper_discriminator
from seqgan_gym.experiment import (
    Setup,
    new_generator,
    pretrain_discriminator,
    pretrain_generator,
    with_config,
)
from seqgan_gym.paper_oracle import find_paper_oracle
from seqgan_gym.runlog import RunLog
from seqgan_gym.utils import cpu_model


def machine_info(threads: int) -> dict:
    """CPU model, core count, torch threads and version, OpenMP wait policy, load average."""
    return {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "torch_threads": threads,
            "torch": torch.__version__, "python": platform.python_version(),
            "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
            "loadavg_start": list(os.getloadavg())}


def oracle_overrides() -> list[str]:
    """``[]`` where this machine has the paper's oracle (without downloading), else
    ``["oracle=random"]`` (a random oracle of the same shape); say which in the output."""
    try:
        find_paper_oracle(download=False)
        return []
    except FileNotFoundError:
        return ["oracle=random"]


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
    pre-train D on it with the preset's schedule when ``need_discriminator``."""
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
        start.discriminator = paper_discriminator(cfg.vocab_size, cfg.seq_len, seed=cfg.seed).to(setup.device)
        start.d_optimizer = make_discriminator_optimizer(start.discriminator, lr=cfg.dis_lr)
        pretrain_discriminator(setup, start.discriminator, start.d_optimizer, g0, log, progress=False)
        log.close()
    return start


def run_method(setup: Setup, start: CommonStart, run_dir: Path, **changes) -> dict:
    """One adversarial run from copies of the common start, under ``setup.cfg`` with ``changes``
    (e.g. ``seed=1, algo="ppo", reward="discriminator"``). Returns its record: the evaluation
    curve (``updates``, ``nll_test`` and ``nll_oracle`` or, for a corpus, ``bleu`` and
    ``self_bleu``), the last ``final_score``, the wall time and
    the path of the final generator checkpoint."""
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
    _, trained = adversarial_training(run_setup, generator, log, d, d_opt, progress=False)
    wall = time.time() - t0
    checkpoint = run_dir / "checkpoints" / "generator_final.pt"
    save_language_model(trained, checkpoint)
    rows = [r for r in log.rows if r["phase"] == "adversarial"]
    log.close()
    evals = [r for r in rows if r.get("nll_test") is not None]
    scores = [r["final_score"] for r in rows if r.get("final_score") is not None]
    curves = {k: [r[k] for r in evals] for k in ("nll_oracle", "nll_test", "bleu", "self_bleu")
              if evals and evals[0].get(k) is not None}  # NLL_oracle (oracle) or BLEU (a corpus)
    return {
        "algo": cfg.algo, "reinforce_baseline": cfg.reinforce_baseline, "reward": cfg.reward,
        "seed": cfg.seed, "wall_s": round(wall, 1),
        "updates": [r["step"] * cfg.g_steps for r in evals], **curves,
        "final_score": scores[-1] if scores else None,
        "checkpoint": str(checkpoint.resolve()),
    }
