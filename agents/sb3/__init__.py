"""Stable-Baselines3 algorithms (PPO, A2C, and sb3-contrib's MaskablePPO) on the SeqGAN environment,
with the MLE generator as actor.

Split the way SB3 splits its own code, one piece per module:

* :mod:`~seqgan_gym.agents.sb3.vec_env` - :class:`SeqGANSB3VecEnv`, an SB3 ``VecEnv`` over the
  native batched :class:`~seqgan_gym.envs.SeqGANVectorEnv`: the B sequences and their B x N
  Monte-Carlo rollouts stay one batch (no ``DummyVecEnv`` of B single envs). Episodes end together
  after T steps; the finished sequences come back in ``infos[i]["terminal_observation"]`` (SB3's
  same-step reset).
* :mod:`~seqgan_gym.agents.sb3.torch_layers` - :class:`PrefixLSTMExtractor`, a
  ``BaseFeaturesExtractor`` that reads the prefix observation (M, T) (-1 = not yet written) with
  the generator's embedding + LSTM and returns the hidden state after the last written token, h_t
  (M, H). It *holds* an :class:`~seqgan_gym.models.lstm.LSTMLanguageModel`.
* :mod:`~seqgan_gym.agents.sb3.distributions` - :class:`GeneratorCategorical`, SB3's categorical
  distribution over the V tokens, fed h_t and the generator's output layer instead of the logits.
* :mod:`~seqgan_gym.agents.sb3.policies` - :class:`GeneratorPolicy`, an ``ActorCriticPolicy``
  whose actor **is** that language model: the action logits are its own output layer applied to
  h_t, so ``policy.generator`` is a normal generator (sample it, compute NLL_oracle, feed the
  discriminator callback negatives) and :meth:`GeneratorPolicy.load_generator` starts the actor
  from the MLE-pretrained generator, as the paper's pre-training requires. The critic has its own
  extractor (also initialised from the generator) and a small MLP head, so value-loss gradients
  never reach the generator's parameters (SB3 clips one gradient norm over actor and critic
  together, so the value loss can shorten the actor's step, never change its direction).
  :func:`maskable_generator_policy` is the same for sb3-contrib's MaskablePPO.
* :mod:`~seqgan_gym.agents.sb3.updates` - :func:`make_sb3_agent`, PPO or A2C on the adapter with
  this policy, ``n_steps = T`` (one rollout = B complete sequences = one generator update, like one
  REINFORCE step), ``gamma = 1``; and :class:`SB3GeneratorUpdates`, which runs the result one
  generator update at a time for :mod:`seqgan_gym.algorithm1`.

**Speed.** A PPO update at the paper's sizes spends its time in the (M, V) output layer and the two
LSTMs, not in the environment. Five things keep that cost down, each tested against the plain
computation (tests/test_sb3.py, tests/test_kernels.py) and timed in ``benchmarks/ppo_speed.py``:
the extractor runs the LSTM once per distinct longest prefix of a batch
(:func:`seqgan_gym._kernels.prefixes.prefix_sources`), log-probabilities and entropy come from a
blockwise pass with a closed-form backward that reuses the forward's probabilities
(:func:`seqgan_gym._kernels.log_prob_entropy.log_prob_entropy`), actions are drawn by inverse
CDF, and Adam is fused.

**Rewards.** The environment's step reward is already the potential-based difference
r_t = Q_t - Q_{t-1} (see :class:`~seqgan_gym.envs.SeqGANEnv`), so the undiscounted return from
step t is ``score(Y) - Q_{t-1}``: the final score with a baseline that does not depend on y_t. An
episode's rewards sum to its score, so SB3's ``rollout/ep_rew_mean`` is the mean final score.
"""

from seqgan_gym.agents.sb3.distributions import GeneratorCategorical
from seqgan_gym.agents.sb3.policies import GeneratorPolicy, maskable_generator_policy
from seqgan_gym.agents.sb3.torch_layers import PrefixLSTMExtractor
from seqgan_gym.agents.sb3.updates import SB3_ALGORITHMS, SB3GeneratorUpdates, make_sb3_agent
from seqgan_gym.agents.sb3.vec_env import SeqGANSB3VecEnv

__all__ = [
    "SB3_ALGORITHMS",
    "GeneratorCategorical",
    "GeneratorPolicy",
    "PrefixLSTMExtractor",
    "SB3GeneratorUpdates",
    "SeqGANSB3VecEnv",
    "make_sb3_agent",
    "maskable_generator_policy",
]
