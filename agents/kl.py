"""The KL anchor to the MLE policy (as RL4LMs and TRL), shared by every agent.

Every token y_t of a sequence costs ``kl_coef * (log G(y_t | Y_<t) - log G_MLE(y_t | Y_<t))``
against a frozen copy of the MLE generator (the anchor); the summed cost of a sequence estimates
KL(G || G_MLE) per sequence. With ``kl_target > 0`` the coefficient adapts toward that KL after
each update's sequences, before their loss uses it (Ziegler et al. 2019:
``kl_coef *= 1 + 0.1 * clip(KL / target - 1, -0.2, 0.2)``). REINFORCE weighs log G(y_t | .) by Q_t
minus the costs of steps t..T (the penalties that follow from choosing y_t); a return-based
algorithm (PPO, A2C) gets each step's cost subtracted from that step's reward, so its return from
step t holds the same costs to go.
"""

from __future__ import annotations

import copy

import torch

from seqgan_gym.models.lstm import LSTMLanguageModel


class KLAnchor:
    """A frozen copy of the generator and the KL penalty's coefficient.

    :param generator: the generator as it is now (the MLE one); a frozen copy is the anchor.
    :param kl_coef: the starting weight of the per-token penalty (> 0).
    :param kl_target: when > 0, adapt ``kl_coef`` toward this KL(G || anchor) per sequence.
    """

    def __init__(self, generator: LSTMLanguageModel, kl_coef: float, kl_target: float = 0.0) -> None:
        if not (kl_coef > 0 and kl_target >= 0):
            raise ValueError(f"need kl_coef > 0 and kl_target >= 0, got {kl_coef} and {kl_target}")
        self.anchor = copy.deepcopy(generator).requires_grad_(False).eval()
        self.kl_coef, self.kl_target = float(kl_coef), float(kl_target)
        self.last_kl: float | None = None
        """KL(G || anchor) per sequence, estimated on the latest update's sequences."""

    @torch.no_grad()
    def costs(self, log_probs: torch.Tensor, sequences: torch.Tensor) -> torch.Tensor:
        """(B, T) ``log G - log G_MLE`` of each token (0 after EOS; the penalty is ``kl_coef``
        times this), with ``log_probs`` (B, T) G's log-probabilities of ``sequences`` (B, T).
        Records the KL and, with a target, adapts ``kl_coef`` (before the caller uses it)."""
        costs = log_probs - self.anchor.log_prob(sequences)  # (B, T), 0 after EOS
        self.last_kl = costs.sum(1).mean().item()
        if self.kl_target > 0:
            error = min(max(self.last_kl / self.kl_target - 1.0, -0.2), 0.2)
            self.kl_coef *= 1.0 + 0.1 * error
        return costs

    def state_dict(self) -> dict:
        return {"anchor": self.anchor.state_dict(), "kl_coef": self.kl_coef}

    def load_state_dict(self, state: dict) -> None:
        self.anchor.load_state_dict(state["anchor"])
        self.kl_coef = state["kl_coef"]
