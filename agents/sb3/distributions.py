"""The actor's action distribution: SB3's categorical over the V tokens, from the hidden states."""

from __future__ import annotations

import torch
from stable_baselines3.common.distributions import CategoricalDistribution
from torch.distributions import Categorical

from seqgan_gym._kernels.log_prob_entropy import log_prob_entropy
from seqgan_gym.models.sampling import sample_categorical


class GeneratorCategorical(CategoricalDistribution):
    """SB3's categorical distribution over the V tokens, fed the actor's hidden states and output
    layer instead of the logits (:meth:`from_hidden`), with three costs removed (timed in
    ``benchmarks/ppo_speed.py``):

    - :meth:`log_prob` and :meth:`entropy` come from one blockwise pass through the output layer
      with a closed-form backward (:func:`seqgan_gym._kernels.log_prob_entropy.log_prob_entropy`),
      equal to autograd's through ``torch.distributions.Categorical`` up to float rounding,
      gradients included (tests/test_kernels.py);
    - the ``torch.distributions.Categorical`` behind :attr:`distribution` (built only when asked
      for) has ``validate_args=False``: torch's checks of the logits and of every evaluated action
      ran over each (M, V) tensor;
    - :meth:`sample` draws by inverse CDF (:func:`seqgan_gym.models.sampling.sample_categorical`, one
      uniform per row from torch's global random state, which SB3 seeds) instead of
      ``torch.multinomial``, which draws an exponential for every one of the V entries of a row:
      the same distribution, other draws than ``torch.multinomial`` for a given seed; without
      gradients (collecting rollouts) the same pass gives the draws' log-probabilities, which
      :meth:`log_prob` of those actions returns instead of a second pass through the output layer.
    """

    def __init__(self, action_dim: int) -> None:
        super().__init__(action_dim)
        self.hidden: torch.Tensor | None = None
        self.output: torch.nn.Linear | None = None
        self._entropy: torch.Tensor | None = None
        self._sampled: tuple[torch.Tensor, torch.Tensor] | None = None  # (actions, their log-prob)

    def from_hidden(self, hidden: torch.Tensor, output: torch.nn.Linear) -> GeneratorCategorical:
        """pi(. | s) = softmax(output(hidden)): hidden (M, H), output the actor's ``nn.Linear(H, V)``."""
        self.hidden, self.output, self._entropy, self._sampled = hidden, output, None, None
        self._distribution = None
        return self

    def proba_distribution(self, action_logits: torch.Tensor) -> GeneratorCategorical:
        self.hidden = self.output = self._entropy = self._sampled = None
        self._distribution = Categorical(logits=action_logits, validate_args=False)
        return self

    @property
    def distribution(self) -> Categorical:
        if self._distribution is None and self.hidden is not None:
            self._distribution = Categorical(logits=self.output(self.hidden), validate_args=False)
        return self._distribution

    @distribution.setter
    def distribution(self, value) -> None:
        self._distribution = value

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        if self._sampled is not None and actions is self._sampled[0] and not torch.is_grad_enabled():
            return self._sampled[1]  # from the pass that drew them (collecting rollouts)
        if self.hidden is None or actions.numel() != len(self.hidden):
            return self.distribution.log_prob(actions)
        log_prob, self._entropy = log_prob_entropy(self.hidden, self.output.weight, self.output.bias,
                                                   actions.long().reshape(-1))
        return log_prob

    def entropy(self) -> torch.Tensor:
        if self._entropy is not None:  # computed with the last log_prob
            return self._entropy
        if self.hidden is None:
            return self.distribution.entropy()
        zeros = torch.zeros(len(self.hidden), dtype=torch.long, device=self.hidden.device)
        return log_prob_entropy(self.hidden, self.output.weight, self.output.bias, zeros)[1]

    def sample(self) -> torch.Tensor:
        """Without gradients (SB3 collecting rollouts), the draws' log-probabilities come from
        the same pass and :meth:`log_prob` of these very actions returns them."""
        logits = self.distribution.logits if self._distribution is not None else self.output(self.hidden)
        if torch.is_grad_enabled():
            return sample_categorical(logits)
        actions, log_prob = sample_categorical(logits, return_log_prob=True)
        self._sampled = (actions, log_prob.to(logits.dtype))
        return actions
