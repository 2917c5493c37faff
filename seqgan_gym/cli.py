"""The ``seqgan-gym`` command. Thin: it parses arguments and wires the library's pieces.

    seqgan-gym pretrain [--preset cpu|paper|smoke] [--oracle paper|random] [--set field=value ...]
    seqgan-gym train [same] [--algo reinforce|ppo|a2c] [--reward discriminator|bleu|oracle]
    seqgan-gym train --data quatrains|coco|nottingham|PATH [--data-path FOLDER] ...  (a real corpus)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from seqgan_gym.config import PRESETS, ExperimentConfig, describe_schedule, get_preset


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="cpu", choices=sorted(PRESETS),
                   help="starting values: paper (authors' schedule), cpu (default), smoke (seconds)")
    p.add_argument("--data", help="oracle (default: the synthetic experiment), or a corpus: "
                                  "quatrains, coco, nottingham, a text file or a folder with "
                                  "train.txt/test.txt")
    p.add_argument("--data-path", help="where a bundled corpus's files are (the Nottingham .abc folder)")
    p.add_argument("--oracle", choices=["paper", "random"], help="the true distribution")
    p.add_argument("--oracle-path", help="the paper's oracle (.npz or target_params_py3.pkl)")
    p.add_argument("--oracle-seed", type=int, help="seed of a random oracle")
    p.add_argument("--seed", type=int, help="seed of the run")
    p.add_argument("--device", help="auto (default), cpu, cuda, ...")
    p.add_argument("--run-dir", help="where to write the run (default runs/<command>-<preset>-<time>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override any config field, e.g. --set mle_epochs=10 (repeatable)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _resolve_config(args: argparse.Namespace) -> ExperimentConfig:
    cfg = get_preset(args.preset)
    direct = {"data": args.data, "data_path": args.data_path, "oracle": args.oracle,
              "oracle_path": args.oracle_path, "oracle_seed": args.oracle_seed, "seed": args.seed,
              "device": args.device,
              "algo": getattr(args, "algo", None), "reward": getattr(args, "reward", None)}
    assignments = [f"{k}={v}" for k, v in direct.items() if v is not None] + args.overrides
    return cfg.override(assignments).validate()


def _run_dir(args: argparse.Namespace, command: str, cfg: ExperimentConfig) -> Path:
    if args.run_dir:
        return Path(args.run_dir)
    return Path("runs") / f"{command}-{cfg.preset}-{time.strftime('%Y%m%d-%H%M%S')}"


def _start_run(args: argparse.Namespace, command: str, **extra):
    """Resolve the config, build the setup, open the run directory and record the config there."""
    from seqgan_gym.experiment import build_setup
    from seqgan_gym.runlog import RunLog

    cfg = _resolve_config(args)
    print(f"[seqgan-gym] {describe_schedule(cfg)}")
    setup = build_setup(cfg)
    log = RunLog(_run_dir(args, command, cfg))
    log.write_json("config.json", {"command": sys.argv, "config": cfg.to_dict(),
                                   "device": str(setup.device), "torch": torch.__version__,
                                   "threads": torch.get_num_threads(),
                                   "schedule": describe_schedule(cfg), **extra})
    if setup.oracle is not None:
        source = (f"oracle {cfg.oracle} (V={cfg.vocab_size}, T={cfg.seq_len}); oracle floor (the "
                  f"oracle's NLL on its own samples) {setup.oracle_floor:.4f}")
    else:
        source = (f"corpus {cfg.data} (V={cfg.vocab_size}, T={cfg.seq_len}, {cfg.n_train} train / "
                  f"{cfg.n_test} test sequences; BLEU-{cfg.eval_bleu_order} against all {cfg.n_test})")
        log.write_json("corpus_split.json", setup.data.split)
    print(f"[seqgan-gym] run directory {log.dir}; device {setup.device}; {source}")
    return cfg, setup, log


def _finish_run(log, setup, generator_model, title: str, summary: dict) -> dict:
    """Write 100 samples of G (decoded too, for a corpus), the learning curve and ``summary.json``
    (with floor and wall time)."""
    samples = generator_model.sample(100, generator=setup.rng(99))
    log.write_samples(samples)
    if setup.corpus is not None:
        from seqgan_gym.utils import atomic_write_text

        atomic_write_text(log.dir / "samples_decoded.txt",
                          "\n".join(setup.corpus.decode(row) for row in samples.tolist()) + "\n")
    log.plot_learning_curve(setup.oracle_floor, title=title)
    summary = {**summary, "oracle_floor": setup.oracle_floor,
               "wall_s": round(time.time() - log.start, 1)}
    log.write_json("summary.json", summary)
    return summary


def _metrics(row: dict, suffix: str) -> dict:
    """The evaluation metrics of a logged row, named ``<metric>_<suffix>`` (e.g. nll_test_mle)."""
    return {f"{k}_{suffix}": row[k] for k in ("nll_oracle", "nll_test", "bleu", "self_bleu") if k in row}


def cmd_pretrain(args: argparse.Namespace) -> int:
    """MLE pre-training of the generator on oracle data, with NLL_oracle / NLL_test curves."""
    from seqgan_gym.experiment import new_generator, pretrain_generator

    cfg, setup, log = _start_run(args, "pretrain")
    try:
        generator_model = new_generator(setup)
        mle = pretrain_generator(setup, generator_model, log, progress=not args.no_progress)
        untrained = log.rows[0]
        summary = _finish_run(log, setup, generator_model, f"MLE pre-training ({cfg.preset} preset)", {
            "preset": cfg.preset, "data": cfg.data, "oracle": cfg.oracle, "mle_epochs": cfg.mle_epochs,
            **_metrics(untrained, "untrained"), **_metrics(mle, "mle"),
        })
    finally:
        log.close()
    print(json.dumps(summary, indent=2))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """The paper's Algorithm 1: MLE pre-training, D pre-training, adversarial training."""
    from seqgan_gym.checkpoints import load_language_model, save_discriminator
    from seqgan_gym.discriminator import make_discriminator_optimizer, paper_discriminator
    from seqgan_gym.experiment import (
        adversarial_training,
        build_reward_model,
        evaluate,
        new_generator,
        pretrain_discriminator,
        pretrain_generator,
    )

    cfg, setup, log = _start_run(args, "train", generator_checkpoint=args.generator_checkpoint)
    progress = not args.no_progress
    try:
        if args.generator_checkpoint:
            generator_model = load_language_model(args.generator_checkpoint, device=str(setup.device))
            got = (generator_model.vocab_size, generator_model.seq_len, generator_model.emb_dim,
                   generator_model.hidden_dim)
            want = (cfg.vocab_size, cfg.seq_len, cfg.emb_dim, cfg.hidden_dim)
            if got != want:
                raise ValueError(
                    "generator checkpoint has V={}, T={}, emb_dim={}, hidden_dim={}; this run has "
                    "V={}, T={}, emb_dim={}, hidden_dim={}".format(*got, *want))
            if generator_model.eos_token != setup.eos_token:
                raise ValueError(f"generator checkpoint has eos_token={generator_model.eos_token}; "
                                 f"this run's data has eos_token={setup.eos_token}")
            mle = log.log("mle", 0, **evaluate(setup, generator_model, setup.rng(2)))
        else:
            generator_model = new_generator(setup)
            mle = pretrain_generator(setup, generator_model, log, progress=progress)
        discriminator = d_optimizer = None
        if cfg.reward == "discriminator":  # SeqGAN: pre-train D, then D joins the loop
            discriminator = paper_discriminator(cfg.vocab_size, cfg.seq_len, seed=cfg.seed).to(setup.device)
            d_optimizer = make_discriminator_optimizer(discriminator, lr=cfg.dis_lr)
            pretrain_discriminator(setup, discriminator, d_optimizer, generator_model, log, progress)
            save_discriminator(discriminator, log.dir / "checkpoints" / "discriminator_pretrained.pt")
        reward_model = build_reward_model(setup, discriminator)
        adv, generator_model = adversarial_training(setup, generator_model, reward_model, log,
                                                    discriminator, d_optimizer, progress)
        if discriminator is not None:
            save_discriminator(discriminator, log.dir / "checkpoints" / "discriminator_adv.pt")
        summary = _finish_run(log, setup, generator_model,
                              f"MLE then {cfg.algo} + {cfg.reward} reward ({cfg.preset} preset)", {
            "preset": cfg.preset, "data": cfg.data, "oracle": cfg.oracle, "algo": cfg.algo,
            "reward": cfg.reward, "mle_epochs": None if args.generator_checkpoint else cfg.mle_epochs,
            "generator_checkpoint": args.generator_checkpoint, "adv_iterations": cfg.adv_iterations,
            **_metrics(mle, "mle"), **_metrics(adv, "adv"),
        })
    finally:
        log.close()
    print(json.dumps(summary, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqgan-gym", description="SeqGAN (Yu et al. 2017) as a Gymnasium environment")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="MLE pre-training of the generator on oracle data")
    _add_common(p)
    p.set_defaults(func=cmd_pretrain)
    p = sub.add_parser("train", help="SeqGAN: MLE, D pre-training and adversarial training "
                                     "(or another algorithm / reward: --algo, --reward)")
    _add_common(p)
    p.add_argument("--generator-checkpoint",
                   help="start from this MLE checkpoint (skips MLE pre-training)")
    p.add_argument("--algo", choices=["reinforce", "ppo", "a2c"],
                   help="the generator's RL algorithm (default reinforce, the paper's)")
    p.add_argument("--reward", choices=["discriminator", "bleu", "oracle"],
                   help="discriminator (SeqGAN, default), bleu (PG-BLEU) or oracle (diagnostic ceiling)")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("presets", help="print every preset's schedule against the paper's")
    p.set_defaults(func=lambda a: print("\n".join(f"{k}: {describe_schedule(v)}"
                                                  for k, v in PRESETS.items())) or 0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        print(f"seqgan-gym: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
