"""The ``seqgan-gym`` command. Thin: it parses arguments and wires the library's pieces.

    seqgan-gym pretrain [--preset cpu|paper|smoke] [--oracle paper|random] [--set field=value ...]
    seqgan-gym train [same] [--algo reinforce|ppo|a2c|maskable_ppo] [--reward discriminator|bleu|oracle]
    seqgan-gym train --data quatrains|coco|nottingham|PATH [--data-path FOLDER] ...  (a real corpus)
    seqgan-gym eval CHECKPOINT|RUN_DIR [--temperature T]   NLL_oracle / NLL_test (BLEU on a corpus)
    seqgan-gym score --hyp FILE --ref FILE [--n 2 3 4 5] [--self-bleu] [--tokenize space|nltk]
    seqgan-gym fetch-oracle [--from FILE]                   the paper's oracle into the user cache
    seqgan-gym sweep SPEC [--out DIR] [--cpus-per-trial N] [--address ADDR]   many runs on Ray Tune
    seqgan-gym compare --rewards discriminator bleu --seeds 0 1 2 [--workers N | --ray]   rewards side by side

Before torch loads, the command sets ``OMP_WAIT_POLICY=PASSIVE`` (unless you set it): with
OpenMP's default spin-waiting, torch's idle threads keep their cores busy and slow a run that
shares the CPU with another busy process far more than the lost core alone would
(benchmarks/busy_machine.py; docs/results/speed.md). ``import seqgan_gym`` loads no torch, so this
module's first lines run first.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from seqgan_gym.config import (  # noqa: E402
    ALGORITHMS,
    PRESETS,
    ExperimentConfig,
    describe_schedule,
    fit_to_data,
    get_preset,
)
from seqgan_gym.data.corpus import CORPORA  # noqa: E402
from seqgan_gym.run import lifecycle  # noqa: E402
from seqgan_gym.utils import (  # noqa: E402
    default_threads,
)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", choices=sorted(PRESETS),
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
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run in --run-dir")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=VALUE",
                   help="override any config field, e.g. --set mle_epochs=10 (repeatable)")
    p.add_argument("--threads", type=int,
                   help="torch CPU threads (default: the CPUs this process may use, at most 16; with "
                        "--resume, the run's own count, which its numbers depend on)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _add_train_options(p: argparse.ArgumentParser) -> None:
    _add_common(p)
    p.add_argument("--oracle-fallback", choices=["error", "random"], default="error",
                   help="when the paper's oracle is unavailable (not found, offline): stop with an "
                        "error (default), or train on a seeded random N(0,1) oracle of the same shape, "
                        "labelled as such everywhere (the quick start, `make run`, uses this)")


def _resolve_config(args: argparse.Namespace) -> ExperimentConfig:
    cfg = get_preset(args.preset or "cpu")
    direct = {"data": args.data, "data_path": args.data_path, "oracle": args.oracle,
              "oracle_path": args.oracle_path, "oracle_seed": args.oracle_seed, "seed": args.seed,
              "device": args.device,
              "algo": getattr(args, "algo", None), "reward": getattr(args, "reward", None)}
    assignments = [f"{k}={v}" for k, v in direct.items() if v is not None] + args.overrides
    cfg = cfg.override(fit_to_data(cfg, assignments))
    if cfg.algo not in ALGORITHMS:  # your agent's 'module:Class': imported now, before any work
        from seqgan_gym.agents.protocol import import_agent_class

        import_agent_class(cfg.algo)
    explicit = {a.split("=", 1)[0] for a in assignments}
    if cfg.oracle_path and (cfg.data != "oracle" or cfg.oracle != "paper"):
        raise ValueError(f"--oracle-path is not used by this run (data {cfg.data!r}, oracle {cfg.oracle!r}); "
                         "drop it, or use --oracle paper")
    fixed = {"seq_len", "vocab_size"} if cfg.data != "oracle" else (
        {"vocab_size"} if cfg.oracle == "paper" else set())
    if explicit & fixed:
        source = (f"the corpus {cfg.data!r} fixes it" if cfg.data != "oracle" else
                  "the paper's oracle fixes it (--oracle random takes any vocabulary size)")
        raise ValueError(f"{' and '.join(sorted(explicit & fixed))} cannot be set: {source}")
    # absolute paths in config.json: `--resume` and `eval` read it from any working directory
    for name in ("data_path", "oracle_path"):
        if getattr(cfg, name):
            setattr(cfg, name, str(Path(getattr(cfg, name)).resolve()))
    module, _, agent_class = cfg.algo.rpartition(":")
    if module.endswith(".py"):  # your own agent from a file
        cfg.algo = f"{Path(module).resolve()}:{agent_class}"
    if cfg.data not in ("oracle", *CORPORA) and Path(cfg.data).exists():
        cfg.data = str(Path(cfg.data).resolve())
    return cfg


def _run_dir(args: argparse.Namespace, command: str, cfg: ExperimentConfig) -> Path:
    if args.run_dir:
        return Path(args.run_dir)
    return Path("runs") / f"{command}-{cfg.preset}-{time.strftime('%Y%m%d-%H%M%S')}"


def _start_run(args: argparse.Namespace, command: str, check=None, **kwargs):
    """The config from the options (and ``check(cfg)``, the command's own checks), then a new run
    directory for it (:func:`seqgan_gym.run.lifecycle.start_run`)."""
    cfg = _resolve_config(args)
    if check is not None:
        check(cfg)
    return lifecycle.start_run(cfg, _run_dir(args, command, cfg), overwrite=args.overwrite,
                               fallback_mode=args.oracle_fallback, **kwargs)


def _resume_run(args: argparse.Namespace):
    """``--resume DIR``: the run's own settings, so options that would change them are refused
    (:func:`seqgan_gym.run.lifecycle.resume_run`)."""
    names = ("preset", "data", "data_path", "oracle", "oracle_path", "oracle_seed", "seed", "run_dir",
             "algo", "reward", "generator_checkpoint", "device")
    given = [f"--{name.replace('_', '-')}" for name in names if getattr(args, name, None) is not None]
    given += ["--set"] if args.overrides else []
    if given or args.overwrite:
        raise ValueError(f"--resume continues a run with its own settings (config.json); drop "
                         f"{', '.join(given + (['--overwrite'] if args.overwrite else []))}")
    return lifecycle.resume_run(Path(args.resume), threads_given=args.threads is not None)


def cmd_presets(args: argparse.Namespace) -> int:
    """Every preset's schedule against the paper's, and its estimated wall time on this machine."""
    for name, cfg in PRESETS.items():
        print(f"{name}: {describe_schedule(cfg)}", flush=True)
        if not args.no_estimate:
            cfg = cfg.override([f"device={args.device}"] if args.device else []).validate()
            print(f"  {lifecycle.estimate_line(cfg)[0]}", flush=True)
    return 0


def _metrics(row: dict, suffix: str) -> dict:
    """The evaluation metrics of a logged row, named ``<metric>_<suffix>`` (e.g. nll_test_mle)."""
    return {f"{k}_{suffix}": row[k] for k in ("nll_oracle", "nll_test", "bleu", "self_bleu") if k in row}


def cmd_pretrain(args: argparse.Namespace) -> int:
    """MLE pre-training of the generator on oracle data, with NLL_oracle / NLL_test curves."""
    from seqgan_gym.experiment.setup import new_generator, pretrain_generator

    cfg, setup, log = _start_run(args, "pretrain")
    with lifecycle.run_status(log, resumable=False):
        generator = new_generator(setup)
        mle = pretrain_generator(setup, generator, log, progress=not args.no_progress)
        untrained = log.rows[0]
        summary = lifecycle.finish_run(log, setup, generator, f"MLE pre-training ({cfg.preset} preset)", {
            "preset": cfg.preset, "data": cfg.data, "oracle": cfg.oracle, "mle_epochs": cfg.mle_epochs,
            **_metrics(untrained, "untrained"), **_metrics(mle, "mle"),
        })
    print(json.dumps(summary, indent=2))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """The paper's Algorithm 1: MLE pre-training, D pre-training, adversarial training."""
    from seqgan_gym.algorithm1 import train
    from seqgan_gym.models.saving import load_language_model

    def check(cfg: ExperimentConfig) -> None:  # the checks that need train's own options
        _check_train(cfg, args.generator_checkpoint)

    def check_setup(cfg: ExperimentConfig, setup) -> None:  # once V and T are known, before any write
        if args.generator_checkpoint:
            _check_generator_fits(load_language_model(args.generator_checkpoint), cfg, setup)

    if args.resume:
        cfg, setup, log, checkpointer, generator_checkpoint = _resume_run(args)
    else:
        from seqgan_gym.experiment.resume import Checkpointer

        generator_checkpoint = args.generator_checkpoint and str(Path(args.generator_checkpoint).resolve())
        cfg, setup, log = _start_run(args, "train", check, estimate=not args.no_estimate,
                                     check_setup=check_setup, generator_checkpoint=generator_checkpoint)
        checkpointer = Checkpointer(log.dir / "checkpoints", config=cfg.to_dict())
    progress = not args.no_progress
    with lifecycle.run_status(log):
        generator = None
        if generator_checkpoint:
            generator = load_language_model(generator_checkpoint, device=str(setup.device))
            _check_generator_fits(generator, cfg, setup)
        reference_file = None
        if cfg.reward == "discriminator" and cfg.dis_form == "density_ratio":
            reference_file = _reference_file(generator_checkpoint, log.dir)
            print(f"[seqgan-gym] D = density ratio against {reference_file}", flush=True)
        mle, adv, generator = train(setup, log, generator, reference_file, progress, checkpointer)
        summary = lifecycle.finish_run(log, setup, generator,
                              f"MLE then {cfg.algo} + {cfg.reward} reward ({cfg.preset} preset)", {
            "preset": cfg.preset, "data": cfg.data, "oracle": cfg.oracle, "algo": cfg.algo,
            "reward": cfg.reward, "mle_epochs": None if generator_checkpoint else cfg.mle_epochs,
            "generator_checkpoint": generator_checkpoint, "adv_iterations": cfg.adv_iterations,
            **_metrics(mle, "mle"), **_metrics(adv, "adv"),
        })
    print(json.dumps(summary, indent=2))
    return 0


def _check_train(cfg: ExperimentConfig, generator_checkpoint: str | None) -> None:
    """The checks of a train run that need its own options, before any work (also a sweep's)."""
    from seqgan_gym.models.saving import load_language_model

    if generator_checkpoint:  # readable, checked before the setup's work
        load_language_model(generator_checkpoint)
    if generator_checkpoint and cfg.mle_select == "best":
        raise ValueError("mle_select=best picks an epoch of this run's MLE; with "
                         "--generator-checkpoint there is none (pass the best checkpoint itself)")
    if cfg.dis_form == "density_ratio" and cfg.reward == "discriminator":
        if generator_checkpoint:
            _reference_file(generator_checkpoint, None)  # raises if it is not beside it
        elif cfg.mle_epochs < 1:
            raise ValueError("dis_form density_ratio needs MLE epochs (its reference is the best "
                             "one) or a --generator-checkpoint with generator_mle_best.pt beside it "
                             "(--set dis_form=cnn for the paper's D)")


def _check_generator_fits(generator, cfg: ExperimentConfig, setup) -> None:
    """A ``--generator-checkpoint`` must have this run's V, T, sizes and end-of-sequence token."""
    got = (generator.vocab_size, generator.seq_len, generator.emb_dim, generator.hidden_dim)
    want = (cfg.vocab_size, cfg.seq_len, cfg.emb_dim, cfg.hidden_dim)
    if got != want:
        raise ValueError(
            "generator checkpoint has V={}, T={}, emb_dim={}, hidden_dim={}; this run has "
            "V={}, T={}, emb_dim={}, hidden_dim={}".format(*got, *want))
    if generator.eos_token != setup.eos_token:
        raise ValueError(f"generator checkpoint has eos_token={generator.eos_token}; "
                         f"this run's data has eos_token={setup.eos_token}")


def cmd_fetch_oracle(args: argparse.Namespace) -> int:
    """Put the paper's oracle in the user cache: downloaded, or imported ``--from`` a copy; the
    SHA-256 is checked before anything is written."""
    from seqgan_gym.data.paper_oracle import PAPER_ORACLE_SHA256, fetch_paper_oracle

    path = fetch_paper_oracle(source=args.source)
    print(f"[seqgan-gym] the paper's oracle (SHA-256 {PAPER_ORACLE_SHA256}) is at {path}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Score a saved generator: NLL_oracle and NLL_test on the oracle; BLEU, Self-BLEU and NLL_test
    on a corpus. The data come from the run's ``config.json`` (a run directory, or a checkpoint
    inside one), else from the options (``--preset``, ``--data``, ...)."""
    from seqgan_gym.experiment.setup import build_setup, evaluate
    from seqgan_gym.models.saving import load_language_model

    target = Path(args.target)
    if target.is_dir():
        candidates = [target / "checkpoints" / f"generator_{p}.pt" for p in ("adv", "mle")]
        config_path = target / "config.json"
        recorded = lifecycle.recorded_config(config_path) if config_path.is_file() else {}
        if recorded.get("mle_select") == "best":  # the MLE generator it went on with
            candidates.insert(1, target / "checkpoints" / "generator_mle_best.pt")
        checkpoint = next((c for c in candidates if c.is_file()), None)
        if checkpoint is None:
            raise FileNotFoundError(f"{target} holds no checkpoints/generator_adv.pt or generator_mle.pt")
        run_dir = target
    else:  # a checkpoint inside a run directory brings that run's config
        checkpoint = target
        run_dir = target.parent.parent if target.parent.name == "checkpoints" else None
    if not args.temperature > 0:
        raise ValueError(f"--temperature must be > 0, got {args.temperature}")
    config_file = run_dir / "config.json" if run_dir is not None else None
    if config_file is not None and config_file.is_file():
        recorded = lifecycle.recorded_config(config_file)
        try:
            cfg = ExperimentConfig(**recorded)
        except TypeError as e:
            raise ValueError(f"{config_file}: not a config this version can read ({e})") from e
        except ValueError as e:
            raise ValueError(f"{config_file}: {e}") from None
        device = [f"device={args.device}"] if args.device else []
        cfg = cfg.override(device + args.overrides).validate()
        source = f"the data of {config_file}"
    else:
        cfg = _resolve_config(args)
        source = f"the {cfg.preset} preset's data (no config.json beside the checkpoint)"
    setup = build_setup(cfg)
    cfg = setup.cfg  # with the values the data fixes
    generator = load_language_model(checkpoint, device=str(setup.device))
    shape = (generator.vocab_size, generator.seq_len)
    if shape != (cfg.vocab_size, cfg.seq_len) or generator.eos_token != setup.eos_token:
        raise ValueError(f"{checkpoint} has V={shape[0]}, T={shape[1]}, eos_token="
                         f"{generator.eos_token}; {source} has V={cfg.vocab_size}, "
                         f"T={cfg.seq_len}, eos_token={setup.eos_token}")
    result = evaluate(setup, generator, setup.rng("eval_command"), temperature=args.temperature)
    report = {"checkpoint": str(checkpoint), "data": source, "temperature": args.temperature,
              "eval_samples": cfg.eval_samples, **result,
              "oracle_floor": setup.oracle_floor, "oracle_file": setup.oracle_file}
    print("| metric | value |\n| --- | --- |")
    for k, v in result.items():
        print(f"| {k} | {v:.4f} |")
    print(json.dumps(report, indent=2))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """BLEU-n of a file of sentences against a reference file (and Self-BLEU-n), the literature's way."""
    from seqgan_gym.evaluation.scoring import format_table, score_files

    start = time.time()
    result = score_files(args.hyp, args.ref, orders=args.n, self_bleu=args.self_bleu,
                         tokenize=args.tokenize)
    result["wall_s"] = round(time.time() - start, 2)
    print(format_table(result))
    print(json.dumps(result, indent=2))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Configurations x seeds of ``train`` runs on Ray Tune, then one table (``seqgan_gym.run.sweep``)."""
    from seqgan_gym.data.corpus import load_corpus
    from seqgan_gym.run.sweep import command

    corpora: set[tuple] = set()

    def check_trial(argv: list[str]) -> ExperimentConfig:  # a trial's settings, checked as train checks them
        trial = build_parser().parse_args(["train", *argv])
        cfg = _resolve_config(trial)
        if trial.generator_checkpoint and not Path(trial.generator_checkpoint).is_file():
            raise FileNotFoundError(f"generator_checkpoint {trial.generator_checkpoint} not found")
        _check_train(cfg, trial.generator_checkpoint)
        corpus = (cfg.data, cfg.data_path, cfg.split_seed, cfg.max_seq_len)
        if cfg.data not in ("oracle", *CORPORA) and corpus not in corpora:  # a file: it reads, once
            load_corpus(*corpus[:2], split_seed=cfg.split_seed, max_seq_len=cfg.max_seq_len)
            corpora.add(corpus)
        return cfg

    return command(args, check_trial)


def cmd_compare(args: argparse.Namespace) -> int:
    """Rewards x seeds of ``train`` runs, here or on Ray Tune, then one table (``seqgan_gym.run.compare``)."""
    from seqgan_gym.run.compare import command

    def check_run(argv: list[str]) -> ExperimentConfig:  # a run's settings, checked as train checks them
        run = build_parser().parse_args(["train", *argv])
        cfg = _resolve_config(run)
        _check_train(cfg, run.generator_checkpoint)
        return cfg

    return command(args, check_run, cmd_sweep)


def _reference_file(generator_checkpoint: str | None, run_dir: Path | None) -> Path:
    """The density ratio's p_ref: ``generator_mle_best.pt`` beside ``--generator-checkpoint``, or in
    this run's checkpoints."""
    folder = Path(generator_checkpoint).parent if generator_checkpoint else run_dir / "checkpoints"
    reference_file = folder / "generator_mle_best.pt"
    if generator_checkpoint and not reference_file.is_file():
        raise FileNotFoundError(f"dis_form density_ratio needs the MLE run's best-validation generator "
                                f"{reference_file} beside --generator-checkpoint (pretrain writes it; "
                                "--set dis_form=cnn for the paper's D)")
    return reference_file


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seqgan-gym", description="SeqGAN (Yu et al. 2017) as a Gymnasium environment")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pretrain", help="MLE pre-training of the generator on oracle data")
    _add_train_options(p)
    p.set_defaults(func=cmd_pretrain)
    p = sub.add_parser("train", help="SeqGAN: MLE, D pre-training and adversarial training "
                                     "(or another algorithm / reward: --algo, --reward)")
    _add_train_options(p)
    p.add_argument("--generator-checkpoint",
                   help="start from this MLE checkpoint (skips MLE pre-training)")
    p.add_argument("--resume", metavar="RUN_DIR",
                   help="continue a train run that stopped (killed, Ctrl-C, failed) from its last "
                        "checkpoint, with its own settings; same numbers as an uninterrupted run")
    p.add_argument("--algo", metavar="{" + ",".join(ALGORITHMS) + "} or module:Class",
                   help="the generator's RL algorithm: reinforce (default, the paper's), ppo, a2c "
                        "(stable-baselines3), maskable_ppo (sb3-contrib, with the env's action mask: "
                        "after EOS only EOS; pip install 'seqgan-gym[contrib]'), or your own agent "
                        "(seqgan_gym.Agent) as package.module:Class or path/to/file.py:Class")
    p.add_argument("--reward", choices=["discriminator", "bleu", "oracle"],
                   help="discriminator (SeqGAN, default), bleu (PG-BLEU) or oracle (diagnostic ceiling)")
    p.add_argument("--no-estimate", action="store_true",
                   help="skip the estimated wall time (a few seconds of calibration) and the run's ETA")
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("eval", help="NLL_oracle / NLL_test (BLEU, Self-BLEU on a corpus) of a saved "
                                    "generator")
    p.add_argument("target", help="a generator checkpoint (.pt), or a run directory")
    p.add_argument("--temperature", type=float, default=1.0, help="sample and score G at this temperature")
    _add_common(p)
    p.set_defaults(func=cmd_eval)
    p = sub.add_parser("score", help="BLEU-n and Self-BLEU-n of a text file against references")
    p.add_argument("--hyp", required=True, help="generated text, one sequence per line")
    p.add_argument("--ref", required=True, help="reference text, one sequence per line")
    p.add_argument("--n", type=int, nargs="+", default=[2, 3, 4, 5], help="the BLEU orders (default 2 3 4 5)")
    p.add_argument("--self-bleu", action="store_true", help="also Self-BLEU-n of the --hyp file")
    p.add_argument("--tokenize", default="space", choices=["space", "nltk"],
                   help="space: split on whitespace (default); nltk: NLTK's word tokeniser rules, "
                        "no downloaded data needed")
    p.set_defaults(func=cmd_score)
    p = sub.add_parser("fetch-oracle", help="download the paper's oracle (or import --from a copy), "
                                            "check its SHA-256, cache it")
    p.add_argument("--from", dest="source", metavar="FILE", help="a copy downloaded by hand")
    p.set_defaults(func=cmd_fetch_oracle)
    p = sub.add_parser("sweep", help="configurations x seeds of train runs on Ray Tune (pip install "
                                     "'seqgan-gym[ray]'), then mean ± std, p-values and curves")
    from seqgan_gym.run.sweep import add_arguments

    add_arguments(p)
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("compare", help="rewards side by side: rewards x seeds of train runs, here (in "
                                       "turn or --workers at a time) or on Ray (--ray), then mean ± std "
                                       "and curves")
    from seqgan_gym.run.compare import add_arguments as add_compare_arguments

    add_compare_arguments(p)
    p.set_defaults(func=cmd_compare)
    p = sub.add_parser("presets", help="print every preset's schedule against the paper's and its "
                                       "estimated wall time on this machine")
    p.add_argument("--no-estimate", action="store_true", help="the schedules only (no calibration)")
    p.add_argument("--threads", type=int,
                   help="torch CPU threads to estimate for (default: the CPUs this process may use)")
    p.add_argument("--device", help="auto (default), cpu, cuda, ...")
    p.set_defaults(func=cmd_presets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    threads = getattr(args, "threads", None)
    if threads is not None and threads < 1:
        print(f"seqgan-gym: error: --threads must be >= 1, got {threads}", file=sys.stderr)
        return 2
    torch.set_num_threads(threads or default_threads())
    sigint = signal.getsignal(signal.SIGINT)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as e:
        print(f"seqgan-gym: {e.args[0] if e.args else 'interrupted (Ctrl-C)'}", file=sys.stderr)
        return 130
    except (ValueError, OSError, FloatingPointError) as e:  # FileNotFoundError, FileExistsError: OSError
        # an OS error raised by the system (disk full, read-only, ...) names its path; ours say it all
        system = isinstance(e, OSError) and e.filename and e.strerror
        message = f"{e.filename}: {e.strerror}" if system else str(e)
        print(f"seqgan-gym: error: {message}", file=sys.stderr)
        return 2
    finally:  # run_status ignores a second Ctrl-C; a caller of main() gets its handler back
        if sigint is not None and signal.getsignal(signal.SIGINT) != sigint:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGINT, sigint)


if __name__ == "__main__":
    sys.exit(main())
