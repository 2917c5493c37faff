"""Stable-Baselines3 PPO as SeqGAN's generator update, with the adversarial loop closed by callbacks.

The actor is the generator G itself (``make_sb3_agent`` builds a ``GeneratorPolicy`` started from
G's weights); the reward is D(Y), shaped by Monte-Carlo rollouts with beta; after every PPO update
one callback retrains D on fresh negatives and another moves beta towards the actor.

    python examples/sb3_ppo.py
"""

import torch

from seqgan_gym import (
    Discriminator,
    DiscriminatorReward,
    DiscriminatorUpdateCallback,
    LSTMLanguageModel,
    RolloutPolicy,
    RolloutPolicyUpdateCallback,
    SeqGANSB3VecEnv,
    SeqGANVectorEnv,
    make_sb3_agent,
    nll_oracle,
    random_oracle,
)

V, T, B = 50, 20, 16
oracle = random_oracle(seed=1, vocab_size=V, seq_len=T)
real_data = oracle.sample(512, rng=torch.Generator().manual_seed(1))  # the "real" sequences S
G = LSTMLanguageModel(V, T).init_normal_(0.1, torch.Generator().manual_seed(0))  # (MLE-pretrain it first)
D = Discriminator(V, T)
beta = RolloutPolicy(G, update_rate=0.8)
envs = SeqGANVectorEnv(B, vocab_size=V, seq_len=T, n_rollouts=2, reward_model=DiscriminatorReward(D),
                       rollout_policy=beta, device="cpu")
model = make_sb3_agent("ppo", SeqGANSB3VecEnv(envs), G, learning_rate=1e-3, seed=0, device="cpu",
                       batch_size=64)
actor = model.policy.generator  # G as trained by PPO (the same parameters as the policy's actor)
callbacks = [
    DiscriminatorUpdateCallback.for_generator(actor, D, torch.optim.Adam(D.parameters(), 1e-4), real_data,
                                              d_steps=1, k=1, n_negatives=512),
    RolloutPolicyUpdateCallback(beta, actor),
]
rng = torch.Generator().manual_seed(0)
print(f"NLL_oracle before: {nll_oracle(actor, oracle, 1000, rng=rng):.3f}")
model.learn(total_timesteps=6 * B * T, callback=callbacks)  # 6 generator updates of B sequences
print(f"NLL_oracle after 6 PPO updates: {nll_oracle(actor, oracle, 1000, rng=rng):.3f}; "
      f"D's last update: {callbacks[0].last_stats}")
