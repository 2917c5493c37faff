"""The actor-critic policies whose actor is the LSTM generator (PPO, A2C; MaskablePPO).

The actor **is** the language model: the action logits are its own output layer applied to the
extractor's h_t, so ``policy.generator`` is a normal generator (sample it, compute NLL_oracle, feed
the discriminator callback negatives) and :meth:`GeneratorPolicy.load_generator` starts the actor
from the MLE-pretrained generator, as the paper's pre-training requires. The critic has its own
extractor (also initialised from the generator) and a small MLP head, so value-loss gradients never
reach the generator's parameters (SB3 clips one gradient norm over actor and critic together, so
the value loss can shorten the actor's step, never change its direction).
"""

from __future__ import annotations

import torch
from stable_baselines3.common.policies import ActorCriticPolicy

from seqgan_gym._kernels.prefixes import prefix_sources
from seqgan_gym.agents.sb3.distributions import GeneratorCategorical
from seqgan_gym.agents.sb3.torch_layers import PrefixLSTMExtractor
from seqgan_gym.models.lstm import LSTMLanguageModel


class _GeneratorActor:
    """What makes an SB3 actor-critic policy's actor an LSTM generator (see the module docstring);
    mixed into :class:`GeneratorPolicy` and :class:`MaskableGeneratorPolicy`."""

    def __init__(self, observation_space, action_space, lr_schedule,
                 generator: LSTMLanguageModel | None = None, **kwargs) -> None:
        if generator is not None:  # SB3's own constructors: policy_kwargs=dict(generator=G)
            sizes = {"emb_dim": generator.emb_dim, "hidden_dim": generator.hidden_dim,
                     "start_token": generator.start_token}
            given = kwargs.get("features_extractor_kwargs") or {}
            if any(given.get(key, value) != value for key, value in sizes.items()):
                raise ValueError(f"features_extractor_kwargs {given} contradict the generator's sizes "
                                 f"{sizes}")
            kwargs["features_extractor_kwargs"] = {**given, **sizes}
        kwargs.setdefault("features_extractor_class", PrefixLSTMExtractor)
        kwargs.setdefault("share_features_extractor", False)
        kwargs.setdefault("net_arch", {"pi": [], "vf": [64]})
        kwargs.setdefault("ortho_init", False)
        if kwargs.get("optimizer_class", torch.optim.Adam) is torch.optim.Adam:
            # SB3's Adam (eps 1e-5), fused: one pass per tensor instead of a dozen small ops
            # (benchmarks/ppo_speed.py times it); the same update up to rounding
            kwargs.setdefault("optimizer_kwargs", {"eps": 1e-5, "fused": True})
        if not issubclass(kwargs["features_extractor_class"], PrefixLSTMExtractor):
            raise ValueError(f"{type(self).__name__} needs features_extractor_class=PrefixLSTMExtractor")
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)
        if generator is not None:
            self.load_generator(generator)

    def _build(self, lr_schedule) -> None:
        super()._build(lr_schedule)
        if self.mlp_extractor.latent_dim_pi != self.generator.hidden_dim:
            raise ValueError(f"{type(self).__name__} needs net_arch pi=[] (logits = the generator's "
                             "output layer)")
        if self.action_space.n != self.generator.vocab_size:
            raise ValueError(
                f"action space Discrete({self.action_space.n}) != the observation's vocabulary "
                f"{self.generator.vocab_size}"
            )
        # The actor's output layer is the generator's own, so the actor *is* the generator.
        self.action_net = self.generator.output
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)

    def extract_features(self, obs, features_extractor=None):
        """The actor's and the critic's features, with one :func:`prefix_sources` for both."""
        if self.share_features_extractor or features_extractor is not None:
            return super().extract_features(obs, features_extractor)
        tokens = obs.long()  # what preprocessing (.float()) and the extractors (.long()) make of it
        sources = prefix_sources(tokens)
        return (self.pi_features_extractor.read(tokens, sources),
                self.vf_features_extractor.read(tokens, sources))

    @property
    def generator(self) -> LSTMLanguageModel:
        """The actor as a language model (the same parameters, trained in place)."""
        return self.pi_features_extractor.generator

    @torch.no_grad()
    def load_generator(self, generator: LSTMLanguageModel):
        """Start the actor (and the critic's extractor) from ``generator``'s weights."""
        mine = self.generator
        got = (generator.vocab_size, generator.seq_len, generator.emb_dim,
               generator.hidden_dim, generator.start_token)
        want = (mine.vocab_size, mine.seq_len, mine.emb_dim, mine.hidden_dim, mine.start_token)
        if got != want:
            raise ValueError(
                f"generator has (V, T, emb_dim, hidden_dim, start_token) = {got}, the policy {want}"
            )
        state = generator.state_dict()
        self.generator.load_state_dict(state)
        # the end token is a setting, not a weight: the actor samples / scores like the generator
        self.generator.eos_token = generator.eos_token
        if self.vf_features_extractor is not self.pi_features_extractor:
            self.vf_features_extractor.generator.load_state_dict(state)
        return self


class GeneratorPolicy(_GeneratorActor, ActorCriticPolicy):
    """Actor-critic policy whose actor is an LSTM generator (see the module docstring), for PPO and A2C.

    ``generator``: the LSTM generator the actor starts from (its sizes set the extractors'), so
    that SB3's own constructor works: ``A2C(GeneratorPolicy, venv, policy_kwargs=dict(generator=G))``
    (:func:`make_sb3_agent` does this for you). The policy needs a discrete action space of
    token ids and the prefix observations of the SeqGAN envs; SB3 algorithms without an
    actor-critic policy (DQN) and sb3-contrib's TRPO (whose line search needs every policy
    parameter in its graph) are refused by :func:`make_sb3_agent`.

    Defaults: a separate critic extractor, ``net_arch=dict(pi=[], vf=[64])`` (the actor's logits
    are the generator's output layer on h_t, nothing in between), no orthogonal initialisation.
    Extra keyword arguments go to :class:`ActorCriticPolicy`; ``features_extractor_kwargs`` to
    :class:`PrefixLSTMExtractor` (``emb_dim``, ``hidden_dim``, ``start_token``). Its action
    distribution is a :class:`GeneratorCategorical`.
    """

    def __init__(self, observation_space, action_space, lr_schedule,
                 generator: LSTMLanguageModel | None = None, **kwargs) -> None:
        super().__init__(observation_space, action_space, lr_schedule, generator=generator, **kwargs)
        self.action_dist = GeneratorCategorical(self.action_space.n)

    def _get_action_dist_from_latent(self, latent_pi: torch.Tensor) -> GeneratorCategorical:
        return self.action_dist.from_hidden(latent_pi, self.action_net)  # latent_pi = h_t (pi=[])


def maskable_generator_policy() -> type:
    """:class:`GeneratorPolicy` for sb3-contrib's ``MaskablePPO`` (an optional dependency: ``pip
    install seqgan-gym[contrib]``): the same actor, whose distribution applies the env's action
    masks, so that after EOS (where the env allows only EOS) a step has probability 1 and adds
    nothing to the policy gradient."""
    try:
        from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
    except ImportError:
        raise ImportError("algo 'maskable_ppo' needs sb3-contrib: "
                          "pip install 'seqgan-gym[contrib]'") from None

    class MaskableGeneratorPolicy(_GeneratorActor, MaskableActorCriticPolicy):
        __doc__ = maskable_generator_policy.__doc__

    return MaskableGeneratorPolicy
