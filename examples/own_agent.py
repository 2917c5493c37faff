"""Your own algorithm in ``seqgan-gym train``: an agent class with four verbs, named on the command line.

``seqgan-gym train --algo path/to/file.py:Class`` (or ``--algo package.module:Class``) builds
``Class(generator, env, seed=..., config=...)`` and calls its ``update()`` where Algorithm 1
updates the generator; ``state_dict`` / ``load_state_dict`` make ``--resume`` continue it exactly.
The run is otherwise the paper's loop: MLE pre-training, D, beta, evaluations, checkpoints.

The agent below is REINFORCE on returns: the env's rewards (Q_t - Q_{t-1}) summed from step t to
the end, minus the batch's mean return (a baseline), as any return-based algorithm reads them.

    python examples/own_agent.py   # = seqgan-gym train --preset smoke --algo examples/own_agent.py:ReturnsPG
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import torch


class ReturnsPG:
    """REINFORCE with reward-to-go and a batch-mean baseline (see the module docstring)."""

    def __init__(self, generator, env, *, seed: int, config) -> None:
        self.generator, self.env = generator, env  # G (trained in place) and the vector env (B sequences)
        self.optimizer = torch.optim.Adam(generator.parameters(), lr=config.gen_lr)
        self.grad_clip = config.grad_clip
        self.rng = torch.Generator().manual_seed(seed)
        self.first_reset_seed: int | None = seed

    def update(self) -> dict[str, float]:
        B, T = self.env.num_envs, self.generator.seq_len
        self.env.reset(seed=self.first_reset_seed)
        self.first_reset_seed = None  # later resets continue the env's stream
        with torch.no_grad():  # sample B sequences, one token per env step
            state, tokens = self.generator.initial_state(B), self.generator.start_tokens(B)
            actions, rewards = torch.empty(B, T, dtype=torch.long), np.zeros((B, T), dtype=np.float32)
            for t in range(T):
                logits, state = self.generator.step(tokens, state)
                tokens = torch.multinomial(torch.softmax(logits, -1), 1, generator=self.rng)[:, 0]
                actions[:, t] = tokens
                _, rewards[:, t], _, _, _ = self.env.step(tokens.numpy())
        returns = torch.as_tensor(rewards).flip(1).cumsum(1).flip(1)  # reward-to-go; [:, 0] = the score
        advantages = returns - returns.mean(0, keepdim=True)
        log_probs = self.generator.log_prob(actions)  # (B, T), with gradients
        loss = -(log_probs * advantages).mean()
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.generator.parameters(), self.grad_clip)
        self.optimizer.step()
        return {"g_loss": loss.item(), "final_score": returns[:, 0].mean().item()}

    def state_dict(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "rng": self.rng.get_state(),
                "env_rng": self.env.get_rng_state(), "first_reset_seed": self.first_reset_seed}

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.set_state(state["rng"])
        self.env.set_rng_state(state["env_rng"])
        self.first_reset_seed = state["first_reset_seed"]


if __name__ == "__main__":
    from seqgan_gym.run.cli import main

    run_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "own-agent"
    sys.exit(main(["train", "--preset", "smoke", "--no-progress", "--no-estimate", "--threads", "1",
                   "--algo", f"{Path(__file__).resolve()}:ReturnsPG", "--run-dir", str(run_dir)]))
