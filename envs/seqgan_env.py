"""``SeqGAN-Oracle-v0``: writing one token sequence is one episode (Yu et al., AAAI 2017)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .core import PAD, CoreModels, EnvOptions, SeqGANCore, check_render_mode


class SeqGANEnv(CoreModels, gym.Env[np.ndarray, int]):
    """
    ## Description

    The sequence-generation MDP of SeqGAN ([Yu et al., AAAI 2017](https://arxiv.org/abs/1609.05473)),
    synthetic ("oracle") setup. An episode writes one sequence Y = (y_1, ..., y_T) of T token ids,
    one token per step. The state is the prefix written so far; the reward comes from a reward
    model you pass (the GAN's: your trained discriminator D, the probability that the sequence is
    real), either only at the end or, as in the paper, at every step through Monte-Carlo search
    with a rollout policy.

    Building the env builds and loads only what you ask for: there is no default reward model
    (`reward_model` is required) and no default rollout policy (rollout mode needs one), so a plain
    `gym.make("SeqGAN-Oracle-v0")` raises a one-line `TypeError` saying what to pass.
    `reward_model="untrained"` is the explicit smoke test (an untrained discriminator and a random
    rollout policy). The env holds no oracle (the true distribution): the training data and
    NLL_oracle come from it outside the env; only `reward_model="oracle"` reads one.

    ## Action Space

    `Discrete(vocab_size)`: the id of the next token, an integer in [0, V). Anything else (a
    float, NaN, a bool, an out-of-range id, a wrongly shaped array) raises `ValueError`.

    ## Observation Space

    `Box(low=-1, high=V-1, shape=(T,), dtype=int64)`: the prefix. Position i holds token y_{i+1}
    once written and the pad value **-1** before (0 is a real token id). At the start of an episode
    the observation is all -1; after step t, positions 0..t-1 hold the tokens.

    ## Rewards

    The rewards of an episode sum to its final score, score(Y) (e.g. D(Y)), whatever the
    intermediate reward, so any RL library that sums rewards into a return trains on the right
    objective. After the t-th token y_t the reward is the change of the prefix's value,

        r_t = Q_t - Q_{t-1}    (Q_0 = 0),

    potential-based reward shaping (Ng et al., 1999) with Q as the potential, and
    `info["q_value"]` is Q_t = Q(Y_1:t-1, y_t) itself, the paper's eq. 4: the estimator of
    Algorithm 1 weights log G(y_t | Y_1:t-1) by Q_t, and the bundled `Reinforce` reads it there.
    At t = T, Q_T = score(Y). For t < T, Q_t is what `intermediate_reward` says
    (`seqgan_gym.rewards.intermediate`):

    - `"mc_rollout"` (default, the paper's eq. 4): the mean over N completions Y^n of score(Y^n),
      the completions sampled by the rollout policy beta continuing from the prefix's LSTM state
      (the env advances beta by one token per step; the N completions are sampled as one batch);
    - `"terminal"`: 0;
    - `"prefix_discriminator"`: P(real | Y_1:t) of a recurrent discriminator of prefixes
      (`PrefixDiscriminatorReward`; train it with its `fit` or the D-update callback);
    - `"critic"`: V(Y_1:t) of a value network of prefixes (`CriticReward`) that learns from every
      finished episode's score;
    - your own `IntermediateReward` subclass.

    `score` is the reward model's (`seqgan_gym.rewards.reward_models.RewardModel`), e.g. D(Y) = P(real) for
    `DiscriminatorReward(D)`. Q_t are floats; D's lie in [0, 1], so r_t lies in [-1, 1].

    ## Starting State

    The empty prefix (all -1). Nothing is random at reset; the rollouts draw from a `torch.Generator`
    seeded from `np_random` at `reset(seed=...)`, so a seeded run repeats exactly.

    ## Episode End

    Terminated after T steps (the sequence is complete). Never truncated. Stepping a finished
    episode raises `RuntimeError`; call `reset()`.

    ## Arguments

    ```python
    >>> import gymnasium as gym
    >>> import seqgan_gym  # registers SeqGAN-Oracle-v0
    >>> gym.make("SeqGAN-Oracle-v0")
    Traceback (most recent call last):
    TypeError: a SeqGAN env needs reward_model=: DiscriminatorReward(D) for your trained ...
    >>> env = gym.make("SeqGAN-Oracle-v0", reward_model=DiscriminatorReward(D),  # the paper's setup:
    ...                rollout_policy=RolloutPolicy(G, update_rate=0.8))          # V=5000, T=20, N=16
    >>> env = gym.make("SeqGAN-Oracle-v0", reward_model="untrained")  # smoke test only
    >>> env = gym.make("SeqGAN-Oracle-v0", vocab_size=500, seq_len=8, intermediate_reward="terminal",
    ...                reward_model="oracle", oracle="random", render_mode="ansi")

    ```

    Every argument is a keyword (`seqgan_gym.envs.core.EnvOptions` holds them; all are checked
    before anything is built):

    - `vocab_size` (int, 5000): V, the number of token ids.
    - `seq_len` (int, 20): T, the episode length.
    - `n_rollouts` (int, 16): N, Monte-Carlo completions per prefix (rollout mode).
    - `intermediate_reward` (`"mc_rollout"`, `"terminal"`, `"prefix_discriminator"`, `"critic"` or an
      `IntermediateReward`; `"mc_rollout"`): the reward of unfinished prefixes, see Rewards. By
      name, the learned two start untrained (seeded by `init_seed`); pass a trained one as an object
      (`seqgan_gym.rewards.intermediate.make_intermediate_reward`).
    - `reward_model` (**required**): the reward source, a `RewardModel` (used as it is, never
      copied: e.g. `DiscriminatorReward(D)` with the D that the discriminator-update callback keeps
      training, `BleuReward(real_data)`, or your own) or a name that
      `seqgan_gym.rewards.reward_models.make_reward_model` builds: `"untrained"`, an untrained paper CNN
      discriminator seeded by `init_seed` (**smoke tests only**: its rewards mean nothing; in
      rollout mode without a `rollout_policy` it also brings a random one); `"oracle"`,
      `OracleLikelihoodReward` over `oracle` (a diagnostic upper bound, not a GAN reward);
      `"bleu"`, `BleuReward` (PG-BLEU-4) against `references`. `"discriminator"` is refused (pass
      `DiscriminatorReward(D)`). Not given: `TypeError`, before any work.
    - `rollout_policy` (`RolloutPolicy`, `"untrained"` or None; None): beta, required by
      `"mc_rollout"`; pass the one whose `update()` follows the trained generator. `"untrained"`: a
      `RolloutPolicy` over a fresh generator (N(0, 0.1) parameters seeded by `init_seed`; smoke
      tests only). Not used by the other strategies (a passed one is still validated; `"untrained"`
      builds nothing there).
    - `oracle` (`LSTMLanguageModel`, `"paper"`, `"random"` or a file path; None): only with
      `reward_model="oracle"`, whose reward model holds it (`env.unwrapped.reward_model.oracle`);
      anything else refuses it. `"paper"`: the authors' oracle, found by
      `seqgan_gym.data.paper_oracle.find_paper_oracle` (V must then be 5000); `"random"`: a fresh
      N(0, 1) LSTM seeded by `init_seed`.
    - `references` ((R, T) tensor or list of sequences; None): only with `reward_model="bleu"`:
      the real sequences BLEU compares with (the text environments set it to their training split).
    - `init_seed` (int, 0): seed of what the env builds for `"untrained"`, `oracle="random"` and a
      learned `intermediate_reward` given by name (its initialisation and mini-batch order).
    - `device` (str or `torch.device`, `"auto"`): where the models and rollouts run. `"auto"`: the
      rollout policy's device if one is given, else CUDA when present, else CPU.
    - `render_mode` (`"ansi"` or None; None): `"ansi"`: `render()` returns the tokens as text,
      `_` for unwritten positions.
    - `eos_token` (int or None; None): an end-of-sequence id. Once a sequence has written it, every
      later action is replaced by it ("once EOS, always EOS"; the episode still lasts T steps).
      The text environments (`SeqGAN-Text-v0`) set it; the rollout policy's generator must have
      the same `eos_token`.

    The vocabulary size and length of a given reward model and rollout policy must match V and T
    (checked, with a clear error).

    ## Vectorized environment

    `SeqGANVectorEnv` (`seqgan_gym.envs.vector_env`) steps B sequences at once as one batch and
    runs the B x N rollouts of a step as one tensor computation; it shares this env's core
    (`seqgan_gym.envs.core.SeqGANCore`), so the two compute identical rewards.

    ```python
    >>> envs = gym.make_vec("SeqGAN-Oracle-v0", num_envs=64, reward_model=DiscriminatorReward(D),
    ...                     rollout_policy=beta)  # vectorization_mode="vector_entry_point"

    ```

    ## Version History

    * v0: Initial version (0.1.0), with `intermediate_reward` (default `"mc_rollout"`, the paper's).
      Since 0.1.0 (unreleased): the step reward is Q_t - Q_{t-1} and Q_t is `info["q_value"]`;
      `reward_mode`, the older spelling of `intermediate_reward`, is gone.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, *, render_mode: str | None = None, **options: Any) -> None:
        check_render_mode(render_mode, self.metadata["render_modes"])
        self.render_mode = render_mode
        self.core = SeqGANCore(1, EnvOptions(**options))
        self.action_space = spaces.Discrete(self.core.vocab_size)
        self.observation_space = spaces.Box(
            low=PAD, high=self.core.vocab_size - 1, shape=(self.core.seq_len,), dtype=np.int64
        )
        self._needs_reset = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None or self.core.rng is None:
            self.core.seed(int(self.np_random.integers(2**63 - 1)))
        self.core.reset()
        self._needs_reset = False
        return self.core.observation()[0], {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._needs_reset:
            raise RuntimeError("call reset() before step() (and after an episode terminates)")
        # a scalar id, or a one-element array (some agents pass those)
        shape = (1,) if np.shape(action) == (1,) else ()
        actions = self.core.check_actions(action, shape)
        rewards, q_value, terminated = self.core.step(actions)
        self._needs_reset = terminated
        info = {"q_value": float(q_value[0])}
        return self.core.observation()[0], float(rewards[0]), terminated, False, info

    def action_masks(self) -> np.ndarray:
        """(V,) bool: the tokens allowed next (sb3-contrib's ``MaskablePPO`` reads this); all of them,
        or after ``eos_token`` only ``eos_token``."""
        return self.core.action_masks()[0]

    def render(self) -> str | None:
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without a render_mode; create the env with render_mode='ansi'"
            )
            return None
        return self.core.render_rows()[0]
