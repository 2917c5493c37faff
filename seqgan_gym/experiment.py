"""The phases of the synthetic experiment, shared by the CLI and the benchmarks.

:func:`build_setup` loads the oracle and samples the real data; :func:`pretrain_generator` is the
MLE half of the paper (Algorithm 1, line 2) with NLL_oracle / NLL_test evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from seqgan_gym.checkpoints import save_language_model
from seqgan_gym.config import ExperimentConfig
from seqgan_gym.data import OracleData, find_paper_oracle, sample_oracle_data
from seqgan_gym.lstm import LSTMLanguageModel
from seqgan_gym.metrics import ground_truth_nll, nll_oracle, nll_test
from seqgan_gym.oracle import load_oracle, random_oracle
from seqgan_gym.runlog import RunLog
from seqgan_gym.training import make_adam, mle_epoch
from seqgan_gym.utils import make_generator, resolve_device

# Offsets that give each random stream of a run its own seed, derived from cfg.seed.
_SEED_GEN_INIT, _SEED_SHUFFLE, _SEED_EVAL = 0, 1, 2


@dataclass
class Setup:
    """What every phase needs: the oracle, the real data and the device."""

    cfg: ExperimentConfig
    device: torch.device
    oracle: LSTMLanguageModel
    data: OracleData
    oracle_floor: float
    """The oracle's NLL on its own held-out samples: the best NLL_oracle a model can expect."""

    def rng(self, offset: int) -> torch.Generator:
        """A seeded generator for one stream of randomness of this run, on the run's device."""
        return make_generator(self.cfg.seed * 1000 + offset, self.device)


def build_setup(cfg: ExperimentConfig) -> Setup:
    """Load (or draw) the oracle, sample train and held-out data, and compute the floor."""
    cfg.validate()
    device = resolve_device(cfg.device)
    if cfg.oracle == "paper":
        oracle = load_oracle(find_paper_oracle(cfg.oracle_path), seq_len=cfg.seq_len)
        cfg.vocab_size = oracle.vocab_size
    else:
        oracle = random_oracle(cfg.oracle_seed, cfg.vocab_size, cfg.seq_len, cfg.emb_dim, cfg.hidden_dim)
    oracle = oracle.to(device)
    data = sample_oracle_data(oracle, cfg.n_train, cfg.n_test, seed=cfg.data_seed)
    return Setup(cfg, device, oracle, data, ground_truth_nll(oracle, data.test))


def new_generator(setup: Setup) -> LSTMLanguageModel:
    """G_theta with the paper's initialisation N(0, 0.1^2), seeded by ``cfg.seed``."""
    cfg = setup.cfg
    g = torch.Generator().manual_seed(cfg.seed * 1000 + _SEED_GEN_INIT)
    model = LSTMLanguageModel(cfg.vocab_size, cfg.seq_len, cfg.emb_dim, cfg.hidden_dim)
    return model.init_normal_(cfg.gen_init_std, generator=g).to(setup.device)


def evaluate(setup: Setup, generator_model: LSTMLanguageModel, rng: torch.Generator) -> dict:
    """NLL_oracle over ``cfg.eval_samples`` samples of G, and NLL_test on the held-out set."""
    return {
        "nll_oracle": nll_oracle(generator_model, setup.oracle, setup.cfg.eval_samples, generator=rng),
        "nll_test": nll_test(generator_model, setup.data.test.to(setup.device)),
    }


def pretrain_generator(
    setup: Setup, generator_model: LSTMLanguageModel, log: RunLog, progress: bool = True
) -> dict:
    """MLE pre-training for ``cfg.mle_epochs`` epochs, evaluating every ``cfg.eval_every``.

    Logs phase 'mle' rows (step = epochs done; step 0 is the untrained generator), saves
    ``checkpoints/generator_mle.pt`` after each evaluation, and returns the last evaluation.
    """
    cfg = setup.cfg
    optimizer = make_adam(generator_model.parameters(), cfg.gen_lr)
    shuffle_rng = torch.Generator().manual_seed(cfg.seed * 1000 + _SEED_SHUFFLE)
    eval_rng = setup.rng(_SEED_EVAL)
    train = setup.data.train.to(setup.device)

    last = log.log("mle", 0, **evaluate(setup, generator_model, eval_rng))
    bar = tqdm(range(1, cfg.mle_epochs + 1), desc="MLE pre-training", disable=not progress)
    for epoch in bar:
        loss = mle_epoch(generator_model, optimizer, train, cfg.batch_size, cfg.grad_clip, shuffle_rng)
        if epoch % cfg.eval_every == 0 or epoch == cfg.mle_epochs:
            last = log.log("mle", epoch, g_loss=loss, **evaluate(setup, generator_model, eval_rng))
            save_language_model(generator_model, log.dir / "checkpoints" / "generator_mle.pt", epoch=epoch)
            bar.set_postfix(nll_oracle=f"{last['nll_oracle']:.3f}", nll_test=f"{last['nll_test']:.3f}")
        else:
            log.log("mle", epoch, g_loss=loss)
    return last
