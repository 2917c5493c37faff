"""Callbacks that close SeqGAN's adversarial loop for users of stable-baselines3 alone.

:mod:`seqgan_gym.algorithm1` writes Algorithm 1's iteration out as a loop and needs none of these.
They are for running any SB3 algorithm (or :meth:`seqgan_gym.agents.Reinforce.learn`) on the
environment yourself:

* :class:`DiscriminatorUpdateCallback` - retrains D on fresh negatives every ``g_steps`` updates;
* :class:`RolloutPolicyUpdateCallback` - moves the rollout policy beta towards the generator after
  every update.

Both are built on :class:`EveryNUpdates` (as SB3's ``EveryNTimesteps``, counted in generator
updates). They are real :class:`stable_baselines3.common.callbacks.BaseCallback` objects: pass
them to ``PPO.learn(callback=...)`` or to :meth:`~seqgan_gym.agents.Reinforce.learn`, which calls
the same hooks in the same order as SB3's on-policy algorithms::

    on_training_start
    repeat:  on_rollout_start -> on_step (once per env step) -> on_rollout_end -> policy update
    on_training_end

One "generator update" is one rollout collection followed by one policy update (one iteration of an
SB3 on-policy algorithm, one REINFORCE step). A completed update is counted in the next
``on_rollout_start`` (after the policy update, before the next episodes are sampled, where
Algorithm 1 puts the D update), or in ``on_training_end`` for the last update. A rollout cut short
by a callback is not counted.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from stable_baselines3.common.callbacks import BaseCallback
from tqdm.auto import tqdm

from seqgan_gym.rewards.intermediate import IntermediateReward, train_with_negatives


class EveryNUpdates(BaseCallback):
    """Calls :meth:`_on_every_n_updates` after every ``every`` completed generator updates.

    :param every: generator updates between two calls (>= 1).
    """

    def __init__(self, every: int, verbose: int = 0) -> None:
        super().__init__(verbose)
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer >= 1, got {every!r}")
        self.every = every
        self.generator_updates = 0
        """Completed generator updates seen so far."""
        self._update_pending = False

    def _on_rollout_end(self) -> None:
        self._update_pending = True  # a complete rollout is always followed by one policy update

    def _count_update(self) -> None:
        if self._update_pending:
            self._update_pending = False
            self.generator_updates += 1
            if self.generator_updates % self.every == 0:
                self._on_every_n_updates()

    def _on_rollout_start(self) -> None:
        self._count_update()

    def _on_training_end(self) -> None:
        self._count_update()  # the last policy update is followed by no rollout

    def _on_every_n_updates(self) -> None:
        raise NotImplementedError

    def _on_step(self) -> bool:
        return True


class DiscriminatorUpdateCallback(EveryNUpdates):
    """Every ``g_steps`` generator updates: ``d_steps`` x (fresh negatives, ``k`` epochs of D).

    It trains the discriminator object it is given *in place*; the environment's
    :class:`~seqgan_gym.rewards.reward_models.DiscriminatorReward` holds the same object, so the next
    rewards come
    from the updated D. Logged (SB3 logger): ``disc/loss``, ``disc/acc_real``, ``disc/acc_fake``
    (training-batch statistics of the last epoch), ``disc/updates``.

    A learned intermediate reward (``intermediate_reward=``, e.g. the env's
    ``PrefixDiscriminatorReward`` or ``CriticReward``) is retrained in the same update, on the same
    negatives, after D (:func:`seqgan_gym.rewards.intermediate.train_with_negatives`); its loss is logged as
    ``disc/intermediate_loss``.

    :param discriminator: the D to train (e.g. :class:`seqgan_gym.models.discriminator.Discriminator`).
    :param optimizer: its optimizer (the paper: Adam 1e-4), kept across updates.
    :param real_data: (N, T) long, the real sequences (the paper: 10,000 oracle samples).
    :param sample_negatives: ``n -> (n, T) long`` sequences from the *current* policy. For an
        :class:`~seqgan_gym.models.lstm.LSTMLanguageModel` generator use :meth:`for_generator`.
    The default schedule is the ``cpu`` preset's (one D update of one epoch on 5,000 fresh negatives
    after every generator update); the paper's is ``d_steps=5, k=3, n_negatives=10_000``, about 15
    times the work. With ``verbose >= 1`` (the default) the callback prints its schedule when
    training starts, and a D update that runs for more than a few seconds shows a progress bar.

    :param g_steps: generator updates between D updates (the paper: 1).
    :param d_steps: D updates each time, each with fresh negatives (the paper: 5; default 1).
    :param k: epochs over real + negatives per D update (the paper: 3; default 1).
    :param n_negatives: negatives per D update (the authors: 10,000, as many as real sequences;
        default 5,000).
    :param batch_size: D's mini-batch (the paper: 64).
    :param seed: seed of D's shuffling stream.
    :param intermediate_reward: a trainable :class:`~seqgan_gym.rewards.intermediate.IntermediateReward` to
        retrain beside D (None: D only); the critic learns the scores of the env's reward model.
    """

    def __init__(
        self,
        discriminator: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        real_data: torch.Tensor,
        sample_negatives: Callable[[int], torch.Tensor],
        g_steps: int = 1,
        d_steps: int = 1,
        k: int = 1,
        n_negatives: int = 5_000,
        batch_size: int = 64,
        seed: int = 0,
        verbose: int = 1,
        intermediate_reward: IntermediateReward | None = None,
    ) -> None:
        super().__init__(g_steps, verbose)
        if g_steps < 1 or d_steps < 0 or k < 1 or n_negatives < 1:
            raise ValueError(
                f"need g_steps >= 1, d_steps >= 0, k >= 1, n_negatives >= 1; "
                f"got g_steps={g_steps}, d_steps={d_steps}, k={k}, n_negatives={n_negatives}"
            )
        self.discriminator = discriminator
        self.optimizer = optimizer
        self.real_data = real_data
        self.sample_negatives = sample_negatives
        self.g_steps, self.d_steps, self.k = g_steps, d_steps, k
        self.n_negatives, self.batch_size = n_negatives, batch_size
        self.shuffle_rng = torch.Generator().manual_seed(seed)
        if intermediate_reward is not None and not isinstance(intermediate_reward, IntermediateReward):
            raise TypeError(f"intermediate_reward must be an IntermediateReward (the env's "
                            f"env.unwrapped.intermediate_reward), got {type(intermediate_reward).__name__}")
        self.intermediate_reward = intermediate_reward
        self.d_updates = 0
        """D updates (one per d-step) run so far."""
        self.last_stats: dict[str, float] = {}

    @classmethod
    def for_generator(cls, generator, *args, seed: int = 0, **kwargs) -> DiscriminatorUpdateCallback:
        """Build the callback with negatives sampled from an LSTM generator (seeded stream)."""
        device = next(generator.parameters()).device
        rng = torch.Generator(device=device).manual_seed(seed + 7919)  # apart from the shuffling stream

        def sample(n: int) -> torch.Tensor:
            return generator.sample(n, rng=rng)

        return cls(*args, sample_negatives=sample, seed=seed, **kwargs)

    @property
    def schedule(self) -> str:
        """The schedule in words, as printed when training starts."""
        return (f"every {self.g_steps} generator update(s): {self.d_steps} x ({self.n_negatives} fresh "
                f"negatives, {self.k} epoch(s) of D over them and {len(self.real_data)} real sequences)")

    def _on_training_start(self) -> None:
        if self.verbose >= 1:
            print(f"DiscriminatorUpdateCallback: {self.schedule}")

    def _on_every_n_updates(self) -> None:
        self.update_discriminator()

    def update_discriminator(self) -> dict[str, float]:
        """Run the D update now (also callable by hand); returns and logs its statistics."""
        if self.d_steps == 0:
            return {}
        with tqdm(total=self.d_steps, desc="D update (negative sets drawn)", delay=5, leave=False,
                  disable=self.verbose < 1) as bar:

            def sample_negatives(n: int) -> torch.Tensor:
                negatives = self.sample_negatives(n)
                bar.update(1)
                return negatives

            stats, i_stats = train_with_negatives(
                self.discriminator,
                self.optimizer,
                self.intermediate_reward,
                self.real_data,
                sample_negatives,
                n_negatives=self.n_negatives,
                d_steps=self.d_steps,
                k=self.k,
                batch_size=self.batch_size,
                shuffle_rng=self.shuffle_rng,
            )
        self.d_updates += self.d_steps
        if "loss" in i_stats:
            stats = {**stats, "intermediate_loss": i_stats["loss"]}
        self.last_stats = stats
        if getattr(self, "model", None) is not None:
            for name in ("loss", "acc_real", "acc_fake", "intermediate_loss"):
                if name in stats:
                    self.logger.record(f"disc/{name}", float(stats[name]))
            self.logger.record("disc/updates", self.d_updates)
        return stats


class RolloutPolicyUpdateCallback(EveryNUpdates):
    """After every generator update: ``rollout_policy.update(generator)`` (beta's EMA step).

    An algorithm run on its own (an SB3 algorithm, or :meth:`~seqgan_gym.agents.Reinforce.learn`)
    does not know about beta: pass this callback (for SB3, ``generator`` is
    ``model.policy.generator``). It runs after each completed update, before the next sequences'
    first token (the Monte-Carlo search reads the start token with beta lazily, at the first token,
    so the SB3 environment's earlier autoreset does not pin the old beta).
    """

    def __init__(self, rollout_policy, generator: torch.nn.Module, verbose: int = 0) -> None:
        super().__init__(1, verbose)
        self.rollout_policy = rollout_policy
        self.generator = generator
        self.n_updates = 0
        """beta updates done so far."""

    def _on_every_n_updates(self) -> None:
        self.rollout_policy.update(self.generator)
        self.n_updates += 1
