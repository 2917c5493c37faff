"""What an agent is to the adversarial loop, and how the loop finds one you wrote.

:mod:`seqgan_gym.algorithm1` drives an agent through four verbs, written down here as
:class:`Agent`. Any object with them trains in ``seqgan-gym train``, resumes after a kill and runs
in sweeps; name its class with ``--algo module:Class`` (an importable module) or
``--algo path/to/file.py:Class`` (``examples/own_agent.py`` is one).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from seqgan_gym.models.lstm import LSTMLanguageModel


@runtime_checkable
class Agent(Protocol):
    """An RL algorithm that trains the generator G_theta on a :class:`~seqgan_gym.envs.SeqGANVectorEnv`.

    The loop builds it as ``Class(generator, env, seed=seed, config=cfg)``, with

    - ``generator``: G_theta, MLE-pretrained (an :class:`~seqgan_gym.models.lstm.LSTMLanguageModel`);
    - ``env``: the vector env of B = ``cfg.num_envs`` sequences; its step reward is
      Q_t - Q_{t-1} (so rewards sum to the score) and ``info["q_value"]`` is Q_t;
    - ``seed``: the seed of the agent's own sampling (and of the env's first reset);
    - ``config``: the run's :class:`~seqgan_gym.config.ExperimentConfig` (``gen_lr``,
      ``grad_clip``, ... for the agent to read what it needs).
    """

    @property
    def generator(self) -> LSTMLanguageModel:
        """The G it trains: the loop's rollout policy beta, D's negatives and the evaluation follow it."""

    def update(self) -> dict[str, float]:
        """One generator update (Algorithm 1, l.8-12): sample B sequences, one policy-gradient step.
        Returns its statistics; ``g_loss`` and ``final_score`` (the mean score) are logged when given."""

    def state_dict(self) -> dict:
        """What the next updates depend on besides G's weights (optimizer, random streams; the env's
        through ``env.get_rng_state()``): tensors, numbers, strings and containers of them, since
        ``resume.pt`` is read back with ``torch.load(weights_only=True)``."""

    def load_state_dict(self, state: dict) -> None:
        """Restore what :meth:`state_dict` returned (G's weights are restored by the loop)."""


def import_agent_class(path: str) -> type:
    """The class that ``path`` names: ``"package.module:Class"`` or ``"path/to/file.py:Class"``.

    Raises ``ValueError`` in one line naming what is missing (no ``:``, a module that does not
    import, a file that does not exist, no such attribute, not a class)."""
    module_name, sep, class_name = path.rpartition(":")
    if not sep or not module_name or not class_name.isidentifier():
        raise ValueError(f"algo {path!r}: expected one of the bundled names or 'module:Class' / "
                         "'path/to/file.py:Class'")
    if module_name.endswith(".py"):
        file = Path(module_name)
        if not file.is_file():
            raise ValueError(f"algo {path!r}: {file} is not a file")
        name = f"seqgan_gym_user_agent_{file.stem}"
        module = sys.modules.get(name)
        if module is None or getattr(module, "__file__", None) != str(file.resolve()):
            spec = importlib.util.spec_from_file_location(name, file.resolve())
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as e:
                del sys.modules[name]
                raise ValueError(f"algo {path!r}: {file} failed to import ({type(e).__name__}: {e})") from e
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise ValueError(f"algo {path!r}: module {module_name!r} does not import ({e})") from e
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise ValueError(f"algo {path!r}: {module_name} has no class {class_name!r}")
    return cls


def make_user_agent(path: str, generator: LSTMLanguageModel, env, seed: int, config) -> Agent:
    """Build the agent class ``path`` names (see :func:`import_agent_class`) and check that it has
    the verbs of :class:`Agent`."""
    agent = import_agent_class(path)(generator, env, seed=seed, config=config)
    missing = [verb for verb in ("generator", "update", "state_dict", "load_state_dict")
               if not hasattr(agent, verb)]
    if missing:
        raise TypeError(f"algo {path!r}: the agent lacks {', '.join(missing)} (see seqgan_gym.Agent)")
    if not isinstance(agent.generator, torch.nn.Module):
        raise TypeError(f"algo {path!r}: agent.generator must be the LSTMLanguageModel it trains")
    return agent
