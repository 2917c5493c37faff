"""PPO from a second RL library, TorchRL, on ``SeqGAN-Oracle-v0`` through TorchRL's own Gymnasium wrapper.

Nothing here is seqgan-gym's agent code: TorchRL collects the episodes (``GymEnv`` +
``Collector``), computes GAE and the clipped PPO loss (``ClipPPOLoss``). The env's step
reward is Q_t - Q_{t-1}, so the returns TorchRL sums are the final score: here the oracle's
log-likelihood of the sequence (``reward_model="oracle"``, the diagnostic ceiling), which PPO
should raise, lowering NLL_oracle. The actor is the generator G itself (its LSTM reads the
prefix; its output layer gives the logits), so G can be scored with ``nll_oracle`` at any time.

    pip install 'seqgan-gym[torchrl]'
    python examples/torchrl_ppo.py [--seed 0] [--updates 30]
"""

from __future__ import annotations

import argparse
import time

import torch
from tensordict.nn import TensorDictModule
from torchrl.collectors import Collector
from torchrl.data import LazyTensorStorage, ReplayBuffer, SamplerWithoutReplacement
from torchrl.envs import GymEnv
from torchrl.modules import ProbabilisticActor, ValueOperator
from torchrl.objectives import ClipPPOLoss
from torchrl.objectives.value import GAE

import seqgan_gym  # noqa: F401  (registers SeqGAN-Oracle-v0)
from seqgan_gym import LSTMLanguageModel, nll_oracle, random_oracle
from seqgan_gym.agents import PrefixLSTMExtractor


class PrefixReader(torch.nn.Module):
    """Prefixes (..., T) int64, -1 where not yet written -> the output of ``head`` on the LSTM state
    after the last written token (the generator's own embedding and LSTM)."""

    def __init__(self, generator: LSTMLanguageModel, head: torch.nn.Module | None = None) -> None:
        super().__init__()
        self.extractor = PrefixLSTMExtractor(_box(generator), generator.emb_dim, generator.hidden_dim,
                                             generator.start_token)
        self.extractor.generator.load_state_dict(generator.state_dict())
        self.head = head if head is not None else self.extractor.generator.output  # actor: G's logits

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        batch = observation.shape[:-1]
        hidden = self.extractor(observation.reshape(-1, observation.shape[-1]).long())
        return self.head(hidden).reshape(*batch, -1)


def _box(generator: LSTMLanguageModel):
    from gymnasium import spaces
    return spaces.Box(-1, generator.vocab_size - 1, (generator.seq_len,), dtype="int64")


def main(seed: int = 0, updates: int = 30, vocab_size: int = 50, seq_len: int = 8,
         episodes_per_update: int = 16) -> dict:
    torch.manual_seed(seed)
    oracle = random_oracle(seed=1, vocab_size=vocab_size, seq_len=seq_len)
    g = LSTMLanguageModel(vocab_size, seq_len).init_normal_(0.1, torch.Generator().manual_seed(seed))
    env = GymEnv("SeqGAN-Oracle-v0", categorical_action_encoding=True, vocab_size=vocab_size,
                 seq_len=seq_len, reward_model="oracle", oracle=oracle, intermediate_reward="terminal",
                 device="cpu")
    env.set_seed(seed)

    actor_net = PrefixReader(g)
    actor = ProbabilisticActor(TensorDictModule(actor_net, in_keys=["observation"], out_keys=["logits"]),
                               in_keys=["logits"], distribution_class=torch.distributions.Categorical,
                               spec=env.action_spec, return_log_prob=True)
    critic = ValueOperator(PrefixReader(g, head=torch.nn.Linear(g.hidden_dim, 1)), in_keys=["observation"])
    generator = actor_net.extractor.generator  # the actor's G: trained in place, scored below

    frames = episodes_per_update * seq_len
    collector = Collector(env, actor, frames_per_batch=frames, total_frames=frames * updates)
    buffer = ReplayBuffer(storage=LazyTensorStorage(frames), sampler=SamplerWithoutReplacement(),
                          batch_size=min(64, frames))
    advantage = GAE(gamma=1.0, lmbda=0.95, value_network=critic, deactivate_vmap=True)  # data-dependent reads
    loss_module = ClipPPOLoss(actor, critic, clip_epsilon=0.2, entropy_coeff=0.0)
    optimizer = torch.optim.Adam(loss_module.parameters(), lr=3e-3)

    eval_rng = torch.Generator().manual_seed(seed)
    start = nll_oracle(generator, oracle, n_samples=2000, rng=eval_rng)
    began = time.time()
    for data in collector:
        with torch.no_grad():
            advantage(data)
        buffer.extend(data.reshape(-1))
        for _epoch in range(4):
            for _ in range(frames // buffer.batch_size):
                losses = loss_module(buffer.sample())
                loss = losses["loss_objective"] + losses["loss_critic"]
                optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(loss_module.parameters(), 5.0)
                optimizer.step()
        collector.update_policy_weights_()
    collector.shutdown()
    end = nll_oracle(generator, oracle, n_samples=2000, rng=eval_rng)
    print(f"TorchRL PPO, seed {seed}: NLL_oracle {start:.3f} -> {end:.3f} in {updates} updates "
          f"({time.time() - began:.1f} s)")
    return {"seed": seed, "nll_oracle_start": start, "nll_oracle_end": end}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--updates", type=int, default=30)
    args = parser.parse_args()
    main(args.seed, args.updates)
