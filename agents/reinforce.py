"""REINFORCE for SeqGAN, readable top to bottom (the paper's generator update, Algorithm 1 l.7-9).

The policy is the generator G_theta itself (an MLE-pretrained
:class:`~seqgan_gym.models.lstm.LSTMLanguageModel`). One generator update:

1. reset the vector environment (B sequences) and sample one episode per sequence: at each step G
   proposes the next token of all B sequences from its own LSTM state, the environment appends them
   and returns Q(Y_1:t-1, y_t) in ``info["q_value"]`` (MC-rollout shaped, or terminal only) -> Q (B, T)
   (the env's step *reward* is the difference Q_t - Q_{t-1}, for return-based algorithms; the
   paper's estimator weights each token by Q_t itself);
2. minimise  -mean_{b,t}[ log G(y_t | Y_<t) * (Q_t - b_t) ]  (Adam, lr 0.01, gradient-norm clip
   5.0 as the authors' code; the authors sum where we average, which Adam's scale invariance makes
   equivalent up to the clipping). The paper uses no baseline (b_t = 0, the default): its rewards
   D(Y) lie in [0, 1]. ``baseline="mean"`` subtracts, for each sequence, the mean of Q_t over the
   *other* B - 1 sequences (leave-one-out, so the gradient stays unbiased) - needed when every
   reward is negative, as the oracle log-likelihood is, where the plain estimator pushes every
   sampled token down and its noise swamps the signal;
   With a KL anchor (``kl_coef > 0``, :class:`~seqgan_gym.agents.kl.KLAnchor`, as RL4LMs and
   TRL), every token also costs ``kl_coef * (log G(y_t | Y_<t) - log G_MLE(y_t | Y_<t))``; the
   weight of log G(y_t | ...) is then Q_t minus the costs of steps t..T (the penalties that follow
   from choosing y_t), and the KL per sequence is logged;
3. callbacks (e.g. :class:`~seqgan_gym.agents.callbacks.DiscriminatorUpdateCallback`, and
   :class:`~seqgan_gym.agents.callbacks.RolloutPolicyUpdateCallback` for beta's update) run at the
   same hooks as in stable-baselines3's on-policy algorithms when you call :meth:`Reinforce.learn`.

:mod:`seqgan_gym.algorithm1` calls :meth:`Reinforce.update` (steps 1-2) itself inside its
iteration loop, where the beta and D updates are written out.

The policy reads its own recurrent state rather than the observation (the prefix it wrote is the
observation); the token it feeds back is exactly the action the environment received.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.logger import Logger, configure

from seqgan_gym.agents.kl import KLAnchor
from seqgan_gym.config import REINFORCE_BASELINES
from seqgan_gym.models.lstm import LSTMLanguageModel
from seqgan_gym.models.sampling import sample_categorical
from seqgan_gym.utils import make_adam


def reinforce_loss(log_probs: torch.Tensor, rewards: torch.Tensor) -> torch.Tensor:
    """The policy-gradient surrogate: log_probs (B, T) with grad, rewards Q (B, T) -> scalar.

    Its gradient is -(1/(B T)) sum_{b,t} Q[b, t] * grad log G(y[b, t] | y[b, <t]), the paper's
    estimator averaged over the batch. Rewards are constants (no gradient flows into Q).
    """
    if log_probs.shape != rewards.shape:
        raise ValueError(f"log_probs {tuple(log_probs.shape)} and rewards {tuple(rewards.shape)} differ")
    return -(log_probs * rewards.detach()).mean()


def leave_one_out_baseline(rewards: torch.Tensor) -> torch.Tensor:
    """b (B, T): for each sequence b and step t, the mean of rewards[:, t] over the other B - 1
    sequences. It does not depend on the sequence's own actions, so ``rewards - b`` keeps the
    policy gradient unbiased."""
    B = rewards.shape[0]
    if B < 2:
        raise ValueError("the leave-one-out baseline needs at least 2 sequences per update")
    return (rewards.sum(dim=0, keepdim=True) - rewards) / (B - 1)


class Reinforce:
    """REINFORCE on a :class:`~seqgan_gym.envs.SeqGANVectorEnv`, with SB3-compatible callbacks.

    :param generator: the policy G_theta (trained in place).
    :param env: the batched environment; its ``num_envs`` is the batch of sequences per update.
    :param lr: Adam learning rate (the authors: 0.01).
    :param grad_clip: global gradient-norm clip (the authors: 5.0).
    :param seed: seed of the action-sampling stream and of the environment's resets.
    :param baseline: 'none' (the paper's) or 'mean' (leave-one-out batch mean of Q_t, see above).
    :param logger: an SB3 :class:`~stable_baselines3.common.logger.Logger`; default: none printed.
    :param kl_coef: weight of the per-token KL penalty against ``anchor`` (0: none, the paper's).
    :param anchor: the frozen reference policy of the KL penalty (default: a copy of
        ``generator`` as it is now, i.e. the MLE generator). Used only when ``kl_coef > 0``.
    :param kl_target: when > 0, adapt ``kl_coef`` toward this KL(G || anchor) per sequence.
    """

    def __init__(
        self,
        generator: LSTMLanguageModel,
        env,
        lr: float = 0.01,
        grad_clip: float = 5.0,
        seed: int = 0,
        logger: Logger | None = None,
        baseline: str = "none",
        kl_coef: float = 0.0,
        anchor: LSTMLanguageModel | None = None,
        kl_target: float = 0.0,
    ) -> None:
        if baseline not in REINFORCE_BASELINES:
            raise ValueError(f"baseline must be one of {REINFORCE_BASELINES}, got {baseline!r}")
        if not (kl_coef >= 0 and kl_target >= 0):
            raise ValueError(f"kl_coef and kl_target must be >= 0, got {kl_coef} and {kl_target}")
        if kl_target > 0 and kl_coef == 0:
            raise ValueError("kl_target adapts kl_coef: give a starting kl_coef > 0 too")
        if generator.vocab_size != env.single_action_space.n:
            raise ValueError(
                f"generator vocabulary {generator.vocab_size} != env action space "
                f"{env.single_action_space.n}"
            )
        self.policy = generator
        self.env = env
        self.grad_clip = grad_clip
        self.baseline = baseline
        self.kl = None if kl_coef == 0 else KLAnchor(anchor if anchor is not None else generator,
                                                     kl_coef, kl_target)
        self.optimizer = make_adam(generator.parameters(), lr)
        self.seed = seed
        self.device = next(generator.parameters()).device
        self.rng = torch.Generator(device=self.device).manual_seed(seed)
        self.logger = logger if logger is not None else configure(None, [])
        self.num_timesteps = 0
        self.n_updates = 0
        self._reset_seed: int | None = seed
        self.last_stats: dict[str, float] = {}
        """g_loss (the surrogate loss), mean_reward (of Q_t), final_score (mean Q_T: the reward model's
        score of the finished sequences) of the latest update, and kl, kl_coef with a KL anchor."""

    @property
    def generator(self) -> LSTMLanguageModel:
        """G_theta, the generator this agent trains (its policy)."""
        return self.policy

    def state_dict(self) -> dict:
        """What the next updates depend on besides G's weights: the optimizer, the random number
        generators (the agent's and the environment's Monte-Carlo rollouts'), the KL anchor and
        coefficient, the counters. With :meth:`load_state_dict`, a resumed run continues exactly."""
        return {"optimizer": self.optimizer.state_dict(), "rng": self.rng.get_state(),
                "env_rng": self.env.get_rng_state(),
                "reset_seed": self._reset_seed, "n_updates": self.n_updates,
                "num_timesteps": self.num_timesteps,
                "kl": None if self.kl is None else self.kl.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (G's weights are restored separately)."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.set_state(state["rng"])
        if state["env_rng"] is not None:
            self.env.set_rng_state(state["env_rng"])
        self._reset_seed = state["reset_seed"]
        self.n_updates, self.num_timesteps = state["n_updates"], state["num_timesteps"]
        if self.kl is not None:
            self.kl.load_state_dict(state["kl"])

    # the two methods SB3 callbacks expect of a model
    def get_env(self):
        return self.env

    def collect_episodes(self, callback: BaseCallback | None = None
                         ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Sample B sequences with G through the env: returns actions Y (B, T) and their values
        Q (B, T) (the env's ``info["q_value"]``).

        Returns ``None`` if ``callback`` (its ``on_step``, after every env step) asked to stop.
        """
        B, T = self.env.num_envs, self.policy.seq_len
        self.env.reset(seed=self._reset_seed)
        self._reset_seed = None  # seed the first reset only, as SB3 does
        actions = torch.empty(B, T, dtype=torch.long, device=self.device)
        rewards = torch.empty(B, T, dtype=torch.float32)
        state = self.policy.initial_state(B)
        tokens = self.policy.start_tokens(B)
        with torch.no_grad():
            for t in range(T):
                logits, state = self.policy.step(tokens, state)
                tokens = sample_categorical(logits, self.rng)  # (B,)
                actions[:, t] = tokens
                _, _, terminated, _, info = self.env.step(tokens.cpu().numpy())
                rewards[:, t] = torch.as_tensor(np.asarray(info["q_value"]), dtype=torch.float32)
                self.num_timesteps += B
                if callback is not None and not callback.on_step():
                    return None
        if not bool(np.all(terminated)):
            raise RuntimeError(f"episodes did not end after T={T} steps: the env's seq_len differs")
        return actions, rewards.to(self.device)

    def train_step(self, actions: torch.Tensor, rewards: torch.Tensor) -> float:
        """One policy-gradient update of G on episodes Y (B, T) with rewards Q (B, T)."""
        self.policy.train()
        log_probs = self.policy.log_prob(actions)
        if self.kl is not None:
            costs_to_go = self._kl_costs_to_go(log_probs.detach(), actions)
            rewards = rewards - self.kl.kl_coef * costs_to_go
        if self.baseline == "mean":
            rewards = rewards - leave_one_out_baseline(rewards)
        loss = reinforce_loss(log_probs, rewards)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.grad_clip)
        self.optimizer.step()
        self.n_updates += 1
        return loss.item()

    def _kl_costs_to_go(self, log_probs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """(B, T): sum over s >= t of log G(y_s | Y_<s) - log G_MLE(y_s | Y_<s); records the KL."""
        return self.kl.costs(log_probs, actions).flip(1).cumsum(1).flip(1)

    @property
    def kl_coef(self) -> float:
        """The KL penalty's current coefficient (0: no anchor)."""
        return 0.0 if self.kl is None else self.kl.kl_coef

    @property
    def last_kl(self) -> float | None:
        """KL(G || anchor) per sequence on the latest update's sequences (None: no anchor)."""
        return None if self.kl is None else self.kl.last_kl

    def update(self, callback: BaseCallback | None = None) -> dict[str, float] | None:
        """One generator update: collect B episodes with their rewards Q, then one policy-gradient
        step. Returns (and logs) its statistics :attr:`last_stats`; ``None`` if
        ``callback`` stopped the collection (no update then)."""
        start = time.time()
        episodes = self.collect_episodes(callback)
        if episodes is None:
            return None
        actions, rewards = episodes
        if callback is not None:
            callback.update_locals(locals())
            callback.on_rollout_end()
        loss = self.train_step(actions, rewards)
        self.last_stats = {"g_loss": loss, "mean_reward": rewards.mean().item(),
                           "final_score": rewards[:, -1].mean().item()}
        if self.last_kl is not None:
            self.last_stats.update(kl=self.last_kl, kl_coef=self.kl_coef)
        names = {"g_loss": "train/pg_loss", "kl": "train/kl", "kl_coef": "train/kl_coef",
                 "mean_reward": "rollout/mean_reward", "final_score": "rollout/mean_terminal_reward"}
        for key, value in self.last_stats.items():
            self.logger.record(names[key], value)
        self.logger.record("time/update_s", time.time() - start)
        self.logger.record("time/n_updates", self.n_updates)
        self.logger.dump(self.num_timesteps)
        return self.last_stats

    def learn(
        self, total_updates: int, callback: BaseCallback | Sequence[BaseCallback] | None = None
    ) -> Reinforce:
        """Run ``total_updates`` generator updates, calling ``callback``'s SB3 hooks (on_training_start;
        per update: on_rollout_start, on_step per env step, on_rollout_end; on_training_end)."""
        if isinstance(callback, Sequence):
            callback = CallbackList(list(callback))
        callback = callback if callback is not None else CallbackList([])
        callback.init_callback(self)
        callback.on_training_start(locals(), globals())
        for _ in range(total_updates):
            callback.on_rollout_start()
            if self.update(callback) is None:
                break
        callback.on_training_end()
        return self
