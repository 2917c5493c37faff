"""Your own policy-gradient loop in plain PyTorch on the vector env (REINFORCE with a mean baseline).

The generator G is the policy: it samples each next token from its own LSTM state and the env
returns the rewards. Here the reward is the oracle's log-likelihood of the finished sequence, the
synthetic benchmark's ceiling, so NLL_oracle falls as G learns.

    python examples/own_pg_loop.py
"""

import gymnasium as gym
import torch

import seqgan_gym  # noqa: F401
from seqgan_gym import LSTMLanguageModel, nll_oracle, random_oracle

V, T, B = 50, 8, 32
oracle = random_oracle(seed=1, vocab_size=V, seq_len=T)
G = LSTMLanguageModel(V, T).init_normal_(0.1, torch.Generator().manual_seed(0))
envs = gym.make_vec("SeqGAN-Oracle-v0", num_envs=B, vocab_size=V, seq_len=T, reward_model="oracle",
                    oracle=oracle, intermediate_reward="terminal", device="cpu")
optimizer = torch.optim.Adam(G.parameters(), lr=0.01)
rng = torch.Generator().manual_seed(0)
print(f"NLL_oracle before: {nll_oracle(G, oracle, 2000, rng=rng):.3f}")

envs.reset(seed=0)
for update in range(40):
    state, tokens = G.initial_state(B), G.start_tokens(B)
    log_probs, returns = [], torch.zeros(B)
    for _ in range(T):
        logits, state = G.step(tokens, state)  # (B, V): G's next-token logits from its own state
        tokens = torch.distributions.Categorical(logits=logits).sample()
        log_probs.append(torch.log_softmax(logits, -1).gather(1, tokens[:, None])[:, 0])
        _, rewards, terminated, _, infos = envs.step(tokens.numpy())
        returns += torch.as_tensor(rewards)  # rewards sum to the score: here log p_oracle(Y)
    advantage = returns - returns.mean()  # a baseline: the batch's mean score
    loss = -(torch.stack(log_probs, 1).sum(1) * advantage).mean()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if (update + 1) % 10 == 0:
        print(f"update {update + 1}: mean score {returns.mean():+.3f}, "
              f"NLL_oracle {nll_oracle(G, oracle, 2000, rng=rng):.3f}")
