"""Does the discriminator's reward carry signal? ``d_heldout_auc`` and ``d_oracle_spearman`` of
several discriminators, all judging the same MLE generator (issue 14, step 2).

    .venv/bin/python benchmarks/d_signal.py                  # cpu preset sizes: ~15 min on 2 CPUs
    .venv/bin/python benchmarks/d_signal.py --quick          # smoke test: a small random oracle, ~1 min
    # flags: --generator-checkpoint G.pt (skip MLE), --threads N, --seed N, --out PATH

The setup is the default ``cpu`` preset's: the paper's oracle (a random one where this machine has
none, said in the output), 10,000 real training sequences, G after 50 MLE epochs. Every D sees the
same data: the real training set and the same negatives sampled from G (one seed), as D
pre-training does. G is trained by the library's ``pretrain_generator``, so with the same seed and
thread count it is the G of ``seqgan-gym train``. Measured
on 5,000 held-out real sequences (the oracle's held-out samples: no D trains on them) and 5,000
fresh samples of G (:func:`seqgan_gym.evaluation.metrics.discriminator_signal`).

Discriminators:

* ``cnn_cpu_preset``: the paper's CNN with the cpu preset's D pre-training (8 x (5,000 negatives,
  2 epochs), lr 1e-3): today's default.
* ``cnn_paper_lr``: the same at the paper's lr 1e-4.
* ``cnn_regularised``: dropout 0.5 and an L2 weight of 2.0 on the output layer (10x the paper's).
* ``cnn_small``: widths 1-5, 32 filters each (~0.3M parameters instead of 4M).
* ``cnn_fresh_real`` (a CEILING, not a method the paper's setup allows): the cpu schedule, but each
  step draws 10,000 *new* real sequences from the oracle, so D cannot memorise the real set.
* ``lm_reference``: no training of D at all: the score log p_ref(Y), where p_ref is G's own MLE
  run at its best validation epoch (on the ``n_valid`` = 2,000 extra oracle samples, never the test
  set): the ``generator_mle_best.pt`` that ``dis_form density_ratio`` uses.
* ``density_ratio``: log p_ref(Y) - log G(Y), the form of the optimal discriminator's logit
  (log p_data - log p_G), with p_ref standing in for p_data.
* ``density_ratio_fitted``: :class:`seqgan_gym.models.density_ratio.DensityRatioDiscriminator`
  (``dis_form density_ratio``): ``(w_ref log p_ref(Y) - w_gen log G(Y)) / T + bias``, the weights
  fitted by the cpu preset's D pre-training schedule on the validation set, as a run does
  (``density_ratio_fitted_on_train``: on the training set, as runs did before; G has memorised it).
* ``optimal_d (ceiling)``: log p_oracle(Y) - log G(Y), the optimal discriminator's logit itself (it
  needs the oracle, so no D can be it; it says how well a D that learned p_data perfectly would
  rank G's samples, i.e. whether the Spearman target is reachable at all).
* ``rnn``: a recurrent D (embedding 64, LSTM 64, max- and mean-pooled outputs, a linear layer),
  trained like the CNN.
* ``generator_features``: a D on G's own teacher-forced LSTM outputs and per-token log-probabilities
  (G frozen; a small MLP per position, max- and mean-pooled, a linear layer): the issue's "D features
  computed from G's hidden states".
* ``tempered_ratio_<alpha>``: log p_ref(Y) - alpha log G(Y) for alpha 0.25, 0.5, 0.75 (``--alphas``):
  the line from ``lm_reference`` (alpha 0) to ``density_ratio`` (alpha 1), i.e. the trade between ranking G's
  samples (p_ref) and telling them from real ones (-log G) that a fitted D settles.
* ``nce_reference``: the density ratio with its language model *learned*: logit = log p_phi(Y) -
  log G(Y) + b, p_phi a copy of p_ref trained by D's own loss (noise-contrastive estimation with G
  as the noise; its optimum is p_phi = p_data) at lr 1e-4.
* ``*_early_stop``: the same D, keeping the pre-training step with the best AUC on the
  validation set (``n_valid`` oracle samples, never the test set) against G samples of its own.
* ``generator_ll``: log G(Y), for reference (a D cannot be better at ranking G's samples than the
  truth, but G's own view is a useful yardstick).

The last three are scores whose logistic calibration ``sigmoid(a * score + b)`` (what a D built on
them would learn) changes neither AUC nor Spearman, so they are measured as they are.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
from torch import nn  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine_info, oracle_overrides  # noqa: E402

from seqgan_gym.config import get_preset  # noqa: E402
from seqgan_gym.evaluation.metrics import discriminator_signal, nll_test, sequence_log_likelihood  # noqa: E402
from seqgan_gym.experiment.log import RunLog  # noqa: E402
from seqgan_gym.experiment.setup import build_setup, new_generator, pretrain_generator  # noqa: E402
from seqgan_gym.models.density_ratio import DensityRatioDiscriminator  # noqa: E402
from seqgan_gym.models.discriminator import Discriminator, paper_discriminator  # noqa: E402
from seqgan_gym.models.lstm import LSTMLanguageModel, check_token_ids  # noqa: E402
from seqgan_gym.models.saving import load_language_model, save_language_model  # noqa: E402
from seqgan_gym.training.updates import train_discriminator  # noqa: E402
from seqgan_gym.utils import atomic_write_json, make_adam, safe_torch_load  # noqa: E402


class RecurrentD(nn.Module):
    """An LSTM classifier: (B, T) ids -> (B, 2) logits (embedding, LSTM, max+mean pooling, linear)."""

    def __init__(self, vocab_size: int, seq_len: int, embed: int = 64, hidden: int = 64):
        super().__init__()
        self.vocab_size, self.seq_len = vocab_size, seq_len
        self.embedding = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, batch_first=True)
        self.head = nn.Linear(2 * hidden, 2)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.embedding(sequences))
        return self.head(torch.cat([h.amax(1), h.mean(1)], 1))

    def real_logit(self, sequences: torch.Tensor) -> torch.Tensor:
        return _batched_real_logit(self, sequences)

    def l2_penalty(self) -> torch.Tensor:
        return self.head.weight.new_zeros(())

    def check_tokens(self, sequences: torch.Tensor) -> None:
        check_token_ids(sequences, self.vocab_size, self.seq_len)


class GeneratorFeatureD(RecurrentD):
    """A D on G's frozen teacher-forced LSTM outputs h_t and log G(y_t | Y<t): per position an MLP on
    [h_t, log G(y_t|Y<t)], max+mean pooled, a linear layer: (B, T) ids -> (B, 2)."""

    def __init__(self, generator: LSTMLanguageModel, width: int = 64):
        nn.Module.__init__(self)
        self.vocab_size, self.seq_len = generator.vocab_size, generator.seq_len
        self._generator = (copy.deepcopy(generator).requires_grad_(False).eval(),)
        self.mlp = nn.Sequential(nn.Linear(generator.hidden_dim + 1, width), nn.ReLU())
        self.head = nn.Linear(2 * width, 2)

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        g = self._generator[0]
        with torch.no_grad():
            h = g.hidden_states(sequences)
            logp = torch.log_softmax(g.output(h), -1).gather(2, sequences[..., None])
        z = self.mlp(torch.cat([h, logp], 2))
        return self.head(torch.cat([z.amax(1), z.mean(1)], 1))


class NCEReferenceD(RecurrentD):
    """logit(Y) = log p_phi(Y) - log G(Y) + b with p_phi (initialised from p_ref) trained by D's loss:
    noise-contrastive estimation of p_data with G as the noise. (B, T) ids -> (B, 2)."""

    def __init__(self, reference: LSTMLanguageModel, generator: LSTMLanguageModel):
        nn.Module.__init__(self)
        self.vocab_size, self.seq_len = generator.vocab_size, generator.seq_len
        self.reference = copy.deepcopy(reference).requires_grad_(True)
        self._generator = (copy.deepcopy(generator).requires_grad_(False).eval(),)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            log_g = self._generator[0].log_prob(sequences).sum(1)
        logit = self.reference.log_prob(sequences).sum(1) - log_g + self.bias
        return torch.stack([torch.zeros_like(logit), logit], 1)

    def l2_penalty(self) -> torch.Tensor:
        return self.bias.new_zeros(())


@torch.no_grad()
def _batched_real_logit(d: nn.Module, sequences: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """D's real-minus-fake logit per row, in eval mode and in batches: (N, T) -> (N,)."""
    was_training = d.training
    d.eval()
    out = torch.cat([(lambda z: z[:, 1] - z[:, 0])(d(sequences[i:i + batch_size]))
                     for i in range(0, len(sequences), batch_size)])
    d.train(was_training)
    return out


class _Score:
    """A fixed score as a D: ``prob_real`` = sigmoid(score / T) (monotone, so AUC and Spearman are
    those of the score itself)."""

    def __init__(self, fn, seq_len: int):
        self.fn, self.seq_len = fn, seq_len

    def prob_real(self, sequences):
        return torch.sigmoid(self.fn(sequences) / self.seq_len)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--generator-checkpoint")
    parser.add_argument("--reference-checkpoint", help="p_ref (with --generator-checkpoint)")
    parser.add_argument("--only", nargs="+", help="measure only these discriminators")
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.25, 0.5, 0.75],
                        help="the tempered ratios measured (tempered_ratio_<alpha>)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/d_signal.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.time()

    changes = [f"seed={args.seed}"]
    if args.quick:
        changes += ["oracle=random", "vocab_size=500", "n_train=2000", "n_test=1000", "mle_epochs=8",
                    "dis_negatives=1000", "dis_pretrain_steps=2", "d_signal_samples=1000"]
    else:
        changes += oracle_overrides()
    cfg = get_preset("cpu").override(changes).validate()
    setup = build_setup(cfg)
    cfg = setup.cfg  # with the values the data fixes
    n = min(cfg.d_signal_samples, len(setup.data.test))
    train = setup.data.train
    # ---- G: the cpu preset's MLE generator, trained as `seqgan-gym train` does (same seed, same G);
    # p_ref: that run's epoch with the best validation NLL (cfg.n_valid oracle samples, never test)
    if args.generator_checkpoint:
        generator = load_language_model(args.generator_checkpoint)
        reference = load_language_model(args.reference_checkpoint) if args.reference_checkpoint else None
        best = None
    else:
        with tempfile.TemporaryDirectory() as tmp:
            log = RunLog(Path(tmp) / "mle", tensorboard=False)
            generator = new_generator(setup)
            pretrain_generator(setup, generator, log, progress=False)
            log.close()
            best_file = Path(tmp) / "mle" / "checkpoints" / "generator_mle_best.pt"
            reference = load_language_model(best_file)
            best = safe_torch_load(best_file)["extra"]
        print(f"MLE: {cfg.mle_epochs} epochs; best validation NLL {best['nll_valid']:.3f} at epoch "
              f"{best['epoch']} (p_ref); NLL_test of G {nll_test(generator, setup.data.test):.3f}",
              flush=True)
        out_dir = Path(args.out).parent
        save_language_model(generator, out_dir / "d_signal_generator.pt", epoch=cfg.mle_epochs)
        save_language_model(reference, out_dir / "d_signal_reference.pt", **best)
    generated = generator.sample(n, rng=torch.Generator().manual_seed(args.seed + 1))
    real_heldout = setup.data.test[:n]

    valid = getattr(setup.data, "valid", None)
    valid_fake = generator.sample(len(valid), rng=torch.Generator().manual_seed(args.seed + 5)) \
        if valid is not None else None

    def train_d(d: Discriminator, lr: float, fresh_real: bool = False, early_stop: bool = False,
                real_set: torch.Tensor | None = None):
        """D pre-training as the cpu preset runs it; every D sees the same negatives (same seed).
        ``early_stop``: keep the step whose D has the best AUC on the validation set (never test);
        ``real_set``: the real sequences (default: the training set)."""
        negative_rng = torch.Generator().manual_seed(args.seed + 4)
        best = (-1.0, None)

        def negatives(n: int) -> torch.Tensor:
            return generator.sample(n, rng=negative_rng)

        optimizer = make_adam(d.parameters(), lr)
        shuffle_rng = torch.Generator().manual_seed(args.seed + 2)
        real_rng = torch.Generator().manual_seed(args.seed + 3)
        for step in range(cfg.dis_pretrain_steps):
            real = setup.oracle.sample(len(train), rng=real_rng) if fresh_real else (
                train if real_set is None else real_set)
            train_discriminator(d, optimizer, real, negatives, n_negatives=cfg.dis_negatives, d_steps=1,
                                k=cfg.dis_pretrain_epochs, batch_size=cfg.batch_size, shuffle_rng=shuffle_rng)
            if early_stop:
                auc = discriminator_signal(d, valid, valid_fake)["d_heldout_auc"]
                print(f"    step {step + 1}: validation AUC {auc:.3f}", flush=True)
                if auc > best[0]:
                    best = (auc, copy.deepcopy(d.state_dict()))
        if early_stop:
            d.load_state_dict(best[1])
        return d

    T, V = cfg.seq_len, cfg.vocab_size
    small = dict(filter_sizes=[w for w in (1, 2, 3, 4, 5) if w <= T], num_filters=[32] * min(5, T))
    variants = {
        "cnn_cpu_preset": lambda: train_d(paper_discriminator(V, T, seed=args.seed), cfg.dis_lr),
        "cnn_paper_lr": lambda: train_d(paper_discriminator(V, T, seed=args.seed), 1e-4),
        "cnn_regularised": lambda: train_d(_seeded(lambda: Discriminator(
            V, T, filter_sizes=paper_discriminator(V, T).filter_sizes,
            num_filters=paper_discriminator(V, T).num_filters, dropout=0.5, l2_reg_lambda=2.0), args.seed),
            cfg.dis_lr),
        "cnn_small": lambda: train_d(_seeded(lambda: Discriminator(V, T, **small), args.seed), cfg.dis_lr),
        "cnn_fresh_real (ceiling)": lambda: train_d(paper_discriminator(V, T, seed=args.seed), cfg.dis_lr,
                                                      fresh_real=True),
        "rnn": lambda: train_d(_seeded(lambda: RecurrentD(V, T), args.seed), cfg.dis_lr),
        "rnn_early_stop": lambda: train_d(_seeded(lambda: RecurrentD(V, T), args.seed), cfg.dis_lr,
                                          early_stop=True),
        "cnn_early_stop": lambda: train_d(paper_discriminator(V, T, seed=args.seed), cfg.dis_lr,
                                          early_stop=True),
        "generator_features": lambda: train_d(_seeded(lambda: GeneratorFeatureD(generator), args.seed),
                                              cfg.dis_lr),
        "generator_features_early_stop": lambda: train_d(
            _seeded(lambda: GeneratorFeatureD(generator), args.seed), cfg.dis_lr, early_stop=True),
        "generator_ll": lambda: _Score(lambda s: sequence_log_likelihood(generator, s), T),
    }
    if setup.oracle is not None:
        variants["optimal_d (ceiling)"] = lambda: _Score(
            lambda s: sequence_log_likelihood(setup.oracle, s) - sequence_log_likelihood(generator, s), T)
    if reference is not None:
        variants["lm_reference"] = lambda: _Score(lambda s: sequence_log_likelihood(reference, s), T)
        variants["density_ratio"] = lambda: _Score(
            lambda s: sequence_log_likelihood(reference, s) - sequence_log_likelihood(generator, s), T)
        for alpha in args.alphas:  # between lm_reference (alpha 0) and density_ratio (alpha 1)
            variants[f"tempered_ratio_{alpha}"] = lambda alpha=alpha: _Score(
                lambda s: sequence_log_likelihood(reference, s)
                - alpha * sequence_log_likelihood(generator, s), T)
        variants["nce_reference"] = lambda: train_d(NCEReferenceD(reference, generator), 1e-4)
        variants["nce_reference_early_stop"] = lambda: train_d(NCEReferenceD(reference, generator), 1e-4,
                                                               early_stop=True)
        variants["density_ratio_fitted"] = lambda: train_d(  # on the validation set, as a run fits it
            DensityRatioDiscriminator(reference, generator), cfg.dis_lr, real_set=valid)
        variants["density_ratio_fitted_on_train"] = lambda: train_d(
            DensityRatioDiscriminator(reference, generator), cfg.dis_lr)
    if args.only:
        unknown = set(args.only) - set(variants)
        if unknown:
            raise SystemExit(f"unknown discriminators {sorted(unknown)}; choose from {sorted(variants)}")
        variants = {k: v for k, v in variants.items() if k in args.only}

    rows = []
    for name, build in variants.items():
        t0 = time.time()
        d = build()
        signal = discriminator_signal(d, real_heldout, generated, setup.oracle)
        rows.append({"discriminator": name, **signal, "train_and_measure_s": round(time.time() - t0, 1)})
        rho = signal["d_oracle_spearman"]
        print(f"  {name:26s} AUC {signal['d_heldout_auc']:.3f}  Spearman "
              f"{'undefined' if rho is None else f'{rho:+.3f}'}  ({rows[-1]['train_and_measure_s']} s)",
              flush=True)

    lines = ["| discriminator | d_heldout_auc | d_oracle_spearman |", "| --- | ---: | ---: |"]
    lines += [f"| {r['discriminator']} | {r['d_heldout_auc']:.3f} | "
              f"{'undefined' if r['d_oracle_spearman'] is None else format(r['d_oracle_spearman'], '+.3f')} |"
              for r in rows]
    print("\n".join(lines))
    record = {"benchmark": "d_signal", "quick": args.quick, "seed": args.seed, "oracle": cfg.oracle,
              "mle_epochs": None if args.generator_checkpoint else cfg.mle_epochs,
              "reference": best, "n": n, "machine": machine_info(args.threads),
              "wall_s": round(time.time() - start, 1), "rows": rows}
    atomic_write_json(args.out, record)
    print(f"wrote {args.out}")


def _seeded(build, seed: int):
    """Build a module with torch's global RNG seeded, leaving that RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


if __name__ == "__main__":
    main()
